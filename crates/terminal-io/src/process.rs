//! One terminal process: the core plus its sockets, driven by one tokio task.
//!
//! The drive loop (quinn style): feed one input to the core (`handle_input(now, input)`), drain `poll_output()`
//! and act on each output, then sleep until the next socket event or the core's `poll_timeout()`. Dials and
//! hand-shakes run in short-lived helper tasks that report back over a channel, so the loop never blocks on the
//! network except for writing one frame (bounded by a time-out, after the added latency when one is set).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::credentials::Credentials;
use crate::kick::{KickAnswer, KickCall, KickHttpSettings, KickListener};
use crate::link::{self, OpiStream, Received};
use crate::mqtt::{MqttClient, MqttClientSettings, MqttCommand, MqttCommands};
use crate::status::{Status, StatusCell};
use ccv_wire::reason::WireReason;

/// Why a terminal process did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The kick listener could not bind.
    #[error(
        "cannot listen for local kicks on {addr}: {source} (is another terminal using that trigger port?)"
    )]
    KickBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The channel 0 listener could not bind.
    #[error("cannot listen for OPI channel 0 on {addr}: {source}")]
    Channel0Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid terminal configuration: {0}")]
    Config(String),
    /// The state file could not be read.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The terminal's TLS material could not be loaded.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
}

/// A terminal's clock: the system clock plus an offset that a sandbox can move forward (day roll-over, kick
/// expiry, time-outs) without waiting, or that starts at a chosen instant (a scenario's fixed start, so days and
/// service passwords are the same in every run). Clones share the offset; the default has none.
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

fn system_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Clock {
    /// The system clock, no offset yet.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// A clock that reads `epoch_ms` now and runs on from there at the system clock's pace.
    pub fn starting_at(epoch_ms: u64) -> Clock {
        let start = i64::try_from(epoch_ms).unwrap_or(i64::MAX);
        Clock(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(start.saturating_sub(system_ms()))))
    }

    /// Moves the clock forward by `by` (it never goes back). Terminals see it at their next input; a sandbox
    /// sends them `Input::Tick` so that their timers fire.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self.0.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |o| Some(o.saturating_add(ms)),
        );
    }

    /// How far ahead of the system clock it is, in milliseconds (negative: behind).
    pub fn offset_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Milliseconds since the Unix epoch on this clock.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(system_ms().saturating_add(self.offset_ms()).max(0)).unwrap_or(0)
    }

    fn now(&self) -> ccv_terminal::Timestamp {
        ccv_terminal::Timestamp::from_millis(self.now_ms())
    }
}

/// Latency added to a terminal's network (a sandbox's fault switch), shared by its drive loop and its MQTT client.
/// The core knows nothing of it: it is a property of the network the terminal's IO goes over.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Latency {
    /// The latency now.
    pub(crate) fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn set(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.0.store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A running terminal; dropping it stops the terminal.
#[derive(Debug)]
pub struct TerminalProcess {
    tms_id: String,
    tas: String,
    mode: String,
    kick_addr: Option<SocketAddr>,
    channel0_addr: Option<SocketAddr>,
    channel1: SocketAddr,
    status: StatusCell,
    inputs: mpsc::Sender<Box<ccv_terminal::Input>>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    latency: Latency,
}

impl TerminalProcess {
    /// Binds the terminal's listeners and starts its task.
    pub async fn start(config: FileConfig, seed: u64) -> Result<TerminalProcess, StartError> {
        TerminalProcess::start_with(config, seed, Hooks::default()).await
    }

    /// Like [`TerminalProcess::start`], with [`Hooks`] for links this crate does not drive itself (a sandbox,
    /// tests). When `config.io.mqtt_pki` is set, the MQTT client of Cloud Connect 2.0 runs with the terminal's
    /// certificate from that directory.
    pub async fn start_with(
        config: FileConfig,
        seed: u64,
        hooks: Hooks,
    ) -> Result<TerminalProcess, StartError> {
        let credentials = match &config.io.mqtt_pki {
            Some(dir) => Some(Credentials::load(dir, &config.terminal.identity.tms_id)?),
            None => None,
        };
        TerminalProcess::start_inner(config, seed, hooks, credentials).await
    }

    /// Starts a terminal with [`Hooks`] and, when given, MQTT `credentials` held in memory (whatever
    /// `config.io.mqtt_pki` says): everything a sandbox sets.
    pub async fn start_with_hooks_and_credentials(
        config: FileConfig,
        seed: u64,
        hooks: Hooks,
        credentials: Option<Credentials>,
    ) -> Result<TerminalProcess, StartError> {
        TerminalProcess::start_inner(config, seed, hooks, credentials).await
    }

    /// Starts a terminal whose MQTT client uses `credentials` (TLS material held in memory, e.g. a PKI made by
    /// `ccv_iot::Pki::generate`), whatever `config.io.mqtt_pki` says.
    pub async fn start_with_credentials(
        config: FileConfig,
        seed: u64,
        credentials: Credentials,
    ) -> Result<TerminalProcess, StartError> {
        TerminalProcess::start_inner(config, seed, Hooks::default(), Some(credentials)).await
    }

    async fn start_inner(
        mut config: FileConfig,
        seed: u64,
        hooks: Hooks,
        credentials: Option<Credentials>,
    ) -> Result<TerminalProcess, StartError> {
        // The stored state first: it decides the trigger port, the OPI mode and everything else changed since.
        let mut memory = None;
        if let Some(path) = &config.io.state_file {
            if let Some(nv) = crate::state::load(path, &config.terminal.identity.tms_id)? {
                tracing::info!(tms_id = %config.terminal.identity.tms_id, path = %path.display(), "terminal state restored");
                config.terminal = crate::state::merge(nv.config, &config.terminal);
                memory = Some(nv.memory);
            }
        }
        let tas_tls = match (config.io.tas_tls, &credentials) {
            (false, _) => None,
            (true, None) => {
                return Err(StartError::Config(
                    "`[io] tas_tls` needs the terminal's certificate: set `[io] mqtt_pki` to the PKI directory \
                     (`ccv-emu pki init DIR --terminal TMSID`)"
                        .into(),
                ));
            }
            (true, Some(c)) => {
                Some(c.tas_tls_config().map_err(|e| crate::credentials::CredentialsError::Invalid {
                    tms_id: config.terminal.identity.tms_id.clone(),
                    detail: e.to_string(),
                })?)
            }
        };
        let shutdown = CancellationToken::new();
        let (kick_tx, kick_rx) = mpsc::channel::<Box<KickCall>>(16);
        let mut kick_addr = None;
        if let Some(addr) = config.kick_addr() {
            let settings = KickHttpSettings {
                cors: config.io.cors,
                allowed_origins: config.io.kick_allowed_origins.clone(),
                allow_tas_override: config.io.allow_tas_override,
                ..KickHttpSettings::default()
            };
            let listener = KickListener::bind(addr, settings)
                .await
                .map_err(|source| StartError::KickBind { addr, source })?;
            let bound = listener.local_addr().map_err(|source| StartError::KickBind { addr, source })?;
            // With `kick_port_override` (tests, many terminals in one process) the listener's real port is the
            // terminal's trigger port, so the core checks kicks against the port they really arrive on.
            config.terminal.trigger_port = bound.port();
            kick_addr = Some(bound);
            tokio::spawn(listener.serve(kick_tx.clone(), shutdown.clone()));
        }
        let mut channel0 = None;
        if config.terminal.pos_opi_mode == ccv_terminal::PosOpiMode::DefaultIts {
            let addr = config.io.opi_channel0;
            let l =
                TcpListener::bind(addr).await.map_err(|source| StartError::Channel0Bind { addr, source })?;
            channel0 = Some(l);
        }
        let channel0_addr = channel0.as_ref().and_then(|l| l.local_addr().ok());
        let status = StatusCell::default();
        let tms_id = config.terminal.identity.tms_id.clone();
        let tas = config.terminal.installed.tas.to_string();
        let mode = config.terminal.pos_opi_mode.as_str().to_owned();
        let channel1 = config.io.opi_channel1;
        // Channel items are boxed: a channel allocates room for 32 items up front, and an `Input` is ~0.5 KiB.
        let (inputs, inputs_rx) = mpsc::channel::<Box<ccv_terminal::Input>>(64);
        let clock = hooks.clock;
        let outputs: Vec<mpsc::Sender<ccv_terminal::Output>> = hooks.outputs.into_iter().collect();
        let mut mqtt_tx = None;
        let latency = Latency::default();
        if let Some(credentials) = credentials {
            let io = &config.io;
            let settings = MqttClientSettings {
                credentials,
                alpn: io.mqtt_alpn,
                keep_alive: Duration::from_secs(io.mqtt_keep_alive_s.max(1)),
                connect_timeout: Duration::from_secs(io.mqtt_connect_timeout_s.max(1)),
            };
            let (out_tx, out_rx) = crate::mqtt::command_channel();
            mqtt_tx = Some(out_tx);
            let client =
                MqttClient::new(settings, tms_id.clone(), inputs.clone(), status.clone(), latency.clone());
            tokio::spawn(client.run(out_rx, shutdown.clone()));
        }
        if let Some(mut external) = hooks.inputs {
            let tx = inputs.clone();
            tokio::spawn(async move {
                while let Some(input) = external.recv().await {
                    if tx.send(Box::new(input)).await.is_err() {
                        break;
                    }
                }
            });
        }
        let mut driver = Driver::new(config, memory, seed, status.clone(), shutdown.clone())?;
        driver.hook_outputs = outputs;
        if let Some(clock) = clock {
            driver.clock = clock;
        }
        driver.mqtt = mqtt_tx;
        driver.tas_tls = tas_tls;
        driver.latency = latency.clone();
        let task = tokio::spawn(driver.run(kick_rx, channel0, inputs_rx));
        drop(kick_tx);
        Ok(TerminalProcess {
            tms_id,
            tas,
            mode,
            kick_addr,
            channel0_addr,
            channel1,
            status,
            inputs,
            shutdown,
            task: Some(task),
            latency,
        })
    }

    /// Adds `latency` to the terminal's network (zero: none), as a slow line would: its TAS dials (the time
    /// counting against the dial time-out), every OPI frame it sends to the TAS and its MQTT connection attempts
    /// wait that long first. Shown in the status (`latency_ms`); takes effect at the next dial, frame or attempt.
    pub fn set_latency(&self, latency: Duration) {
        self.latency.set(latency);
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.status.update_if(|s| std::mem::replace(&mut s.latency_ms, ms) != ms);
    }

    /// Feeds one input to the terminal's core (key presses, card events, TMS changes, ...), in order with
    /// everything else the terminal receives. Returns `false` when the terminal has stopped.
    pub async fn input(&self, input: ccv_terminal::Input) -> bool {
        self.inputs.send(Box::new(input)).await.is_ok()
    }

    /// The TMS ID.
    pub fn tms_id(&self) -> &str {
        &self.tms_id
    }

    /// The TAS the terminal dials by default, `host:port`.
    pub fn tas_target(&self) -> &str {
        &self.tas
    }

    /// The POS OPI mode as the terminal menu shows it.
    pub fn pos_opi_mode(&self) -> &str {
        &self.mode
    }

    /// Where the local-kick listener is bound (`None` with trigger port 0).
    pub fn kick_addr(&self) -> Option<SocketAddr> {
        self.kick_addr
    }

    /// Where channel 0 listens (Default ITS only).
    pub fn channel0_addr(&self) -> Option<SocketAddr> {
        self.channel0_addr
    }

    /// Where the terminal connects for channel 1 (Default ITS only).
    pub fn channel1_target(&self) -> SocketAddr {
        self.channel1
    }

    /// A snapshot of the process's status.
    pub fn status(&self) -> Status {
        self.status.snapshot()
    }

    /// A receiver of the process's status: every change wakes it (`changed`, `wait_for`).
    pub fn watch_status(&self) -> tokio::sync::watch::Receiver<Status> {
        self.status.watch()
    }

    /// Waits until `cond` holds for the process's status (checked now and at every change), at most `timeout`.
    pub async fn wait_for_status(
        &self,
        timeout: Duration,
        cond: impl FnMut(&Status) -> bool,
    ) -> Result<Status, crate::status::WaitError> {
        crate::status::wait_for(&mut self.status.watch(), timeout, cond).await
    }

    /// Stops the terminal and waits (at most 5 s) for its task to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for TerminalProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Extra inputs and outputs of a terminal process, for links driven outside this crate.
///
/// Inputs sent on `inputs` are fed to the core in order with everything else. The core's `OpenMqtt`,
/// `CloseMqtt` and `Publish` outputs are copied to `outputs` (without waiting: when the receiver lags, outputs are
/// dropped with a warning).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Inputs for the core.
    pub inputs: Option<mpsc::Receiver<ccv_terminal::Input>>,
    /// Where MQTT-related outputs go.
    pub outputs: Option<mpsc::Sender<ccv_terminal::Output>>,
    /// The clock the terminal reads (a sandbox's, which it can advance); the system clock when `None`.
    pub clock: Option<Clock>,
}

/// Results of helper tasks, back to the driver.
enum Event {
    Dialled { attempt: u64, result: Result<OpiStream, (ccv_terminal::TasDialFailure, String)> },
}

/// The OPI link the core talks on.
enum Link {
    /// FLAT-OUTGOING: the socket the terminal dialled to the TAS (after the hand-shake).
    Tas(OpiStream),
    /// Default ITS: channel 0 (POS → terminal requests) and, once connected, channel 1 (device requests).
    Local { channel0: OpiStream, channel1: Option<OpiStream> },
}

/// A pending local kick waiting for the core's decision.
struct PendingKick {
    reply: oneshot::Sender<KickAnswer>,
    reference: Option<String>,
}

const JOURNAL_KEEP: usize = 1000;

struct Driver {
    core: ccv_terminal::Terminal,
    io: crate::config::IoSettings,
    tms_id: String,
    software: String,
    dial_timeout: Duration,
    status: StatusCell,
    shutdown: CancellationToken,
    link: Option<Link>,
    kicks: Vec<PendingKick>,
    events_tx: mpsc::Sender<Box<Event>>,
    events_rx: mpsc::Receiver<Box<Event>>,
    dial_attempt: u64,
    dial_task: Option<JoinHandle<()>>,
    trigger_port: u16,
    hook_outputs: Vec<mpsc::Sender<ccv_terminal::Output>>,
    mqtt: Option<MqttCommands>,
    /// What the state file holds: the configuration and the memory mark last written.
    saved: Option<(ccv_terminal::TerminalConfig, (u64, u32, u32, u32))>,
    clock: Clock,
    /// The core closed the MQTT session in this drain and gave no reason (yet).
    mqtt_closed: bool,
    latency: Latency,
    /// The TLS client of the TAS link (`[io] tas_tls`); `None`: plain TCP.
    tas_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Driver {
    fn new(
        config: FileConfig,
        memory: Option<ccv_terminal::Memory>,
        seed: u64,
        status: StatusCell,
        shutdown: CancellationToken,
    ) -> Result<Driver, StartError> {
        let (events_tx, events_rx) = mpsc::channel(8);
        let t = &config.terminal;
        let tms_id = t.identity.tms_id.clone();
        let software = t.software.as_str().to_owned();
        let dial_timeout = Duration::from_millis(t.profile.dial_timeout_ms.max(1));
        let trigger_port = t.trigger_port;
        let core = match memory {
            Some(m) => ccv_terminal::Terminal::restore(config.terminal, m, seed),
            None => ccv_terminal::Terminal::new(config.terminal, seed),
        };
        Ok(Driver {
            clock: Clock::default(),
            mqtt_closed: false,
            latency: Latency::default(),
            tas_tls: None,
            saved: None,
            core,
            io: config.io,
            tms_id,
            software,
            dial_timeout,
            status,
            shutdown,
            link: None,
            kicks: Vec::new(),
            events_tx,
            events_rx,
            dial_attempt: 0,
            dial_task: None,
            trigger_port,
            hook_outputs: Vec::new(),
            mqtt: None,
        })
    }

    fn status(&self, change: impl FnOnce(&mut Status)) {
        self.status.update(change);
    }
}

/// What woke the drive loop.
enum Wake {
    Stop,
    Timer,
    Kick(Box<KickCall>),
    KicksClosed,
    Input(Box<ccv_terminal::Input>),
    Event(Box<Event>),
    Link(u8, Option<Result<Result<ccv_opi::Message, ccv_opi::DecodeError>, ccv_opi::codec::CodecError>>),
    Accepted(std::io::Result<(tokio::net::TcpStream, SocketAddr)>),
}

impl Driver {
    async fn run(
        mut self,
        mut kicks: mpsc::Receiver<Box<KickCall>>,
        channel0: Option<TcpListener>,
        mut inputs: mpsc::Receiver<Box<ccv_terminal::Input>>,
    ) {
        let shutdown = self.shutdown.clone();
        let mut kicks_open = true;
        // One timer for the whole life of the terminal, re-armed only when the core's deadline changes.
        let timer = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(timer);
        let mut armed: Option<ccv_terminal::Timestamp> = None;
        let mut immediate: Option<ccv_terminal::Timestamp> = None;
        loop {
            self.drain().await;
            let deadline = self.core.poll_timeout();
            if let Some(at) = deadline {
                let wait = at.millis_since(self.clock.now());
                if wait == 0 && immediate != Some(at) {
                    // Already due: no need to go through the timer wheel. Only once per deadline, so a deadline
                    // the core keeps in the past cannot make this loop spin.
                    immediate = Some(at);
                    self.timer();
                    continue;
                }
                if armed != Some(at) {
                    timer.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(wait));
                    armed = Some(at);
                }
            }
            let wake = {
                let sleep = async {
                    match deadline {
                        Some(_) => timer.as_mut().await,
                        None => std::future::pending().await,
                    }
                };
                let link_item = async {
                    match self.link.as_mut() {
                        Some(Link::Tas(s)) => (0u8, s.next().await),
                        Some(Link::Local { channel0, channel1 }) => match channel1 {
                            Some(ch1) => tokio::select! {
                                item = channel0.next() => (0, item),
                                item = ch1.next() => (1, item),
                            },
                            None => (0, channel0.next().await),
                        },
                        None => std::future::pending().await,
                    }
                };
                let accept = async {
                    match &channel0 {
                        Some(l) => l.accept().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => Wake::Stop,
                    _ = sleep => Wake::Timer,
                    call = kicks.recv(), if kicks_open => call.map_or(Wake::KicksClosed, Wake::Kick),
                    // `TerminalProcess` holds a sender, so this closes only when the terminal is dropped.
                    input = inputs.recv() => input.map_or(Wake::Stop, Wake::Input),
                    ev = self.events_rx.recv() => match ev {
                        Some(ev) => Wake::Event(ev),
                        // The driver holds a sender itself, so the channel never closes while it runs.
                        None => Wake::Stop,
                    },
                    (channel, item) = link_item => Wake::Link(channel, item),
                    accepted = accept => Wake::Accepted(accepted),
                }
            };
            match wake {
                Wake::Stop => break,
                Wake::Timer => {
                    armed = None;
                    self.timer();
                }
                Wake::Kick(call) => self.on_kick(*call),
                Wake::KicksClosed => kicks_open = false,
                Wake::Input(input) => self.input(*input),
                Wake::Event(ev) => self.on_event(*ev),
                Wake::Link(channel, item) => Box::pin(self.on_link_item(channel, item)).await,
                Wake::Accepted(Ok((stream, peer))) => self.on_channel0(stream, peer),
                Wake::Accepted(Err(err)) => tracing::warn!(error = %err, "channel 0: accept failed"),
            }
        }
        if self.link.take().is_some() {
            tracing::info!(tms_id = %self.tms_id, "terminal stopping: OPI link closed");
        }
    }
}

type LinkItem = Option<Result<Result<ccv_opi::Message, ccv_opi::DecodeError>, ccv_opi::codec::CodecError>>;

impl Driver {
    fn input(&mut self, input: ccv_terminal::Input) {
        self.core.handle_input(self.clock.now(), input);
    }

    fn timer(&mut self) {
        self.input(ccv_terminal::Input::Tick);
    }

    fn on_kick(&mut self, call: KickCall) {
        self.status(|s| s.local_kicks += 1);
        let tas = call.body.tas;
        self.kicks.push(PendingKick { reply: call.reply, reference: call.body.reference.clone() });
        let kick = ccv_terminal::LocalKick {
            source: call.peer.to_string(),
            port: self.trigger_port,
            reference: call.body.reference,
            tas,
        };
        self.input(ccv_terminal::Input::LocalKick(kick));
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Dialled { attempt, result } => {
                if attempt != self.dial_attempt {
                    return; // a dial that was cancelled or superseded
                }
                match result {
                    Ok(stream) => {
                        tracing::info!(tms_id = %self.tms_id, "TAS link up");
                        self.link = Some(Link::Tas(stream));
                        self.status(|s| s.link_up = true);
                        self.input(ccv_terminal::Input::Tas(ccv_terminal::TasEvent::Connected));
                    }
                    Err((reason, detail)) => {
                        tracing::warn!(tms_id = %self.tms_id, reason = %reason, "TAS dial failed: {detail}");
                        self.status(|s| s.last_dial_failure = Some(reason.as_str().to_owned()));
                        self.input(ccv_terminal::Input::Tas(ccv_terminal::TasEvent::DialFailed(reason)));
                    }
                }
            }
        }
    }

    fn on_channel0(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        if self.link.is_some() {
            tracing::info!(%peer, "channel 0: refusing a second POS connection");
            return;
        }
        tracing::info!(tms_id = %self.tms_id, %peer, "channel 0: POS connected");
        let channel0 = link::opi_stream(stream, self.io.max_frame);
        self.link = Some(Link::Local { channel0, channel1: None });
        self.status(|s| s.link_up = true);
    }

    async fn on_link_item(&mut self, channel: u8, item: LinkItem) {
        let opi_channel = match (&self.link, channel) {
            (Some(Link::Tas(_)), _) => ccv_terminal::Channel::Tas,
            (_, 0) => ccv_terminal::Channel::Pos0,
            _ => ccv_terminal::Channel::Pos1,
        };
        match link::classify(item) {
            Received::Message(message) => {
                self.input(ccv_terminal::Input::Opi { channel: opi_channel, message })
            }
            Received::Answer { response, error } => {
                tracing::warn!(tms_id = %self.tms_id, ?opi_channel, "undecodable OPI frame answered with {}: {error}",
                    response.overall_result().map(|r| r.as_str().to_owned()).unwrap_or_default());
                self.status(|s| s.bad_frames += 1);
                Box::pin(self.write(opi_channel, response)).await;
            }
            Received::Dropped { error } => {
                tracing::warn!(tms_id = %self.tms_id, ?opi_channel, "undecodable OPI frame dropped: {error}");
                self.status(|s| s.bad_frames += 1);
            }
            Received::Closed { reason } => self.link_closed(opi_channel, reason),
        }
    }

    fn link_closed(&mut self, channel: ccv_terminal::Channel, reason: String) {
        tracing::info!(tms_id = %self.tms_id, ?channel, "OPI link closed: {reason}");
        self.status(|s| s.last_close_reason = Some(reason));
        match channel {
            ccv_terminal::Channel::Pos1 => {
                if let Some(Link::Local { channel1, .. }) = self.link.as_mut() {
                    *channel1 = None;
                }
            }
            ccv_terminal::Channel::Tas => {
                self.link = None;
                self.status(|s| s.link_up = false);
                self.input(ccv_terminal::Input::Tas(ccv_terminal::TasEvent::Disconnected));
            }
            ccv_terminal::Channel::Pos0 => {
                self.link = None;
                self.status(|s| s.link_up = false);
            }
        }
    }

    /// Writes one message on a channel; a failed or timed-out write closes that link.
    async fn write(&mut self, channel: ccv_terminal::Channel, message: ccv_opi::Message) {
        let timeout = self.io.write_timeout();
        if channel == ccv_terminal::Channel::Pos1 {
            self.ensure_channel1().await;
        }
        let latency = self.latency.get();
        if channel == ccv_terminal::Channel::Tas && !latency.is_zero() {
            // The frame travels a slow line; a terminal that stops meanwhile sends nothing.
            tokio::select! {
                _ = tokio::time::sleep(latency) => {}
                _ = self.shutdown.cancelled() => return,
            }
        }
        let stream = match (self.link.as_mut(), channel) {
            (Some(Link::Tas(s)), ccv_terminal::Channel::Tas) => s,
            (Some(Link::Local { channel0, .. }), ccv_terminal::Channel::Pos0) => channel0,
            (Some(Link::Local { channel1: Some(ch1), .. }), ccv_terminal::Channel::Pos1) => ch1,
            _ => {
                tracing::warn!(tms_id = %self.tms_id, ?channel, kind = %message.kind(), "no link to send on; message dropped");
                return;
            }
        };
        let res = match tokio::time::timeout(timeout, stream.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err(format!("write timed out after {timeout:?}")),
        };
        if let Err(reason) = res {
            self.link_closed(channel, reason);
        }
    }

    /// Default ITS: connects channel 1 to the POS if it is not connected (bounded by the write time-out).
    async fn ensure_channel1(&mut self) {
        let target = self.io.opi_channel1;
        // Bounded tighter than a write: the drive loop waits for this connect.
        let timeout = self.io.write_timeout().min(Duration::from_secs(3));
        let max = self.io.max_frame;
        if let Some(Link::Local { channel1, .. }) = self.link.as_mut() {
            if channel1.is_none() {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await {
                    Ok(Ok(s)) => *channel1 = Some(link::opi_stream(s, max)),
                    Ok(Err(e)) => tracing::warn!(%target, "channel 1: cannot connect to the POS: {e}"),
                    Err(_) => tracing::warn!(%target, "channel 1: connecting to the POS timed out"),
                }
            }
        }
    }

    /// Writes the state file when the non-volatile state changed since the last write (see [`crate::state`]).
    fn persist(&mut self) {
        let Some(path) = self.io.state_file.clone() else { return };
        let mark = self.core.memory_mark();
        if self.saved.as_ref().is_some_and(|(cfg, m)| *m == mark && cfg == self.core.config()) {
            return;
        }
        let nv = self.core.non_volatile();
        match crate::state::save(&path, &nv) {
            Ok(()) => self.saved = Some((nv.config, mark)),
            // Nothing to fall back on: say so loudly; the next change tries again.
            Err(e) => tracing::error!(tms_id = %self.tms_id, "terminal state NOT saved: {e}"),
        }
    }

    /// Drains the core's outputs and acts on each, then saves the state if it changed.
    async fn drain(&mut self) {
        self.drain_outputs().await;
        self.persist();
    }

    async fn drain_outputs(&mut self) {
        self.drain_outputs_inner().await;
        if std::mem::take(&mut self.mqtt_closed) {
            self.status(|s| s.mqtt.state = "off".into());
        }
    }

    async fn drain_outputs_inner(&mut self) {
        let in_transaction = self.core.in_transaction();
        let migration = Some(self.core.config().migration_state());
        // A few enum values (no allocation when all is well), compared before anything is copied.
        let diagnosis = self.core.diagnosis();
        let network = &self.core.config().network;
        let core = &self.core;
        self.status.update_if(|s| {
            let settings_changed = s.update_settings(core);
            let changed = settings_changed
                || s.in_transaction != in_transaction
                || s.migration != migration
                || s.diagnosis != diagnosis
                || s.network != *network;
            if s.network != *network {
                s.network = network.clone();
            }
            s.in_transaction = in_transaction;
            s.migration = migration;
            if s.diagnosis != diagnosis {
                s.diagnosis = diagnosis;
            }
            changed
        });
        while let Some(output) = self.core.poll_output() {
            match output {
                ccv_terminal::Output::KickReply(reply) => self.kick_reply(reply),
                ccv_terminal::Output::DialTas(dial) => self.dial(dial),
                ccv_terminal::Output::CloseTas => {
                    self.dial_attempt += 1; // cancels a dial in flight
                    if let Some(task) = self.dial_task.take() {
                        task.abort();
                    }
                    if matches!(self.link, Some(Link::Tas(_))) {
                        self.link = None;
                        self.status(|s| s.link_up = false);
                        self.status(|s| s.last_close_reason = Some("closed by the terminal".into()));
                    }
                }
                // Boxed: the write future is large and rare; inline it would make every idle terminal's task
                // that much bigger.
                ccv_terminal::Output::SendOpi { channel, message } => {
                    Box::pin(self.write(channel, message)).await
                }
                ccv_terminal::Output::Screen(screen) => {
                    tracing::debug!(tms_id = %self.tms_id, "screen: {}", screen.lines.join(" | "));
                    self.status(|s| {
                        s.screen = screen.lines;
                        s.screen_gloss = screen.gloss;
                    });
                }
                ccv_terminal::Output::Journal(entry) => {
                    // On disk before the response that reports it goes out (it comes later in this drain).
                    self.persist();
                    let line = serde_json::to_string(&entry).unwrap_or_default();
                    tracing::info!(tms_id = %self.tms_id, "journal: {line}");
                    self.status(|st| {
                        if st.journal.len() >= JOURNAL_KEEP {
                            st.journal.remove(0);
                        }
                        st.journal.push(line);
                    });
                }
                ccv_terminal::Output::PublishMqtt { event, ack } => {
                    self.forward(ccv_terminal::Output::PublishMqtt { event: event.clone(), ack });
                    self.command_mqtt(MqttCommand::Publish { event, ack });
                }
                ccv_terminal::Output::Publish(event) => {
                    self.forward(ccv_terminal::Output::Publish(event.clone()));
                    match &event {
                        ccv_terminal::Event::TasDialFailed { reason, .. } => {
                            self.status(|s| s.last_dial_failure = Some(reason.as_str().to_owned()));
                        }
                        // The core's own verdict on the MQTT link: a configuration that wants none is "off", a
                        // network that cannot carry it (no DNS, 443 blocked) is "down"; the reason shows either way.
                        ccv_terminal::Event::MqttDown { reason } => {
                            use ccv_terminal::MqttDownReason as R;
                            let off = matches!(
                                reason,
                                R::PoweredOff
                                    | R::NotInstalled
                                    | R::SslDisabled
                                    | R::CloudConnectionDisabled
                                    | R::SoftwareTooOld
                            );
                            let reason = reason.as_str().to_owned();
                            self.mqtt_closed = false;
                            self.status(|s| {
                                if off {
                                    s.mqtt.state = "off".into();
                                } else if s.mqtt.state != "connecting" {
                                    s.mqtt.state = "down".into();
                                }
                                s.mqtt.last_failure = Some(reason);
                            });
                        }
                        _ => {}
                    }
                    let line = serde_json::to_string(&event).unwrap_or_default();
                    tracing::info!(tms_id = %self.tms_id, "event: {line}");
                }
                ccv_terminal::Output::OpenMqtt(settings) => {
                    self.forward(ccv_terminal::Output::OpenMqtt(settings.clone()));
                    self.command_mqtt(MqttCommand::Open(settings));
                }
                ccv_terminal::Output::CloseMqtt => {
                    self.forward(ccv_terminal::Output::CloseMqtt);
                    // Shown at the end of this drain, unless the core's reason (published next) says more.
                    self.mqtt_closed = true;
                    self.command_mqtt(MqttCommand::Close);
                }
            }
        }
    }

    fn command_mqtt(&self, command: MqttCommand) {
        if let Some(tx) = &self.mqtt {
            if let Err(err) = tx.send(command) {
                tracing::warn!(tms_id = %self.tms_id, "{err}");
            }
        }
    }

    fn forward(&mut self, output: ccv_terminal::Output) {
        for tx in &self.hook_outputs {
            if let Err(err) = tx.try_send(output.clone()) {
                tracing::warn!(tms_id = %self.tms_id, "hook output dropped: {err}");
            }
        }
    }

    fn kick_reply(&mut self, reply: ccv_terminal::KickReply) {
        if self.kicks.is_empty() {
            tracing::warn!(tms_id = %self.tms_id, "kick reply without a pending kick: {reply:?}");
            return;
        }
        let pending = self.kicks.remove(0);
        let answer = match reply {
            ccv_terminal::KickReply::Accepted { tas, reference } => KickAnswer::Accepted {
                tms_id: self.tms_id.clone(),
                reference: reference.or(pending.reference),
                tas: tas.to_string(),
            },
            ccv_terminal::KickReply::Refused { reason } => KickAnswer::refused(self.tms_id.clone(), reason),
        };
        // The HTTP client may have gone; nothing to do then.
        let _ = pending.reply.send(answer);
    }

    fn dial(&mut self, dial: ccv_terminal::DialTas) {
        if let Some(task) = self.dial_task.take() {
            task.abort();
        }
        if matches!(self.link, Some(Link::Tas(_))) {
            // A new dial replaces the old link.
            self.link = None;
        }
        self.dial_attempt += 1;
        let attempt = self.dial_attempt;
        let events = self.events_tx.clone();
        let timeout = self.dial_timeout;
        let software = self.software.clone();
        let max_frame = self.io.max_frame;
        let handshake_timeout = Duration::from_millis(self.io.handshake_timeout_ms);
        let latency = self.latency.get();
        let tls = self.tas_tls.clone();
        self.status(|s| s.dial_attempts += 1);
        tracing::info!(tms_id = %dial.tms_id, tas = %dial.tas, "dialling the TAS");
        // One attempt; whether and when to try again is the core's decision.
        self.dial_task = Some(tokio::spawn(async move {
            use ccv_terminal::TasDialFailure;
            let result = async {
                let tcp = link::dial(&dial.tas, timeout, latency)
                    .await
                    .map_err(|reason| (reason, reason.message().to_owned()))?;
                let mut stream = match &tls {
                    None => link::opi_stream(tcp, max_frame),
                    Some(tls) => {
                        let secured = link::secure(tcp, &dial.tas, tls, handshake_timeout)
                            .await
                            .map_err(|detail| (TasDialFailure::Tls, detail))?;
                        link::framed(Box::new(secured), max_frame)
                    }
                };
                let reference = dial.reference.as_deref();
                link::handshake(&mut stream, &dial.tms_id, reference, &software, handshake_timeout)
                    .await
                    .map_err(|detail| (TasDialFailure::Handshake, detail))?;
                Ok(stream)
            }
            .await;
            let _ = events.send(Box::new(Event::Dialled { attempt, result })).await;
        }));
    }
}
