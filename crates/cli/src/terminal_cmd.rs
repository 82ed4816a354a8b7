//! `ccv-emu terminal` (run one emulated terminal) and `ccv-emu kick local` (send it a local kick).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ccv_terminal_io::config::FileConfig;
use ccv_wire::HostPort;
use ccv_wire::local_kick::KickRequestBody;

/// Run one emulated terminal until Ctrl-C.
///
/// Without --config the terminal is fully migrated: software 14.0.11.01, CCV Cloud Connection on, MQT installed,
/// POS OPI mode TCP FLAT-OUTGOING, trigger port 4105, day open, activated, TAS TAS.JFORCE.BE:5555.
/// Flags override the file. Examples of each migration state are in fixtures/terminals/.
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// TOML config: the core's settings in the `[terminal]` table, the IO shell's in the `[io]` table.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The terminal's TMS ID.
    #[arg(long, value_name = "ID")]
    tms_id: Option<String>,
    /// Address of the local-kick listener (its port becomes the OPI trigger port; port 0 switches local kicks
    /// off, R21).
    #[arg(long, value_name = "ADDR")]
    kick_listen: Option<SocketAddr>,
    /// The TAS to dial after a kick (sets the TAS in TMS and on the terminal).
    #[arg(long, value_name = "HOST:PORT")]
    tas: Option<HostPort>,
    /// Cloud Connect 2.0: the IoT endpoint to keep the MQTT connection to (sets the MQT service address in TMS
    /// and on the terminal), e.g. localhost:8443 for `ccv-emu iot --listen 127.0.0.1:8443`. Use a host name:
    /// TLS sends it as SNI, and the endpoint refuses clients without SNI. Needs --pki.
    #[arg(long, value_name = "HOST:PORT", requires = "pki")]
    iot: Option<HostPort>,
    /// Cloud Connect 2.0: the PKI directory made by `ccv-emu pki init DIR --terminal TMSID` (the CA and this
    /// terminal's certificate and key). Without it the terminal has no MQTT client.
    #[arg(long, value_name = "DIR")]
    pki: Option<PathBuf>,
    /// Dial the TAS over mutual TLS with the terminal's certificate from --pki, for a TAS started with
    /// `ccv-emu tas --pki DIR` (the same PKI); sets `[io] tas_tls`. Without it the TAS link is plain TCP.
    #[arg(long, requires = "pki")]
    tas_tls: bool,
    /// When to offer the ALPN protocol x-amzn-mqtt-ca: auto (on port 443 only, as the real terminal), always
    /// (the default with --iot: the endpoint's 443-style listener requires it on any port), never.
    #[arg(long, value_name = "WHEN")]
    mqtt_alpn: Option<AlpnArg>,
    /// Seed for the terminal's randomness (approval codes, back-off jitter); random when absent.
    #[arg(long)]
    seed: Option<u64>,
}

/// `--mqtt-alpn` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AlpnArg {
    Auto,
    Always,
    Never,
}

impl From<AlpnArg> for ccv_terminal_io::AlpnPolicy {
    fn from(a: AlpnArg) -> Self {
        match a {
            AlpnArg::Auto => ccv_terminal_io::AlpnPolicy::Auto,
            AlpnArg::Always => ccv_terminal_io::AlpnPolicy::Always,
            AlpnArg::Never => ccv_terminal_io::AlpnPolicy::Never,
        }
    }
}

/// Kick a terminal.
#[derive(Debug, clap::Subcommand)]
pub enum KickCmd {
    /// Send a Cloud Connect 1.0 local kick (POST /kick) to a terminal's trigger port and print its answer.
    ///
    /// Exit status 0 when accepted (202), 2 when refused (409), 1 on any other error.
    Local(KickLocalArgs),
}

/// Arguments of `kick local`.
#[derive(Debug, clap::Args)]
pub struct KickLocalArgs {
    /// The terminal's trigger address, e.g. 127.0.0.1:4105.
    target: SocketAddr,
    /// Payment reference to pass along (the terminal sends it to the TAS in its hand-shake).
    #[arg(long)]
    reference: Option<String>,
    /// Ask the terminal to dial this TAS instead of its configured one (refused with 403 unless the terminal's
    /// config sets `[io] allow_tas_override = true`).
    #[arg(long, value_name = "HOST:PORT")]
    tas: Option<HostPort>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Print the raw JSON answer.
    #[arg(long)]
    json: bool,
}

pub fn run_terminal(args: TerminalArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    if let Some(id) = args.tms_id {
        config.terminal.identity.tms_id = id;
    }
    if let Some(addr) = args.kick_listen {
        config.io.kick_bind = addr.ip();
        if addr.port() == 0 {
            config.terminal.trigger_port = 0;
        } else {
            config.terminal.trigger_port = addr.port();
        }
    } else if args.config.is_none() {
        config.io.kick_bind = IpAddr::from([127, 0, 0, 1]);
    }
    if let Some(tas) = &args.tas {
        config.terminal.tms.tas = tas.clone();
        config.terminal.installed.tas = tas.clone();
    }
    if let Some(iot) = &args.iot {
        config.terminal.tms.mqt_service = iot.clone();
        config.terminal.installed.mqt_service = iot.clone();
        config.io.mqtt_alpn = ccv_terminal_io::AlpnPolicy::Always;
    }
    if let Some(alpn) = args.mqtt_alpn {
        config.io.mqtt_alpn = alpn.into();
    }
    if let Some(dir) = &args.pki {
        config.io.mqtt_pki = Some(dir.clone());
    }
    config.io.tas_tls |= args.tas_tls;
    let tas_link = if config.io.tas_tls { "mutual TLS" } else { "plain TCP" };
    let mqtt_line = match &config.io.mqtt_pki {
        None => "MQTT off (no --pki; Cloud Connect 2.0 needs --iot HOST:PORT --pki DIR)".to_owned(),
        Some(dir) => {
            let m = &config.terminal.installed.mqt_service;
            format!("MQTT to {}:{} with the certificate from {}", m.host, m.port, dir.display())
        }
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let term = ccv_terminal_io::TerminalProcess::start(config, seed).await?;
        let kick = term.kick_addr().map_or_else(|| "off (trigger port 0)".to_owned(), |a| a.to_string());
        outln!(
            "terminal {}: local kick on {kick}, TAS {} ({tas_link}), POS OPI mode {}",
            term.tms_id(),
            term.tas_target(),
            term.pos_opi_mode()
        );
        outln!("{mqtt_line}");
        if let Some(ch0) = term.channel0_addr() {
            outln!(
                "OPI channel 0 (POS -> terminal) on {ch0}; channel 1 (terminal -> POS) to {}",
                term.channel1_target()
            );
        }
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        term.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

pub fn run_kick(cmd: KickCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KickCmd::Local(args) => kick_local(args),
    }
}

fn kick_local(args: KickLocalArgs) -> anyhow::Result<ExitCode> {
    let body = KickRequestBody { reference: args.reference.clone(), tas: args.tas.clone() };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let reply = rt.block_on(ccv_terminal_io::kick_client::send_kick(
        args.target,
        &body,
        Duration::from_secs(args.timeout),
    ))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reply.body)?);
    } else {
        let b = &reply.body;
        let s = |k: &str| b[k].as_str().unwrap_or("-").to_owned();
        match reply.status {
            202 => {
                outln!(
                    "202 Accepted: kick accepted; terminal {} is dialling the TAS {}",
                    s("tmsId"),
                    s("tas")
                );
                if let Some(r) = b["reference"].as_str() {
                    outln!("reference: {r}");
                }
            }
            409 => outln!(
                "409 Conflict: kick refused by terminal {}: {}\n{}",
                s("tmsId"),
                s("reason"),
                s("message")
            ),
            other => outln!("{other}: {} {}", s("error"), s("message")),
        }
    }
    Ok(match reply.status {
        202 => ExitCode::SUCCESS,
        409 => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    })
}
