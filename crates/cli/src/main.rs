//! `ccv-emu`: the command-line front door of the emulator.
//!
//! This crate only wires: it parses argv with clap, installs the `tracing` subscriber (filtered by
//! `RUST_LOG`, written to stderr), and calls into the library crates. Protocol logic lives elsewhere.
//!
//! Layout: one module per command family (`opi_cmd`, `iot_cmd`, ...), each exposing a clap
//! `Subcommand` enum and a `run` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod out;

mod ctl_cmd;
mod iot_cmd;
mod opi_cmd;
mod sandbox_cmd;
mod scenario_cmd;
mod tas_cmd;
mod terminal_cmd;
mod vpos_cmd;

/// jemalloc with background threads: memory freed after a burst (thousands of connections that came and went)
/// goes back to the system within its decay time, where glibc's malloc keeps most of it in its per-thread arenas
/// (docs/BENCHMARKS.md, "IoT endpoint: memory after connections close").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Emulator of a CCV payment terminal with Cloud Connect 1.0 (local kick) and 2.0 (cloud kick),
/// plus the CCV-side parties it talks to (mock TAS, AWS IoT Core stand-in).
///
/// Logs go to stderr; set RUST_LOG (for example RUST_LOG=debug or RUST_LOG=ccv_tas=trace) to see more.
#[derive(Debug, Parser)]
#[command(name = "ccv-emu", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and encode OPI_NL XML messages (a debugging tool for the wire format).
    #[command(subcommand)]
    Opi(opi_cmd::OpiCmd),
    /// Create a test PKI (CA, IoT endpoint certificate, terminal and payment-API client certificates).
    #[command(subcommand)]
    Pki(iot_cmd::PkiCmd),
    /// Run the AWS IoT Core stand-in: MQTT 3.1.1 over mutual TLS with ALPN and policies.
    Iot(iot_cmd::IotArgs),
    /// Run one emulated terminal: local-kick listener, TAS link, local OPI channels (Default ITS), and with
    /// --iot/--pki the Cloud Connect 2.0 MQTT connection that takes cloud kicks.
    ///
    /// Without --config the terminal is fully migrated: software 14.0.11.01, CCV Cloud Connection on, MQT
    /// installed, POS OPI mode TCP FLAT-OUTGOING, trigger port 4105 on 127.0.0.1, day open, activated, TAS
    /// TAS.JFORCE.BE:5555. Flags override the file. Examples of each migration state are in
    /// fixtures/terminals/. Stop with Ctrl-C.
    Terminal(terminal_cmd::TerminalArgs),
    /// Kick a terminal so it connects to the TAS.
    #[command(subcommand)]
    Kick(terminal_cmd::KickCmd),
    /// Run the mock TAS (terminals dial in; HTTP API for tools and tests; JSON-lines transcript).
    ///
    /// Every OPI frame in both directions goes to the transcript (JSON lines, card numbers masked): in memory
    /// (GET /transcript) and, with --transcript FILE, on disk. Stop with Ctrl-C.
    Tas(tas_cmd::TasArgs),
    /// Drive a payment (or refund, reversal, login, ...) on a terminal connected to the mock TAS.
    ///
    /// Exit status 0 when the terminal answered Success, 2 when it answered otherwise, 3 when the outcome is
    /// unknown (terminal disconnected or timed out, or the TAS went away after taking the request), 1 on any
    /// other error.
    Pay(tas_cmd::PayArgs),
    /// Run (`vpos serve`) and administer the payment API (VPOS look-alike): merchants, API keys, whitelists.
    ///
    /// The state is one SQLite file, DIR/vpos.sqlite3 (--state DIR, default ./vpos-state), created on first use.
    /// Errors end with exit status 1 and one line on stderr.
    Vpos(vpos_cmd::VposArgs),
    /// Start the whole Cloud Connect world in one process: the IoT endpoint (PKI made on first start), the mock
    /// TAS, the payment API with its merchants and test keys, and a fleet of terminals, one for each situation of
    /// the installer's guide (or --config FILE).
    ///
    /// Prints the endpoints, the test API keys, each terminal (TMS ID, migration state, kick address, MQTT link)
    /// and a curl that makes a payment. Stop with Ctrl-C or SIGTERM; the state directory survives restarts.
    ///
    /// Example: ccv-emu sandbox
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Walk the installer's troubleshooting checklist (R23) for a terminal of a running sandbox.
    ///
    /// Cloud Connect on in TMS, hardware installation done, FLAT-OUTGOING, DNS, whitelist, POS configuration
    /// (GrundmasterNL/BE, not 08900000002), outgoing 443, software version, MQTT link: each with what was seen and
    /// the fix (with the Dutch menu path where it is on the terminal). Exit status 0 when all pass, 2 when any
    /// fails, 1 on an error.
    ///
    /// Example: ccv-emu doctor 29000010
    Doctor(sandbox_cmd::DoctorArgs),
    /// Operate and watch the terminals of a running sandbox: keys, card, TMS changes, faults, power, events.
    ///
    /// A thin client of the sandbox's control API (--control, default http://127.0.0.1:8082).
    ///
    /// Example: ccv-emu ctl keys 29000001 MENU
    Ctl(ctl_cmd::CtlArgs),
    /// Run scenarios: TOML files of steps (keys, cards, TMS changes, faults, clock, payments) and expectations,
    /// each against a fresh in-process sandbox on a clock that starts at a fixed instant.
    ///
    /// The format is in docs/SCENARIOS.md; fixtures/scenarios/ has one file per rule of the installer's guide and
    /// the whole migration walkthrough.
    ///
    /// Example: ccv-emu scenario run fixtures/scenarios/*.toml
    #[command(subcommand)]
    Scenario(scenario_cmd::ScenarioCmd),
}

/// Logs to stderr, filtered by `RUST_LOG`, else at `default` (`info`; `warn` where the output is a report).
fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second initialisation (never expected here) is harmless, so its error is ignored.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A scenario run's output is its report (faults it injects make warnings): the sandboxes it starts log only errors unless RUST_LOG says more.
    init_tracing(if matches!(cli.command, Command::Scenario(_)) { "error" } else { "info" });
    let result = match cli.command {
        Command::Opi(cmd) => opi_cmd::run(cmd),
        Command::Pki(cmd) => iot_cmd::run_pki(cmd),
        Command::Iot(args) => iot_cmd::run_iot(args),
        Command::Terminal(args) => terminal_cmd::run_terminal(args),
        Command::Kick(cmd) => terminal_cmd::run_kick(cmd),
        Command::Tas(args) => tas_cmd::run_tas(args),
        Command::Pay(args) => tas_cmd::run_pay(args),
        Command::Vpos(args) => vpos_cmd::run(args),
        Command::Sandbox(args) => sandbox_cmd::run(args),
        Command::Doctor(args) => sandbox_cmd::run_doctor(args),
        Command::Ctl(args) => ctl_cmd::run(args),
        Command::Scenario(cmd) => scenario_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
