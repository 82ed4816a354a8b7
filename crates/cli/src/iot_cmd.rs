//! `ccv-emu pki ...` and `ccv-emu iot` (being written).
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum PkiCmd {
    /// Write a test PKI to a directory.
    Init,
}

#[derive(Debug, clap::Args)]
pub struct IotArgs {}

pub fn run_pki(_cmd: PkiCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}

pub fn run_iot(_args: IotArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
