//! The simulator's shared state, its start-up and shut-down, and the body type of every response.
//!
//! [`start`] binds `127.0.0.1:<port>`, seeds the cluster (namespaces `default`, `kube-system`,
//! `kube-public`, `kube-node-lease` with their `default` ServiceAccounts; the node
//! [`NODE_NAME`]; the `kubernetes` Service), and runs the HTTP server, the controllers
//! (scheduler, Deployment, ReplicaSet, Job, PVC binder, service accounts, garbage collector) and
//! the kubelet (`crate::kubelet::run`) on a runtime of their own (thread `kube-sim`), apart from
//! the caller's. All of them share one [`Sim`] through `Arc`.
//!
//! Pod deletion handshake (see also `crate::store`): the API server marks a running pod with
//! `deletionTimestamp` + `deletionGracePeriodSeconds`; the kubelet stops its processes (SIGTERM,
//! then SIGKILL after the grace period), writes the final status and calls
//! `sim.store.finish_deletion("pods", ns, name)`. Unscheduled and finished pods, and
//! `gracePeriodSeconds=0`, are removed by the API server at once.
//!
//! Shut-down: [`SimHandle::shutdown`] (or dropping the handle) cancels [`Sim::shutdown`]; every
//! task stops, and the kubelet kills the pods' processes when it sees the cancellation (the
//! simulator's runtime gives them 10 s; `shutdown()` waits for that, dropping does not).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::faults::{FaultConfig, Faults};
use crate::requestlog::RequestLog;
use crate::store::Store;

/// The body of every response kube-sim sends: boxed so that streaming (watch, log follow)
/// and fixed bodies share one type.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// The name of the one node: what the scheduler writes into `spec.nodeName`.
pub const NODE_NAME: &str = "kube-sim";

/// How to start a simulator. `SimOptions::default()` is an ephemeral port and no kubeconfig.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where to write a kubeconfig pointing at the simulator (context `kube-sim`).
    pub kubeconfig: Option<PathBuf>,
    /// The namespace the kubeconfig's context selects.
    pub namespace: String,
    /// Faults active from the start.
    pub faults: FaultConfig,
    /// How many past watch events are kept for resuming watches (older ones get 410 Gone).
    pub watch_history: usize,
    /// Require `Authorization: Bearer <token>` (401 otherwise), to test authentication
    /// failures with kube-rs clients. `None` (the default): no check. kubectl sends no bearer
    /// token over plain HTTP, so kubectl-driven simulators leave this off.
    pub auth_token: Option<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            kubeconfig: None,
            namespace: "default".into(),
            faults: FaultConfig::default(),
            watch_history: crate::store::DEFAULT_HISTORY,
            auth_token: None,
        }
    }
}

/// Everything the API server, controllers, kubelet and streams share.
pub struct Sim {
    /// All API objects.
    pub store: Store,
    /// Fault injection settings.
    pub faults: Faults,
    /// Every request received.
    pub requests: RequestLog,
    /// The kubelet's state (its processes, logs).
    pub kubelet: crate::kubelet::Kubelet,
    /// Cancelled when the simulator shuts down; long-running tasks select on it.
    pub shutdown: CancellationToken,
    /// The bearer token requests must carry, if any (see `SimOptions::auth_token`).
    pub auth_token: Option<String>,
}

/// An Event's `type` (see `Sim::event`, in `crate::controllers::events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Routine transitions (Scheduled, Pulled, Started…).
    Normal,
    /// Problems (Failed, BackOff, FailedScheduling…).
    Warning,
}

impl Sim {
    /// A simulator state with no objects, per `opts` (use [`start`] to run one).
    pub fn new(opts: &SimOptions) -> Self {
        Sim {
            store: Store::new(opts.watch_history),
            faults: Faults::new(opts.faults.clone()),
            requests: RequestLog::default(),
            kubelet: crate::kubelet::Kubelet::new(),
            shutdown: CancellationToken::new(),
            auth_token: opts.auth_token.clone(),
        }
    }
}

/// A running simulator. Dropping it shuts the simulator down (without waiting).
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    kubeconfig: Option<PathBuf>,
    /// Fires when the simulator's runtime has stopped.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl SimHandle {
    /// The address the API is served on (always 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the server URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The kubeconfig written at start, if one was asked for.
    pub fn kubeconfig_path(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    /// The shared state, for tests that inspect the store, set faults or read the request log.
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Stops serving and waits (at most about 10 s) until every task has ended, the kubelet
    /// having killed the pods' processes.
    pub async fn shutdown(mut self) {
        self.sim.shutdown.cancel();
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(12), done).await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.sim.shutdown.cancel();
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The simulator's own runtime (or its thread) could not be started.
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(std::io::Error),
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Where it should have gone.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Starts a simulator on 127.0.0.1 (see the module docs for what runs).
pub async fn start(opts: SimOptions) -> anyhow::Result<SimHandle> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| StartError::Bind {
            port: opts.port,
            source,
        })?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(&opts));
    seed(&sim.store);
    sim.store.start_history_here();
    if let Some(path) = &opts.kubeconfig {
        crate::kubeconfig::write(path, addr, &opts.namespace).map_err(|source| {
            StartError::Kubeconfig {
                path: path.display().to_string(),
                source,
            }
        })?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SIM_THREADS)
        .thread_name("kube-sim")
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let cluster = sim.clone();
    std::thread::Builder::new()
        .name("kube-sim".into())
        .spawn(move || {
            runtime.block_on(async move {
                let tasks = match TcpListener::from_std(listener) {
                    Ok(listener) => vec![
                        tokio::spawn(serve(cluster.clone(), listener)),
                        tokio::spawn(crate::controllers::run(cluster.clone())),
                        tokio::spawn(crate::kubelet::run(cluster.clone())),
                    ],
                    Err(_) => Vec::new(),
                };
                cluster.shutdown.cancelled().await;
                let all = futures::future::join_all(tasks);
                let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
            let _ = done_tx.send(());
        })
        .map_err(StartError::Runtime)?;
    Ok(SimHandle {
        sim,
        addr,
        kubeconfig: opts.kubeconfig,
        done: Some(done_rx),
    })
}

/// The objects every cluster has from the start.
fn seed(store: &Store) {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        // A fresh store cannot hold them yet, so creation cannot fail.
        let _ = store.create("namespaces", crate::api::defaults::namespace(ns));
        let _ = store.create(
            "serviceaccounts",
            crate::controllers::accounts::default_account(ns),
        );
    }
    let _ = store.create("nodes", node());
    let _ = store.create("services", kubernetes_service());
}

/// The `default/kubernetes` Service every cluster has, pointing at the API server.
fn kubernetes_service() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
        "status": {"loadBalancer": {}},
    })
}

/// Worker threads of the simulator's own runtime: it runs apart from its caller's runtime,
/// so a test that blocks its own threads cannot stall the API server, controllers or kubelet
/// (a real cluster does not share the client's threads either).
const SIM_THREADS: usize = 2;

/// The node object `kube-sim`: Ready, with the capacity `kubectl describe node` shows.
fn node() -> Value {
    let now = crate::store::timestamp();
    let resources =
        json!({"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "nodeInfo": {
                "kubeletVersion": crate::api::discovery::GIT_VERSION,
                "kubeProxyVersion": crate::api::discovery::GIT_VERSION,
                "containerRuntimeVersion": "kube-sim://0.1.0",
                "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH,
                "osImage": "kube-sim", "kernelVersion": "", "machineID": "", "systemUUID": "",
                "bootID": "",
            },
        },
    })
}

/// Accepts connections until shut-down; one hyper http1 connection (with upgrades) each.
async fn serve(sim: Arc<Sim>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = sim.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else {
            // Out of file descriptors and the like: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let sim = sim.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn({
                let sim = sim.clone();
                move |req| {
                    let sim = sim.clone();
                    async move { Ok::<_, std::convert::Infallible>(crate::api::handle(sim, req).await) }
                }
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = sim.shutdown.cancelled() => {}
            }
        });
    }
}
