//! Faults made on the real cluster with the kit's `ctl.sh`, while krun runs: the API server
//! stopped and started again while krun streams a command's output and while it waits for a
//! dependency and while it creates dependencies, the kubelet restarted under a running command
//! and stopped until the node is NotReady, the API server stopped under a TTY session, and
//! the registry stopped when an image must be pulled. krun must finish with the whole output (no line lost, none twice) and
//! the command's exit code, or fail fast with the reason, and leave nothing behind.
//!
//! Runs when `KRUN_E2E_KUBECONFIG` names the kit's cluster and `KRUN_E2E_KIT` its directory
//! (`.ci/run` sets both). The faults stop cluster components, so the cases run one at a time.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::kit::{self, Namespace, assert_ran, text};

/// The faults stop cluster components, so the cases take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The cluster's kubeconfig, the kit's directory and a scratch directory, when the cluster and
/// the kit are both named; holds the turn while the case runs.
fn kit_dir(
    test: &str,
) -> Option<(
    PathBuf,
    PathBuf,
    tempfile::TempDir,
    std::sync::MutexGuard<'static, ()>,
)> {
    let kubeconfig = kit::kubeconfig(test)?;
    let Some(kit) = std::env::var_os("KRUN_E2E_KIT") else {
        eprintln!("skipping {test}: KRUN_E2E_KIT names no k8s-lab kit");
        return None;
    };
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    Some((kubeconfig, PathBuf::from(kit), dir, turn))
}

/// `bash ctl.sh ARGS` of the kit.
fn ctl(kit: &Path, args: &[&str]) {
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(kit.join("ctl.sh"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ctl.sh runs");
    assert!(status.success(), "ctl.sh {args:?} failed");
    eprintln!("ctl.sh {args:?} took {:?}", started.elapsed());
}

/// Stops the API server (which takes a while: it is killed once it does not stop), keeps it
/// away `secs` seconds more, and starts it again.
fn apiserver_away(kit: &Path, secs: u64) {
    ctl(kit, &["stop", "kube-apiserver"]);
    std::thread::sleep(Duration::from_secs(secs));
    ctl(kit, &["start"]);
}

/// Waits until the namespace's one-off pod runs (so that the fault comes mid-run).
fn wait_running(ns: &Namespace, krun: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(kit::JOB_SECS);
    loop {
        if let Ok(Some(status)) = krun.try_wait() {
            let mut output = String::new();
            if let Some(mut out) = krun.stdout.take() {
                let _ = out.read_to_string(&mut output);
            }
            if let Some(mut err) = krun.stderr.take() {
                let _ = err.read_to_string(&mut output);
            }
            panic!("krun ended ({status}) before its one-off ran:\n{output}");
        }
        let phases = ns.kubectl_ok(
            &[
                "get",
                "pods",
                "-l",
                kit::ONEOFF,
                "-o",
                "jsonpath={.items[*].status.phase}",
            ],
            None,
        );
        if phases.contains("Running") {
            return;
        }
        assert!(Instant::now() < deadline, "the one-off never ran");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The node's Ready condition: `True`, `False` or `Unknown` (no kubelet heartbeats).
fn node_ready(kubeconfig: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .output()
        .expect("kubectl runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn project(dir: &Path, compose: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
}

/// Runs a command printing `lines` numbered lines a second apart then exiting `exit`, makes
/// `fault` once it runs, and checks that every line arrived once, the exit code, and that
/// nothing is left.
fn output_survives(
    kubeconfig: &Path,
    dir: &Path,
    purpose: &str,
    lines: u32,
    exit: i32,
    fault: impl FnOnce(),
) {
    let ns = Namespace::new(kubeconfig, purpose);
    let app = dir.join(purpose);
    project(&app, "services:\n  app:\n    image: busybox:1.36\n");
    let expected: String = (1..=lines).map(|i| format!("line {i}\n")).collect();
    let command = format!("for i in $(seq 1 {lines}); do echo line $i; sleep 1; done; exit {exit}");
    let mut run = ns.krun(&app, &["--rm", "-T", "app", "sh", "-c", &command]);
    wait_running(&ns, &mut run);
    fault();
    assert_ran(&run.wait_with_output().unwrap(), exit, &expected);
    ns.nothing_left(30).unwrap();
}

/// The API server goes away for a while during the output, and comes back.
#[test]
fn apiserver_stopped_during_the_output() {
    let Some((kubeconfig, kit, dir, _turn)) = kit_dir("apiserver_stopped_during_the_output") else {
        return;
    };
    output_survives(&kubeconfig, dir.path(), "apiserver-logs", 25, 7, || {
        std::thread::sleep(Duration::from_secs(3));
        apiserver_away(&kit, 3);
    });
}

/// The API server goes away while krun waits for a dependency to become healthy.
#[test]
fn apiserver_stopped_while_a_dependency_is_awaited() {
    let Some((kubeconfig, kit, dir, _turn)) =
        kit_dir("apiserver_stopped_while_a_dependency_is_awaited")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "apiserver-deps");
    let app = dir.path().join("deps");
    project(
        &app,
        "services:\n  db:\n    image: busybox:1.36\n    \
         command: [sh, -c, \"sleep 20; touch /tmp/ready; exec sleep 3600\"]\n    \
         healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 120}\n  \
         app:\n    image: busybox:1.36\n    depends_on: {db: {condition: service_healthy}}\n",
    );
    let run = ns.krun(&app, &["--rm", "-T", "app", "echo", "db is healthy"]);
    std::thread::sleep(Duration::from_secs(4));
    apiserver_away(&kit, 3);
    assert_ran(&run.wait_with_output().unwrap(), 0, "db is healthy\n");
    assert!(ns.names("pods", kit::ONEOFF).is_empty());
}

/// The kubelet restarts under a running command (its containers keep running).
#[test]
fn kubelet_restarted_under_a_running_command() {
    let Some((kubeconfig, kit, dir, _turn)) = kit_dir("kubelet_restarted_under_a_running_command")
    else {
        return;
    };
    output_survives(&kubeconfig, dir.path(), "kubelet", 15, 3, || {
        std::thread::sleep(Duration::from_secs(2));
        ctl(&kit, &["restart", "kubelet"]);
    });
}

/// The kubelet stays away until the node is NotReady, then comes back: the containers
/// kept running, and the log stream, unreachable meanwhile, resumes where it stopped.
#[test]
fn node_not_ready_under_a_running_command() {
    let Some((kubeconfig, kit, dir, _turn)) = kit_dir("node_not_ready_under_a_running_command")
    else {
        return;
    };
    output_survives(&kubeconfig, dir.path(), "not-ready", 90, 4, || {
        std::thread::sleep(Duration::from_secs(2));
        ctl(&kit, &["stop", "kubelet"]);
        let deadline = Instant::now() + Duration::from_secs(120);
        let ready = || node_ready(&kubeconfig);
        while ready() == "True" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
        }
        let seen = ready();
        ctl(&kit, &["start"]);
        assert_ne!(seen, "True", "the node never went NotReady");
    });
}

/// The API server goes away while krun creates the dependencies.
#[test]
fn apiserver_stopped_while_dependencies_are_created() {
    let Some((kubeconfig, kit, dir, _turn)) =
        kit_dir("apiserver_stopped_while_dependencies_are_created")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "apiserver-create");
    let app = dir.path().join("create");
    let deps: String = (1..=6)
        .map(|i| format!("  dep{i}:\n    image: busybox:1.36\n    command: sleep 3600\n"))
        .collect();
    let depends: Vec<String> = (1..=6).map(|i| format!("dep{i}")).collect();
    project(
        &app,
        &format!(
            "services:\n{deps}  app:\n    image: busybox:1.36\n    depends_on: [{}]\n",
            depends.join(", ")
        ),
    );
    let run = ns.krun(&app, &["--rm", "-T", "app", "echo", "created"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ns
        .names("deployments", "com.docker.compose.project")
        .is_empty()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    apiserver_away(&kit, 3);
    assert_ran(&run.wait_with_output().unwrap(), 0, "created\n");
    assert!(ns.names("pods", kit::ONEOFF).is_empty());
}

/// The API server goes away under a TTY session (krun under `script`, which gives it a
/// terminal): the attach breaks, krun attaches again once the server is back, and the
/// session ends with the command's code. Output printed while no one was attached is not
/// on the terminal, as with kubectl attach; the last line, printed after, is.
#[test]
fn apiserver_stopped_under_a_tty_session() {
    let Some((kubeconfig, kit, dir, _turn)) = kit_dir("apiserver_stopped_under_a_tty_session")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "apiserver-tty");
    let app = dir.path().join("tty");
    project(&app, "services:\n  app:\n    image: busybox:1.36\n");
    let krun = support::krun_binary().expect("krun builds");
    let command = format!(
        "{} -n {} run --rm app sh -c 'for i in $(seq 1 40); do echo line $i; sleep 1; done; exit 6'",
        krun.display(),
        ns.name
    );
    let mut run = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(&app)
        .env("KUBECONFIG", &kubeconfig)
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    wait_running(&ns, &mut run);
    std::thread::sleep(Duration::from_secs(3));
    apiserver_away(&kit, 5);
    let out = run.wait_with_output().unwrap();
    let screen = text(&out);
    assert_eq!(out.status.code(), Some(6), "{screen}");
    assert!(screen.contains("attaching again"), "{screen}");
    assert!(screen.contains("line 40"), "{screen}");
    ns.nothing_left(30).unwrap();
}

/// The API server stays away longer than `--wait-timeout`: krun gives up with the connection
/// error (125) and says which pod it could not delete, instead of waiting for ever.
#[test]
fn apiserver_away_longer_than_the_patience() {
    let Some((kubeconfig, kit, dir, _turn)) = kit_dir("apiserver_away_longer_than_the_patience")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "apiserver-patience");
    let app = dir.path().join("patience");
    project(&app, "services:\n  app:\n    image: busybox:1.36\n");
    let mut run = ns.krun(
        &app,
        &[
            "--wait-timeout",
            "3s",
            "--rm",
            "-T",
            "app",
            "sh",
            "-c",
            "echo started; sleep 120",
        ],
    );
    wait_running(&ns, &mut run);
    ctl(&kit, &["stop", "kube-apiserver"]);
    let out = run.wait_with_output().unwrap();
    ctl(&kit, &["start"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        stderr.contains("cannot reach the Kubernetes API server"),
        "{stderr}"
    );
    assert!(stderr.contains("could not delete"), "{stderr}");
}

/// The registry is down when the image must be pulled: exit 125 with the reason, fast.
#[test]
fn registry_stopped_when_an_image_must_be_pulled() {
    let Some((kubeconfig, kit, dir, _turn)) =
        kit_dir("registry_stopped_when_an_image_must_be_pulled")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "registry");
    let app = dir.path().join("registry");
    project(
        &app,
        "services:\n  app:\n    image: busybox:1.36\n    pull_policy: always\n",
    );
    ctl(&kit, &["stop", "registry"]);
    let started = Instant::now();
    let out = ns
        .krun(&app, &["--rm", "-T", "app", "true"])
        .wait_with_output()
        .unwrap();
    let took = started.elapsed();
    ctl(&kit, &["start"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ErrImagePull") || stderr.contains("ImagePullBackOff"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(120),
        "a pull that cannot succeed fails without waiting for --wait-timeout ({took:?})"
    );
    ns.nothing_left(30).unwrap();
}
