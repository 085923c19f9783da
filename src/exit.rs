//! Every outcome mapped to a process exit code, in one place (design.md §5).
//!
//! `main.rs` calls [`report`] for every error; the container's own exit code is not an error
//! and never passes through here.

use std::process::ExitCode;

use crate::cli::{CliError, UsageError};

/// Bad usage, a bad compose file, an unknown service, an invalid flag value.
pub const USAGE: u8 = 1;

/// The exit code for an error, found by walking its cause chain for a known type.
pub fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<CliError>() {
            return USAGE;
        }
    }
    USAGE
}

/// Prints `err` as one paragraph on stderr and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("krun: {err:#}");
    ExitCode::from(code(err))
}
