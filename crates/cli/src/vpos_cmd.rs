//! `ccv-emu vpos ...`: the payment API (`serve`) and the administration of its merchants, API keys,
//! whitelists and settings. Only wiring: the work is in `ccv_vpos`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ccv_vpos::cloud::{CloudKicker, CloudSettings};
use ccv_vpos::engine::now_ms;
use ccv_vpos::{LocalKickMode, Store, Vpos, VposConfig, VposServer, WebhookPolicy};
use ccv_wire::HostPort;
use serde_json::json;

/// The arguments of `ccv-emu vpos` (its help text is on `Command::Vpos` in main.rs).
#[derive(Debug, clap::Args)]
pub struct VposArgs {
    /// The payment API's state directory.
    #[arg(long, value_name = "DIR", default_value = "./vpos-state", global = true)]
    state: PathBuf,
    #[command(subcommand)]
    command: VposCmd,
}

#[derive(Debug, clap::Subcommand)]
enum VposCmd {
    /// Run the payment API: POST /api/v1/payment, GET /api/v1/transaction, POST /api/v1/refund (CCV's shape,
    /// HTTP Basic with the API key as user name and an empty password), the payUrl page, the admin API on
    /// loopback, and the mock TAS the terminals dial for its payments.
    ///
    /// Cloud Connect 2.0 payments (managementSystemId GrundmasterNL/BE) need --iot and --pki: the cloud kick
    /// goes through the IoT endpoint as the PKI's vpos identity. Prints one line with the addresses when
    /// ready; stops on Ctrl-C or SIGTERM. Payments a killed run left pending become manualintervention at
    /// the next start.
    ///
    /// Example: ccv-emu vpos serve --iot localhost:8443 --pki ./pki
    Serve(Box<ServeArgs>),
    /// Add or list merchants.
    #[command(subcommand)]
    Merchant(MerchantCmd),
    /// Make API keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Manage the TMS IDs a merchant may wake with the cloud kick (Cloud Connect 2.0, R10).
    #[command(subcommand)]
    Whitelist(WhitelistCmd),
    /// Show a transaction's webhook attempts (time, HTTP status, error, delivered).
    ///
    /// Example: ccv-emu vpos webhooks TL2612011230000001AB3F
    Webhooks {
        /// The transaction's reference.
        reference: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// The arguments of `ccv-emu vpos serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the payment API (and its payUrl pages).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin API (merchants, keys, whitelists, webhook attempts); loopback only.
    #[arg(long, default_value = "127.0.0.1:8081")]
    admin: SocketAddr,
    /// The base URL POS browsers reach the API at, for payUrl (default: http://{--listen}).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Address of the mock TAS the terminals dial for this API's payments.
    #[arg(long, default_value = "127.0.0.1:5555")]
    tas_listen: SocketAddr,
    /// The TAS address put in kicks (HOST:PORT). Default: none, the terminal dials the TAS it is configured
    /// with; a terminal accepts a TAS named in a local kick only with `[io] allow_tas_override = true`.
    #[arg(long, value_name = "HOST:PORT")]
    kick_tas: Option<HostPort>,
    /// The IoT endpoint (HOST:PORT; the host is also the TLS server name) for cloud kicks.
    #[arg(long, value_name = "HOST:PORT", requires = "pki")]
    iot: Option<HostPort>,
    /// The PKI directory of `ccv-emu pki init` (ca.pem, vpos.pem, vpos.key).
    #[arg(long, value_name = "DIR")]
    pki: Option<PathBuf>,
    /// Mutual TLS on the TAS's terminal port with --pki's tas.pem and tas.key: terminals prove their TMS ID with
    /// their certificate (start them with `ccv-emu terminal --pki DIR --tas-tls`). Without it the TAS port is
    /// plain TCP and unauthenticated.
    #[arg(long, requires = "pki")]
    tas_tls: bool,
    /// MgtSubscription part of the MQTT topics.
    #[arg(long, default_value = ccv_wire::cloud::DEFAULT_MGT_SUBSCRIPTION)]
    mgt_subscription: String,
    /// MQTT client id of the payment API; the IoT endpoint accepts the payment API's certificate only with ids
    /// starting with `vpos`.
    #[arg(long, default_value = "vpos-1")]
    client_id: String,
    /// Seconds a terminal has to answer a kick.
    #[arg(long, default_value_t = 10)]
    kick_answer_timeout: u64,
    /// Seconds a terminal that took the kick has to reach the TAS.
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
    /// Seconds a Cloud Connect 1.0 payment waits for its payUrl page to send the local kick.
    #[arg(long, default_value_t = 120)]
    browser_kick_timeout: u64,
    /// Seconds the OPI conversation may take before the outcome is unknown (manualintervention).
    #[arg(long, default_value_t = 120)]
    transaction_timeout: u64,
    /// Seconds to keep asking a terminal whose answer was lost for its last transaction status (it must be at
    /// the TAS, still or again) before the transaction becomes manualintervention.
    #[arg(long, default_value_t = 60)]
    settle_timeout: u64,
    /// Webhook attempts per status change (back-off 1 s, doubling, at most 60 s).
    #[arg(long, default_value_t = 6)]
    webhook_attempts: u32,
    /// Print the ready line as JSON (apiUrl, adminUrl, tas, state).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum MerchantCmd {
    /// Add a merchant.
    ///
    /// Example: ccv-emu vpos merchant add shop-1
    Add {
        /// Unique name: 1 to 64 ASCII letters, digits, '-', '_' or '.'.
        name: String,
        /// Print the merchant as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the merchants with their number of API keys and whitelisted TMS IDs.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Change a merchant's settings.
    ///
    /// --local-kick server: the API sends the local kick of Cloud Connect 1.0 payments itself (for headless POS
    /// tests); browser (the default, as at CCV): the payUrl page sends it from the POS's browser.
    ///
    /// Example: ccv-emu vpos merchant set shop-1 --local-kick server
    Set {
        /// The merchant's name.
        name: String,
        /// Who sends the local kick: browser or server.
        #[arg(long, value_parser = parse_local_kick)]
        local_kick: LocalKickMode,
    },
}

fn parse_local_kick(s: &str) -> Result<LocalKickMode, String> {
    LocalKickMode::parse(s).ok_or_else(|| format!("{s:?} is neither \"browser\" nor \"server\""))
}

#[derive(Debug, clap::Subcommand)]
enum KeyCmd {
    /// Make a test API key (t_ + 32 hex digits) for a merchant and print it. Only its hash is stored:
    /// the key is shown this once.
    ///
    /// Clients send it as the HTTP Basic user name with an empty password.
    ///
    /// Example: ccv-emu vpos key add shop-1
    Add {
        /// The merchant's name.
        merchant: String,
        /// Print {"merchant", "key"} as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
enum WhitelistCmd {
    /// Allow the merchant to cloud-kick a terminal.
    ///
    /// Example: ccv-emu vpos whitelist add shop-1 12345678
    Add {
        /// The merchant's name.
        merchant: String,
        /// The terminal's TMS ID: 1 to 32 ASCII letters or digits.
        tms_id: String,
    },
    /// Stop allowing it.
    Remove {
        /// The merchant's name.
        merchant: String,
        /// The terminal's TMS ID.
        tms_id: String,
    },
    /// List a merchant's whitelisted TMS IDs, one a line.
    List {
        /// The merchant's name.
        merchant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: VposArgs) -> anyhow::Result<ExitCode> {
    if let VposCmd::Serve(serve_args) = args.command {
        return serve(&args.state, *serve_args);
    }
    let store = Store::open_dir(&args.state)?;
    match args.command {
        VposCmd::Serve(_) => unreachable!("handled above"),
        VposCmd::Merchant(MerchantCmd::Set { name, local_kick }) => {
            let m = store.set_local_kick(&name, local_kick)?;
            outln!("merchant {}: local kick sent by the {}", m.name, m.local_kick.as_str());
        }
        VposCmd::Webhooks { reference, json } => {
            let attempts = store.webhook_attempts(&reference)?;
            if json {
                outln!("{}", serde_json::to_string(&attempts)?);
            } else if attempts.is_empty() {
                outln!("no webhook attempts for {reference}");
            } else {
                for a in attempts {
                    let status = a.http_status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    let outcome =
                        if a.delivered { "delivered" } else { a.error.as_deref().unwrap_or("failed") };
                    outln!("#{} at {} {} HTTP {status}: {outcome}", a.attempt, a.attempted_ms, a.url);
                }
            }
        }
        VposCmd::Merchant(MerchantCmd::Add { name, json }) => {
            let m = store.add_merchant(&name, now_ms())?;
            if json {
                outln!("{}", serde_json::to_string(&m)?);
            } else {
                outln!("added merchant {} (make an API key with `ccv-emu vpos key add {}`)", m.name, m.name);
            }
        }
        VposCmd::Merchant(MerchantCmd::List { json }) => {
            let list = store.merchants()?;
            if json {
                outln!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                outln!("no merchants (add one with `ccv-emu vpos merchant add NAME`)");
            } else {
                for m in list {
                    outln!("{}  keys {}  whitelisted {}", m.merchant.name, m.api_keys, m.whitelisted);
                }
            }
        }
        VposCmd::Key(KeyCmd::Add { merchant, json }) => {
            let k = store.add_api_key(&merchant, now_ms())?;
            if json {
                outln!("{}", serde_json::to_string(&k)?);
            } else {
                outln!("{}", k.key);
                eprintln!("API key for merchant {} (shown once; only its hash is stored)", k.merchant);
            }
        }
        VposCmd::Whitelist(WhitelistCmd::Add { merchant, tms_id }) => {
            store.whitelist_add(&merchant, &tms_id, now_ms())?;
            outln!("TMS ID {tms_id} added to the whitelist of {merchant}");
        }
        VposCmd::Whitelist(WhitelistCmd::Remove { merchant, tms_id }) => {
            store.whitelist_remove(&merchant, &tms_id)?;
            outln!("TMS ID {tms_id} removed from the whitelist of {merchant}");
        }
        VposCmd::Whitelist(WhitelistCmd::List { merchant, json }) => {
            let ids = store.whitelist(&merchant)?;
            if json {
                outln!("{}", json!(ids));
            } else {
                for id in ids {
                    outln!("{id}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_pem(dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    ccv_tls::read_pem_file(&dir.join(name))
        .map_err(|e| anyhow::anyhow!("{e} (make the PKI with `ccv-emu pki init DIR`)"))
}

fn serve(state: &std::path::Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if !args.admin.ip().is_loopback() {
        anyhow::bail!(
            "the admin API has no authentication: --admin must be a loopback address, not {}",
            args.admin
        );
    }
    let store = Arc::new(Store::open_dir(state)?);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let tas = ccv_tas::Tas::start(
            args.tas_listen,
            None,
            ccv_tas::TasConfig {
                transaction_timeout: Duration::from_secs(args.transaction_timeout),
                tls: match (&args.pki, args.tas_tls) {
                    (Some(dir), true) => Some(ccv_tas::TasTls::load_dir(dir)?),
                    _ => None,
                },
                ..ccv_tas::TasConfig::default()
            },
        )
        .await?;
        let tas_addr = tas.terminal_addr();
        let kick_tas = args.kick_tas.clone();
        let cloud = match (&args.iot, &args.pki) {
            (Some(endpoint), Some(pki)) => Some(Arc::new(CloudKicker::start(CloudSettings {
                endpoint: endpoint.clone(),
                ca_pem: read_pem(pki, "ca.pem")?,
                cert_pem: read_pem(pki, "vpos.pem")?,
                key_pem: read_pem(pki, "vpos.key")?,
                client_id: args.client_id.clone(),
                mgt_subscription: args.mgt_subscription.clone(),
                connect_timeout: Duration::from_secs(10),
            })?)),
            _ => None,
        };
        let config = VposConfig {
            base_url: args.public_url.clone().unwrap_or_else(|| format!("http://{}", args.listen)),
            kick_tas: kick_tas.clone(),
            kick_answer_timeout: Duration::from_secs(args.kick_answer_timeout.max(1)),
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
            browser_kick_timeout: Duration::from_secs(args.browser_kick_timeout.max(1)),
            transaction_timeout: Duration::from_secs(args.transaction_timeout.max(1)),
            settle_timeout: Duration::from_secs(args.settle_timeout),
            webhook: WebhookPolicy { max_attempts: args.webhook_attempts.max(1), ..WebhookPolicy::default() },
            ..VposConfig::default()
        };
        let vpos = Vpos::start(store, Arc::new(tas), cloud.clone(), config).await?;
        let server = VposServer::start(vpos.clone(), args.listen, Some(args.admin)).await?;
        let api = format!("http://{}", server.api_addr());
        let admin = server.admin_addr().map(|a| format!("http://{a}")).unwrap_or_default();
        if args.json {
            outln!(
                "{}",
                json!({"apiUrl": api, "adminUrl": admin, "tas": tas_addr.to_string(), "tasTls": args.tas_tls,
                       "kickTas": kick_tas.map(|k| k.to_string()), "state": state.display().to_string(),
                       "cloudKick": cloud.is_some()})
            );
        } else {
            outln!(
                "payment API on {api} (admin {admin}, TAS {tas_addr} {}, state {}){}",
                if args.tas_tls { "over mutual TLS" } else { "on plain TCP" },
                state.display(),
                if cloud.is_some() { "" } else { "; no --iot: cloud kicks fail until it is given" }
            );
        }
        wait_for_stop().await?;
        tracing::info!("payment API stopping");
        server.shutdown().await;
        vpos.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot wait for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot wait for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    Ok(())
}
