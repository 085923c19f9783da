//! Reading a pod's status: where one container is in its life, and whether the pod is stuck
//! in a way that will not resolve by waiting (image pull errors, unschedulable, crash loops).
//! Pure functions over `Pod`, shared by dependency waits and the one-off.

use std::time::Duration;

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

/// Where container `name` of `pod` is.
pub fn phase(pod: &Pod, name: &str) -> Phase {
    let Some(status) = pod.status.as_ref() else {
        return Phase::Unscheduled;
    };
    let main = container_status(status.container_statuses.as_ref(), name);
    if let Some(t) = main.and_then(|c| c.state.as_ref()?.terminated.as_ref()) {
        return Phase::Exited(Exit {
            code: t.exit_code,
            reason: t.reason.clone(),
            message: t.message.clone(),
        });
    }
    if status.phase.as_deref() == Some("Failed") {
        return Phase::PodFailed {
            reason: status.reason.clone().unwrap_or_else(|| "Failed".into()),
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
        assert!(
            matches!(phase(&evicted, "web"), Phase::PodFailed { reason, .. } if reason == "Evicted")
        );
    }
}
