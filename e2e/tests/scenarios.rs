//! The scenario suite: every `e2e/scenarios/*.yaml` case runs the real `krun` binary against
//! kube-sim (started in-process) and, when `KRUN_E2E_KUBECONFIG=path` is set, against that
//! real cluster too, each case in a fresh namespace (deleted afterwards on a real cluster).
//! The two passes take turns, so neither slows the other down.
//!
//! A case is a list of steps; each step runs `krun --kubeconfig K -n NS ARGS…` in the case's
//! project directory (its `files`), with its environment, stdin or a pseudo-terminal, and checks
//! the exit code, output and the objects left in the namespace. `$NS`, `$PROJECT`, `$DIR` and
//! `$PORT1`…`$PORT4` (free local ports) are replaced in arguments, environment, files, stdin
//! and expectations.
//!
//! Knobs: `KRUN_E2E_FILTER=substring` runs matching cases only; `KRUN_BIN=path` uses that
//! binary instead of building `krun`; `KRUN_E2E_JOBS=n` cases at once (default 3 on kube-sim,
//! 6 on a real cluster, whose cases mostly wait).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::{Api, Client, Config};
use serde::Deserialize;

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// What it checks (shown on failure).
    description: String,
    /// Skip it, with the reason (Docker-only, or a known gap of kube-sim).
    #[serde(default)]
    skip: Option<String>,
    /// Skip it on kube-sim only, with the reason.
    #[serde(default)]
    skip_on_sim: Option<String>,
    /// Skip it on a real cluster only, with the reason.
    #[serde(default)]
    skip_on_real: Option<String>,
    /// Project files by relative path.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Objects created in the namespace before the steps (as another tool would have).
    #[serde(default)]
    existing: Vec<serde_json::Value>,

    /// The steps, in order.
    steps: Vec<Step>,
}

/// One krun invocation and what it must do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// Arguments after `--kubeconfig K -n NS`.
    args: Vec<String>,
    /// Extra environment (COMPOSE_PROJECT_NAME defaults to the case's project).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Project files written (or rewritten) before this step, by relative path.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Working directory relative to the project directory.
    #[serde(default)]
    cwd: Option<String>,
    /// Bytes on stdin (closed afterwards); without it stdin is empty.
    #[serde(default)]
    stdin: Option<String>,
    /// Run under a pseudo-terminal (stdin, stdout and stderr); `stdin` is typed after
    /// `type_after_ms`.
    #[serde(default)]
    pty: bool,
    /// More keys typed into the pty later, each after its own delay from the start.
    #[serde(default)]
    keys: Vec<Keys>,
    /// Delay before typing into the pty.
    #[serde(default = "default_type_after")]
    type_after_ms: u64,
    /// Type `stdin` only once this text is in krun's output (then after `type_after_ms`).
    #[serde(default)]
    type_when_output: Option<String>,
    /// Give up after this long.
    #[serde(default = "default_timeout")]
    timeout_s: u64,
    /// Expectations.
    #[serde(default)]
    expect: Expect,
    /// Objects that must (not) exist afterwards.
    #[serde(default)]
    objects: Vec<ObjectCheck>,
    /// Retry the object checks for up to this long (things the cluster does after krun ends).
    #[serde(default)]
    objects_within_s: u64,
    /// Run the step this many times (each run checked).
    #[serde(default = "one")]
    repeat: u32,
    /// Signals sent to krun while it runs.
    #[serde(default)]
    signals: Vec<SignalAt>,
    /// kube-sim faults (`krun_e2e::faults::FaultConfig`, with `$NS` and friends replaced)
    /// added before the step. Scope them to the case (its namespace, an image tag of its
    /// own), since cases share the simulator; a case with them is for kube-sim only.
    #[serde(default)]
    sim_faults: Option<serde_json::Value>,
    /// Talk HTTP to a local port while krun runs (port-forward checks).
    #[serde(default)]
    http_get: Option<HttpGet>,
}

fn one() -> u32 {
    1
}

/// Keys typed into the pty at a point in time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// When, after krun started (or after `when_output` appeared).
    after_ms: u64,
    /// What.
    text: String,
    /// Wait for this text in krun's output first: a point in the run, not in time, so a
    /// busy machine cannot reorder the step.
    #[serde(default)]
    when_output: Option<String>,
}

/// A signal sent to krun during a step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalAt {
    /// `INT`, `TERM`, `HUP` or `KILL`.
    name: String,
    /// When, after krun started (or after `when_output` appeared).
    after_ms: u64,
    /// Wait for this text in krun's output first (see [`Keys::when_output`]).
    #[serde(default)]
    when_output: Option<String>,
}

/// An HTTP GET against 127.0.0.1 while krun runs, retried until it answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    /// Local port (a number or `$PORTn`).
    port: String,
    /// Text the response must contain.
    body_has: String,
    /// Keep trying this long.
    #[serde(default = "default_http_within")]
    within_ms: u64,
}

fn default_http_within() -> u64 {
    20_000
}

fn default_type_after() -> u64 {
    1500
}

fn default_timeout() -> u64 {
    90
}

/// What a step must print and return.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    exit: Option<i32>,
    stdout: Option<String>,
    #[serde(default)]
    stdout_has: Vec<String>,
    #[serde(default)]
    stdout_lacks: Vec<String>,
    #[serde(default)]
    stderr_has: Vec<String>,
    #[serde(default)]
    stderr_lacks: Vec<String>,
    /// Searched in stdout and stderr together (everything, under a pty).
    #[serde(default)]
    output_has: Vec<String>,
    #[serde(default)]
    output_lacks: Vec<String>,
    /// The step takes at least this long (e.g. waiting for a healthcheck).
    #[serde(default)]
    min_duration_ms: Option<u64>,
}

/// Objects of a kind, by name or label selector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectCheck {
    /// Plural resource: pods, deployments, jobs, services, secrets, configmaps,
    /// persistentvolumeclaims.
    kind: String,
    /// One object by name.
    #[serde(default)]
    name: Option<String>,
    /// A label selector.
    #[serde(default)]
    selector: Option<String>,
    /// How many must exist (default: at least one).
    #[serde(default)]
    count: Option<usize>,
    /// Only pods: how many of those must be in this phase.
    #[serde(default)]
    phase: Option<String>,
    /// Count only objects whose name starts with this.
    #[serde(default)]
    name_prefix: Option<String>,
}

/// Where the cases run.
struct Cluster {
    kubeconfig: PathBuf,
    client: Client,
    /// Real clusters get their namespaces deleted.
    real: bool,
    /// kube-sim (kept alive, and where `sim_faults` go).
    sim: Option<krun_e2e::sim::SimHandle>,
}

fn resource(kind: &str) -> Result<ApiResource> {
    let (group, version, k) = match kind {
        "pods" => ("", "v1", "Pod"),
        "services" => ("", "v1", "Service"),
        "secrets" => ("", "v1", "Secret"),
        "configmaps" => ("", "v1", "ConfigMap"),
        "persistentvolumeclaims" => ("", "v1", "PersistentVolumeClaim"),
        "deployments" => ("apps", "v1", "Deployment"),
        "jobs" => ("batch", "v1", "Job"),
        other => bail!("unknown kind {other} in an object check"),
    };
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(ApiResource {
        group: group.into(),
        version: version.into(),
        api_version,
        kind: k.into(),
        plural: kind.into(),
    })
}

/// A real cluster from a kubeconfig.
async fn real_cluster(path: String) -> Result<Cluster> {
    let kc = kube::config::Kubeconfig::read_from(&path)?;
    let config = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Cluster {
        kubeconfig: PathBuf::from(path),
        client: Client::try_from(config)?,
        real: true,
        sim: None,
    })
}

/// kube-sim, started in-process.
async fn kube_sim(scratch: &Path) -> Result<Cluster> {
    let kubeconfig = scratch.join("kubeconfig");
    let sim = krun_e2e::sim::start(krun_e2e::sim::SimOptions {
        kubeconfig: Some(kubeconfig.clone()),
        ..Default::default()
    })
    .await?;
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Cluster {
        kubeconfig,
        client: Client::try_from(config)?,
        real: false,
        sim: Some(sim),
    })
}

/// A step's captured result.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    fn apply(&self, s: &str) -> String {
        self.pairs
            .iter()
            .fold(s.to_string(), |acc, (k, v)| acc.replace(k, v))
    }
}

/// Everything krun printed so far (stdout and stderr, or the whole terminal under a pty).
type Output = Arc<Mutex<Vec<u8>>>;

/// How long a step may wait for a `when_output` marker.
const MARKER_WAIT: Duration = Duration::from_secs(120);

/// Waits until `output` past its first `from` bytes contains `marker` (or [`MARKER_WAIT`]
/// passes), then `after` more.
async fn reach(
    output: &Output,
    from: usize,
    marker: Option<&str>,
    started: Instant,
    after: Duration,
) {
    match marker {
        Some(m) => {
            let deadline = Instant::now() + MARKER_WAIT;
            while !String::from_utf8_lossy(output.lock().unwrap().get(from..).unwrap_or_default())
                .contains(m)
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(after).await;
        }
        None => tokio::time::sleep_until((started + after).into()).await,
    }
}

/// The error for a krun that outlived its step, with what it printed so far.
fn unfinished(timeout: Duration, output: &Output) -> anyhow::Error {
    let text = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    anyhow::anyhow!(
        "krun did not finish within {timeout:?}; its output so far:\n{}",
        indent(&text)
    )
}

/// Sends each signal to the child at its point in the run.
fn schedule_signals(pid: Option<u32>, signals: &[SignalAt], output: &Output, started: Instant) {
    let Some(pid) = pid else { return };
    for at in signals {
        let sig = match at.name.as_str() {
            "INT" => nix::sys::signal::Signal::SIGINT,
            "HUP" => nix::sys::signal::Signal::SIGHUP,
            "KILL" => nix::sys::signal::Signal::SIGKILL,
            _ => nix::sys::signal::Signal::SIGTERM,
        };
        let after = Duration::from_millis(at.after_ms);
        let (output, marker) = (output.clone(), at.when_output.clone());
        tokio::spawn(async move {
            reach(&output, 0, marker.as_deref(), started, after).await;
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        });
    }
}

/// Polls `http://127.0.0.1:port/` until the body has the text; the result is a problem or
/// nothing.
async fn http_probe(get: &HttpGet, vars: &Vars) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port: u16 = match vars.apply(&get.port).parse() {
        Ok(p) => p,
        Err(_) => return Some(format!("http_get port {:?} is not a number", get.port)),
    };
    let deadline = Instant::now() + Duration::from_millis(get.within_ms);
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .await?;
            let mut body = Vec::new();
            s.read_to_end(&mut body).await?;
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&body).into_owned())
        };
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(body)) if body.contains(&get.body_has) => return None,
            Ok(Ok(body)) => last = format!("response {body:?}"),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Some(format!(
        "GET 127.0.0.1:{port} never returned {:?}: {last}",
        get.body_has
    ))
}

async fn run_piped(
    mut cmd: tokio::process::Command,
    stdin: Option<String>,
    timeout: Duration,
    signals: &[SignalAt],
) -> Result<Outcome> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("starting krun")?;
    let both: Output = Arc::default();
    schedule_signals(child.id(), signals, &both, started);
    let mut input = child.stdin.take().context("stdin")?;
    let text = stdin.unwrap_or_default();
    tokio::spawn(async move {
        let _ = input.write_all(text.as_bytes()).await;
        let _ = input.shutdown().await;
    });
    // Each stream into its own buffer and into the shared one the markers are looked for in.
    let collect = |stream: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let both = both.clone();
        tokio::spawn(async move {
            let mut own = Vec::new();
            let Some(mut stream) = stream else { return own };
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                own.extend_from_slice(&buf[..n]);
                both.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            own
        })
    };
    let stdout = collect(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = collect(child.stderr.take().map(|s| Box::new(s) as _));
    let status = tokio::time::timeout(timeout, child.wait())
        .await
        .map_err(|_| unfinished(timeout, &both))??;
    let (stdout, stderr) = (stdout.await?, stderr.await?);
    Ok(Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// Runs under a pseudo-terminal: everything krun writes is `stdout`; each `typed` text is
/// written at its point in the run (a delay, after a marker in the output when there is one).
async fn run_pty(
    mut cmd: tokio::process::Command,
    typed: Vec<(Option<String>, Duration, String)>,
    timeout: Duration,
    signals: &[SignalAt],
) -> Result<Outcome> {
    let started = Instant::now();
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None)?;
    let slave: OwnedFd = pty.slave;
    cmd.stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        .env("TERM", "xterm")
        .kill_on_drop(true);
    // SAFETY: setsid is async-signal-safe and runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting krun under a pty")?;
    drop(cmd);
    let master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone()?;
    let captured: Output = Arc::default();
    schedule_signals(child.id(), signals, &captured, started);
    let sink = captured.clone();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut writer = master;
    // Each key's marker is looked for in what krun printed after the previous key.
    let mut seen = 0;
    for (marker, at, text) in typed {
        reach(&captured, seen, marker.as_deref(), started, at).await;
        seen = captured.lock().unwrap().len();
        writer.write_all(text.as_bytes())?;
    }
    let status = tokio::time::timeout(timeout, child.wait())
        .await
        .map_err(|_| unfinished(timeout, &captured))??;
    // Let the reader drain what is left, then stop it by closing our side.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(writer);
    let _ = tokio::task::spawn_blocking(move || reading.join()).await;
    let out = captured.lock().unwrap().clone();
    Ok(Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::new(),
        elapsed: started.elapsed(),
    })
}

fn check_expect(e: &Expect, o: &Outcome, vars: &Vars) -> Vec<String> {
    let mut problems = Vec::new();
    let all = format!("{}{}", o.stdout, o.stderr);
    if let Some(code) = e.exit
        && o.code != Some(code)
    {
        problems.push(format!("exit code {:?}, expected {code}", o.code));
    }
    if let Some(exact) = &e.stdout
        && o.stdout != vars.apply(exact)
    {
        problems.push(format!(
            "stdout {:?}, expected exactly {:?}",
            o.stdout,
            vars.apply(exact)
        ));
    }
    let mut has = |what: &str, text: &str, wanted: &[String], present: bool| {
        for w in wanted {
            let w = vars.apply(w);
            if text.contains(&w) != present {
                let verb = if present { "lacks" } else { "contains" };
                problems.push(format!("{what} {verb} {w:?}"));
            }
        }
    };
    has("stdout", &o.stdout, &e.stdout_has, true);
    has("stdout", &o.stdout, &e.stdout_lacks, false);
    has("stderr", &o.stderr, &e.stderr_has, true);
    has("stderr", &o.stderr, &e.stderr_lacks, false);
    has("output", &all, &e.output_has, true);
    has("output", &all, &e.output_lacks, false);
    if let Some(min) = e.min_duration_ms
        && o.elapsed < Duration::from_millis(min)
    {
        problems.push(format!("took {:?}, expected at least {min}ms", o.elapsed));
    }
    problems
}

async fn check_objects(
    client: &Client,
    ns: &str,
    checks: &[ObjectCheck],
    vars: &Vars,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for c in checks {
        let ar = resource(&c.kind)?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let mut params = ListParams::default();
        if let Some(sel) = &c.selector {
            params = params.labels(&vars.apply(sel));
        }
        if let Some(name) = &c.name {
            params = params.fields(&format!("metadata.name={}", vars.apply(name)));
        }
        let items = api.list(&params).await?.items;
        let prefix = c.name_prefix.as_deref().map(|p| vars.apply(p));
        let matching = items
            .iter()
            .filter(|o| {
                c.phase.as_ref().is_none_or(|phase| {
                    o.data.pointer("/status/phase").and_then(|p| p.as_str()) == Some(phase)
                })
            })
            .filter(|o| {
                prefix.as_ref().is_none_or(|p| {
                    o.metadata
                        .name
                        .as_deref()
                        .unwrap_or("")
                        .starts_with(p.as_str())
                })
            })
            .count();
        let ok = match c.count {
            Some(n) => matching == n,
            None => matching >= 1,
        };
        if !ok {
            let names: Vec<String> = items
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect();
            problems.push(format!(
                "{} {}{}{}: found {matching} {names:?}, expected {}",
                c.kind,
                c.name
                    .as_deref()
                    .map(|n| format!("name={n} "))
                    .unwrap_or_default(),
                c.selector
                    .as_deref()
                    .map(|s| format!("-l {s} "))
                    .unwrap_or_default(),
                c.phase
                    .as_deref()
                    .map(|p| format!("phase={p}"))
                    .unwrap_or_default(),
                c.count.map_or("at least 1".to_string(), |n| n.to_string()),
            ));
        }
    }
    Ok(problems)
}

async fn run_case(
    cluster: &Cluster,
    krun: &Path,
    scratch: &Path,
    name: &str,
    case: &Scenario,
) -> Result<Vec<String>> {
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let ns = format!("e2e-{}-{:04x}", slug.trim_matches('-'), fastrand::u16(..));
    let project = format!("p-{}", slug.trim_matches('-'));
    let dir = scratch.join(&ns);
    std::fs::create_dir_all(&dir)?;
    let mut pairs = vec![
        ("$NS", ns.clone()),
        ("$PROJECT", project.clone()),
        ("$DIR", dir.display().to_string()),
    ];
    for name in ["$PORT1", "$PORT2", "$PORT3", "$PORT4"] {
        pairs.push((name, free_port()?.to_string()));
    }
    let vars = Vars { pairs };
    write_files(&dir, &case.files, &vars)?;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(ns.clone());
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    wait_for_service_account(&cluster.client, &ns).await?;
    for obj in &case.existing {
        create_existing(&cluster.client, &ns, obj, &vars).await?;
    }

    let mut problems = Vec::new();
    'steps: for (i, step) in case.steps.iter().enumerate() {
        for _ in 0..step.repeat {
            if let Some(p) = run_step(cluster, krun, &dir, &ns, &project, &vars, step).await? {
                problems.push(format!(
                    "step {} (krun {}): {p}",
                    i + 1,
                    step.args.join(" ")
                ));
                break 'steps;
            }
        }
    }
    if cluster.real {
        let _ = namespaces.delete(&ns, &DeleteParams::background()).await;
    }
    Ok(problems)
}

/// Runs one step once; `Some(problems)` when it failed.
async fn run_step(
    cluster: &Cluster,
    krun: &Path,
    dir: &Path,
    ns: &str,
    project: &str,
    vars: &Vars,
    step: &Step,
) -> Result<Option<String>> {
    write_files(dir, &step.files, vars)?;
    if let Some(faults) = &step.sim_faults {
        let sim = cluster
            .sim
            .as_ref()
            .context("sim_faults need kube-sim (skip_on_real)")?;
        let faults: krun_e2e::faults::FaultConfig =
            serde_json::from_str(&vars.apply(&faults.to_string())).context("sim_faults")?;
        sim.sim().faults.update(|f| f.add(faults));
    }
    let mut cmd = tokio::process::Command::new(krun);
    cmd.arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("-n")
        .arg(ns)
        .args(step.args.iter().map(|a| vars.apply(a)))
        .current_dir(dir.join(step.cwd.as_deref().unwrap_or(".")))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("COMPOSE_PROJECT_NAME", project);
    for (k, v) in &step.env {
        cmd.env(k, vars.apply(v));
    }
    let timeout = Duration::from_secs(step.timeout_s);
    let stdin = step.stdin.as_deref().map(|s| vars.apply(s));
    let signals = step.signals.as_slice();
    let run = async {
        if step.pty {
            let first = stdin.map(|t| {
                let marker = step.type_when_output.clone();
                (marker, Duration::from_millis(step.type_after_ms), t)
            });
            let later = step.keys.iter().map(|k| {
                let marker = k.when_output.clone();
                (
                    marker,
                    Duration::from_millis(k.after_ms),
                    vars.apply(&k.text),
                )
            });
            run_pty(
                cmd,
                first.into_iter().chain(later).collect(),
                timeout,
                signals,
            )
            .await
        } else {
            run_piped(cmd, stdin, timeout, signals).await
        }
    };
    let probe = async {
        match &step.http_get {
            Some(get) => http_probe(get, vars).await,
            None => None,
        }
    };
    let (outcome, http_problem) = tokio::join!(run, probe);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return Ok(Some(format!("{e:#}"))),
    };
    let mut problems = check_expect(&step.expect, &outcome, vars);
    problems.extend(http_problem);
    let deadline = Instant::now() + Duration::from_secs(step.objects_within_s);
    loop {
        let object_problems = check_objects(&cluster.client, ns, &step.objects, vars).await?;
        if object_problems.is_empty() || Instant::now() >= deadline {
            problems.extend(object_problems);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if problems.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "\n      {}\n      --- stdout:\n{}\n      --- stderr:\n{}",
        problems.join("\n      "),
        indent(&outcome.stdout),
        indent(&outcome.stderr)
    )))
}

/// Creates one of a case's `existing` objects (kind given as the plural, e.g. `deployments`,
/// under `kind`, the object itself under `object`; in the case's namespace unless the object
/// names another, which must then be one every case may share, e.g. `kube-public`).
async fn create_existing(
    client: &Client,
    ns: &str,
    spec: &serde_json::Value,
    vars: &Vars,
) -> Result<()> {
    let kind = spec["kind"].as_str().context("existing[].kind")?;
    let text = vars.apply(&serde_json::to_string(&spec["object"])?);
    let obj: DynamicObject = serde_json::from_str(&text).context("existing[].object")?;
    let ns = obj
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| ns.to_string());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource(kind)?);
    match api.create(&PostParams::default(), &obj).await {
        Err(kube::Error::Api(s)) if s.code == 409 && ns == "kube-public" => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Writes project files below `dir`; a file starting with `#!` becomes executable.
fn write_files(dir: &Path, files: &BTreeMap<String, String>, vars: &Vars) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (path, text) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, vars.apply(text))?;
        if text.starts_with("#!") {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

/// A port nothing listens on now (cases run in parallel, and so may other suites).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until the namespace's `default` ServiceAccount exists: pods cannot be created
/// before (a real cluster's controller makes it shortly after the namespace).
async fn wait_for_service_account(client: &Client, ns: &str) -> Result<()> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get_opt("default").await?.is_none() {
        if Instant::now() > deadline {
            bail!("namespace {ns} got no default ServiceAccount within 30s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("        {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn load_cases() -> Result<Vec<(String, Scenario)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let filter = std::env::var("KRUN_E2E_FILTER").unwrap_or_default();
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.contains(&filter) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let case: Scenario =
            serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        cases.push((name, case));
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(cases)
}

#[test]
fn scenario_files_parse() {
    let cases = load_cases().expect("every scenario file parses");
    for (name, case) in &cases {
        assert!(!case.steps.is_empty(), "{name} has no steps");
        assert!(!case.description.is_empty(), "{name} has no description");
        for step in &case.steps {
            for o in &step.objects {
                resource(&o.kind).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}

/// One pass at a time: the two passes share the machine's two cores.
static ONE_PASS_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenarios_on_kube_sim() {
    let _turn = ONE_PASS_AT_A_TIME.lock().await;
    let scratch = tempfile::tempdir().expect("scratch directory");
    let cluster = kube_sim(scratch.path()).await.expect("kube-sim");
    run_suite(&cluster, scratch.path(), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenarios_on_real_cluster() {
    let Ok(path) = std::env::var("KRUN_E2E_KUBECONFIG") else {
        eprintln!("scenarios_on_real_cluster: KRUN_E2E_KUBECONFIG is not set, no real cluster");
        return;
    };
    let _turn = ONE_PASS_AT_A_TIME.lock().await;
    let scratch = tempfile::tempdir().expect("scratch directory");
    let cluster = real_cluster(path).await.expect("the real cluster");
    run_suite(&cluster, scratch.path(), 6).await;
}

/// Runs every case on `cluster`, `default_jobs` at once, and fails with every failure's report.
async fn run_suite(cluster: &Cluster, scratch: &Path, default_jobs: usize) {
    let started = Instant::now();
    let cases = load_cases().expect("scenario files");
    let krun = support::krun_binary().expect("the krun binary");
    let jobs: usize = std::env::var("KRUN_E2E_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(default_jobs);
    let (on_sim, pass) = match cluster.real {
        true => (false, "real cluster"),
        false => (true, "kube-sim"),
    };
    let results: Vec<(String, Result<Vec<String>>, Option<String>)> =
        futures::stream::iter(cases.iter())
            .map(|(name, case)| {
                let krun = &krun;
                async move {
                    let only_here = match on_sim {
                        true => case.skip_on_sim.clone(),
                        false => case.skip_on_real.clone(),
                    };
                    let skip = case.skip.clone().or(only_here);
                    if skip.is_some() {
                        return (name.clone(), Ok(vec![]), skip);
                    }
                    let r = run_case(cluster, krun, scratch, name, case).await;
                    (name.clone(), r, None)
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut report = String::new();
    let mut sorted = results;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, result, skip) in &sorted {
        match (result, skip) {
            (_, Some(reason)) => {
                skipped += 1;
                eprintln!("SKIP {name} ({pass}): {reason}");
            }
            (Ok(p), None) if p.is_empty() => {
                passed += 1;
                eprintln!("PASS {name} ({pass})");
            }
            (Ok(p), None) => {
                failed += 1;
                eprintln!("FAIL {name} ({pass})");
                report.push_str(&format!("\n{name}:\n    {}\n", p.join("\n    ")));
            }
            (Err(e), None) => {
                failed += 1;
                eprintln!("FAIL {name} ({pass})");
                report.push_str(&format!("\n{name}: {e:#}\n"));
            }
        }
    }
    // Written past the test harness's capture, so CI logs show each pass's count and time.
    let _ = writeln!(
        std::io::stderr(),
        "scenarios on {pass}: {passed} passed, {failed} failed, {skipped} skipped in {:.0?}",
        started.elapsed()
    );
    assert!(
        failed == 0,
        "{failed} scenario(s) failed on {pass}:{report}"
    );
}
