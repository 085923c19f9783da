//! The command line as a user meets it: compose's validation messages, exit code 1 for every
//! usage error, and nothing read or contacted before the flags are valid.

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// krun with no environment and no kubeconfig, in a directory with no compose file: a usage
/// error must come before any loading or cluster access.
fn krun() -> Command {
    let mut cmd = Command::cargo_bin("krun").expect("krun binary");
    cmd.current_dir("/")
        .env_clear()
        .env("KUBECONFIG", "/nonexistent/kubeconfig");
    cmd
}

fn usage_error(args: &[&str], message: &str) {
    krun()
        .args(args)
        .write_stdin("")
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(message));
}

#[test]
fn tty_and_no_tty_conflict() {
    usage_error(
        &["-t", "-T", "web"],
        "--tty and --no-tty can't be used together",
    );
    usage_error(
        &["run", "--tty=true", "--no-tty=false", "web"],
        "--tty and --no-tty can't be used together",
    );
}

#[test]
fn service_ports_and_publish_conflict() {
    usage_error(
        &["-P", "-p", "8080:80", "web"],
        "--service-ports and --publish are incompatible",
    );
}

#[test]
fn labels_need_a_value() {
    usage_error(&["-l", "team", "web"], "label must be set as KEY=VALUE");
}

#[test]
fn pull_policy_is_checked() {
    usage_error(
        &["--pull", "sometimes", "web"],
        "invalid --pull option \"sometimes\"",
    );
}

#[test]
fn tty_needs_a_terminal_on_stdin() {
    usage_error(
        &["--tty", "web", "sh"],
        "cannot attach stdin to a TTY-enabled container because stdin is not a terminal",
    );
}

#[test]
fn user_names_are_refused_with_a_fix() {
    usage_error(&["-u", "www-data", "web"], "use -u UID[:GID]");
}

#[test]
fn pod_names_are_validated_not_sanitised() {
    usage_error(&["--name", "My_Run", "web"], "invalid --name \"My_Run\"");
}

#[test]
fn durations_are_validated() {
    usage_error(&["--timeout", "soon", "web"], "invalid --timeout \"soon\"");
    usage_error(
        &["--wait-timeout", "10", "web"],
        "invalid --wait-timeout \"10\"",
    );
    usage_error(&["--timeout=-5s", "web"], "not a duration");
}

#[test]
fn workdir_must_be_absolute() {
    usage_error(&["-w", "app", "web"], "must be an absolute path");
}

#[test]
fn output_needs_dry_run() {
    usage_error(&["-o", "json", "web"], "add --dry-run");
    // outside `config` (where it names the file to write), -o is a format
    usage_error(
        &["--dry-run", "-o", "xml", "web"],
        "invalid value 'xml' for '--output <FORMAT>'",
    );
}

#[test]
fn unknown_flags_exit_1_not_2() {
    usage_error(
        &["--no-such-flag", "web"],
        "unexpected argument '--no-such-flag'",
    );
    usage_error(&[], "required arguments were not provided");
}

#[test]
fn help_and_version_succeed() {
    krun()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("krun [OPTIONS] SERVICE [COMMAND] [ARGS...]"))
        .stdout(contains("Exit codes:"));
    krun()
        .arg("--version")
        .assert()
        .success()
        .stdout(contains("krun "));
}

#[test]
fn completions_and_the_manual_come_from_the_parser() {
    // Every subcommand and a run flag appear, so a flag added to clap reaches them too.
    for (shell, marker) in [
        ("bash", "complete -F _krun"),
        ("zsh", "#compdef krun"),
        ("fish", "complete -c krun"),
    ] {
        krun()
            .args(["completion", shell])
            .assert()
            .success()
            .stdout(contains(marker))
            .stdout(contains("service-ports"))
            .stdout(contains("down"));
    }
    usage_error(&["completion", "tcsh"], "invalid value 'tcsh'");
    krun()
        .arg("man")
        .assert()
        .success()
        .stdout(contains(".TH krun 1"))
        .stdout(contains("service\\-ports"))
        .stdout(contains("Exit codes:"));
}

/// kubectl runs `kubectl-krun` from PATH for `kubectl krun`: the same program, named as typed.
#[test]
fn as_a_kubectl_plugin_it_is_kubectl_krun() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-krun");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("krun"), &plugin).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&plugin);
        cmd.current_dir("/").env_clear().args(args);
        cmd
    };
    run(&["--help"])
        .assert()
        .success()
        .stdout(contains("Usage: kubectl krun [OPTIONS] SERVICE"));
    run(&["--bogus", "web"])
        .assert()
        .code(1)
        .stderr(contains("Usage: kubectl krun [OPTIONS]"));
    // Through kubectl itself, when it is installed (CI installs it).
    let path = std::env::var("PATH").unwrap_or_default();
    let Some(kubectl) = krun::build::builder::which("kubectl", Some(&path)) else {
        eprintln!("no kubectl on PATH: the plugin is checked without it");
        return;
    };
    let path = format!("{}:{path}", dir.path().display());
    Command::new(kubectl)
        .args(["krun", "--version"])
        .env("PATH", path)
        .assert()
        .success()
        .stdout(contains("krun "));
}

#[test]
fn volume_specs_use_compose_short_syntax() {
    usage_error(&["-v", "", "web"], "invalid empty volume spec");
    usage_error(
        &["-v", "data:/x:ro:extra", "web"],
        "invalid spec: data:/x:ro:extra: too many colons",
    );
    usage_error(
        &["-v", "data::/x", "web"],
        "invalid spec: data::/x: empty section between colons",
    );
}

#[test]
fn publish_specs_use_docker_syntax() {
    usage_error(&["-p", "abc", "web"], "invalid containerPort: abc");
    usage_error(&["-p", "80/xyz", "web"], "invalid proto: xyz");
}

#[test]
fn entrypoint_quoting_is_checked() {
    usage_error(&["--entrypoint", "sh -c 'x", "web"], "invalid --entrypoint");
}

#[test]
fn run_options_before_a_subcommand_are_refused() {
    usage_error(&["--rm", "config"], "run options go after `config`");
    usage_error(&["-T", "run", "web"], "run options go after `run`");
}

#[test]
fn a_missing_env_from_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web: {image: busybox:1.36}\n",
    )
    .expect("compose file");
    krun()
        .current_dir(dir.path())
        .args(["--dry-run", "--env-from-file", "nope.env", "web", "true"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("--env-from-file: open nope.env: No such file"));
}

/// Planning errors come before the first request: with a kubeconfig whose server does not
/// answer, each is reported as the input error it is (exit 1), not as the connection error.
#[test]
fn planning_errors_come_before_any_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  \
           named: {image: busybox:1.36, user: postgres}\n  \
           shared: {image: busybox:1.36, network_mode: \"service:plain\"}\n  \
           secret: {image: busybox:1.36, secrets: [s]}\n  \
           plain: {image: busybox:1.36}\n  \
           needy: {image: busybox:1.36, depends_on: [plain]}\n\
         secrets:\n  s: {file: ./missing.txt}\n",
    )
    .expect("compose file");
    // Port 1 on loopback: nothing listens, every request would fail with exit 125.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n\
         clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: x, context: {cluster: c, user: u}}]\n",
    )
    .expect("kubeconfig");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--rm", "named", "true"],
            "user: \"postgres\" is a name",
        ),
        (&["run", "--rm", "shared", "true"], "network_mode"),
        (&["run", "--rm", "secret", "true"], "cannot read"),
        (
            &["run", "--rm", "-v", "a:b:ro:x", "plain", "true"],
            "mount path \"ro\" is not absolute",
        ),
    ];
    for (args, message) in cases {
        krun()
            .current_dir(dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .args(*args)
            .write_stdin("")
            .assert()
            .code(1)
            .stderr(contains(*message))
            .stderr(contains("cannot reach").not());
    }
    // The same project with valid input does reach for the server, and says it cannot, at
    // once: a server that never answered is not an outage to wait out (the dependency's path
    // starts with other requests than the pod's creation).
    for service in ["plain", "needy"] {
        krun()
            .current_dir(dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .args(["run", "--rm", service, "true"])
            .write_stdin("")
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(125)
            .stderr(contains("cannot reach the Kubernetes API server"));
    }
}

#[test]
fn a_project_name_starting_with_a_dash_is_still_the_name() {
    usage_error(
        &["--project-name", "-my_project", "config"],
        "invalid project name \"-my_project\": must consist only of lowercase alphanumeric",
    );
}
