//! The one-off: create it (a pod, or a Job under `-d --rm`) with its watch already running,
//! create the objects it owns, copy bind mounts into its init containers, and follow it to
//! the start of the command with progress, failing fast when it cannot start.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, PostParams};
use kube::{Resource, ResourceExt};

use super::apply::{self, Known};
use super::client::{Connection, is_not_found};
use super::copy;
use super::error::ClusterError;
use super::events;
use super::labels;
use super::outage::{Outage, is_transient, repeatable};
use super::status::{self, Exit, Phase};
use super::watch::{PodWatch, Pods, Selector};
use crate::plan::{OneOff, Plan};
use crate::progress::Progress;

/// A created one-off and the watch on its pod.
pub struct Created {
    /// The pod's name, or the Job's under `-d --rm`.
    pub name: String,
    /// Whether [`Created::name`] is a Job.
    pub is_job: bool,
    /// The watch on its pod (started before the create request).
    pub watch: PodWatch,
}

/// How far the command got when the start wait returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// The command runs.
    Running,
    /// It already finished.
    Exited(Exit),
}

/// The pod of a one-off, whatever created it: the only pod the watch sees.
pub fn the_pod(pods: &Pods) -> Option<(&String, &Pod)> {
    pods.iter()
        .find(|(_, p)| !status::terminating(p))
        .or_else(|| pods.iter().next())
}

/// Applies the shared objects the one-off needs that no dependency brought (named volumes'
/// claims, project Secrets/ConfigMaps); they outlive the run.
pub async fn prepare(
    conn: &Connection,
    plan: &Plan,
    progress: &Progress,
) -> Result<(), ClusterError> {
    for obj in &plan.one_off.objects {
        let outcome = apply::apply(conn, &plan.project, obj, None, &Known::default()).await?;
        let (kind, name) = obj.kind_and_name();
        progress.done(&format!("{kind} {name}"), outcome.word(kind));
    }
    Ok(())
}

/// Creates the one-off and its owned objects. The watch starts first, so no transition of
/// the pod is missed.
pub async fn create(conn: &Connection, plan: &Plan) -> Result<Created, ClusterError> {
    let one_off = &plan.one_off;
    let (created, owner) = match &one_off.job {
        Some(job) => {
            let name = job.name_any();
            let selector = Selector::Labels(format!("{}={name}", labels::JOB_NAME));
            let watch = PodWatch::start(conn, selector);
            let owner = owner_ref(&create_object(conn, job).await?);
            let is_job = true;
            (
                Created {
                    name,
                    is_job,
                    watch,
                },
                owner,
            )
        }
        None => {
            let name = one_off.pod.name_any();
            let watch = PodWatch::start(conn, Selector::Name(name.clone()));
            let owner = owner_ref(&create_object(conn, &one_off.pod).await?);
            let is_job = false;
            (
                Created {
                    name,
                    is_job,
                    watch,
                },
                owner,
            )
        }
    };
    for obj in &one_off.owned {
        if let Err(e) =
            apply::apply(conn, &plan.project, obj, owner.as_ref(), &Known::default()).await
        {
            remove(conn, &created, std::time::Duration::ZERO).await;
            return Err(e);
        }
    }
    Ok(created)
}

/// How long to retry a create refused because the namespace's default ServiceAccount does not
/// exist yet (a namespace created a moment ago).
const SERVICE_ACCOUNT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Creates `obj`, retrying while a fresh namespace's ServiceAccount is not there yet.
async fn create_object<K>(conn: &Connection, obj: &K) -> Result<K, ClusterError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let name = obj.name_any();
    let resource = format!("{}/{name}", K::plural(&()));
    let api = conn.api::<K>();
    let deadline = tokio::time::Instant::now() + SERVICE_ACCOUNT_GRACE;
    let mut outage = Outage::new(conn.patience);
    let mut resent = false;
    loop {
        match api.create(&PostParams::default(), obj).await {
            Ok(made) => {
                conn.answered();
                return Ok(made);
            }
            // The name is this run's own: an earlier attempt was created, its answer lost.
            Err(kube::Error::Api(s)) if s.code == 409 && resent => {
                return repeatable(conn, &format!("get {resource}"), || api.get(&name))
                    .await
                    .map_err(|e| conn.fail("get", resource, e));
            }
            Err(e) if is_transient(&e) && conn.has_answered() && outage.pause().await => {
                resent = true;
            }
            Err(kube::Error::Api(s))
                if s.code == 403
                    && s.message.contains("service account")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Err(ClusterError::Config(format!(
                    "{resource} already exists in namespace \"{}\"; pick another --name, or \
                     remove the old one (krun down --remove-orphans)",
                    conn.namespace()
                )));
            }
            Err(e) => return Err(conn.fail("create", resource, e)),
        }
    }
}

fn owner_ref<K: Resource<DynamicType = ()>>(obj: &K) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: obj.meta().name.clone()?,
        uid: obj.meta().uid.clone()?,
        ..OwnerReference::default()
    })
}

/// Deletes the one-off (a Job with its pods) with `grace`; already gone is fine. Errors are
/// reported, not returned: this runs on cleanup paths that already carry an outcome.
/// An API server outage is ridden out within the connection's patience.
pub async fn remove(conn: &Connection, created: &Created, grace: std::time::Duration) {
    let dp = DeleteParams::background().grace_period(grace.as_secs().min(u32::MAX as u64) as u32);
    let (jobs, pods) = (conn.api::<Job>(), conn.api::<Pod>());
    let result = repeatable(conn, &format!("delete {}", created.name), || async {
        if created.is_job {
            jobs.delete(&created.name, &dp).await.map(|_| ())
        } else {
            pods.delete(&created.name, &dp).await.map(|_| ())
        }
    })
    .await;
    match result {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => eprintln!(
            "krun: could not delete {}: {}; remove it with kubectl delete",
            created.name,
            conn.fail("delete", created.name.clone(), e)
        ),
    }
}

/// What the start wait saw.
enum Seen {
    /// The next copy's init container runs: send its files.
    CopyReady,
    /// The command runs or finished.
    Started(Started),
    /// It cannot start.
    Failed(ClusterError),
    /// It is stuck; fetch events for the error.
    Stuck {
        pod: String,
        reason: String,
        message: String,
    },
}

/// Follows the pod until the command runs (or already exited), sending bind-mount copies on
/// the way and reporting progress. Fails fast on stuck pods.
pub async fn wait_started(
    conn: &Connection,
    one_off: &OneOff,
    created: &mut Created,
    progress: &Progress,
) -> Result<Started, ClusterError> {
    let image = one_off
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == one_off.container))
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let subject = format!("Container {}", created.name);
    let mut copies = one_off.copies.iter();
    let mut copy = copies.next();
    let mut settle = status::Settle::default();
    loop {
        let seen = created
            .watch
            .until(|pods| {
                let (name, pod) = the_pod(pods)?;
                if let Some(c) = copy {
                    match status::init_phase(pod, &c.init_container) {
                        Some(Ok(())) => return Some(Seen::CopyReady),
                        Some(Err(exit)) if exit.code != 0 => {
                            return Some(Seen::Failed(ClusterError::PodFailed {
                                pod: name.clone(),
                                reason: format!("copying {} failed", c.source.display()),
                                message: format!(
                                    "init container {} exited with {}: {}",
                                    c.init_container,
                                    exit.code,
                                    exit.message.unwrap_or_default()
                                ),
                            }));
                        }
                        _ => {}
                    }
                }
                match settle.phase(name, pod, &one_off.container) {
                    Phase::Unscheduled => {
                        progress.step(&subject, "Waiting to be scheduled");
                        None
                    }
                    Phase::Waiting { reason } => {
                        match reason.as_deref() {
                            Some("ContainerCreating") => progress.pull(&subject, &image),
                            Some("PodInitializing") => progress.step(&subject, "Initializing"),
                            _ => progress.step(&subject, "Scheduled"),
                        }
                        None
                    }
                    Phase::Running { .. } => Some(Seen::Started(Started::Running)),
                    Phase::Exited(e) => Some(Seen::Started(Started::Exited(e))),
                    Phase::PodFailed { reason, message } => {
                        Some(Seen::Failed(ClusterError::PodFailed {
                            pod: name.clone(),
                            reason,
                            message,
                        }))
                    }
                    Phase::Stuck { reason, message } => Some(Seen::Stuck {
                        pod: name.clone(),
                        reason,
                        message,
                    }),
                }
            })
            .await?;
        match seen {
            Seen::CopyReady => {
                if let Some(c) = copy {
                    let pod = the_pod(&created.watch.current())
                        .map(|(n, _)| n.clone())
                        .unwrap_or_else(|| created.name.clone());
                    progress.step(&subject, &format!("Copying {}", c.source.display()));
                    copy::run(conn, &pod, c).await?;
                }
                copy = copies.next();
            }
            Seen::Started(s) => {
                let word = match s {
                    Started::Running => "Started",
                    Started::Exited(_) => "Exited",
                };
                progress.done(&subject, word);
                return Ok(s);
            }
            Seen::Failed(e) => return Err(e),
            Seen::Stuck {
                pod,
                reason,
                message,
            } => {
                let events = events::recent(conn, &pod).await;
                return Err(ClusterError::CannotStart {
                    pod,
                    reason,
                    message,
                    events,
                });
            }
        }
    }
}
