//! The command line: clap's grammar ([`args`]) and its translation into validated, typed
//! requests ([`request`]). No I/O happens here; the caller supplies argv and terminal facts.

pub mod args;
pub mod request;

use clap::Parser;

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
    let cli = args::Cli::try_parse_from(argv)?;
    Ok(request::build(cli, terminals)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPES: Terminals = Terminals {
        stdin: false,
        stdout: false,
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
