//! The scenario runner: a fresh sandbox in a temporary state directory, on every listener a free port, on a clock
//! that starts at the scenario's instant; each step goes through the same doors a user has (the control API, the
//! payment API and its admin API over HTTP, a local kick over TCP), then its expectations are checked at every
//! event of the sandbox (and at least every 200 ms for what makes no event) until they hold or `within` passes.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::expect::Observed;
use super::{Report, Scenario, Step, parse_duration, within_limit};
use crate::{Fleet, Sandbox, SandboxInfo, SandboxOptions};

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was looked at (`screen`, `status`, `fields.status.settings.triggerPort`, ...).
    pub what: String,
    /// What the step expected.
    pub expected: String,
    /// What was seen last.
    pub seen: String,
}

impl Mismatch {
    pub(crate) fn new(
        what: impl Into<String>,
        expected: impl Into<String>,
        seen: impl Into<String>,
    ) -> Mismatch {
        Mismatch { what: what.into(), expected: expected.into(), seen: seen.into() }
    }
}

/// The step that ended a scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Its number, from 1.
    pub step: usize,
    /// Steps in the scenario.
    pub of: usize,
    /// What the step says it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// What it did (`keys "MENU" on 29000001`).
    pub action: String,
    /// How long it waited, milliseconds.
    pub waited_ms: u64,
    /// The expectations that did not hold.
    pub mismatches: Vec<Mismatch>,
    /// Why the step could not be done at all (an unknown terminal, a request that got no answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} of {}", self.step, self.of)?;
        if let Some(say) = &self.say {
            write!(f, " {say:?}")?;
        }
        write!(f, " ({})", self.action)?;
        if let Some(e) = &self.error {
            return write!(f, ": {e}");
        }
        writeln!(f, ", after {:.1} s:", self.waited_ms as f64 / 1000.0)?;
        for (i, m) in self.mismatches.iter().enumerate() {
            let pad = " ".repeat(m.what.len());
            write!(f, "  {}: expected {}\n  {pad}  seen     {}", m.what, m.expected, m.seen)?;
            if i + 1 < self.mismatches.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// How a scenario ended: the number of steps that passed, or the failing step.
pub type Outcome = Result<usize, Failure>;

/// A step as it went, for progress output.
#[derive(Debug, Clone)]
pub struct StepDone<'a> {
    /// Its number, from 1.
    pub step: usize,
    /// Steps in the scenario.
    pub of: usize,
    /// What it did.
    pub action: &'a str,
    /// What it says it is.
    pub say: Option<&'a str>,
    /// How long it took.
    pub took: Duration,
}

/// Reads and runs one scenario file; `progress` hears of every step that passed.
pub async fn run_file(path: &Path, progress: &mut (dyn FnMut(&StepDone<'_>) + Send)) -> Report {
    let started = Instant::now();
    let mut report = Report {
        file: path.display().to_string(),
        name: String::new(),
        rules: Vec::new(),
        steps: 0,
        passed_steps: 0,
        passed: false,
        duration_ms: 0,
        failure: None,
        error: None,
    };
    match Scenario::load(path) {
        Err(e) => report.error = Some(e.to_string()),
        Ok(scenario) => {
            report.name.clone_from(&scenario.name);
            report.rules.clone_from(&scenario.rules);
            report.steps = scenario.steps.len();
            let dir = path.parent().unwrap_or(Path::new("."));
            match run_scenario(&scenario, dir, progress).await {
                Ok(Ok(n)) => {
                    report.passed_steps = n;
                    report.passed = true;
                }
                Ok(Err(failure)) => {
                    report.passed_steps = failure.step - 1;
                    report.failure = Some(failure);
                }
                Err(e) => report.error = Some(e),
            }
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// Runs a scenario against a fresh sandbox (its fleet file relative to `dir`). `Err` when the sandbox could not
/// be started; `Ok(Err)` is the failing step.
pub async fn run_scenario(
    scenario: &Scenario,
    dir: &Path,
    progress: &mut (dyn FnMut(&StepDone<'_>) + Send),
) -> Result<Outcome, String> {
    let fleet = match &scenario.fleet {
        Some(f) => Fleet::load(&dir.join(f)).map_err(|e| e.to_string())?,
        None => Fleet::default_fleet().map_err(|e| e.to_string())?,
    };
    let state = tempfile::Builder::new()
        .prefix("ccv-emu-scenario-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary state directory: {e}"))?;
    let clock = ccv_terminal_io::Clock::starting_at(scenario.start_ms()?);
    let options = SandboxOptions {
        state_dir: state.path().join("state"),
        fleet,
        ephemeral_ports: true,
        ports: Default::default(),
        reset: false,
        clock: Some(clock.clone()),
        tas_plain_tcp: false,
    };
    let mut world = World::start(options, clock).await?;
    let default_within = scenario.within()?;
    let of = scenario.steps.len();
    let mut outcome = Ok(of);
    for (i, step) in scenario.steps.iter().enumerate() {
        let started = Instant::now();
        let tms = step.terminal.as_deref().or(scenario.terminal.as_deref());
        let action = describe(step, tms);
        let within =
            within_limit(step.within.as_deref().map(parse_duration).transpose()?.unwrap_or(default_within));
        let fail = |waited: Duration, mismatches, error| Failure {
            step: i + 1,
            of,
            say: step.say.clone(),
            action: action.clone(),
            waited_ms: waited.as_millis() as u64,
            mismatches,
            error,
        };
        match world.step(step, tms, within).await {
            Ok(()) => progress(&StepDone {
                step: i + 1,
                of,
                action: &action,
                say: step.say.as_deref(),
                took: started.elapsed(),
            }),
            Err(StepError::Action(e)) => {
                outcome = Err(fail(started.elapsed(), Vec::new(), Some(e)));
                break;
            }
            Err(StepError::Mismatch(m)) => {
                outcome = Err(fail(started.elapsed(), m, None));
                break;
            }
        }
    }
    world.shutdown().await;
    drop(state);
    Ok(outcome)
}

enum StepError {
    /// The action itself could not be done.
    Action(String),
    /// The expectations did not hold in time.
    Mismatch(Vec<super::Mismatch>),
}

impl From<String> for StepError {
    fn from(e: String) -> Self {
        StepError::Action(e)
    }
}

/// A payment made in the scenario.
#[derive(Debug, Clone)]
struct Made {
    reference: String,
    key: String,
    tms_id: String,
}

struct World {
    sandbox: Option<Sandbox>,
    options: SandboxOptions,
    clock: ccv_terminal_io::Clock,
    info: SandboxInfo,
    http: reqwest::Client,
    events: broadcast::Receiver<crate::control::SandboxEvent>,
    /// Each terminal's kick address at the first start (where a POS configured for 1.0 sends its kicks).
    kick_addrs: HashMap<String, SocketAddr>,
    payments: HashMap<String, Made>,
}

/// How long the terminals' MQTT links get to come up after a start.
const SETTLE: Duration = Duration::from_secs(15);

/// Every request of the runner within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl World {
    async fn start(options: SandboxOptions, clock: ccv_terminal_io::Clock) -> Result<World, String> {
        let sandbox =
            Sandbox::start(options.clone()).await.map_err(|e| format!("the sandbox did not start: {e}"))?;
        sandbox.settle_links(SETTLE).await;
        let info = sandbox.info();
        let kick_addrs = info
            .terminals
            .iter()
            .filter_map(|t| Some((t.tms_id.clone(), t.kick_address.as_deref()?.parse().ok()?)))
            .collect();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let events = sandbox.events();
        Ok(World {
            sandbox: Some(sandbox),
            options,
            clock,
            info,
            http,
            events,
            kick_addrs,
            payments: HashMap::new(),
        })
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
    }

    async fn restart(&mut self) -> Result<(), String> {
        self.shutdown().await;
        let sandbox = Sandbox::start(self.options.clone())
            .await
            .map_err(|e| format!("the sandbox did not start again: {e}"))?;
        sandbox.settle_links(SETTLE).await;
        self.info = sandbox.info();
        self.events = sandbox.events();
        self.sandbox = Some(sandbox);
        Ok(())
    }

    fn terminal_info(&self, tms: &str) -> Result<&crate::TerminalInfo, String> {
        self.info.terminals.iter().find(|t| t.tms_id == tms).ok_or_else(|| {
            let ids: Vec<&str> = self.info.terminals.iter().map(|t| t.tms_id.as_str()).collect();
            format!("no terminal {tms} in the fleet (it has {ids:?})")
        })
    }

    fn key_of(&self, merchant: &str) -> Result<String, String> {
        self.info
            .api_key(merchant)
            .map(str::to_owned)
            .ok_or_else(|| format!("no merchant {merchant:?} in the fleet"))
    }

    async fn request(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let resp = req.send().await.map_err(|e| format!("no answer: {e}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| format!("the answer broke off: {e}"))?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok((status, body))
    }

    async fn control(&self, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.info.control_url);
        let req = match body {
            Some(b) => self.http.post(url).json(&b),
            None => self.http.get(url),
        };
        self.request(req).await
    }

    fn terminal_of(tms: Option<&str>) -> Result<&str, String> {
        tms.ok_or_else(|| "the step names no terminal".to_owned())
    }

    /// Does the step's action; returns the answer to its request and the payment it concerns.
    async fn act(
        &mut self,
        step: &Step,
        tms: Option<&str>,
    ) -> Result<(Option<(u16, Value)>, Option<String>), String> {
        let on = |route: &str| -> Result<String, String> {
            Ok(format!("/terminals/{}/{route}", World::terminal_of(tms)?))
        };
        let answer = if let Some(keys) = &step.keys {
            let t = World::terminal_of(tms)?;
            let now = ccv_terminal::Timestamp::from_millis(self.clock.now_ms());
            let script = keys
                .replace("{service_password}", &ccv_terminal::service_password_local(t, now))
                .replace("{manager_password}", "99999")
                .replace("{tms_id}", t);
            Some(self.control(&on("keys")?, Some(json!({"script": script}))).await?)
        } else if let Some(card) = &step.card {
            Some(self.control(&on("card")?, Some(json!({"presented": card}))).await?)
        } else if let Some(pin) = &step.pin {
            Some(self.control(&on("card")?, Some(json!({"pin": pin}))).await?)
        } else if step.remove_card == Some(true) {
            Some(self.control(&on("card")?, Some(json!("removed"))).await?)
        } else if step.customer_cancel == Some(true) {
            Some(self.control(&on("card")?, Some(json!("customer_cancel"))).await?)
        } else if let Some(changes) = &step.tms {
            let mut last = None;
            for (k, v) in changes {
                let change = json!({ k.as_str(): serde_json::to_value(v).unwrap_or(Value::Null) });
                let answer = self.control(&on("tms")?, Some(change)).await?;
                if answer.0 != 200 {
                    return Ok((Some(answer), None));
                }
                last = Some(answer);
            }
            last
        } else if step.contact_tms == Some(true) {
            Some(self.control(&on("tms/contact")?, Some(json!({}))).await?)
        } else if let Some(on_off) = step.power {
            Some(self.control(&on("power")?, Some(json!({"on": on_off}))).await?)
        } else if let Some(faults) = &step.fault {
            let body = serde_json::to_value(faults).unwrap_or(Value::Null);
            Some(self.control(&on("faults")?, Some(body)).await?)
        } else if let Some(by) = &step.advance {
            let ms = parse_duration(by)?.as_millis() as u64;
            Some(self.control("/clock/advance", Some(json!({"seconds": ms.div_ceil(1000)}))).await?)
        } else if let Some(p) = &step.payment {
            return self.payment(p, World::terminal_of(tms)?).await;
        } else if let Some(r) = &step.refund {
            return self.refund(r).await;
        } else if let Some(k) = &step.kick {
            Some(self.kick(k, World::terminal_of(tms)?).await)
        } else if let Some(w) = &step.whitelist {
            let merchant = match &w.merchant {
                Some(m) => m.clone(),
                None => self.terminal_info(World::terminal_of(tms)?)?.merchant.clone(),
            };
            let base = format!("{}/admin/merchants/{merchant}/whitelist", self.info.admin_url);
            let req = match (&w.add, &w.remove) {
                (Some(add), _) => self.http.post(base).json(&json!({"tmsId": add})),
                (None, Some(remove)) => self.http.delete(format!("{base}/{remove}")),
                (None, None) => return Err("whitelist needs add or remove".into()),
            };
            Some(self.request(req).await?)
        } else if step.restart == Some(true) {
            self.restart().await?;
            None
        } else if let Some(name) = &step.check {
            if !self.payments.contains_key(name) {
                return Err(format!("no payment named {name:?} earlier in the scenario"));
            }
            return Ok((None, Some(name.clone())));
        } else {
            None
        };
        Ok((answer, None))
    }

    async fn payment(
        &mut self,
        p: &super::PaymentStep,
        tms: &str,
    ) -> Result<(Option<(u16, Value)>, Option<String>), String> {
        let t = self.terminal_info(tms)?;
        let merchant = p.merchant.clone().unwrap_or_else(|| t.merchant.clone());
        let key = self.key_of(&merchant)?;
        let system = p.system.clone().unwrap_or_else(|| "GrundmasterNL".to_owned());
        let lan =
            (system == ccv_vpos::validate::CLOUD_CONNECT_1_SYSTEM_ID || p.ip.is_some() || p.port.is_some())
                .then(|| {
                    let at = self.kick_addrs.get(tms).copied();
                    let ip = p.ip.clone().or_else(|| at.map(|a| a.ip().to_string()));
                    let port = p.port.or_else(|| at.map(|a| a.port())).unwrap_or(4105);
                    (ip.unwrap_or_else(|| "127.0.0.1".into()), port)
                });
        let currency = p.currency.as_deref().unwrap_or("EUR");
        let body = crate::payment_request(tms, &p.amount, currency, &system, lan);
        let client = ccv_vpos::client::VposClient::new(&self.info.api_url, &key);
        let answer = client.create_payment(&body).await.map_err(|e| e.to_string())?;
        let reference = answer.1.get("reference").and_then(Value::as_str).map(str::to_owned);
        let name = p.name.clone().unwrap_or_else(|| format!("payment {}", self.payments.len() + 1));
        if let Some(reference) = reference {
            self.payments.insert(name.clone(), Made { reference, key, tms_id: tms.to_owned() });
            return Ok((Some(answer), Some(name)));
        }
        Ok((Some(answer), None))
    }

    async fn refund(
        &mut self,
        r: &super::RefundStep,
    ) -> Result<(Option<(u16, Value)>, Option<String>), String> {
        let of = self
            .payments
            .get(&r.of)
            .cloned()
            .ok_or_else(|| format!("no payment named {:?} earlier in the scenario", r.of))?;
        let mut body = json!({"reference": of.reference});
        if let Some(a) = &r.amount {
            body["amount"] = json!(a);
        }
        let client = ccv_vpos::client::VposClient::new(&self.info.api_url, &of.key);
        let answer = client.post("/api/v1/refund", &body, None).await.map_err(|e| e.to_string())?;
        let name = r.name.clone().unwrap_or_else(|| format!("refund of {}", r.of));
        if let Some(reference) = answer.1.get("reference").and_then(Value::as_str) {
            let made = Made { reference: reference.to_owned(), ..of };
            self.payments.insert(name.clone(), made);
            return Ok((Some(answer), Some(name)));
        }
        Ok((Some(answer), None))
    }

    /// A local kick; nothing listening answers as HTTP status 0 with the reason.
    async fn kick(&self, k: &super::KickStep, tms: &str) -> (u16, Value) {
        let at = self
            .kick_addrs
            .get(tms)
            .copied()
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4105));
        let addr = SocketAddr::new(at.ip(), k.port.unwrap_or(at.port()));
        let body = ccv_wire::local_kick::KickRequestBody { reference: k.reference.clone(), tas: None };
        match ccv_terminal_io::kick_client::send_kick(addr, &body, Duration::from_secs(10)).await {
            Ok(reply) => (reply.status, reply.body),
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    async fn step(&mut self, step: &Step, tms: Option<&str>, within: Duration) -> Result<(), StepError> {
        // Events from before the step are not its events.
        while self.events.try_recv().is_ok() {}
        let (answer, payment) = self.act(step, tms).await?;
        let expect = &step.expect;
        let payment = match payment {
            Some(name) => self.payments.get(&name).cloned(),
            None if expect.needs_payment() => {
                return Err(StepError::Action(
                    "the step expects a payment status but made no payment (use payment, refund or check)"
                        .into(),
                ));
            }
            None => None,
        };
        let deadline = tokio::time::Instant::now() + within;
        let mut events: Vec<Value> = Vec::new();
        loop {
            while let Ok(e) = self.events.try_recv() {
                events.push(serde_json::to_value(&e).unwrap_or(Value::Null));
            }
            let terminal = match tms {
                Some(t) if expect.needs_terminal() => {
                    let (status, view) = self.control(&format!("/terminals/{t}"), None).await?;
                    if status == 404 {
                        return Err(StepError::Action(format!("no terminal {t} in the fleet")));
                    }
                    Some(view)
                }
                _ => None,
            };
            let doctor = match tms {
                Some(t) if expect.needs_doctor() => {
                    Some(self.control(&format!("/terminals/{t}/doctor"), None).await?.1)
                }
                _ => None,
            };
            let paid = match &payment {
                Some(p) if expect.needs_payment() => {
                    let client = ccv_vpos::client::VposClient::new(&self.info.api_url, &p.key);
                    Some(client.transaction(&p.reference).await.map_err(|e| e.to_string())?.1)
                }
                _ => None,
            };
            let observed = Observed {
                terminal: terminal.as_ref(),
                payment: paid.as_ref(),
                doctor: doctor.as_ref(),
                events: &events,
                tms_id: tms.or(payment.as_ref().map(|p| p.tms_id.as_str())),
                answer: answer.as_ref(),
            };
            let (mismatches, definitive) = expect.check(&observed);
            if mismatches.is_empty() {
                return Ok(());
            }
            if definitive || tokio::time::Instant::now() >= deadline {
                return Err(StepError::Mismatch(mismatches));
            }
            // The next event, or a look again after 200 ms for what makes no event (settings, the payment API's
            // store), whichever comes first.
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_millis(200));
            tokio::select! {
                e = self.events.recv() => match e {
                    Ok(e) => events.push(serde_json::to_value(&e).unwrap_or(Value::Null)),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => tokio::time::sleep_until(wake).await,
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// What a step does, in a few words (`keys "MENU" on 29000001`).
fn describe(step: &Step, tms: Option<&str>) -> String {
    let on = tms.map(|t| format!(" on {t}")).unwrap_or_default();
    let what = if let Some(k) = &step.keys {
        format!("keys {k:?}")
    } else if let Some(c) = &step.card {
        format!("card {c:?} presented")
    } else if let Some(p) = &step.pin {
        format!("PIN {p:?}")
    } else if step.remove_card.is_some() {
        "card removed".into()
    } else if step.customer_cancel.is_some() {
        "customer cancel".into()
    } else if let Some(t) = &step.tms {
        format!("TMS change {}", serde_json::to_string(t).unwrap_or_default())
    } else if step.contact_tms.is_some() {
        "contact TMS".into()
    } else if let Some(p) = step.power {
        format!("power {}", if p { "on" } else { "off" })
    } else if let Some(f) = &step.fault {
        format!("faults {}", serde_json::to_string(f).unwrap_or_default())
    } else if let Some(a) = &step.advance {
        return format!("clock +{a}");
    } else if let Some(p) = &step.payment {
        format!("payment {} via {}", p.amount, p.system.as_deref().unwrap_or("GrundmasterNL"))
    } else if let Some(r) = &step.refund {
        return format!(
            "refund of {}{}",
            r.of,
            r.amount.as_ref().map(|a| format!(" {a}")).unwrap_or_default()
        );
    } else if let Some(k) = &step.kick {
        format!("local kick{}", k.port.map(|p| format!(" to port {p}")).unwrap_or_default())
    } else if let Some(w) = &step.whitelist {
        match (&w.add, &w.remove) {
            (Some(a), _) => format!("whitelist add {a}"),
            (_, Some(r)) => format!("whitelist remove {r}"),
            _ => "whitelist".into(),
        }
    } else if step.restart.is_some() {
        return "restart the sandbox".into();
    } else if let Some(c) = &step.check {
        return format!("check {c}");
    } else {
        "look".into()
    };
    format!("{what}{on}")
}
