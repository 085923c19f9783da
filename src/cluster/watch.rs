//! One watch on pods (by name or by labels), kept alive across dropped connections and
//! expired resourceVersions, publishing the current set of matching pods. Starting it before
//! the pod is created means no state change can be missed, with a single request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::Connection;
use super::error::ClusterError;
use super::outage::{Outage, is_transient};

/// How often [`PodWatch::until`] re-evaluates without a change (compose polls every 500ms).
pub const RECHECK: Duration = Duration::from_millis(500);

/// Which pods to watch.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `metadata.name=<name>`.
    Name(String),
    /// A label selector.
    Labels(String),
}

impl Selector {
    /// Whether `pod` is selected: by name, or by a list of `key=value` and `key!=value`
    /// requirements (the forms krun writes), for views of a wider watch.
    pub fn matches(&self, pod: &Pod) -> bool {
        match self {
            Selector::Name(n) => pod.metadata.name.as_deref() == Some(n.as_str()),
            Selector::Labels(l) => {
                let labels = pod.labels();
                l.split(',').all(|req| match req.split_once("!=") {
                    Some((k, v)) => labels.get(k).map(String::as_str) != Some(v),
                    None => req
                        .split_once('=')
                        .is_some_and(|(k, v)| labels.get(k).map(String::as_str) == Some(v)),
                })
            }
        }
    }
}

/// The current pods matching a [`Selector`], by name.
pub type Pods = BTreeMap<String, Pod>;

/// The last state of the pods the watch saw deleted: a pod deleted right after its command
/// exited may vanish from [`PodWatch::current`] before the exit was looked at, and its final
/// object still tells how the command ended.
#[derive(Debug, Clone, Default)]
pub struct Deleted(Arc<Mutex<Pods>>);

impl Deleted {
    /// The final object of deleted pod `name`, if the watch saw it go.
    pub fn get(&self, name: &str) -> Option<Pod> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

/// A running watch; clones share it (one request serves every wait on a project's pods), and
/// dropping the last one stops it.
#[derive(Clone)]
pub struct PodWatch {
    rx: watch::Receiver<Pods>,
    deleted: Deleted,
    task: Arc<Task>,
}

/// The watch's task, aborted when the last [`PodWatch`] goes; the first to see it end gets
/// its error.
struct Task(Mutex<Option<JoinHandle<Result<(), ClusterError>>>>);

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(task) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl PodWatch {
    /// Starts watching now (the request is sent before this returns to the runtime).
    pub fn start(conn: &Connection, selector: Selector) -> Self {
        let (tx, rx) = watch::channel(Pods::new());
        let deleted = Deleted::default();
        let task = tokio::spawn(run(conn.clone(), selector, tx, deleted.clone()));
        PodWatch {
            rx,
            deleted,
            task: Arc::new(Task(Mutex::new(Some(task)))),
        }
    }

    /// The pods this watch saw deleted (shared: it stays current).
    pub fn deleted(&self) -> Deleted {
        self.deleted.clone()
    }

    /// Waits until `f` returns `Some` for the current pods, re-evaluating it on every change
    /// and at least every [`RECHECK`] (for conditions that depend on elapsed time).
    pub async fn until<T>(
        &mut self,
        mut f: impl FnMut(&Pods) -> Option<T>,
    ) -> Result<T, ClusterError> {
        loop {
            if let Some(v) = f(&self.rx.borrow_and_update()) {
                return Ok(v);
            }
            if let Ok(Err(_)) = tokio::time::timeout(RECHECK, self.rx.changed()).await {
                return Err(self.failure().await);
            }
        }
    }

    /// The current pods.
    pub fn current(&self) -> Pods {
        self.rx.borrow().clone()
    }

    async fn failure(&mut self) -> ClusterError {
        let task = self.task.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        match task {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) | Err(_) => ClusterError::Config("the pod watch stopped".into()),
            },
            None => ClusterError::Config("the pod watch stopped".into()),
        }
    }
}

async fn run(
    conn: Connection,
    selector: Selector,
    tx: watch::Sender<Pods>,
    deleted: Deleted,
) -> Result<(), ClusterError> {
    let api: Api<Pod> = conn.api();
    let (params, what) = match &selector {
        Selector::Name(n) => (
            WatchParams::default().fields(&format!("metadata.name={n}")),
            format!("pods/{n}"),
        ),
        Selector::Labels(l) => (WatchParams::default().labels(l), format!("pods -l {l}")),
    };
    let params = params.timeout(290);
    let mut version = "0".to_string();
    let mut outage = Outage::new(conn.patience);
    loop {
        let stream = match api.watch(&params, &version).await {
            Ok(s) => s,
            Err(e) if is_transient(&e) && outage.pause().await => continue,
            Err(e) => return Err(conn.fail("watch", what, e)),
        };
        let mut stream = std::pin::pin!(stream.into_stream());
        let mut cut = false;
        while let Some(item) = stream.next().await {
            if matches!(item, Ok(WatchEvent::Added(_) | WatchEvent::Modified(_))) {
                outage.over();
            }
            match item {
                Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                    version = p.resource_version().unwrap_or(version);
                    tx.send_modify(|pods| {
                        pods.insert(p.name_any(), p);
                    });
                }
                Ok(WatchEvent::Deleted(p)) => {
                    version = p.resource_version().unwrap_or(version);
                    let name = p.name_any();
                    // Recorded before the pod leaves the current set, for whoever notices.
                    (deleted.0.lock().unwrap_or_else(|e| e.into_inner())).insert(name.clone(), p);
                    tx.send_modify(|pods| {
                        pods.remove(&name);
                    });
                }
                Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                Ok(WatchEvent::Error(status)) if status.code == 410 => {
                    // Too old (an API server restarted, say): the current state replaces what
                    // we had at once, so nobody sees a moment without the pods.
                    version = "0".into();
                    let list = match &selector {
                        Selector::Name(n) => {
                            ListParams::default().fields(&format!("metadata.name={n}"))
                        }
                        Selector::Labels(l) => ListParams::default().labels(l),
                    };
                    match api.list(&list).await {
                        Ok(current) => {
                            version = current.metadata.resource_version.unwrap_or(version);
                            tx.send_replace(
                                current
                                    .items
                                    .into_iter()
                                    .map(|p| (p.name_any(), p))
                                    .collect(),
                            );
                        }
                        Err(e) if is_transient(&e) => cut = true,
                        Err(e) => return Err(conn.fail("list", what, e)),
                    }
                    break;
                }
                Ok(WatchEvent::Error(status)) => {
                    return Err(conn.fail("watch", what, kube::Error::Api(status)));
                }
                Err(_) => {
                    cut = true;
                    break;
                }
            }
        }
        if cut && !outage.pause().await {
            return Err(ClusterError::Config(format!(
                "the watch on {what} kept failing for {}s; check the connection to {}",
                conn.patience.as_secs(),
                conn.target.server
            )));
        }
    }
}
