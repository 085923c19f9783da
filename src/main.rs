//! The `krun` binary: the edge where argv, the environment and the terminal meet the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use krun::cli::{self, CliError, Terminals};

fn main() -> ExitCode {
    let terminals = Terminals {
        stdin: std::io::stdin().is_terminal(),
        stdout: std::io::stdout().is_terminal(),
    };
    let invocation = match cli::parse(std::env::args_os(), terminals) {
        Ok(invocation) => invocation,
        Err(CliError::Clap(e)) => {
            // --help and --version print to stdout and succeed; real parse errors exit 1 as
            // compose's do (clap would use 2).
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
        Err(e) => return krun::exit::report(&anyhow::Error::new(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return krun::exit::report(
                &anyhow::Error::new(e).context("starting the async runtime"),
            );
        }
    };
    match runtime.block_on(krun::app::run(invocation)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => krun::exit::report(&e),
    }
}
