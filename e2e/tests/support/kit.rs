//! The k8s-lab kit's real cluster for tests: whether one is named (`KRUN_E2E_KUBECONFIG`), and
//! a namespace of a test's own on it, driven with kubectl and deleted afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a Job may take on a busy 2-core machine.
pub const JOB_SECS: u64 = 240;
/// The label krun puts on one-off pods.
pub const ONEOFF: &str = "com.docker.compose.oneoff=True";

/// The kit's kubeconfig, or `None` (with a note naming `test`) when no real cluster is named.
pub fn kubeconfig(test: &str) -> Option<PathBuf> {
    let Some(kubeconfig) = std::env::var_os("KRUN_E2E_KUBECONFIG") else {
        eprintln!("skipping {test}: KRUN_E2E_KUBECONFIG names no real cluster");
        return None;
    };
    Some(PathBuf::from(kubeconfig))
}

/// A finished krun's exit code and output, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that a finished krun exited with `code` after printing exactly `stdout`.
pub fn assert_ran(out: &Output, code: i32, stdout: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout,
        "{}",
        text(out)
    );
}

/// A namespace of the test's own on the kit, deleted when dropped.
pub struct Namespace {
    kubeconfig: PathBuf,
    /// The namespace's name.
    pub name: String,
}

impl Namespace {
    /// The kubeconfig of the cluster it is on.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Creates `krun-e2e-<purpose>-<random>`.
    pub fn new(kubeconfig: &Path, purpose: &str) -> Namespace {
        let name = format!("krun-e2e-{purpose}-{:04x}", fastrand::u16(..));
        let ns = Namespace {
            kubeconfig: kubeconfig.to_path_buf(),
            name,
        };
        ns.kubectl_ok(&["create", "namespace", &ns.name], None);
        // Pods are refused until the controller manager has made the default ServiceAccount,
        // which can take a while after a fault case restarted the control plane.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(JOB_SECS);
        while !ns.kubectl(&["get", "serviceaccount", "default"], None).0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ns
    }

    /// Starts krun in `dir` against this namespace, stdin from /dev/null.
    pub fn krun(&self, dir: &Path, args: &[&str]) -> Child {
        Command::new(super::krun_binary().expect("krun builds"))
            .current_dir(dir)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["-n", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("krun starts")
    }

    /// kubectl in this namespace: (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(text) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("writing to kubectl");
        }
        let out = child.wait_with_output().expect("kubectl finishes");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, stdout, stderr) = self.kubectl(args, stdin);
        assert!(ok, "kubectl {args:?} failed: {stdout}{stderr}");
        stdout
    }

    /// Applies `objects` in this namespace.
    pub fn apply(&self, objects: &[Value]) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        self.kubectl_ok(&["apply", "-f", "-"], Some(&list.to_string()));
    }

    /// The names of the objects of `kind` matching `selector`.
    pub fn names(&self, kind: &str, selector: &str) -> Vec<String> {
        let out = self.kubectl_ok(&["get", kind, "-l", selector, "-o", "name"], None);
        out.lines().map(str::to_string).collect()
    }

    /// Waits for the Job to end; true when it completed, false when it failed.
    pub fn job_ends(&self, job: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(JOB_SECS);
        loop {
            let text = self.kubectl_ok(&["get", "job", job, "-o", "json"], None);
            let status: Value = serde_json::from_str(&text).expect("json");
            let conditions = status["status"]["conditions"].as_array().cloned();
            for c in conditions.unwrap_or_default() {
                if c["status"] == "True" {
                    match c["type"].as_str() {
                        Some("Complete") => return true,
                        Some("Failed") => return false,
                        _ => {}
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "job {job} did not end within {JOB_SECS}s; its log:\n{}",
                self.logs(job)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits for the Job to end: whether it completed, and its log.
    pub fn job_outcome(&self, job: &str) -> (bool, String) {
        let passed = self.job_ends(job);
        (passed, self.logs(job))
    }

    /// The Job's log: what a CI system shows.
    pub fn logs(&self, job: &str) -> String {
        let (_, stdout, stderr) =
            self.kubectl(&["logs", &format!("job/{job}"), "--all-containers"], None);
        format!("{stdout}{stderr}")
    }

    /// The exit code of the krun container of the Job's pod.
    pub fn krun_exit_code(&self, job: &str) -> i64 {
        let text = self.kubectl_ok(
            &[
                "get",
                "pods",
                "-l",
                &format!("batch.kubernetes.io/job-name={job}"),
                "-o",
                "json",
            ],
            None,
        );
        let pods: Value = serde_json::from_str(&text).expect("json");
        pods["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
            .as_i64()
            .unwrap_or_else(|| panic!("no terminated krun container in {pods}"))
    }

    /// Polls until no one-off pod and no dependency Deployment is left, up to `secs`.
    pub fn nothing_left(&self, secs: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left: Vec<String> = self
                .names("pods", ONEOFF)
                .into_iter()
                .chain(self.names("deployments", "app.kubernetes.io/managed-by=krun"))
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("left behind after {secs}s: {left:?}"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
