//! Faults made on the real cluster with the kit's `ctl.sh`, while krun runs: the API server
//! stopped and started again while krun streams a command's output and while it waits for a
//! dependency, the kubelet restarted under a running command, and the registry stopped when an
//! image must be pulled. krun must finish with the whole output (no line lost, none twice) and
//! the command's exit code, or fail fast with the reason, and leave nothing behind.
//!
//! Runs when `KRUN_E2E_KUBECONFIG` names the kit's cluster and `KRUN_E2E_KIT` its directory
//! (`.ci/run` sets both). The faults stop cluster components, so the cases run one at a time.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::kit::{self, Namespace};

/// The kit's directory, when the cluster and the kit are both named.
fn kit_dir(test: &str) -> Option<(PathBuf, PathBuf)> {
    let kubeconfig = kit::kubeconfig(test)?;
    let Some(dir) = std::env::var_os("KRUN_E2E_KIT") else {
        eprintln!("skipping {test}: KRUN_E2E_KIT names no k8s-lab kit");
        return None;
    };
    Some((kubeconfig, PathBuf::from(dir)))
}

/// `bash ctl.sh ARGS` of the kit.
fn ctl(kit: &Path, args: &[&str]) {
    let status = Command::new("bash")
        .arg(kit.join("ctl.sh"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ctl.sh runs");
    assert!(status.success(), "ctl.sh {args:?} failed");
}

fn krun(ns: &Namespace, dir: &Path, args: &[&str]) -> Child {
    Command::new(support::krun_binary().expect("krun builds"))
        .current_dir(dir)
        .env("KUBECONFIG", ns.kubeconfig())
        .args(["-n", &ns.name])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("krun starts")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until the namespace's one-off pod runs (so that the fault comes mid-run).
fn wait_running(ns: &Namespace) {
    let deadline = Instant::now() + Duration::from_secs(kit::JOB_SECS);
    loop {
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

fn project(dir: &Path, compose: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
}

/// The numbered lines a command prints, and the command.
fn counting(lines: u32, exit: u32) -> (String, String) {
    let expected: String = (1..=lines).map(|i| format!("line {i}\n")).collect();
    let command = format!("for i in $(seq 1 {lines}); do echo line $i; sleep 1; done; exit {exit}");
    (expected, command)
}

#[test]
fn faults_on_the_real_cluster() {
    let Some((kubeconfig, kit)) = kit_dir("faults_on_the_real_cluster") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // 1. The API server goes away for a while during the output, and comes back.
    let ns = Namespace::new(&kubeconfig, "apiserver-logs");
    let app = dir.path().join("logs");
    project(&app, "services:\n  app:\n    image: busybox:1.36\n");
    let (expected, command) = counting(25, 7);
    let run = krun(&ns, &app, &["--rm", "-T", "app", "sh", "-c", &command]);
    wait_running(&ns);
    std::thread::sleep(Duration::from_secs(3));
    ctl(&kit, &["stop", "kube-apiserver"]);
    std::thread::sleep(Duration::from_secs(3));
    ctl(&kit, &["start"]);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "{}",
        text(&out)
    );
    ns.nothing_left(30).unwrap();

    // 2. The API server goes away while krun waits for a dependency to become healthy.
    let ns = Namespace::new(&kubeconfig, "apiserver-deps");
    let app = dir.path().join("deps");
    project(
        &app,
        "services:\n  db:\n    image: busybox:1.36\n    \
         command: [sh, -c, \"sleep 20; touch /tmp/ready; exec sleep 3600\"]\n    \
         healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 120}\n  \
         app:\n    image: busybox:1.36\n    depends_on: {db: {condition: service_healthy}}\n",
    );
    let run = krun(&ns, &app, &["--rm", "-T", "app", "echo", "db is healthy"]);
    std::thread::sleep(Duration::from_secs(4));
    ctl(&kit, &["stop", "kube-apiserver"]);
    std::thread::sleep(Duration::from_secs(3));
    ctl(&kit, &["start"]);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "db is healthy\n",
        "{}",
        text(&out)
    );
    assert!(ns.names("pods", kit::ONEOFF).is_empty());

    // 3. The kubelet restarts under a running command (its containers keep running).
    let ns = Namespace::new(&kubeconfig, "kubelet");
    let app = dir.path().join("kubelet");
    project(&app, "services:\n  app:\n    image: busybox:1.36\n");
    let (expected, command) = counting(15, 3);
    let run = krun(&ns, &app, &["--rm", "-T", "app", "sh", "-c", &command]);
    wait_running(&ns);
    std::thread::sleep(Duration::from_secs(2));
    ctl(&kit, &["restart", "kubelet"]);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "{}",
        text(&out)
    );
    ns.nothing_left(30).unwrap();

    // 4. The registry is down when the image must be pulled: exit 125 with the reason, fast.
    let ns = Namespace::new(&kubeconfig, "registry");
    let app = dir.path().join("registry");
    project(
        &app,
        "services:\n  app:\n    image: busybox:1.36\n    pull_policy: always\n",
    );
    ctl(&kit, &["stop", "registry"]);
    let started = Instant::now();
    let out = krun(&ns, &app, &["--rm", "-T", "app", "true"])
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
