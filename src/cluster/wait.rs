//! Waiting for `depends_on` edges with compose's semantics and messages: started (container
//! running), healthy (Ready through the readinessProbe; not Ready within the health budget →
//! unhealthy), completed_successfully (the Job's pod exited 0). Stuck pods (image pull errors,
//! crash loops, unschedulable) fail at once with the reason and recent events.
//!
//! Errors: a required edge's failure is a [`ClusterError::Dependency`] in compose's words; an
//! optional edge's failure is returned as a warning instead.

use std::time::Duration;

use super::client::Connection;
use super::error::ClusterError;
use super::events;
use super::labels;
use super::status::{self, Phase};
use super::watch::{PodWatch, Pods, Selector};
use crate::plan::{Condition, Wait, Workload};
use crate::progress::Progress;

/// Why an edge failed.
#[derive(Debug)]
enum EdgeFailure {
    /// The text after compose's "dependency failed to start: ".
    Failed(String),
    /// A one-shot dependency exited non-zero.
    NotCompleted(i32),
    /// The cluster failed us (API error, timeout).
    Cluster(ClusterError),
}

/// The one watch every edge of a run looks through: the project's dependency pods.
pub fn dependency_pods(conn: &Connection, project: &str) -> PodWatch {
    let selector = format!("{},{}=False", labels::project(project), labels::ONEOFF);
    PodWatch::start(conn, Selector::Labels(selector))
}

/// Waits for one edge within `timeout`, looking at `pods` ([`dependency_pods`]); `only` narrows
/// the dependency's pods (to the current ReplicaSet of an updated Deployment).
/// `Ok(Some(warning))` when an optional edge failed.
pub async fn edge(
    conn: &Connection,
    pods: &PodWatch,
    wait: &Wait,
    only: Option<String>,
    timeout: Duration,
    progress: &Progress,
) -> Result<Option<String>, ClusterError> {
    let subject = format!("Container {}", wait.service);
    progress.step(&subject, "Waiting");
    let outcome = match tokio::time::timeout(timeout, satisfy(conn, pods, wait, only)).await {
        Ok(r) => r,
        Err(_) => Err(EdgeFailure::Cluster(ClusterError::WaitTimeout {
            what: format!("service \"{}\"", wait.service),
            condition: condition_word(wait.condition),
            timeout,
            events: String::new(),
        })),
    };
    let dep = &wait.service;
    match (outcome, wait.required) {
        (Ok(()), _) => {
            progress.done(&subject, done_word(wait.condition));
            Ok(None)
        }
        (Err(EdgeFailure::Failed(t)), true) => Err(ClusterError::Dependency(format!(
            "dependency failed to start: {t}"
        ))),
        (Err(EdgeFailure::NotCompleted(n)), true) => Err(ClusterError::Dependency(format!(
            "service \"{dep}\" didn't complete successfully: exit {n}"
        ))),
        (Err(EdgeFailure::Cluster(e)), true) => Err(e),
        (Err(EdgeFailure::Failed(t)), false) => Ok(Some(format!(
            "optional dependency \"{dep}\" failed to start: {t}"
        ))),
        (Err(EdgeFailure::NotCompleted(n)), false) => Ok(Some(format!(
            "optional dependency \"{dep}\" didn't complete successfully: exit {n}"
        ))),
        (Err(EdgeFailure::Cluster(e)), false) => Ok(Some(format!(
            "optional dependency \"{dep}\" failed to start: {e}"
        ))),
    }
}

fn condition_word(c: Condition) -> &'static str {
    match c {
        Condition::Started => "running",
        Condition::Healthy => "healthy",
        Condition::CompletedSuccessfully => "complete",
    }
}

fn done_word(c: Condition) -> &'static str {
    match c {
        Condition::Started => "Started",
        Condition::Healthy => "Healthy",
        Condition::CompletedSuccessfully => "Exited",
    }
}

/// The selector of the pods that count for `wait`, among the project's dependency pods.
fn selector(wait: &Wait, only: Option<String>) -> Selector {
    match &wait.workload {
        Workload::Deployment { .. } => {
            let all = format!("{}={}", labels::SERVICE, wait.service);
            Selector::Labels(only.map_or(all.clone(), |o| format!("{all},{o}")))
        }
        Workload::Job { name } => Selector::Labels(format!("{}={name}", labels::JOB_NAME)),
    }
}

async fn satisfy(
    conn: &Connection,
    pods: &PodWatch,
    wait: &Wait,
    only: Option<String>,
) -> Result<(), EdgeFailure> {
    if wait.condition == Condition::Healthy && wait.health_budget.is_none() {
        return Err(EdgeFailure::Failed(format!(
            "container {} has no healthcheck configured",
            wait.service
        )));
    }
    let chosen = selector(wait, only);
    let mut watch = pods.clone();
    let mut settle = status::Settle::default();
    let verdict = watch
        .until(|all| {
            let pods: Pods = all
                .iter()
                .filter(|(_, p)| chosen.matches(p))
                .map(|(n, p)| (n.clone(), p.clone()))
                .collect();
            judge(&pods, wait, &mut settle)
        })
        .await
        .map_err(EdgeFailure::Cluster)?;
    match verdict {
        Verdict::Stuck {
            pod,
            reason,
            message,
        } => {
            let events = events::recent(conn, &pod).await;
            Err(EdgeFailure::Failed(format!(
                "container {pod} cannot start: {reason}: {message}{events}"
            )))
        }
        Verdict::Done(r) => r,
    }
}

/// The outcome of looking at the pods once.
enum Verdict {
    /// Satisfied or failed.
    Done(Result<(), EdgeFailure>),
    /// A pod is stuck: fetch its events, then fail.
    Stuck {
        pod: String,
        reason: String,
        message: String,
    },
}

/// Judges the current pods of a dependency against the edge; `None` keeps waiting.
fn judge(pods: &Pods, wait: &Wait, settle: &mut status::Settle) -> Option<Verdict> {
    let fail = |t: String| Some(Verdict::Done(Err(EdgeFailure::Failed(t))));
    let ok = || Some(Verdict::Done(Ok(())));
    let live = pods.iter().filter(|(_, p)| !status::terminating(p));
    let mut verdict = None;
    for (name, pod) in live {
        let container = status::main_container(pod, &wait.service);
        let phase = settle.phase(name, pod, container);
        let crashed = status::last_exit(pod, container);
        let v = match (wait.condition, phase) {
            (_, Phase::Stuck { reason, .. })
                if reason == "CrashLoopBackOff" && wait.condition != Condition::Started =>
            {
                let code = crashed.map_or(1, |e| e.code);
                fail(format!("container {name} exited ({code})"))
            }
            (_, Phase::Stuck { reason, message }) => Some(Verdict::Stuck {
                pod: name.clone(),
                reason,
                message,
            }),
            (_, Phase::PodFailed { reason, message }) => {
                fail(format!("container {name} failed: {reason}: {message}"))
            }
            (Condition::Started, Phase::Running { .. } | Phase::Exited(_)) => ok(),
            (Condition::Healthy, Phase::Running { ready: true }) => ok(),
            (Condition::Healthy, Phase::Exited(e)) => {
                fail(format!("container {name} exited ({})", e.code))
            }
            (Condition::Healthy, Phase::Running { ready: false }) if crashed.is_some() => {
                let code = crashed.map_or(1, |e| e.code);
                fail(format!("container {name} exited ({code})"))
            }
            (Condition::Healthy, Phase::Running { ready: false }) => {
                let budget = wait.health_budget.unwrap_or_default();
                let late = status::running_for(pod, container).is_some_and(|d| d > budget);
                if late {
                    fail(format!("container {name} is unhealthy"))
                } else {
                    None
                }
            }
            (Condition::CompletedSuccessfully, Phase::Exited(e)) if e.code == 0 => ok(),
            (Condition::CompletedSuccessfully, Phase::Exited(e)) => {
                Some(Verdict::Done(Err(EdgeFailure::NotCompleted(e.code))))
            }
            _ => None,
        };
        // A satisfied pod wins over a failed one (compose looks at every container).
        match v {
            Some(Verdict::Done(Ok(()))) => return v,
            Some(_) if verdict.is_none() => verdict = v,
            _ => {}
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pods(state: serde_json::Value, ready: bool, last: Option<serde_json::Value>) -> Pods {
        let mut status = json!({"name": "db", "ready": ready, "restartCount": 0, "image": "i",
            "imageID": "", "state": state});
        if let Some(l) = last {
            status["lastState"] = l;
        }
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "db-1"}, "spec": {"containers": []},
            "status": {"phase": "Running", "containerStatuses": [status]}}))
        .unwrap();
        Pods::from([("db-1".to_string(), pod)])
    }

    fn wait(condition: Condition) -> Wait {
        Wait {
            service: "db".into(),
            workload: Workload::Deployment { name: "db".into() },
            condition,
            required: true,
            health_budget: Some(Duration::from_secs(3)),
        }
    }

    fn verdict(pods: &Pods, w: &Wait) -> String {
        message(judge(pods, w, &mut status::Settle::default()))
    }

    fn message(v: Option<Verdict>) -> String {
        match v {
            Some(Verdict::Done(Err(EdgeFailure::Failed(t)))) => t,
            Some(Verdict::Done(Err(EdgeFailure::NotCompleted(n)))) => format!("exit {n}"),
            Some(Verdict::Done(Ok(()))) => "ok".into(),
            Some(Verdict::Stuck { reason, .. }) => format!("stuck {reason}"),
            Some(Verdict::Done(Err(EdgeFailure::Cluster(e)))) => e.to_string(),
            None => "waiting".into(),
        }
    }

    #[test]
    fn judges_each_condition_like_compose() {
        let running = json!({"running": {"startedAt": "2020-01-01T00:00:00Z"}});
        let just_started = json!({"running": {"startedAt": "2999-01-01T00:00:00Z"}});
        let c = Condition::Started;
        assert_eq!(verdict(&pods(running.clone(), false, None), &wait(c)), "ok");
        let h = Condition::Healthy;
        assert_eq!(verdict(&pods(running.clone(), true, None), &wait(h)), "ok");
        assert_eq!(
            verdict(&pods(running.clone(), false, None), &wait(h)),
            "container db-1 is unhealthy"
        );
        assert_eq!(
            verdict(&pods(just_started, false, None), &wait(h)),
            "waiting"
        );
        let crash = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        let last = json!({"terminated": {"exitCode": 1}});
        assert_eq!(
            verdict(&pods(crash.clone(), false, Some(last)), &wait(h)),
            "container db-1 exited (1)"
        );
        assert_eq!(
            verdict(&pods(crash, false, None), &wait(c)),
            "stuck CrashLoopBackOff"
        );
        let done = |code: i32| json!({"terminated": {"exitCode": code}});
        let cs = Condition::CompletedSuccessfully;
        assert_eq!(verdict(&pods(done(0), false, None), &wait(cs)), "ok");
        assert_eq!(verdict(&pods(done(2), false, None), &wait(cs)), "exit 2");
        assert_eq!(verdict(&Pods::new(), &wait(cs)), "waiting");
    }
}
