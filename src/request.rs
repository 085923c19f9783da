//! What a user asked krun to do, validated and typed: the requests the core (loading,
//! planning, the cluster) acts on. `cli` builds them from argv; nothing here knows about the
//! command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

/// Which compose project to load: compose's global flags.
#[derive(Debug, Clone, Default)]
pub struct ProjectArgs {
    /// `-f` files in order (`-` is stdin).
    pub files: Vec<PathBuf>,
    /// `--project-name`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`s.
    pub env_files: Vec<PathBuf>,
    /// `--profile`s.
    pub profiles: Vec<String>,
}

/// Which cluster and namespace to talk to.
#[derive(Debug, Clone, Default)]
pub struct KubeArgs {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n/--namespace`; `None` means the context's namespace.
    pub namespace: Option<String>,
}

/// One `-e` entry: `KEY=VAL`, `KEY=` (empty) or bare `KEY` (taken from the project environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvArg {
    /// The variable name.
    pub key: String,
    /// `None` for a bare `KEY`.
    pub value: Option<String>,
}

/// A numeric `-u uid[:gid]`: Kubernetes runs containers as numbers, not names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// runAsUser.
    pub uid: i64,
    /// runAsGroup.
    pub gid: Option<i64>,
}

/// `--pull`, applied to every service of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// `always` → imagePullPolicy Always.
    Always,
    /// `missing` / `if_not_present` → IfNotPresent.
    Missing,
    /// `never` → Never.
    Never,
    /// `build`: build every image of the run (then IfNotPresent).
    Build,
}

/// A validated `krun run`.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The service to run.
    pub service: String,
    /// COMMAND [ARGS...], replacing the service's `command` when given.
    pub command: Option<Vec<String>>,
    /// `--entrypoint`, split with shell-words rules.
    pub entrypoint: Option<Vec<String>>,
    /// `-e` entries in order.
    pub env: Vec<EnvArg>,
    /// `--env-from-file` paths, relative to the current directory.
    pub env_from_files: Vec<PathBuf>,
    /// `-l` labels in order.
    pub labels: Vec<(String, String)>,
    /// `--name`.
    pub name: Option<String>,
    /// `-u`.
    pub user: Option<User>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-v` specs, compose short syntax.
    pub volumes: Vec<String>,
    /// `-p` specs, docker run syntax.
    pub publish: Vec<String>,
    /// `-P`.
    pub service_ports: bool,
    /// `--use-aliases`.
    pub use_aliases: bool,
    /// The container gets a TTY (compose's decision).
    pub tty: bool,
    /// stdin is attached and kept open.
    pub interactive: bool,
    /// `-d`.
    pub detach: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--no-deps`.
    pub no_deps: bool,
    /// `-q`, or COMPOSE_PROGRESS=quiet (decided by the caller).
    pub quiet: bool,
    /// `--quiet-pull`.
    pub quiet_pull: bool,
    /// `--quiet-build`.
    pub quiet_build: bool,
    /// `--build`.
    pub build: bool,
    /// `--pull` when given explicitly.
    pub pull: Option<PullPolicy>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
    /// `--down`: remove the project's dependencies once the run ends.
    pub down: bool,
    /// krun's run-wide settings.
    pub settings: RunSettings,
}

/// krun's own options that shape a run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// `--dry-run`.
    pub dry_run: bool,
    /// `-o`; defaults to YAML for `--dry-run`.
    pub output: OutputFormat,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--wait-timeout`.
    pub wait_timeout: Duration,
    /// `--mount-mode`.
    pub mount_mode: MountMode,
    /// `--registry` / `KRUN_REGISTRY`: where images of `build:` services are pushed.
    pub registry: Option<String>,
}

/// A validated `krun config`.
#[derive(Debug, Clone)]
pub struct ConfigRequest {
    /// Output format.
    pub format: OutputFormat,
    /// What to print.
    pub view: ConfigView,
    /// `--no-env-resolution`: keep `env_file` as written.
    pub no_env_resolution: bool,
    /// `--no-consistency`: skip the consistency checks.
    pub no_consistency: bool,
    /// `--no-path-resolution`: keep relative paths as written.
    pub no_path_resolution: bool,
    /// `--no-interpolate`: keep `${VAR}` as written; compose prints its raw merged model.
    pub no_interpolate: bool,
    /// `--no-normalize`: no implicit default network, build defaults or resource names.
    pub no_normalize: bool,
    /// `-o/--output FILE`: write there instead of standard output.
    pub output: Option<PathBuf>,
    /// Restrict to these services (and their dependencies).
    pub services: Vec<String>,
}

/// What `config` prints: the model, or one of compose's one-per-line views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigView {
    /// The project model in the requested format.
    Model,
    /// Nothing: only load and validate (`--quiet`).
    Quiet,
    /// `--services`: service names.
    Services,
    /// `--volumes`: volume names.
    Volumes,
    /// `--networks`: network names.
    Networks,
    /// `--hash SERVICES`: `name hash` of each listed service (`*`: all).
    Hash(String),
    /// `--images`: each service's image.
    Images,
    /// `--profiles`: every profile the services name.
    Profiles,
    /// `--environment`: the interpolation environment, `KEY=VALUE`.
    Environment,
    /// `--variables`: the variables the files use, as a table.
    Variables,
}

impl ConfigView {
    /// Whether docker compose loads this view's project without folding env files into
    /// `environment` (so an unreadable env file is no error there).
    pub fn skips_env_resolution(&self) -> bool {
        matches!(
            self,
            ConfigView::Services
                | ConfigView::Volumes
                | ConfigView::Networks
                | ConfigView::Hash(_)
                | ConfigView::Variables
        )
    }
}

/// A validated `krun ps`.
#[derive(Debug, Clone)]
pub struct PsRequest {
    /// `-a`.
    pub all: bool,
    /// `--format`.
    pub format: PsFormat,
}

/// A validated `krun down`.
#[derive(Debug, Clone)]
pub struct DownRequest {
    /// `-v`.
    pub volumes: bool,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
}

/// A document format for `config` and `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML
    Yaml,
    /// JSON
    Json,
}

/// How `krun ps` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsFormat {
    /// Aligned columns
    Table,
    /// One JSON array
    Json,
}

/// How bind mounts reach the pod (a cluster node does not share the user's files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum MountMode {
    /// Copy the host files into an emptyDir before the command starts
    #[default]
    Copy,
    /// Mount the path from the node (kind extraMounts, minikube mount, single-node clusters)
    Hostpath,
    /// Leave bind mounts out, with a warning
    Skip,
}
