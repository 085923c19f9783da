//! The pod status the kubelet reports, in the API's exact shapes (pure functions).
//!
//! Phase follows the kubelet's `getPhase`; conditions are `PodReadyToStartContainers`,
//! `Initialized`, `Ready`, `ContainersReady` (the scheduler owns `PodScheduled`, kept as found).

use serde_json::{Map, Value, json};

/// A terminated container run (`state.terminated` / `lastState.terminated`).
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    /// Exit code (128+signal when killed; 128 for StartError).
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`.
    pub reason: String,
    /// Termination message, if any.
    pub message: Option<String>,
    /// When it started (`1970-01-01T00:00:00Z` when it never did).
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// `containerd://…`.
    pub container_id: String,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running: `ContainerCreating`, `PodInitializing`, `ErrImagePull`, `CrashLoopBackOff`…
    Waiting {
        /// The reason.
        reason: String,
        /// The message, if any.
        message: Option<String>,
    },
    /// Running since.
    Running {
        /// `startedAt`.
        started_at: String,
    },
    /// Ended.
    Terminated(Terminated),
}

/// Everything `containerStatuses[]` reports for one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerState {
    /// The container's name.
    pub name: String,
    /// The image as the spec names it, until the runtime resolves it.
    pub image: String,
    /// `docker.io/library/busybox@sha256:…` once pulled, else empty.
    pub image_id: String,
    /// The current state.
    pub state: State,
    /// The previous run's end.
    pub last: Option<Terminated>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Readiness.
    pub ready: bool,
    /// Started (startup probe passed, or running without one).
    pub started: bool,
    /// `containerd://…` of the current or last run.
    pub container_id: Option<String>,
}

impl ContainerState {
    /// A container not created yet.
    pub fn waiting(name: &str, image: &str, reason: &str) -> Self {
        ContainerState {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            state: State::Waiting {
                reason: reason.to_owned(),
                message: None,
            },
            last: None,
            restart_count: 0,
            ready: false,
            started: false,
            container_id: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("state".into(), state_json(&self.state));
        out.insert(
            "lastState".into(),
            self.last
                .as_ref()
                .map_or_else(|| json!({}), |t| json!({"terminated": terminated_json(t)})),
        );
        out.insert("ready".into(), json!(self.ready));
        out.insert("restartCount".into(), json!(self.restart_count));
        out.insert("image".into(), json!(self.image));
        out.insert("imageID".into(), json!(self.image_id));
        if let Some(id) = &self.container_id {
            out.insert("containerID".into(), json!(id));
        }
        out.insert("started".into(), json!(self.started));
        Value::Object(out)
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut out = json!({
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": t.started_at,
        "finishedAt": t.finished_at,
        "containerID": t.container_id,
    });
    if let Some(message) = &t.message {
        out["message"] = json!(message);
    }
    out
}

fn state_json(state: &State) -> Value {
    match state {
        State::Waiting { reason, message } => {
            let mut waiting = json!({"reason": reason});
            if let Some(message) = message {
                waiting["message"] = json!(message);
            }
            json!({"waiting": waiting})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    }
}

/// The pod-level facts the kubelet reports besides container states.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodFacts {
    /// `startTime`.
    pub start_time: String,
    /// `podIP`, once the sandbox exists.
    pub pod_ip: Option<String>,
    /// Every init container succeeded.
    pub initialized: bool,
    /// The pod will not run anything again (deleted, deadline, or finished for good).
    pub terminal: bool,
    /// `reason`/`message` of a pod failed as a whole (`DeadlineExceeded`).
    pub failure: Option<(String, String)>,
    /// `restartPolicy`.
    pub restart_policy: String,
}

/// The kubelet's `getPhase`.
pub fn phase(
    facts: &PodFacts,
    init: &[ContainerState],
    containers: &[ContainerState],
) -> &'static str {
    if facts.failure.is_some() {
        return "Failed";
    }
    if !facts.initialized {
        let init_failed = init
            .iter()
            .any(|c| matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        if init_failed && (facts.restart_policy == "Never" || facts.terminal) {
            return "Failed";
        }
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if c.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 || stopped == 0 {
        "Running"
    } else if facts.terminal {
        if stopped == succeeded {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if facts.restart_policy == "Always" {
        "Running"
    } else if stopped == succeeded {
        "Succeeded"
    } else if facts.restart_policy == "Never" {
        "Failed"
    } else {
        "Running"
    }
}

fn condition(kind: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> Value {
    let mut c =
        json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null});
    if let Some(reason) = reason {
        c["reason"] = json!(reason);
    }
    if let Some(message) = message {
        c["message"] = json!(message);
    }
    c
}

/// The new `status` of a pod, given its current one (whose scheduler-owned parts are kept and
/// whose condition transition times are kept when a condition did not change).
pub fn pod_status(
    current: &Value,
    facts: &PodFacts,
    init: &[ContainerState],
    containers: &[ContainerState],
) -> Value {
    let phase = phase(facts, init, containers);
    let completed = phase == "Succeeded";
    let finished = completed || phase == "Failed";
    let unready: Vec<&str> = containers
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|c| !matches!(&c.state, State::Terminated(t) if t.exit_code == 0))
        .map(|c| c.name.as_str())
        .collect();
    let names = |list: &[&str]| format!("[{}]", list.join(" "));
    let (ready_reason, ready_message) = if completed {
        (Some("PodCompleted"), None)
    } else if unready.is_empty() {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let ready = !completed && unready.is_empty();
    let (init_reason, init_message) = if facts.initialized || incomplete.is_empty() {
        (
            completed
                .then_some("PodCompleted")
                .filter(|_| !init.is_empty()),
            None,
        )
    } else {
        (
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
        )
    };
    let ours = [
        condition(
            "PodReadyToStartContainers",
            facts.pod_ip.is_some() && !finished,
            None,
            None,
        ),
        condition(
            "Initialized",
            facts.initialized || incomplete.is_empty(),
            init_reason,
            init_message,
        ),
        condition("Ready", ready, ready_reason, ready_message.clone()),
        condition("ContainersReady", ready, ready_reason, ready_message),
    ];
    let now = crate::store::timestamp();
    let old_conditions: Vec<Value> = current["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = ours
        .into_iter()
        .map(|mut c| {
            let old = old_conditions.iter().find(|o| o["type"] == c["type"]);
            c["lastTransitionTime"] = match old {
                Some(o) if o["status"] == c["status"] => o["lastTransitionTime"].clone(),
                _ => json!(now),
            };
            c
        })
        .collect();
    conditions.extend(
        old_conditions
            .into_iter()
            .filter(|o| !conditions_owned(o["type"].as_str().unwrap_or(""))),
    );
    let mut status = current.as_object().cloned().unwrap_or_default();
    status.insert("phase".into(), json!(phase));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!("127.0.0.1"));
    status.insert("hostIPs".into(), json!([{"ip": "127.0.0.1"}]));
    if let Some(ip) = &facts.pod_ip {
        status.insert("podIP".into(), json!(ip));
        status.insert("podIPs".into(), json!([{"ip": ip}]));
    }
    status.insert("startTime".into(), json!(facts.start_time));
    if init.is_empty() {
        status.remove("initContainerStatuses");
    } else {
        status.insert(
            "initContainerStatuses".into(),
            init.iter().map(ContainerState::to_json).collect(),
        );
    }
    status.insert(
        "containerStatuses".into(),
        containers.iter().map(ContainerState::to_json).collect(),
    );
    match &facts.failure {
        Some((reason, message)) => {
            status.insert("reason".into(), json!(reason));
            status.insert("message".into(), json!(message));
        }
        None => {
            status.remove("reason");
            status.remove("message");
        }
    }
    status
        .entry("qosClass")
        .or_insert_with(|| json!("BestEffort"));
    Value::Object(status)
}

fn conditions_owned(kind: &str) -> bool {
    matches!(
        kind,
        "PodReadyToStartContainers" | "Initialized" | "Ready" | "ContainersReady"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(code: i32) -> State {
        State::Terminated(Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: "t".into(),
            finished_at: "t".into(),
            container_id: "c".into(),
        })
    }

    fn with(state: State) -> ContainerState {
        ContainerState {
            state,
            ..ContainerState::waiting("web", "busybox", "ContainerCreating")
        }
    }

    #[test]
    fn phases_follow_get_phase() {
        let facts = |policy: &str| PodFacts {
            initialized: true,
            restart_policy: policy.into(),
            ..Default::default()
        };
        let waiting = ContainerState::waiting("web", "busybox", "ContainerCreating");
        assert_eq!(phase(&facts("Never"), &[], &[waiting]), "Pending");
        assert_eq!(
            phase(
                &facts("Never"),
                &[],
                &[with(State::Running {
                    started_at: "t".into()
                })]
            ),
            "Running"
        );
        assert_eq!(phase(&facts("Never"), &[], &[with(term(0))]), "Succeeded");
        assert_eq!(phase(&facts("Never"), &[], &[with(term(2))]), "Failed");
        assert_eq!(phase(&facts("OnFailure"), &[], &[with(term(2))]), "Running");
        assert_eq!(phase(&facts("Always"), &[], &[with(term(0))]), "Running");
        let mut crashing = ContainerState::waiting("web", "busybox", "CrashLoopBackOff");
        crashing.last = Some(match term(1) {
            State::Terminated(t) => t,
            _ => unreachable!(),
        });
        assert_eq!(phase(&facts("Always"), &[], &[crashing]), "Running");
    }

    #[test]
    fn conditions_name_unready_containers_and_keep_scheduled() {
        let current = json!({"conditions": [{"type": "PodScheduled", "status": "True"}]});
        let facts = PodFacts {
            initialized: true,
            pod_ip: Some("127.0.0.2".into()),
            restart_policy: "Always".into(),
            start_time: "t".into(),
            ..Default::default()
        };
        let status = pod_status(
            &current,
            &facts,
            &[],
            &[with(State::Running {
                started_at: "t".into(),
            })],
        );
        let ready = &status["conditions"][2];
        assert_eq!(ready["type"], "Ready");
        assert_eq!(ready["message"], "containers with unready status: [web]");
        assert_eq!(status["conditions"][4]["type"], "PodScheduled");
        assert_eq!(
            status["containerStatuses"][0]["state"]["running"]["startedAt"],
            "t"
        );
    }
}
