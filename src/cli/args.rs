//! clap definitions of krun's command line: `docker compose run`'s flags, compose's globals,
//! and the Kubernetes options. Only the grammar lives here; meaning is given in [`super::request`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::request::{MountMode, OutputFormat, PsFormat};

const AFTER_HELP: &str = "\
Exit codes:
  N    the container exited with N (killed by signal S: 128+S; OOMKilled: 137)
  1    bad usage, bad compose file, unknown service, invalid flag value
  124  --timeout reached
  125  cluster-side failure before the command ran (API unreachable, forbidden,
       image pull, unschedulable, dependency failed)
  126  command not executable in the image; 127: command not found in the image
  130  interrupted before the container started

Examples:
  krun web bash                     an interactive shell in a new `web` pod
  krun --rm -T web ./manage.py test run tests, delete the pod afterwards
  krun --dry-run -o yaml web        print the objects krun would create";

/// The usage line; `kubectl krun` replaces its `krun` when krun runs as a kubectl plugin.
pub const USAGE: &str = "krun [OPTIONS] SERVICE [COMMAND] [ARGS...]
       krun [OPTIONS] <run|config|ps|down|completion|man> [ARGS...]";

/// The whole command line: `krun [OPTIONS] SERVICE [COMMAND] [ARGS...]` or a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "krun",
    version,
    about = "Run a one-off command of a Docker Compose service on Kubernetes",
    long_about = "Run a one-off command of a Docker Compose service on Kubernetes, as `docker \
                  compose run` does on Docker: the service's dependencies start as Deployments \
                  and Services, the command runs in a new pod attached to your terminal.",
    override_usage = USAGE,
    subcommand_negates_reqs = true,
    // a repeated option takes its last value, as pflag (compose's parser) does
    args_override_self = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Compose, Kubernetes and krun options that every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The main form: the same options and arguments as `krun run`.
    #[command(flatten)]
    pub run: RunArgs,
    /// An explicit subcommand, when given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The reserved subcommands; a service with one of these names is run with `krun run NAME`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a one-off command on a service (the default when no subcommand is given)
    #[command(after_help = AFTER_HELP, args_override_self = true)]
    Run(Box<RunArgs>),
    /// Parse, resolve and render the compose file in canonical format
    Config(ConfigArgs),
    /// List the project's dependencies and one-off pods
    Ps(PsArgs),
    /// Remove the project's objects from the cluster
    Down(DownArgs),
    /// Print a shell completion script, e.g. `source <(krun completion bash)`
    Completion(CompletionArgs),
    /// Print krun's manual page (roff), e.g. `krun man > /usr/local/share/man/man1/krun.1`
    Man,
}

/// Options shared by every subcommand: compose project selection, cluster access, krun's own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Compose options")]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    pub files: Vec<PathBuf>,
    /// Project name (krun's -p means --publish, as in `compose run`)
    // a value starting with `-` is still the name, as pflag takes it (compose then rejects it)
    #[arg(long, value_name = "NAME", global = true, allow_hyphen_values = true)]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, value_name = "DIR", global = true)]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable; default: .env, or COMPOSE_ENV_FILES)
    #[arg(long = "env-file", value_name = "FILE", global = true)]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable; default: COMPOSE_PROFILES)
    #[arg(long = "profile", value_name = "PROFILE", global = true)]
    pub profiles: Vec<String>,
    /// Path to the kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        help_heading = "Kubernetes options"
    )]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context)
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        help_heading = "Kubernetes options"
    )]
    pub context: Option<String>,
    /// Namespace to run in (default: the context's namespace)
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        global = true,
        help_heading = "Kubernetes options"
    )]
    pub namespace: Option<String>,
    /// Print the objects krun would create, and create nothing
    #[arg(long, global = true, help_heading = "krun options")]
    pub dry_run: bool,
    /// Output format of --dry-run (yaml|json); with `config`, the file to write instead of
    /// standard output (as `docker compose config -o`)
    // one global option for both: clap cannot give `config` an `--output` of its own beside a
    // global one, and `config` has no --dry-run to format
    #[arg(
        short = 'o',
        long,
        value_name = "FORMAT|FILE",
        global = true,
        help_heading = "krun options"
    )]
    pub output: Option<String>,
    /// Limit for the whole run, e.g. 30s, 10m (the pod's activeDeadlineSeconds too; exit 124)
    #[arg(
        long,
        value_name = "DURATION",
        global = true,
        help_heading = "krun options"
    )]
    pub timeout: Option<String>,
    /// Limit for dependencies to become ready and for the pod to start
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        global = true,
        help_heading = "krun options"
    )]
    pub wait_timeout: String,
    /// How bind mounts reach the pod: copy the files in, use a hostPath, or skip them
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value = "copy",
        global = true,
        help_heading = "krun options"
    )]
    pub mount_mode: MountMode,
    /// Registry for images of build: services, HOST[:PORT][/PREFIX] (or KRUN_REGISTRY)
    #[arg(
        long,
        value_name = "REGISTRY",
        env = "KRUN_REGISTRY",
        global = true,
        help_heading = "krun options"
    )]
    pub registry: Option<String>,
}

/// `docker compose run`'s options, with its short letters and aliases.
#[derive(Debug, Args, Default, PartialEq)]
#[command(next_help_heading = "Run options")]
pub struct RunArgs {
    /// Run the pod in the background and print its name
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub detach: Option<bool>,
    /// Set environment variables (KEY=VAL, KEY= for empty, KEY to pass the project's value)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VAL]")]
    pub env: Vec<String>,
    /// Read environment variables from files (relative to the current directory)
    #[arg(long = "env-from-file", value_name = "FILE")]
    pub env_from_file: Vec<PathBuf>,
    /// Keep stdin open even if not attached (default true)
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub interactive: Option<bool>,
    /// Add or override a label (KEY=VALUE)
    #[arg(
        short = 'l',
        long = "label",
        visible_alias = "labels",
        value_name = "KEY=VALUE"
    )]
    pub labels: Vec<String>,
    /// Assign a name to the pod
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-tty", alias = "no-TTY", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub no_tty: Option<bool>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub tty: Option<bool>,
    /// Run as this numeric user (uid[:gid])
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Bind mount a volume ([SOURCE:]TARGET[:OPTIONS])
    #[arg(short = 'v', long = "volume", alias = "volumes", value_name = "SPEC")]
    pub volumes: Vec<String>,
    /// Publish a container's port to the host ([IP:][HOST:]CONTAINER[/PROTO])
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Run with the service's ports published to the host
    #[arg(short = 'P', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub service_ports: Option<bool>,
    /// Use the service's network aliases for the pod
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub use_aliases: Option<bool>,
    /// Override the entrypoint of the image
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Delete the pod when it exits
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub rm: Option<bool>,
    /// Don't start linked services
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub no_deps: Option<bool>,
    /// Don't print progress
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub quiet: Option<bool>,
    /// Don't print image pull progress
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub quiet_pull: Option<bool>,
    /// Don't print build progress
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub quiet_build: Option<bool>,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_name = "POLICY", default_value = "policy")]
    pub pull: String,
    /// Build image before starting the pod
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub build: Option<bool>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Remove objects of services not defined in the compose file
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub remove_orphans: Option<bool>,
    /// Afterwards remove the project's dependencies as `krun down` does, however the run ends
    /// (for CI jobs that own the project)
    #[arg(long, help_heading = "krun options")]
    pub down: bool,
    /// SERVICE, then the command and its arguments, passed to the container verbatim
    #[arg(
        value_name = "SERVICE [COMMAND] [ARGS...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub service_and_command: Vec<String>,
}

impl RunArgs {
    /// Whether no run option was given (the main form's options next to a subcommand are
    /// a mistake worth reporting, not ignoring).
    pub fn is_unset(&self) -> bool {
        self.pull == "policy"
            && *self
                == RunArgs {
                    pull: self.pull.clone(),
                    ..RunArgs::default()
                }
    }
}

/// `krun config`: the loaded project as `docker compose config` prints it.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: OutputFormat,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the service config hash, one per line ("*" for all services)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the profile names, one per line
    // its own id: `profiles` is the global --profile's
    #[arg(long = "profiles", id = "list_profiles")]
    pub list_profiles: bool,
    /// Print the environment used for interpolation
    #[arg(long)]
    pub environment: bool,
    /// Print model variables and default values
    #[arg(long)]
    pub variables: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't resolve service env files
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Don't check model consistency - warning: may produce invalid Compose output
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't resolve file paths
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize compose model
    #[arg(long)]
    pub no_normalize: bool,
    /// Restrict to these services and their dependencies
    #[arg(value_name = "SERVICE")]
    pub service_names: Vec<String>,
}

/// `krun completion`: a completion script generated from these definitions.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `krun ps`: the project's objects in the cluster.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show finished one-off pods too
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: PsFormat,
}

/// `krun down`: remove what krun created for the project.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove the project's PersistentVolumeClaims too
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove one-off pods too
    #[arg(long)]
    pub remove_orphans: bool,
}
