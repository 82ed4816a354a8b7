//! `ccv-emu vpos ...`: administration of the payment API's merchants, API keys and whitelists.
//! Only wiring: the work is in `ccv_vpos::Store`.

use std::path::PathBuf;
use std::process::ExitCode;

use ccv_vpos::Store;
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
    /// Add or list merchants.
    #[command(subcommand)]
    Merchant(MerchantCmd),
    /// Make API keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Manage the TMS IDs a merchant may wake with the cloud kick (Cloud Connect 2.0, R10).
    #[command(subcommand)]
    Whitelist(WhitelistCmd),
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn run(args: VposArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_dir(&args.state)?;
    match args.command {
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
