//! `ccv-emu sandbox`: the whole Cloud Connect world in one process. Only wiring and output: the work is in
//! `ccv_sandbox`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ccv_sandbox::{Fleet, Ports, Sandbox, SandboxInfo, SandboxOptions};

/// The arguments of `ccv-emu sandbox` (its help text is on `Command::Sandbox` in main.rs).
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// The fleet file (merchants, terminals, ranges). Default: the built-in fleet, fixtures/sandbox.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The state directory: PKI and payment API database; kept across restarts.
    #[arg(long, value_name = "DIR", default_value = "./sandbox-state")]
    state: PathBuf,
    /// Start over: delete the state directory first.
    #[arg(long)]
    reset: bool,
    /// Every listener on a free port (several sandboxes side by side, CI); read them from --info-file.
    #[arg(long)]
    ephemeral_ports: bool,
    /// The TAS link as plain TCP, unauthenticated: anyone reaching the TAS port may claim any TMS ID. By default
    /// it is mutual TLS with the sandbox's PKI, each terminal proving its TMS ID with its certificate.
    #[arg(long)]
    tas_plain_tcp: bool,
    /// Write the addresses, keys, CA path and terminals as JSON to this file once ready.
    #[arg(long, value_name = "PATH")]
    info_file: Option<PathBuf>,
    /// Print the ready information as one JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// Control API port (terminals, keys, cards, TMS changes, GET /events).
    #[arg(long, default_value_t = Ports::default().control)]
    control_port: u16,
    /// Payment API port.
    #[arg(long, default_value_t = Ports::default().api)]
    api_port: u16,
    /// Admin API port.
    #[arg(long, default_value_t = Ports::default().admin)]
    admin_port: u16,
    /// IoT endpoint port (MQTT over TLS).
    #[arg(long, default_value_t = Ports::default().iot)]
    iot_port: u16,
    /// Mock TAS port.
    #[arg(long, default_value_t = Ports::default().tas)]
    tas_port: u16,
}

pub fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let fleet = match &args.config {
        Some(path) => Fleet::load(path)?,
        None => Fleet::default_fleet()?,
    };
    let options = SandboxOptions {
        state_dir: args.state.clone(),
        fleet,
        ephemeral_ports: args.ephemeral_ports,
        ports: Ports {
            control: args.control_port,
            iot: args.iot_port,
            tas: args.tas_port,
            api: args.api_port,
            admin: args.admin_port,
        },
        reset: args.reset,
        clock: None,
        tas_plain_tcp: args.tas_plain_tcp,
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let sandbox = Sandbox::start(options).await?;
        // The links of the 2.0 terminals come up within milliseconds on loopback; the table shows them as they are.
        sandbox.settle_links(Duration::from_secs(2)).await;
        let info = sandbox.info();
        if let Some(path) = &args.info_file {
            let json = serde_json::to_string_pretty(&info)?;
            std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if args.json {
            outln!("{}", serde_json::to_string(&info)?);
        } else {
            print_table(&info);
        }
        crate::vpos_cmd::wait_for_stop().await?;
        tracing::info!("sandbox stopping");
        sandbox.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(info: &SandboxInfo) {
    outln!("ccv-emu sandbox ready in {} ms (state {})", info.ready_ms, info.state_dir);
    outln!(
        "  dashboard     {}   (open it in a browser: every terminal, its keypad, payments, the migration tour)",
        info.dashboard_url
    );
    outln!("  payment API   {}   (OpenAPI {}, admin {})", info.api_url, info.openapi_url, info.admin_url);
    outln!("  control API   {}   (GET /terminals, POST /terminals/ID/keys, GET /events)", info.control_url);
    outln!("  IoT endpoint  {}   (CA {})", info.iot_endpoint, info.ca_path);
    let tas_link =
        if info.tas_tls { "mutual TLS, terminals prove their TMS ID" } else { "plain TCP, unauthenticated" };
    outln!("  mock TAS      {} ({tas_link})", info.tas);
    for m in &info.merchants {
        outln!(
            "  merchant {:<10} API key {}   (1.0 local kick sent by the {})",
            m.name,
            m.api_key,
            m.local_kick
        );
    }
    outln!("");
    outln!(
        "  {:<9} {:<44} {:<13} {:<10} {:<9} {:<17} {}",
        "TMS ID",
        "terminal",
        "migration",
        "merchant",
        "whitelist",
        "local kick",
        "MQTT"
    );
    for t in &info.terminals {
        let mqtt = match &t.mqtt_failure {
            Some(why) if t.mqtt != "up" => format!("{} ({why})", t.mqtt),
            _ => t.mqtt.clone(),
        };
        outln!(
            "  {:<9} {:<44} {:<13} {:<10} {:<9} {:<17} {}",
            t.tms_id,
            t.label,
            t.migration.label(),
            t.merchant,
            if t.whitelisted { "yes" } else { "no" },
            t.kick_address.as_deref().unwrap_or("-"),
            mqtt
        );
    }
    if !info.curl.is_empty() {
        outln!("");
        outln!("Make a payment:");
        outln!("  {}", info.curl);
    }
    outln!("");
    outln!("Stop with Ctrl-C; the state directory keeps the PKI and the payments (--reset starts over).");
}

/// `ccv-emu doctor TMSID`: the installer's checklist (R23) for one terminal of a running sandbox.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The terminal's TMS ID.
    tms_id: String,
    /// The sandbox's control API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8082")]
    control: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let url = format!("{}/terminals/{}/doctor", args.control.trim_end_matches('/'), args.tms_id);
    let (status, body) = rt
        .block_on(async {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build()?;
            let resp = http.get(&url).send().await?;
            anyhow::Ok((resp.status().as_u16(), resp.text().await?))
        })
        .with_context(|| {
            format!(
                "cannot reach the sandbox's control API at {} (is `ccv-emu sandbox` running?)",
                args.control
            )
        })?;
    let report: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("the control API answered {status} without JSON"))?;
    if status != 200 {
        anyhow::bail!("{}", report["message"].as_str().unwrap_or(&body));
    }
    if args.json {
        outln!("{report}");
    } else {
        outln!("doctor {}", args.tms_id);
        for c in report["checks"].as_array().into_iter().flatten() {
            let pass = c["pass"].as_bool().unwrap_or(false);
            outln!(
                "  {} {:<22} {}",
                if pass { "PASS" } else { "FAIL" },
                c["name"].as_str().unwrap_or("?"),
                c["seen"].as_str().unwrap_or("")
            );
            if !pass {
                outln!(
                    "       fix: {} ({})",
                    c["fix"].as_str().unwrap_or(""),
                    c["rule"].as_str().unwrap_or("")
                );
                if let Some(menu) = c["menu"].as_str() {
                    outln!("       menu: {menu}");
                }
            }
        }
    }
    Ok(if report["ok"].as_bool() == Some(true) { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
