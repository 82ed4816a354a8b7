//! `ccv-emu ctl ...`: a thin CLI over a running sandbox's control API (`docs/SANDBOX.md`). Only wiring: each
//! subcommand is one HTTP request.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

/// The arguments of `ccv-emu ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The sandbox's control API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8082", global = true)]
    control: String,
    /// Print the control API's JSON answer instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCmd,
}

#[derive(Debug, clap::Subcommand)]
enum CtlCmd {
    /// List the terminals: TMS ID, migration state, MQTT link, OPI link, screen.
    Terminals,
    /// Show one terminal with its full live status.
    Terminal {
        /// TMS ID.
        tms_id: String,
    },
    /// Press keys: 0-9, ., OK, STOP, CLEAR, MENU; a run of digits types each.
    ///
    /// Example: ccv-emu ctl keys 29000001 "MENU 2 99999 OK"
    Keys {
        /// TMS ID.
        tms_id: String,
        /// The keys.
        script: String,
    },
    /// The card reader: present CARD (maestro, visa, visa_declined, ...), pin PIN, remove, cancel.
    ///
    /// Example: ccv-emu ctl card 29000001 present maestro
    Card {
        /// TMS ID.
        tms_id: String,
        /// present, pin, remove or cancel.
        action: String,
        /// The card (present) or the PIN (pin).
        value: Option<String>,
    },
    /// A change on the TMS side (JSON, e.g. '{"mqt": true}'), or --contact: the terminal contacts TMS.
    Tms {
        /// TMS ID.
        tms_id: String,
        /// The change.
        #[arg(required_unless_present = "contact")]
        change: Option<String>,
        /// The terminal contacts TMS (a sync without installation, R7).
        #[arg(long)]
        contact: bool,
    },
    /// Fault switches: --dns on|off, --port-443 open|blocked, --printer ok|out-of-paper, --latency-ms MS, and the
    /// sandbox's own (for every terminal): --tas-down [true|false], --iot-down [true|false].
    ///
    /// Example: ccv-emu ctl fault 29000001 --tas-down; ccv-emu ctl fault 29000001 --tas-down false
    Fault {
        /// TMS ID.
        tms_id: String,
        /// DNS configured on the terminal.
        #[arg(long, value_parser = ["on", "off"])]
        dns: Option<String>,
        /// The shop firewall for outgoing TCP 443.
        #[arg(long = "port-443", value_parser = ["open", "blocked"])]
        port_443: Option<String>,
        /// The POS's printer.
        #[arg(long, value_parser = ["ok", "out-of-paper"])]
        printer: Option<String>,
        /// Latency added to the terminal's network, in milliseconds (0: none, at most 10000).
        #[arg(long, value_name = "MS")]
        latency_ms: Option<u64>,
        /// The sandbox's TAS down (refuses dials, drops connections); `--tas-down false` brings it back.
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        tas_down: Option<bool>,
        /// The sandbox's IoT endpoint down (closes MQTT connections); `--iot-down false` brings it back.
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        iot_down: Option<bool>,
    },
    /// Switch the terminal on or off.
    Power {
        /// TMS ID.
        tms_id: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// The installer's checklist (R23); the same as `ccv-emu doctor`.
    Doctor {
        /// TMS ID.
        tms_id: String,
    },
    /// Follow the event stream: one JSON object a line, until Ctrl-C.
    Events,
    /// Today's service password of a terminal (the SERVICE MENU's, R17, R20), on the sandbox's clock.
    ServicePassword {
        /// TMS ID.
        tms_id: String,
    },
    /// Show the terminals' clock, or move it forward: `clock advance SECONDS` (a day: 86400).
    Clock {
        /// `advance`.
        #[arg(value_parser = ["advance"])]
        action: Option<String>,
        /// Seconds forward.
        #[arg(required_if_eq("action", "advance"))]
        seconds: Option<u64>,
    },
}

pub fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let base = args.control.trim_end_matches('/').to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let http = reqwest::Client::builder().no_proxy().build()?;
        let t = |id: &str, rest: &str| format!("{base}/terminals/{id}{rest}");
        let (url, body) = match &args.command {
            CtlCmd::Terminals => (format!("{base}/terminals"), None),
            CtlCmd::Terminal { tms_id } => (t(tms_id, ""), None),
            CtlCmd::Keys { tms_id, script } => (t(tms_id, "/keys"), Some(json!({"script": script}))),
            CtlCmd::Card { tms_id, action, value } => {
                let event = match (action.as_str(), value) {
                    ("present", Some(card)) => json!({"presented": card}),
                    ("pin", Some(pin)) => json!({"pin": pin}),
                    ("remove", None) => json!("removed"),
                    ("cancel", None) => json!("customer_cancel"),
                    _ => anyhow::bail!("use: card ID present CARD | pin PIN | remove | cancel"),
                };
                (t(tms_id, "/card"), Some(event))
            }
            CtlCmd::Tms { tms_id, contact: true, .. } => (t(tms_id, "/tms/contact"), Some(Value::Null)),
            CtlCmd::Tms { tms_id, change, .. } => {
                let change: Value = serde_json::from_str(change.as_deref().unwrap_or_default())
                    .context("the change is not JSON (e.g. '{\"mqt\": true}')")?;
                (t(tms_id, "/tms"), Some(change))
            }
            CtlCmd::Fault { tms_id, dns, port_443, printer, latency_ms, tas_down, iot_down } => {
                let mut f = serde_json::Map::new();
                if let Some(d) = dns {
                    f.insert("dnsConfigured".into(), json!(d == "on"));
                }
                if let Some(p) = port_443 {
                    f.insert("outgoing443".into(), json!(p == "open"));
                }
                if let Some(p) = printer {
                    f.insert("printerOutOfPaper".into(), json!(p == "out-of-paper"));
                }
                if let Some(ms) = latency_ms {
                    f.insert("latencyMs".into(), json!(ms));
                }
                if let Some(down) = tas_down {
                    f.insert("tasDown".into(), json!(down));
                }
                if let Some(down) = iot_down {
                    f.insert("iotDown".into(), json!(down));
                }
                (t(tms_id, "/faults"), Some(Value::Object(f)))
            }
            CtlCmd::Power { tms_id, state } => (t(tms_id, "/power"), Some(json!({"on": state == "on"}))),
            CtlCmd::Doctor { tms_id } => (t(tms_id, "/doctor"), None),
            CtlCmd::Events => return follow(&http, &format!("{base}/events")).await,
            CtlCmd::ServicePassword { tms_id } => (t(tms_id, "/service-password"), None),
            CtlCmd::Clock { seconds: Some(s), .. } => {
                (format!("{base}/clock/advance"), Some(json!({"seconds": s})))
            }
            CtlCmd::Clock { .. } => (format!("{base}/clock"), None),
        };
        let req = match body {
            None => http.get(&url),
            Some(Value::Null) => http.post(&url),
            Some(b) => http.post(&url).json(&b),
        };
        let resp = tokio::time::timeout(Duration::from_secs(15), req.send())
            .await
            .context("the control API did not answer within 15 s")?
            .with_context(|| {
                format!("cannot reach the control API at {base} (is `ccv-emu sandbox` running?)")
            })?;
        let status = resp.status();
        let answer: Value = resp.json().await.context("the control API answered without JSON")?;
        if !status.is_success() {
            anyhow::bail!("{}", answer["message"].as_str().unwrap_or("the control API refused the request"));
        }
        if args.json {
            outln!("{answer}");
        } else {
            summarize(&args.command, &answer);
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn summarize(command: &CtlCmd, answer: &Value) {
    match command {
        CtlCmd::Terminals => {
            for t in answer.as_array().into_iter().flatten() {
                outln!(
                    "{:<9} {:<26} mqtt {:<11} opi {:<4} | {}",
                    t["tmsId"].as_str().unwrap_or("?"),
                    t["migration"].as_str().unwrap_or("?"),
                    t["mqtt"].as_str().unwrap_or("?"),
                    if t["status"]["linkUp"] == true { "up" } else { "down" },
                    screen(t)
                );
            }
        }
        CtlCmd::Doctor { .. } => {
            for c in answer["checks"].as_array().into_iter().flatten() {
                let pass = c["pass"] == true;
                outln!(
                    "{} {:<22} {}",
                    if pass { "PASS" } else { "FAIL" },
                    c["name"].as_str().unwrap_or("?"),
                    c["seen"].as_str().unwrap_or("")
                );
            }
        }
        CtlCmd::ServicePassword { .. } => outln!("{}", answer["servicePassword"].as_str().unwrap_or("?")),
        CtlCmd::Clock { .. } => outln!(
            "{} ms since the epoch, {} s ahead of the system clock",
            answer["nowMs"],
            answer["offsetMs"].as_u64().unwrap_or(0) / 1000
        ),
        _ => outln!("{}: {}", answer["tmsId"].as_str().unwrap_or("?"), screen(answer)),
    }
}

/// The screen lines of a terminal answer, joined.
fn screen(t: &Value) -> String {
    t["status"]["screen"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "))
        .unwrap_or_default()
}

/// Prints each event's JSON on its own line until the stream ends or Ctrl-C.
async fn follow(http: &reqwest::Client, url: &str) -> anyhow::Result<ExitCode> {
    let mut resp = http.get(url).send().await.with_context(|| format!("cannot open {url}"))?;
    let mut buf = String::new();
    loop {
        let chunk = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            c = resp.chunk() => c?,
        };
        let Some(chunk) = chunk else { return Ok(ExitCode::SUCCESS) };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                outln!("{}", line.trim());
            }
        }
    }
}
