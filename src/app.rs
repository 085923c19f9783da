//! The imperative shell: load → plan → apply → attach → clean up, for each request.

use crate::cli::Invocation;

/// Carries out an invocation and returns the process exit code.
pub async fn run(_invocation: Invocation) -> anyhow::Result<u8> {
    anyhow::bail!("not wired yet")
}
