//! `ccv-emu opi ...` (being written).
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum OpiCmd {
    /// Decode one OPI XML message to JSON.
    Decode,
}

pub fn run(_cmd: OpiCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
