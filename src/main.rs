//! The `krun` binary: the edge where argv, the environment and the terminal meet the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use krun::cli::{self, CliError, Terminals};

fn main() -> ExitCode {
    krun::timing::start(std::env::var_os("KRUN_TIMING").as_deref());
    let terminals = Terminals {
        stdin: std::io::stdin().is_terminal(),
        stdout: std::io::stdout().is_terminal(),
        stdin_null: stdin_is_null(),
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
    krun::timing::mark("arguments parsed");
    // Two workers whatever the machine: krun waits on a few sockets, and a CI runner with 64
    // cores would otherwise start 64 threads before the first request.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let outcome = runtime.block_on(krun::app::run(invocation));
    krun::timing::mark("done");
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => krun::exit::report(&e),
    }
}

/// Whether stdin is the null device.
fn stdin_is_null() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    match (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) {
        (Ok(stdin), Ok(null)) => stdin.file_type().is_char_device() && stdin.rdev() == null.rdev(),
        _ => false,
    }
}
