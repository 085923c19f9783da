//! Shared set-up for the API-server and kubectl oracle tests: a simulator with a kubeconfig, a
//! kube-rs client, the real `kubectl` with a deadline, and bounded polling.

#![allow(dead_code)] // each test crate uses a different subset

pub mod kit;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use krun_e2e::sim::{SimHandle, SimOptions, start};
use tokio::io::AsyncWriteExt;

/// A running simulator, its kubeconfig, and a client for it.
pub struct Cluster {
    /// The simulator.
    pub handle: SimHandle,
    /// A kube-rs client (namespace `default`), with the bearer token if the simulator wants one.
    pub client: kube::Client,
    /// Holds the kubeconfig's directory for the test's lifetime.
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

/// What a kubectl run produced.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Cluster {
    /// Starts a simulator with default options.
    pub async fn start() -> Self {
        Self::start_with(SimOptions::default()).await
    }

    /// Starts a simulator with `options` (its kubeconfig goes to a temporary directory).
    pub async fn start_with(mut options: SimOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        options.kubeconfig = Some(kubeconfig.clone());
        let token = options.auth_token.clone();
        let handle = start(options).await.expect("kube-sim starts");
        let mut config = kube::Config::new(handle.url().parse().expect("url"));
        config.default_namespace = "default".into();
        config.auth_info.token = token.map(Into::into);
        let client = kube::Client::try_from(config).expect("client");
        Cluster {
            handle,
            client,
            _dir: dir,
            kubeconfig,
        }
    }

    /// Runs `kubectl ARGS` against the simulator with `stdin`, killed after `secs`.
    pub async fn kubectl(&self, args: &[&str], stdin: &str, secs: u64) -> Output {
        self.command(Path::new("kubectl"), args, stdin, secs).await
    }

    /// Runs `program ARGS` (kubectl, krun) with `KUBECONFIG` pointing at the simulator, with
    /// `stdin`, killed after `secs`.
    pub async fn command(&self, program: &Path, args: &[&str], stdin: &str, secs: u64) -> Output {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program:?} runs: {e}"));
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.as_bytes().to_vec();
        tokio::spawn(async move {
            let _ = input.write_all(&data).await;
        });
        let output = tokio::time::timeout(Duration::from_secs(secs), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{program:?} {args:?} did not finish within {secs}s"))
            .expect("the command's output");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Like [`Cluster::kubectl`] with no stdin, asserting success.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args, "", 30).await;
        assert_eq!(
            out.code, 0,
            "kubectl {args:?} failed: {}{}",
            out.stdout, out.stderr
        );
        out.stdout
    }
}

/// Builds `krun` (unless `KRUN_BIN` names one) and returns its path.
pub fn krun_binary() -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    if let Ok(bin) = std::env::var("KRUN_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "krun", "--bin", "krun"])
        .status()
        .context("running cargo build -p krun")?;
    anyhow::ensure!(status.success(), "cargo build -p krun failed");
    // target/debug/deps/<test>-… → target/debug/krun
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("locating the target directory")?;
    Ok(dir.join("krun"))
}

/// Whether kubectl is installed; prints why the calling test skips when it is not.
pub fn kubectl_or_skip(test: &str) -> bool {
    let found = std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!("skipping {test}: kubectl is not on PATH");
    }
    found
}

/// Polls `check` every 50 ms until it yields a value; panics with `what` after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `Status` of a failed kube-rs call: (code, reason, message).
pub fn status_of(error: kube::Error) -> (u16, String, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone(), status.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Sends a raw request and returns (status code, body text), whatever the code.
pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .expect("request");
    match client.request_text(request).await {
        Ok(text) => (200, text),
        Err(kube::Error::Api(status)) => (status.code, status.message.clone()),
        Err(other) => panic!("request {method} {path} failed: {other:?}"),
    }
}

/// The resourceVersion a list of `api` is consistent at.
pub async fn list_version<K>(api: &kube::Api<K>) -> String
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let list = api
        .list(&kube::api::ListParams::default())
        .await
        .expect("list");
    list.metadata
        .resource_version
        .expect("a list resourceVersion")
}
