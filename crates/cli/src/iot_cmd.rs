//! `ccv-emu pki init` (a test PKI on disk) and `ccv-emu iot` (the AWS IoT Core stand-in).
//! Only wiring: the work is in `ccv_iot`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, KeyAlgorithm, Pki, PkiOptions};

#[derive(Debug, clap::Subcommand)]
pub enum PkiCmd {
    /// Write a test PKI to DIR: CA, endpoint server certificate, payment-API and terminal client
    /// certificates (PEM; keys mode 0600; README.txt says what is what).
    ///
    /// If DIR already holds a PKI, its CA is kept and the given terminals are added (or
    /// re-issued), so `pki init DIR --terminal 87654321` later extends an existing PKI.
    ///
    /// Layout: DIR/ca.pem ca.key, DIR/server.pem server.key, DIR/vpos.pem vpos.key,
    /// DIR/terminals/{tmsId}.pem {tmsId}.key.
    ///
    /// Example: ccv-emu pki init ./pki --terminal 12345678 --terminal 12345679
    Init {
        /// Directory to write (created if missing).
        dir: PathBuf,
        /// Issue a client certificate for this TMS ID (CN = TMS ID); repeat for more terminals.
        #[arg(long = "terminal", value_name = "TMSID")]
        terminals: Vec<String>,
        /// Keys and signatures: p256 (ECDSA P-256 with SHA-256, what R6 asks for) or p384
        /// (ECDSA P-384 with SHA-384, a chain a SHA-256-only terminal must refuse). New PKI only.
        #[arg(long, value_enum, default_value_t = Algorithm::P256)]
        algorithm: Algorithm,
        /// Start over: make a new CA even if DIR already holds one.
        #[arg(long)]
        force: bool,
        /// Print a JSON summary (paths) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Algorithm {
    /// ECDSA P-256, SHA-256.
    P256,
    /// ECDSA P-384, SHA-384.
    P384,
}

/// Run the IoT endpoint stand-in: MQTT 3.1.1 over TLS with client certificates (from a PKI made
/// by `ccv-emu pki init`), SNI required, ALPN x-amzn-mqtt-ca required on --listen, QoS 0/1,
/// AWS IoT Core limits and per-certificate policies. Stops cleanly on Ctrl-C or SIGTERM.
///
/// Prints one line per listener ("iot listening on ADDR (alpn x-amzn-mqtt-ca required)") on
/// stdout once ready, so scripts may use port 0. Logs (refusals with their reason) go to stderr.
///
/// Example: ccv-emu iot --listen 127.0.0.1:8443 --listen-8883 127.0.0.1:8883 --pki ./pki
#[derive(Debug, clap::Args)]
pub struct IotArgs {
    /// The 443-style listener (ALPN x-amzn-mqtt-ca required).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// An optional 8883-style listener (no ALPN required).
    #[arg(long = "listen-8883", value_name = "ADDR")]
    listen_8883: Option<SocketAddr>,
    /// PKI directory written by `ccv-emu pki init`.
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,
    /// Smallest keep-alive granted, in seconds (AWS IoT Core: 30). Lower values help tests.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    keep_alive_min: u64,
    /// Keep persistent sessions (subscriptions, queued QoS 1 messages) in this file across restarts, as AWS IoT
    /// Core keeps them for an hour; without it they live in memory only.
    #[arg(long, value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// Print the ready lines as JSON objects.
    #[arg(long)]
    json: bool,
}

pub fn run_pki(cmd: PkiCmd) -> anyhow::Result<ExitCode> {
    let PkiCmd::Init { dir, terminals, algorithm, force, json } = cmd;
    let existing = dir.join("ca.pem").exists() && !force;
    let mut pki = if existing {
        let pki = Pki::load_dir(&dir).with_context(|| format!("reading the PKI in {}", dir.display()))?;
        for t in &terminals {
            ccv_iot::pki::validate_tms_id(t)?;
        }
        pki
    } else {
        let algorithm = match algorithm {
            Algorithm::P256 => KeyAlgorithm::EcdsaP256Sha256,
            Algorithm::P384 => KeyAlgorithm::EcdsaP384Sha384,
        };
        Pki::generate(&PkiOptions { algorithm, ..PkiOptions::default() })?
    };
    for t in &terminals {
        pki.add_terminal(t)?;
    }
    pki.write_dir(&dir).with_context(|| format!("writing the PKI to {}", dir.display()))?;
    let path = |p: &str| dir.join(p).display().to_string();
    if json {
        let terminals: serde_json::Map<String, serde_json::Value> = pki
            .terminals
            .keys()
            .map(|t| {
                let v = serde_json::json!({"cert": path(&format!("terminals/{t}.pem")), "key": path(&format!("terminals/{t}.key"))});
                (t.clone(), v)
            })
            .collect();
        let out = serde_json::json!({
            "dir": dir.display().to_string(),
            "created": !existing,
            "ca": path("ca.pem"),
            "server": {"cert": path("server.pem"), "key": path("server.key")},
            "vpos": {"cert": path("vpos.pem"), "key": path("vpos.key")},
            "terminals": terminals,
        });
        outln!("{out}");
    } else {
        let verb = if existing { "updated" } else { "created" };
        outln!("{verb} test PKI in {} (see README.txt there)", dir.display());
        outln!("  CA            {}", path("ca.pem"));
        outln!("  IoT endpoint  {}  {}", path("server.pem"), path("server.key"));
        outln!("  payment API   {}  {}", path("vpos.pem"), path("vpos.key"));
        for t in pki.terminals.keys() {
            outln!("  terminal {t:<8} {}", path(&format!("terminals/{t}.pem")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_iot(args: IotArgs) -> anyhow::Result<ExitCode> {
    let pki = Pki::load_dir(&args.pki).with_context(|| {
        format!("loading the PKI from {} (make one with `ccv-emu pki init DIR`)", args.pki.display())
    })?;
    let tls = EndpointTls::from_pki(&pki).context("building the TLS configuration")?;
    let config = EndpointConfig {
        listen: args.listen,
        listen_8883: args.listen_8883,
        keep_alive_min: Duration::from_secs(args.keep_alive_min.max(1)),
        state_file: args.state_file.clone(),
        ..EndpointConfig::default()
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let endpoint = Endpoint::start(config, tls).await?;
        let mut ready = vec![(endpoint.local_addr(), true)];
        ready.extend(endpoint.local_addr_8883().map(|a| (a, false)));
        for (addr, alpn) in ready {
            if args.json {
                outln!(
                    "{}",
                    serde_json::json!({"event": "listening", "addr": addr.to_string(), "alpnRequired": alpn})
                );
            } else if alpn {
                outln!("iot listening on {addr} (alpn x-amzn-mqtt-ca required)");
            } else {
                outln!("iot listening on {addr} (no alpn required)");
            }
        }
        shutdown_signal().await;
        tracing::info!("shutting down");
        endpoint.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
