//! `ccv-emu tas` (run the mock TAS) and `ccv-emu pay` (drive a payment through its HTTP API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

/// Run the mock TAS: terminals dial in on --listen, tools and tests drive it on --api.
///
/// Every OPI frame in both directions is written to the transcript (JSON lines, card numbers masked).
/// Stop with Ctrl-C.
///
/// Without --pki the terminal port is plain TCP, as the real FLAT-OUTGOING link, and unauthenticated: anyone who
/// reaches the port may claim any TMS ID (a second claim for a connected terminal is refused, not taken over).
/// With --pki it is mutual TLS: a terminal must present its certificate from that PKI (CN = TMS ID), and a
/// hand-shake naming another TMS ID is refused; start terminals with `ccv-emu terminal --pki DIR --tas-tls`.
#[derive(Debug, clap::Args)]
pub struct TasArgs {
    /// Address terminals connect to (the real TAS listens on port 5555).
    #[arg(long, default_value = "127.0.0.1:5555")]
    listen: SocketAddr,
    /// Address of the HTTP API (GET /terminals, POST /terminals/{tmsId}/payments, GET /transcript, ...).
    #[arg(long, default_value = "127.0.0.1:8055")]
    api: SocketAddr,
    /// Append the transcript to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    transcript: Option<PathBuf>,
    /// Seconds a conversation may take before its outcome is reported unknown.
    #[arg(long, default_value_t = 120)]
    transaction_timeout: u64,
    /// Largest OPI frame accepted from a terminal, in bytes.
    #[arg(long, default_value_t = 65536)]
    max_frame: usize,
    /// Mutual TLS on the terminal port with the PKI of `ccv-emu pki init DIR` (ca.pem, tas.pem, tas.key):
    /// terminals prove their TMS ID with their certificate. Without it: plain TCP, unauthenticated.
    #[arg(long, value_name = "DIR")]
    pki: Option<PathBuf>,
}

/// Drive one transaction on a terminal connected to a running mock TAS and print the result.
///
/// Exit status 0 when the terminal answered Success, 2 when it answered otherwise, 3 when the outcome is
/// unknown (terminal disconnected or timed out, or the TAS went away after taking the request), 1 on any other
/// error.
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// Base URL of the TAS HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8055")]
    tas_api: String,
    /// TMS ID of the terminal (it must have been kicked and be connected to the TAS).
    #[arg(long)]
    terminal: String,
    /// Amount, e.g. 12.34.
    #[arg(long, required_unless_present_any = ["login", "logoff", "reconciliation", "abort"])]
    amount: Option<String>,
    /// ISO 4217 currency.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Refund instead of pay.
    #[arg(long, conflicts_with_all = ["reversal", "login", "logoff", "reconciliation", "abort"])]
    refund: bool,
    /// Reverse an earlier payment instead of paying.
    #[arg(long, conflicts_with_all = ["login", "logoff", "reconciliation", "abort"])]
    reversal: bool,
    /// Send a Login service request instead.
    #[arg(long)]
    login: bool,
    /// Send a Logoff service request instead.
    #[arg(long)]
    logoff: bool,
    /// Send a Reconciliation service request instead.
    #[arg(long)]
    reconciliation: bool,
    /// Abort the transaction in progress instead.
    #[arg(long)]
    abort: bool,
    /// Wait this many seconds for the terminal to connect to the TAS first (0: do not wait).
    #[arg(long, default_value_t = 10)]
    wait: u64,
    /// Seconds the terminal has to finish.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print the raw JSON result instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn run_tas(args: TasArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let tls = args.pki.as_deref().map(ccv_tas::TasTls::load_dir).transpose()?;
        let link = match &args.pki {
            Some(dir) => format!("mutual TLS with the PKI in {}", dir.display()),
            None => "plain TCP, unauthenticated (--pki DIR for mutual TLS)".to_owned(),
        };
        let config = ccv_tas::TasConfig {
            transcript_path: args.transcript,
            transaction_timeout: Duration::from_secs(args.transaction_timeout),
            max_frame: args.max_frame,
            tls,
            ..ccv_tas::TasConfig::default()
        };
        let tas = ccv_tas::Tas::start(args.listen, Some(args.api), config).await?;
        let api = tas.api_addr().map(|a| a.to_string()).unwrap_or_default();
        outln!("mock TAS: terminals connect to {} ({link}), HTTP API on http://{api}", tas.terminal_addr());
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        tas.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_pay(args: PayArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(pay(args))
}

async fn pay(args: PayArgs) -> anyhow::Result<ExitCode> {
    use ccv_tas::client::Method;
    let base = args.tas_api.as_str();
    let id = args.terminal.as_str();
    if args.wait > 0 {
        let path = format!("/terminals/{id}/wait?timeoutSecs={}", args.wait);
        let (status, body) =
            ccv_tas::client::call_json(base, Method::GET, &path, None, Duration::from_secs(args.wait + 5))
                .await?;
        if !status.is_success() {
            anyhow::bail!("terminal {id} is not connected to the TAS at {base}: {}", message(&body));
        }
    }
    let (route, body) = if args.login {
        ("login", json!({}))
    } else if args.logoff {
        ("logoff", json!({}))
    } else if args.reconciliation {
        ("reconciliation", json!({}))
    } else if args.abort {
        ("abort", json!({}))
    } else {
        let amount = args.amount.clone().unwrap_or_default();
        let route = if args.refund {
            "refunds"
        } else if args.reversal {
            "reversals"
        } else {
            "payments"
        };
        (route, json!({"amount": amount, "currency": args.currency, "timeoutSecs": args.timeout}))
    };
    let path = format!("/terminals/{id}/{route}");
    let answer = ccv_tas::client::call_json(
        base,
        Method::POST,
        &path,
        Some(&body),
        Duration::from_secs(args.timeout + 10),
    )
    .await;
    let result = match answer {
        Ok((status, result)) if status.is_success() => result,
        Ok((status, result)) => anyhow::bail!("the TAS refused: {} ({status})", message(&result)),
        // The request may have reached the terminal: its outcome is unknown, not an error of ours.
        Err(e) if e.outcome_unknown() => json!({"tmsId": id, "outcome": "unknown", "reason": e.to_string()}),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_summary(&result);
    }
    let code = match (result["outcome"].as_str(), result["overallResult"].as_str()) {
        (Some("completed"), Some("Success")) => 0,
        (Some("completed"), _) => 2,
        _ => 3,
    };
    Ok(ExitCode::from(code))
}

fn message(body: &Value) -> String {
    body["message"].as_str().map(str::to_owned).unwrap_or_else(|| body.to_string())
}

fn print_summary(r: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    outln!("terminal:       {}", s(&r["tmsId"]));
    outln!("request:        {} (RequestID {})", s(&r["requestType"]), s(&r["requestId"]));
    if r["amount"].is_string() {
        outln!("amount:         {} {}", s(&r["amount"]), s(&r["currency"]));
    }
    outln!("outcome:        {}", s(&r["outcome"]));
    outln!("overall result: {}", s(&r["overallResult"]));
    if let Some(reason) = r["reason"].as_str() {
        outln!("reason:         {reason}");
    }
    if let Some(auth) = r["authorisation"].as_object() {
        for (k, v) in auth {
            let v = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            outln!("  {k:<18}{v}");
        }
    }
    if let Some(texts) = r["displayTexts"].as_array() {
        for t in texts {
            outln!("display [{}]: {}", s(&t["target"]), s(&t["text"]).replace('\n', " / "));
        }
    }
    if let Some(receipts) = r["receipts"].as_array() {
        for rc in receipts {
            let printed = if rc["printed"].as_bool() == Some(true) { "printed" } else { "NOT printed" };
            outln!("--- receipt ({}, {printed}) ---", s(&rc["target"]));
            outln!("{}", s(&rc["text"]));
        }
    }
    outln!("duration:       {} ms", r["durationMs"]);
}
