//! The command line: clap's grammar ([`args`]) and its translation into validated, typed
//! requests ([`request`]). No I/O happens here; the caller supplies argv and terminal facts.

pub mod args;
pub mod request;

use std::ffi::OsString;
use std::path::Path;

use clap::{CommandFactory, FromArgMatches};

pub use request::{Invocation, Request, Terminals, UsageError};

/// Why the command line did not yield an invocation.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// clap's own outcome: a parse error, or `--help`/`--version` (which print and exit 0).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// A value compose would reject before doing anything.
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// Parses `argv` (including the program name) into a validated [`Invocation`].
pub fn parse<I, T>(argv: I, terminals: Terminals) -> Result<Invocation, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let matches = command(argv.first().map(OsString::as_os_str)).try_get_matches_from(argv)?;
    let cli = args::Cli::from_arg_matches(&matches)?;
    Ok(request::build(cli, terminals)?)
}

/// The clap command, named as the user typed it: kubectl runs a `kubectl-krun` on PATH for
/// `kubectl krun`, and help and errors then say `kubectl krun`.
pub fn command(argv0: Option<&std::ffi::OsStr>) -> clap::Command {
    let plugin = argv0
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|name| name.to_string_lossy().starts_with("kubectl-"));
    let command = args::Cli::command();
    match plugin {
        true => command
            .bin_name("kubectl krun")
            .override_usage(args::USAGE.replace("krun ", "kubectl krun ")),
        false => command,
    }
}

/// The completion script for `shell`, generated from the same definitions as the parser.
pub fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut args::Cli::command(), "krun", &mut script);
    script
}

/// The manual page (roff), generated from the same definitions as `--help`.
pub fn manual() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(args::Cli::command()).render(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPES: Terminals = Terminals {
        stdin: false,
        stdout: false,
        stdin_null: false,
    };

    fn run(argv: &[&str]) -> request::RunRequest {
        match parse(argv, PIPES).expect("parses").request {
            Request::Run(r) => *r,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn parsing_stops_at_the_service() {
        let r = run(&["krun", "--rm", "web", "--rm", "-e", "X=1"]);
        assert_eq!(r.service, "web");
        assert_eq!(
            r.command,
            Some(vec!["--rm".into(), "-e".into(), "X=1".into()])
        );
        assert!(r.rm);
        assert!(r.env.is_empty());
    }

    #[test]
    fn a_null_stdin_is_not_attached() {
        let null = Terminals {
            stdin_null: true,
            ..PIPES
        };
        let interactive = |argv: &[&str], t| match parse(argv, t).unwrap().request {
            Request::Run(r) => r.interactive,
            other => panic!("{other:?}"),
        };
        assert!(interactive(&["krun", "-T", "web"], PIPES));
        assert!(!interactive(&["krun", "-T", "web"], null));
        assert!(!interactive(&["krun", "-i", "-T", "web"], null));
        // -t still needs a terminal on stdin, /dev/null or not.
        assert!(parse(["krun", "-t", "web"], null).is_err());
    }

    #[test]
    fn reserved_words_run_through_run() {
        let r = run(&["krun", "run", "config", "true"]);
        assert_eq!(r.service, "config");
        assert_eq!(r.command, Some(vec!["true".into()]));
        assert!(matches!(
            parse(["krun", "config", "--services"], PIPES)
                .unwrap()
                .request,
            Request::Config(request::ConfigRequest {
                view: request::ConfigView::Services,
                ..
            })
        ));
    }

    #[test]
    fn globals_may_precede_subcommands() {
        let inv = parse(["krun", "-f", "a.yaml", "config", "--services"], PIPES).unwrap();
        assert_eq!(inv.project.files, vec![std::path::PathBuf::from("a.yaml")]);
        assert!(matches!(inv.request, Request::Config(_)));
        let inv = parse(["krun", "--project-name", "p", "down", "-v"], PIPES).unwrap();
        assert!(matches!(
            inv.request,
            Request::Down(request::DownRequest { volumes: true, .. })
        ));
    }

    #[test]
    fn globals_go_anywhere_before_the_service() {
        let inv = parse(
            [
                "krun",
                "run",
                "-f",
                "a.yaml",
                "--project-name",
                "p",
                "-n",
                "ns",
                "web",
            ],
            PIPES,
        )
        .unwrap();
        assert_eq!(inv.project.files, vec![std::path::PathBuf::from("a.yaml")]);
        assert_eq!(inv.project.project_name.as_deref(), Some("p"));
        assert_eq!(inv.kube.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn flags_take_compose_spellings() {
        let r = run(&[
            "krun",
            "--labels",
            "a=b",
            "--volumes",
            "/data",
            "--no-TTY",
            "-i=false",
            "-e",
            "A",
            "-e",
            "B=",
            "web",
        ]);
        assert_eq!(r.labels, vec![("a".into(), "b".into())]);
        assert_eq!(r.volumes, vec!["/data".to_string()]);
        assert!(!r.tty && !r.interactive);
        assert_eq!(r.env[0].value, None);
        assert_eq!(r.env[1].value.as_deref(), Some(""));
    }
}
