//! The kubelet: runs the containers of scheduled pods as real local processes and reports
//! their status, events and logs, as a kubelet with containerd would.
//!
//! [`run`] watches the store for pods with `spec.nodeName` set and gives each one a worker
//! (`pod`), which sets up volumes, pulls images from the image table (`image`), runs init
//! containers then containers (`process`, isolated by `rootfs` when running as root), probes
//! them (`probe`), restarts them with back-off, and stops them on deletion or deadline.
//! [`Kubelet`] is the part the streams (`crate::streams`) reach: each container run's log,
//! live output, stdin, pty and a way to exec into it.
//!
//! # Caveats
//! - No network namespaces: every pod shares the host network (a container's port N is
//!   127.0.0.1:N on the host, so two pods cannot listen on the same port); pod IPs are distinct
//!   127.0.0.x addresses; Service names resolve through `/etc/hosts` to one selected pod's IP
//!   (written when the container starts). Each container does get its own PID namespace when
//!   running as root (its command is PID 1, with PID 1's signal semantics).
//! - Without root (or without Debian's `busybox-static` at `/bin/busybox`, or with
//!   `KUBE_SIM_NO_ISOLATION` set), containers are plain host processes: no rootfs, no volumes,
//!   no PID namespace, host paths and hostname (logged once).
//! - Image back-off and crash back-off use the real timings (10 s doubling to 300 s).

mod env;
mod expand;
mod image;
mod init;
mod logs;
mod pod;
mod probe;
mod process;
mod rootfs;
mod status;
mod volumes;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

pub use logs::{LogBuffer, LogLine, Stream};
pub use process::Process;

use crate::sim::Sim;
use crate::store::{EventKind, str_at};

/// Set (to anything) to run containers as plain host processes even where isolation is
/// possible: for trying the fallback, or when mount namespaces are not wanted.
pub const NO_ISOLATION: &str = "KUBE_SIM_NO_ISOLATION";

/// Why an exec could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The container has no running process (`container not found ("web")`, the kubelet's text).
    #[error("container not found ({0:?})")]
    NotRunning(String),
    /// The runtime could not start the command (message as containerd reports it).
    #[error("{0}")]
    Start(String),
}

/// The output of an exec'd process (stdout and stderr chunks; ends when the output is complete).
pub type ExecOutput = mpsc::Receiver<(Stream, Bytes)>;

/// How an exec'd process is placed: inside the container's namespaces and root, or on the host.
#[derive(Debug, Clone)]
struct ExecContext {
    rootfs: Option<PathBuf>,
    workdir: String,
    host_workdir: PathBuf,
    env: Vec<(OsString, OsString)>,
    user: Option<process::User>,
}

/// One run of a container (a container ID, in runtime terms): what the streams attach to.
pub struct Run {
    /// Everything the run wrote.
    pub log: LogBuffer,
    /// The process; `None` when the run never started one (start error, crash fault).
    pub process: Option<Arc<Process>>,
    /// Whether the container was created with `tty: true`.
    pub tty: bool,
    /// Whether it was created with `stdin: true`.
    pub stdin: bool,
    /// Whether it was created with `stdinOnce: true`.
    pub stdin_once: bool,
    output: broadcast::Sender<(Stream, Bytes)>,
    stdin_closed: AtomicBool,
    exec: Option<ExecContext>,
    execs: Mutex<Vec<Weak<Process>>>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("process", &self.process)
            .finish()
    }
}

impl Run {
    /// Output produced from now on (the runtime's attach delivers nothing older).
    pub fn subscribe(&self) -> broadcast::Receiver<(Stream, Bytes)> {
        self.output.subscribe()
    }

    /// Whether the process's stdin is still open to attach sessions.
    pub fn stdin_open(&self) -> bool {
        self.stdin && !self.stdin_closed.load(Ordering::SeqCst)
    }

    /// An attach session's stdin ended: with `stdinOnce` and no TTY the container's stdin is
    /// closed (containerd's rule); otherwise it stays open for later sessions.
    pub async fn attach_stdin_ended(&self) {
        if self.stdin_once && !self.tty {
            self.stdin_closed.store(true, Ordering::SeqCst);
            if let Some(process) = &self.process {
                process.close_stdin().await;
            }
        }
    }

    /// Whether the run's process has ended (or never started).
    pub fn finished(&self) -> bool {
        self.process
            .as_ref()
            .is_none_or(|p| p.exit_code().is_some())
    }

    fn kill_execs(&self) {
        let execs = std::mem::take(&mut *self.execs.lock().unwrap_or_else(|p| p.into_inner()));
        for exec in execs.iter().filter_map(Weak::upgrade) {
            exec.kill_all();
        }
    }
}

/// The current and previous run of one container.
#[derive(Debug, Default, Clone)]
struct Slot {
    current: Option<Arc<Run>>,
    previous: Option<Arc<Run>>,
}

/// The kubelet's state shared with the streams.
pub struct Kubelet {
    /// Container runs by (namespace, pod name, pod uid, container name).
    runs: Mutex<HashMap<(String, String), PodRuns>>,
    images: image::Images,
    dir: PathBuf,
    isolate: bool,
    next_ip: AtomicU32,
}

#[derive(Debug, Default)]
struct PodRuns {
    uid: String,
    containers: HashMap<String, Slot>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("dir", &self.dir)
            .field("isolate", &self.isolate)
            .finish()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        // Pod directories (rootfs copies, emptyDirs, claims) die with the simulator. Mounts
        // live only in the containers' own mount namespaces, so nothing here crosses into
        // a hostPath or the host's /proc.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Default for Kubelet {
    fn default() -> Self {
        Self::new()
    }
}

impl Kubelet {
    /// A kubelet with no pods; isolates containers when running as root with busybox-static.
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        if COUNTER.load(Ordering::SeqCst) == 0 {
            remove_stale_dirs();
        }
        let dir = std::env::temp_dir().join(format!(
            "kube-sim-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        Kubelet {
            runs: Mutex::new(HashMap::new()),
            images: image::Images::default(),
            dir,
            isolate: rootfs::isolation_available() && std::env::var_os(NO_ISOLATION).is_none(),
            next_ip: AtomicU32::new(0),
        }
    }

    /// Whether containers get their own rootfs and mount namespace (root + busybox-static).
    pub fn isolated(&self) -> bool {
        self.isolate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PodRuns>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current (or, with `previous`, the one before) run of a container of a pod.
    pub fn run_of(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<Arc<Run>> {
        let runs = self.lock();
        let slot = runs
            .get(&(namespace.to_owned(), pod.to_owned()))?
            .containers
            .get(container)?;
        if previous {
            slot.previous.clone()
        } else {
            slot.current.clone()
        }
    }

    fn set_run(&self, namespace: &str, pod: &str, uid: &str, container: &str, run: Arc<Run>) {
        let mut runs = self.lock();
        let entry = runs
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_default();
        if entry.uid != uid {
            *entry = PodRuns {
                uid: uid.to_owned(),
                containers: HashMap::new(),
            };
        }
        let slot = entry.containers.entry(container.to_owned()).or_default();
        slot.previous = slot.current.replace(run);
    }

    fn forget_pod(&self, namespace: &str, pod: &str, uid: &str) {
        let mut runs = self.lock();
        let key = (namespace.to_owned(), pod.to_owned());
        if runs.get(&key).is_some_and(|p| p.uid == uid) {
            runs.remove(&key);
        }
    }

    fn allocate_ip(&self) -> String {
        let k = self.next_ip.fetch_add(1, Ordering::SeqCst) % (250 * 256);
        format!("127.0.{}.{}", k / 250, 2 + k % 250)
    }

    /// Starts `argv` inside a running container, as `kubectl exec` does; its output arrives on
    /// the returned receiver, which ends when the output is complete.
    pub fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        argv: Vec<OsString>,
        stdin: bool,
        tty: bool,
    ) -> Result<(Arc<Process>, ExecOutput), ExecError> {
        let not_running = || ExecError::NotRunning(container.to_owned());
        let run = self
            .run_of(namespace, pod, container, false)
            .ok_or_else(not_running)?;
        let (Some(main), Some(context)) = (&run.process, &run.exec) else {
            return Err(not_running());
        };
        if main.exit_code().is_some() {
            return Err(not_running());
        }
        let sandbox = match &context.rootfs {
            Some(root) => rootfs::Sandbox::join(main.pid, root, &context.workdir)
                .map_err(|_| not_running())?,
            None => rootfs::Sandbox::Host {
                workdir: std::ffi::CString::new(
                    context.host_workdir.as_os_str().as_encoded_bytes(),
                )
                .map_err(|_| not_running())?,
                pid: rootfs::HostPid::for_exec(main.pid),
            },
        };
        let mut env = context.env.clone();
        if tty && !env.iter().any(|(k, _)| k == "TERM") {
            // containerd's exec adds it for a terminal, as its create does.
            env.push(("TERM".into(), "xterm".into()));
        }
        let spec = process::Spec {
            argv,
            env,
            stdin,
            tty,
            sandbox,
            user: context.user.clone(),
        };
        let (tx, rx) = mpsc::channel(64);
        let process = process::spawn(spec, &context.workdir, tx).map_err(|e| {
            ExecError::Start(format!(
                "failed to exec in container: failed to start exec \"{}\": OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown",
                pod::random_hex(64)
            ))
        })?;
        run.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&process));
        Ok((process, rx))
    }
}

/// Removes the state directories of simulators whose process is gone (killed before the
/// kubelet could clean up); their containers died with them (parent-death signal).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kube-sim-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u32>().ok().and(pid.parse::<i32>().ok()))
        else {
            continue;
        };
        let alive = !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if !alive && pid != std::process::id() as i32 {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Runs the kubelet until the simulator shuts down: one worker per scheduled pod, fed with the
/// pod's updates; on shut-down every process is killed.
pub async fn run(sim: Arc<Sim>) {
    if !sim.kubelet.isolate {
        eprintln!(
            "kube-sim kubelet: not isolating containers (needs root and busybox-static at {}, and {NO_ISOLATION} unset): they run as plain host processes with host paths, no volumes",
            rootfs::BUSYBOX
        );
    }
    let (pods, _, mut feed) = sim.store.list_and_subscribe("pods", None, |_| true);
    let mut workers: HashMap<String, watch::Sender<Option<Value>>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut dispatch =
        |workers: &mut HashMap<String, watch::Sender<Option<Value>>>, pod: Value, deleted: bool| {
            let uid = str_at(&pod, "/metadata/uid").to_owned();
            if let Some(tx) = workers.get(&uid) {
                let _ = tx.send(if deleted { None } else { Some(pod) });
                return;
            }
            if deleted || str_at(&pod, "/spec/nodeName").is_empty() {
                return;
            }
            let (tx, rx) = watch::channel(Some(pod.clone()));
            workers.insert(uid, tx);
            tasks.spawn(pod::run_pod(sim.clone(), pod, rx));
        };
    for pod in pods {
        dispatch(&mut workers, pod, false);
    }
    loop {
        tokio::select! {
            _ = sim.shutdown.cancelled() => break,
            event = feed.recv() => match event {
                Ok(event) if event.key.resource == "pods" => {
                    let deleted = event.kind == EventKind::Deleted;
                    dispatch(&mut workers, (*event.object).clone(), deleted);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Catch up from the store: every pod's latest state, and the removed ones.
                    let (pods, _) = sim.store.list("pods", None, |_| true);
                    let live: std::collections::HashSet<String> =
                        pods.iter().map(|p| str_at(p, "/metadata/uid").to_owned()).collect();
                    for (uid, tx) in &workers {
                        if !live.contains(uid) {
                            let _ = tx.send(None);
                        }
                    }
                    for pod in pods {
                        dispatch(&mut workers, pod, false);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
        workers.retain(|_, tx| !tx.is_closed());
    }
    // Shut-down: the workers see the cancellation and kill their processes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}
