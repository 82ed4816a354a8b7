//! `ccv-emu scenario run FILE...`: runs scenario files (TOML steps and expectations) against fresh in-process
//! sandboxes. Only wiring and output: the runner is `ccv_sandbox::scenario`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ccv_sandbox::scenario::{self, Report};

/// The scenario commands.
#[derive(Debug, clap::Subcommand)]
pub enum ScenarioCmd {
    /// Run scenario files, each against a fresh sandbox (temporary state, free ports, the clock at the
    /// scenario's start), one after the other.
    ///
    /// Prints one line per scenario (PASS/FAIL, steps, time) and, for a failure, the step, what was expected and
    /// what was seen. Exit status 0 when all pass, 2 when any fails, 1 when a file cannot be read or a sandbox
    /// does not start. The format: docs/SCENARIOS.md.
    ///
    /// Example: ccv-emu scenario run fixtures/scenarios/*.toml
    Run(RunArgs),
}

/// The arguments of `scenario run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files (TOML).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print every step as it passes.
    #[arg(short, long)]
    verbose: bool,
    /// Print the reports as one JSON array (for tools) instead of lines.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ScenarioCmd) -> anyhow::Result<ExitCode> {
    let ScenarioCmd::Run(args) = cmd;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let reports = rt.block_on(async {
        let mut reports = Vec::with_capacity(args.files.len());
        let total = args.files.len();
        for (i, file) in args.files.iter().enumerate() {
            let verbose = args.verbose && !args.json;
            let mut progress = |s: &scenario::run::StepDone<'_>| {
                if verbose {
                    let say = s.say.map(|s| format!("  {s}")).unwrap_or_default();
                    outln!("    ok {:>2}/{} {}{say} ({} ms)", s.step, s.of, s.action, s.took.as_millis());
                }
            };
            if verbose {
                outln!("[{}/{total}] {}", i + 1, file.display());
            }
            let report = scenario::run_file(file, &mut progress).await;
            if !args.json {
                print_report(&report);
            }
            reports.push(report);
        }
        reports
    });
    let failed = reports.iter().filter(|r| !r.passed).count();
    if args.json {
        outln!("{}", serde_json::to_string(&reports)?);
    } else if reports.len() > 1 {
        outln!("{} scenarios, {} passed, {failed} failed", reports.len(), reports.len() - failed);
    }
    Ok(if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::FAILURE
    } else if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(r: &Report) {
    let secs = r.duration_ms as f64 / 1000.0;
    let rules = if r.rules.is_empty() { String::new() } else { format!(" [{}]", r.rules.join(", ")) };
    if r.passed {
        outln!("PASS {} ({} steps, {secs:.1} s): {}{rules}", r.file, r.steps, r.name);
    } else if let Some(e) = &r.error {
        outln!("ERROR {}: {e}", r.file);
    } else if let Some(f) = &r.failure {
        outln!("FAIL {} ({secs:.1} s): {}{rules}", r.file, r.name);
        for line in f.to_string().lines() {
            outln!("  {line}");
        }
    }
}
