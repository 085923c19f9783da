//! Reading a pod's status: where one container is in its life, and whether the pod is stuck
//! in a way that will not resolve by waiting (image pull errors, unschedulable, crash loops).
//! Pure functions over `Pod`, shared by dependency waits and the one-off, plus [`Settle`], which
//! lets complaints that resolve by themselves (a claim still being provisioned) settle first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// Waiting reasons that mean "this will not start by itself": fail fast with the reason.
const STUCK_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
];

/// Where a container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not yet placed on a node.
    Unscheduled,
    /// On a node; the container is being created (image pull, init containers). `reason` is
    /// the waiting reason (`ContainerCreating`, `PodInitializing`…).
    Waiting {
        /// The kubelet's waiting reason.
        reason: Option<String>,
    },
    /// The container runs.
    Running {
        /// Readiness (from the readinessProbe, when there is one).
        ready: bool,
    },
    /// The container exited.
    Exited(Exit),
    /// The pod failed without a container exit (Evicted, DeadlineExceeded…).
    PodFailed {
        /// `status.reason`.
        reason: String,
        /// `status.message`.
        message: String,
    },
    /// Stuck: it will not start by waiting.
    Stuck {
        /// Waiting or condition reason.
        reason: String,
        /// The kubelet's or scheduler's message.
        message: String,
    },
}

/// A container's termination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code (128+S for a signal).
    pub code: i32,
    /// `OOMKilled`, `Error`, `Completed`, `StartError`, `DeadlineExceeded`…
    pub reason: Option<String>,
    /// The runtime's message (e.g. `executable file not found in $PATH`).
    pub message: Option<String>,
}

fn container_status<'a>(
    statuses: Option<&'a Vec<ContainerStatus>>,
    name: &str,
) -> Option<&'a ContainerStatus> {
    statuses?.iter().find(|c| c.name == name)
}

fn stuck_in(statuses: Option<&Vec<ContainerStatus>>) -> Option<Phase> {
    statuses?.iter().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        STUCK_REASONS.contains(&reason).then(|| Phase::Stuck {
            reason: reason.to_string(),
            message: waiting.message.clone().unwrap_or_default(),
        })
    })
}

/// The container that runs a service in `pod`: the one named after it, else the first (the
/// planner sanitises names that are not DNS labels, `my_db` → `my-db`).
pub fn main_container<'a>(pod: &'a Pod, service: &'a str) -> &'a str {
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    match containers.iter().find(|c| c.name == service) {
        Some(c) => &c.name,
        None => containers.first().map_or(service, |c| c.name.as_str()),
    }
}

/// Whether `pod`'s command has ended: its phase says so, or the container of its service has
/// exited (the kubelet reports the phase a moment after the exit, which is what a previous run
/// waited for).
pub fn ended(pod: &Pod) -> bool {
    let service = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::plan::keys::SERVICE))
        .map_or("", String::as_str);
    let pod_phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(pod_phase, Some("Succeeded" | "Failed"))
        || matches!(
            phase(pod, main_container(pod, service)),
            Phase::Exited(_) | Phase::PodFailed { .. }
        )
}

/// Where container `name` of `pod` is.
pub fn phase(pod: &Pod, name: &str) -> Phase {
    let Some(status) = pod.status.as_ref() else {
        return Phase::Unscheduled;
    };
    let main = container_status(status.container_statuses.as_ref(), name);
    let failed = status.phase.as_deref() == Some("Failed");
    // A pod-level reason (Evicted, DeadlineExceeded, Shutdown…) says more than the exit of
    // the container it killed, and the kubelet may report either first.
    if let (true, Some(reason)) = (failed, &status.reason) {
        return Phase::PodFailed {
            reason: reason.clone(),
            message: status.message.clone().unwrap_or_default(),
        };
    }
    if let Some(t) = main.and_then(|c| c.state.as_ref()?.terminated.as_ref()) {
        return Phase::Exited(Exit {
            code: t.exit_code,
            reason: t.reason.clone(),
            message: t.message.clone(),
        });
    }
    if failed {
        return Phase::PodFailed {
            reason: "Failed".into(),
            message: status.message.clone().unwrap_or_default(),
        };
    }
    if let Some(stuck) = stuck_in(status.init_container_statuses.as_ref())
        .or_else(|| stuck_in(status.container_statuses.as_ref()))
    {
        return stuck;
    }
    if main.is_some_and(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())) {
        return Phase::Running {
            ready: main.is_some_and(|c| c.ready),
        };
    }
    let scheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled");
    match scheduled {
        Some(c) if c.status == "True" => Phase::Waiting {
            reason: main.and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone()),
        },
        Some(c) if c.reason.as_deref() == Some("Unschedulable") => Phase::Stuck {
            reason: "Unschedulable".into(),
            message: c.message.clone().unwrap_or_default(),
        },
        _ if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some() =>
        {
            Phase::Waiting { reason: None }
        }
        _ => Phase::Unscheduled,
    }
}

/// How long a stuck state may last before it is final. The scheduler's first complaint about
/// a claim that a dynamic provisioner binds a second later, a node still starting, or a
/// Secret the kubelet has not seen yet resolve by themselves; image pull errors and crash
/// loops do not (compose fails on them at once).
pub fn grace(reason: &str, message: &str) -> Duration {
    let says = |markers: &[&str]| markers.iter().any(|m| message.contains(m));
    match reason {
        // A claim still being provisioned binds by itself; one that does not exist does not.
        "Unschedulable" if says(&["unbound immediate PersistentVolumeClaims"]) => {
            Duration::from_secs(60)
        }
        "Unschedulable"
            if says(&["persistentvolumeclaim \"", "node \""]) && says(&["not found"]) =>
        {
            Duration::ZERO
        }
        "Unschedulable" if says(&["node.kubernetes.io/not-ready", "unreachable"]) => {
            Duration::from_secs(30)
        }
        "Unschedulable" | "CreateContainerConfigError" => Duration::from_secs(10),
        _ => Duration::ZERO,
    }
}

/// Remembers since when each pod has been stuck for the same reason, so that a stuck state is
/// reported only once it has lasted its [`grace`].
#[derive(Debug, Default)]
pub struct Settle {
    since: HashMap<(String, String), Instant>,
}

impl Settle {
    /// [`phase`], except that a stuck state younger than its grace is the waiting it still is.
    pub fn phase(&mut self, pod_name: &str, pod: &Pod, container: &str) -> Phase {
        let phase = phase(pod, container);
        let Phase::Stuck { reason, message } = &phase else {
            self.since.retain(|(p, _), _| p != pod_name);
            return phase;
        };
        let key = (pod_name.to_string(), reason.clone());
        let since = *self.since.entry(key).or_insert_with(Instant::now);
        if since.elapsed() >= grace(reason, message) {
            return phase;
        }
        match reason.as_str() {
            "Unschedulable" => Phase::Unscheduled,
            _ => Phase::Waiting {
                reason: Some(reason.clone()),
            },
        }
    }
}

/// The last exit of container `name` when it has restarted (a Deployment pod that crashed):
/// compose reports it as "container X exited (N)".
pub fn last_exit(pod: &Pod, name: &str) -> Option<Exit> {
    let c = container_status(pod.status.as_ref()?.container_statuses.as_ref(), name)?;
    let t = c.last_state.as_ref()?.terminated.as_ref()?;
    Some(Exit {
        code: t.exit_code,
        reason: t.reason.clone(),
        message: t.message.clone(),
    })
}

/// How long container `name` has been running, if it runs.
pub fn running_for(pod: &Pod, name: &str) -> Option<Duration> {
    let c = container_status(pod.status.as_ref()?.container_statuses.as_ref(), name)?;
    let started = c.state.as_ref()?.running.as_ref()?.started_at.as_ref()?;
    let elapsed = k8s_openapi::jiff::Timestamp::now().duration_since(started.0);
    Some(Duration::try_from(elapsed).unwrap_or(Duration::ZERO))
}

/// Whether init container `name` runs (ready for stdin) or has finished (`Some(Exit)`).
pub fn init_phase(pod: &Pod, name: &str) -> Option<Result<(), Exit>> {
    let c = container_status(pod.status.as_ref()?.init_container_statuses.as_ref(), name)?;
    let state = c.state.as_ref()?;
    if let Some(t) = &state.terminated {
        return Some(Err(Exit {
            code: t.exit_code,
            reason: t.reason.clone(),
            message: t.message.clone(),
        }));
    }
    state.running.as_ref().map(|_| Ok(()))
}

/// Whether the pod is being deleted.
pub fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "p"}, "spec": {"containers": []}, "status": status}),
        )
        .unwrap()
    }

    #[test]
    fn reads_the_container_life() {
        assert_eq!(
            phase(&pod(json!({"phase": "Pending"})), "web"),
            Phase::Unscheduled
        );
        let scheduled = pod(json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        assert_eq!(
            phase(&scheduled, "web"),
            Phase::Waiting {
                reason: Some("ContainerCreating".into())
            }
        );
        let running = pod(json!({"phase": "Running",
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}));
        assert_eq!(phase(&running, "web"), Phase::Running { ready: true });
        assert!(running_for(&running, "web").is_some());
        let exited = pod(json!({"phase": "Failed",
            "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}));
        assert!(matches!(
            phase(&exited, "web"),
            Phase::Exited(Exit { code: 3, .. })
        ));
    }

    #[test]
    fn recognises_stuck_pods() {
        let pull = pod(json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}));
        assert_eq!(
            phase(&pull, "web"),
            Phase::Stuck {
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into()
            }
        );
        let unsched = pod(json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available"}]}));
        assert!(
            matches!(phase(&unsched, "web"), Phase::Stuck { reason, .. } if reason == "Unschedulable")
        );
        let evicted =
            pod(json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}));
        let mut settle = Settle::default();
        assert!(matches!(
            settle.phase("p", &pull, "web"),
            Phase::Stuck { .. }
        ));
        assert_eq!(settle.phase("p", &unsched, "web"), Phase::Unscheduled);
        let unbound = pod(json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}));
        assert_eq!(
            grace(
                "Unschedulable",
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
            ),
            Duration::from_secs(60)
        );
        assert_eq!(settle.phase("q", &unbound, "web"), Phase::Unscheduled);
        assert_eq!(grace("ImagePullBackOff", ""), Duration::ZERO);
        // The scheduler's words when a claim is being provisioned, seen on a busy cluster.
        let provisioning =
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found";
        assert_eq!(
            grace("Unschedulable", provisioning),
            Duration::from_secs(60)
        );
        let missing = "0/1 nodes are available: persistentvolumeclaim \"data\" not found.";
        assert_eq!(grace("Unschedulable", missing), Duration::ZERO);
        assert!(
            matches!(phase(&evicted, "web"), Phase::PodFailed { reason, .. } if reason == "Evicted")
        );
        // The container the eviction killed does not hide why it died.
        let killed = pod(
            json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory",
            "containerStatuses": [{"name": "web", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}),
        );
        assert!(
            matches!(phase(&killed, "web"), Phase::PodFailed { reason, .. } if reason == "Evicted")
        );
    }
}
