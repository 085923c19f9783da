//! Typed requests built from the parsed command line, with every check `docker compose run`
//! makes before it touches anything (compose's own messages, so users can search them).

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::args::{self, RunArgs};
use crate::compose::normalize::units;
pub use crate::request::{
    ConfigRequest, ConfigView, DownRequest, EnvArg, KubeArgs, MountMode, OutputFormat, ProjectArgs,
    PsFormat, PsRequest, PullPolicy, RunRequest, RunSettings, User,
};

/// A command-line mistake: exit 1, nothing created.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Whether krun's own standard streams are terminals: the input of compose's TTY decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminals {
    /// stdin is a terminal
    pub stdin: bool,
    /// stdout is a terminal
    pub stdout: bool,
    /// stdin is /dev/null (CI jobs, pods, `</dev/null`): the command reads EOF at once either
    /// way, so the container gets no stdin and krun does not attach one.
    pub stdin_null: bool,
}

/// What to do, fully validated.
#[derive(Debug)]
pub enum Request {
    /// Run a one-off command (`krun SERVICE ...` / `krun run SERVICE ...`).
    Run(Box<RunRequest>),
    /// Print the loaded project.
    Config(ConfigRequest),
    /// List the project's objects.
    Ps(PsRequest),
    /// Remove the project's objects.
    Down(DownRequest),
    /// Print a completion script for this shell.
    Completion(clap_complete::Shell),
    /// Print the manual page.
    Man,
}

/// Everything the command line asked for.
#[derive(Debug)]
pub struct Invocation {
    /// The compose project to load.
    pub project: ProjectArgs,
    /// The cluster to use.
    pub kube: KubeArgs,
    /// The action.
    pub request: Request,
}

/// The view `config` prints, the first of docker compose's in its order of precedence.
fn config_view(c: &args::ConfigArgs) -> ConfigView {
    let flags = [
        (c.services, ConfigView::Services),
        (c.volumes, ConfigView::Volumes),
        (c.networks, ConfigView::Networks),
    ];
    if let Some((_, view)) = flags.into_iter().find(|(set, _)| *set) {
        return view;
    }
    if let Some(hash) = &c.hash {
        return ConfigView::Hash(hash.clone());
    }
    let flags = [
        (c.images, ConfigView::Images),
        (c.list_profiles, ConfigView::Profiles),
        (c.variables, ConfigView::Variables),
        (c.environment, ConfigView::Environment),
        (c.quiet, ConfigView::Quiet),
    ];
    flags
        .into_iter()
        .find(|(set, _)| *set)
        .map_or(ConfigView::Model, |(_, view)| view)
}

/// Turns parsed arguments into a validated invocation; `terminals` feeds compose's TTY decision.
pub fn build(cli: args::Cli, terminals: Terminals) -> Result<Invocation, UsageError> {
    let g = cli.global;
    let config = matches!(cli.command, Some(args::Command::Config(_)));
    let output_file = g.output.clone().filter(|_| config).map(PathBuf::from);
    let output = match g.output.as_deref().filter(|_| !config) {
        Some(_) if !g.dry_run => {
            return Err(usage(
                "-o/--output prints the objects of a --dry-run; add --dry-run, or drop -o",
            ));
        }
        Some(text) => OutputFormat::from_str(text, false).map_err(|_| {
            usage(format!(
                "invalid value '{text}' for '--output <FORMAT>': possible values: yaml, json"
            ))
        })?,
        None => OutputFormat::Yaml,
    };
    let project = ProjectArgs {
        files: g.files,
        project_name: g.project_name,
        project_directory: g.project_directory,
        env_files: g.env_files,
        profiles: g.profiles,
    };
    let kube = KubeArgs {
        kubeconfig: g.kubeconfig,
        context: g.context,
        namespace: g.namespace,
    };
    let settings = RunSettings {
        dry_run: g.dry_run,
        output,
        timeout: g
            .timeout
            .as_deref()
            .map(|t| parse_duration_flag("--timeout", t))
            .transpose()?,
        wait_timeout: parse_duration_flag("--wait-timeout", &g.wait_timeout)?,
        mount_mode: g.mount_mode,
        registry: g.registry.filter(|r| !r.trim().is_empty()),
    };
    if let Some(command) = &cli.command
        && !cli.run.is_unset()
    {
        let name = match command {
            args::Command::Run(_) => "run",
            args::Command::Config(_) => "config",
            args::Command::Ps(_) => "ps",
            args::Command::Down(_) => "down",
            args::Command::Completion(_) => "completion",
            args::Command::Man => "man",
        };
        return Err(usage(format!(
            "run options go after `{name}`, not before it (e.g. `krun run --rm web`); \
             before a subcommand only compose, Kubernetes and krun options are accepted"
        )));
    }
    let request = match cli.command {
        None => Request::Run(Box::new(run_request(cli.run, settings, terminals)?)),
        Some(args::Command::Run(run)) => {
            Request::Run(Box::new(run_request(*run, settings, terminals)?))
        }
        Some(args::Command::Config(c)) => Request::Config(ConfigRequest {
            format: c.format,
            view: config_view(&c),
            no_env_resolution: c.no_env_resolution,
            no_consistency: c.no_consistency,
            no_path_resolution: c.no_path_resolution,
            no_interpolate: c.no_interpolate,
            no_normalize: c.no_normalize,
            output: output_file,
            services: c.service_names,
        }),
        Some(args::Command::Ps(p)) => Request::Ps(PsRequest {
            all: p.all,
            format: p.format,
        }),
        Some(args::Command::Down(d)) => Request::Down(DownRequest {
            volumes: d.volumes,
            remove_orphans: d.remove_orphans,
        }),
        Some(args::Command::Completion(c)) => Request::Completion(c.shell),
        Some(args::Command::Man) => Request::Man,
    };
    Ok(Invocation {
        project,
        kube,
        request,
    })
}

fn parse_duration_flag(flag: &str, value: &str) -> Result<Duration, UsageError> {
    match units::parse_duration(value) {
        Some(nanos) if nanos >= 0 => Ok(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        )),
        _ => Err(usage(format!(
            "invalid {flag} \"{value}\": not a duration; use a number with a unit, such as \
             90s, 5m or 1h30m"
        ))),
    }
}

fn run_request(
    a: RunArgs,
    settings: RunSettings,
    terminals: Terminals,
) -> Result<RunRequest, UsageError> {
    let mut positional = a.service_and_command.into_iter();
    let service = positional
        .next()
        .ok_or_else(|| usage("requires at least 1 arg(s), only received 0"))?;
    let command: Vec<String> = positional.collect();

    let service_ports = a.service_ports.unwrap_or(false);
    if service_ports && !a.publish.is_empty() {
        return Err(usage("--service-ports and --publish are incompatible"));
    }
    let entrypoint = a
        .entrypoint
        .as_deref()
        .map(|e| {
            crate::compose::shellwords::split(e)
                .map_err(|err| usage(format!("invalid --entrypoint {e:?}: {err}")))
        })
        .transpose()?;
    let (tty, interactive) = decide_tty(a.tty, a.no_tty, a.interactive, terminals)?;
    // Nothing to attach from /dev/null: the container reads EOF from no stdin just the same.
    let interactive = interactive && (tty || !terminals.stdin_null);
    if interactive && tty && !terminals.stdin && !settings.dry_run {
        return Err(usage(
            "cannot attach stdin to a TTY-enabled container because stdin is not a terminal; \
             drop -t/--tty, or pass -T to run without a TTY",
        ));
    }
    let pull = match a.pull.as_str() {
        "policy" => None,
        "always" => Some(PullPolicy::Always),
        "missing" | "if_not_present" => Some(PullPolicy::Missing),
        "never" => Some(PullPolicy::Never),
        "build" => Some(PullPolicy::Build),
        other => return Err(usage(format!("invalid --pull option \"{other}\""))),
    };
    let labels = a
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(usage("label must be set as KEY=VALUE")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let env = a
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => EnvArg {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => EnvArg {
                key: e.clone(),
                value: None,
            },
        })
        .collect();
    if let Some(name) = &a.name {
        validate_pod_name(name)?;
    }
    let user = a.user.as_deref().map(parse_user).transpose()?;
    if let Some(w) = &a.workdir
        && !w.starts_with('/')
    {
        return Err(usage(format!(
            "invalid -w/--workdir \"{w}\": the working directory must be an absolute path"
        )));
    }
    for spec in &a.volumes {
        crate::compose::volumes::parse_short(spec)
            .map_err(|e| usage(format!("invalid -v/--volume \"{spec}\": {e}")))?;
    }
    for spec in &a.publish {
        crate::compose::ports::parse_spec(spec)
            .map_err(|e| usage(format!("invalid -p/--publish \"{spec}\": {e}")))?;
    }
    Ok(RunRequest {
        service,
        command: (!command.is_empty()).then_some(command),
        entrypoint,
        env,
        env_from_files: a.env_from_file,
        labels,
        name: a.name,
        user,
        workdir: a.workdir,
        volumes: a.volumes,
        publish: a.publish,
        service_ports,
        use_aliases: a.use_aliases.unwrap_or(false),
        tty,
        interactive,
        detach: a.detach.unwrap_or(false),
        rm: a.rm.unwrap_or(false),
        no_deps: a.no_deps.unwrap_or(false),
        quiet: a.quiet.unwrap_or(false),
        quiet_pull: a.quiet_pull.unwrap_or(false),
        quiet_build: a.quiet_build.unwrap_or(false),
        build: a.build.unwrap_or(false),
        pull,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        remove_orphans: a.remove_orphans.unwrap_or(false),
        down: a.down,
        settings,
    })
}

/// compose's TTY decision (compose-run.md §2.2): returns `(tty, interactive)`.
fn decide_tty(
    tty: Option<bool>,
    no_tty: Option<bool>,
    interactive: Option<bool>,
    t: Terminals,
) -> Result<(bool, bool), UsageError> {
    let tty = match (tty, no_tty) {
        (Some(_), Some(_)) => return Err(usage("--tty and --no-tty can't be used together")),
        (Some(v), None) => v,
        (None, Some(v)) => !v,
        (None, None) if interactive.is_some() => t.stdout,
        (None, None) => t.stdout && t.stdin,
    };
    Ok((tty, interactive.unwrap_or(true)))
}

fn parse_user(u: &str) -> Result<User, UsageError> {
    let (uid, gid) = match u.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (u, None),
    };
    let num = |s: &str| s.parse::<i64>().ok().filter(|n| *n >= 0);
    match (num(uid), gid.map(num)) {
        (Some(uid), None) => Ok(User { uid, gid: None }),
        (Some(uid), Some(Some(gid))) => Ok(User {
            uid,
            gid: Some(gid),
        }),
        _ => Err(usage(format!(
            "invalid -u/--user \"{u}\": Kubernetes runs containers as numeric IDs \
             (runAsUser/runAsGroup) and cannot look up names in the image; \
             use -u UID[:GID], e.g. -u 1000:1000"
        ))),
    }
}

/// `--name` becomes the pod name and its hostname, so it must be a DNS-1123 label.
fn validate_pod_name(name: &str) -> Result<(), UsageError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid --name \"{name}\": a pod name must be at most 63 lowercase letters, digits \
             and '-', starting and ending with a letter or digit (e.g. \"my-run-1\")"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERM: Terminals = Terminals {
        stdin: true,
        stdout: true,
        stdin_null: false,
    };
    const PIPE_IN: Terminals = Terminals {
        stdin: false,
        stdout: true,
        stdin_null: false,
    };
    const PIPES: Terminals = Terminals {
        stdin: false,
        stdout: false,
        stdin_null: false,
    };

    #[test]
    fn tty_decision_follows_compose() {
        assert_eq!(decide_tty(None, None, None, TERM).unwrap(), (true, true));
        assert_eq!(
            decide_tty(None, None, None, PIPE_IN).unwrap(),
            (false, true)
        );
        assert_eq!(decide_tty(None, None, None, PIPES).unwrap(), (false, true));
        // An explicit -i only looks at stdout (the compose trap #13228).
        assert_eq!(
            decide_tty(None, None, Some(true), PIPE_IN).unwrap(),
            (true, true)
        );
        assert_eq!(
            decide_tty(None, Some(true), None, TERM).unwrap(),
            (false, true)
        );
        assert_eq!(
            decide_tty(None, Some(false), None, PIPES).unwrap(),
            (true, true)
        );
        assert_eq!(
            decide_tty(Some(true), None, Some(false), PIPES).unwrap(),
            (true, false)
        );
        assert!(decide_tty(Some(true), Some(true), None, TERM).is_err());
    }

    #[test]
    fn users_must_be_numeric() {
        assert_eq!(parse_user("1000").unwrap().uid, 1000);
        assert_eq!(parse_user("1000:33").unwrap().gid, Some(33));
        assert!(parse_user("www-data").is_err());
        assert!(parse_user("1000:staff").is_err());
        assert!(parse_user("-1").is_err());
    }

    #[test]
    fn pod_names_are_dns_labels() {
        assert!(validate_pod_name("my-run-1").is_ok());
        assert!(validate_pod_name("My_Run").is_err());
        assert!(validate_pod_name("-x").is_err());
        assert!(validate_pod_name(&"a".repeat(64)).is_err());
    }
}
