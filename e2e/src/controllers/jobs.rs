//! The Job controller and the TTL-after-finished controller.
//!
//! Pods are created from the template (labels `batch.kubernetes.io/job-name`,
//! `batch.kubernetes.io/controller-uid`, …, finalizer `batch.kubernetes.io/job-tracking`) while
//! fewer than `parallelism` are active and completions are missing; failed pods are retried
//! after the controller's backoff (10 s, doubling) until `backoffLimit` is exceeded. Finished pods are
//! counted into `status.succeeded`/`failed` and released from the tracking finalizer. Ends with
//! `SuccessCriteriaMet` + `Complete`, or `FailureTarget` + `Failed` (`BackoffLimitExceeded`,
//! `DeadlineExceeded`), as 1.32 writes them.

use std::time::Duration;

use serde_json::{Value, json};

use super::gc::{self, Propagation, controlled_by, remove_finalizer};
use super::scheduler::{condition, set_condition};
use super::workloads::create_pod;
use crate::sim::{EventType, Sim};
use crate::store::{str_at, timestamp};

/// The finalizer that keeps a Job's pods until the controller has counted them.
const TRACKING: &str = "batch.kubernetes.io/job-tracking";

/// The Job controller's first retry delay after a failed pod; it doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_secs(10);

/// The cap on that delay.
const BACKOFF_MAX: Duration = Duration::from_secs(360);

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn finished(job: &Value) -> bool {
    ["Complete", "Failed"]
        .iter()
        .any(|t| condition(job, t).is_some_and(|c| str_at(c, "/status") == "True"))
}

fn seconds_since(time: &str) -> Option<i64> {
    time.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| jiff::Timestamp::now().duration_since(t).as_secs())
}

/// One pass over the Jobs.
pub fn reconcile(sim: &Sim) {
    release_orphans(sim);
    let (jobs, _) = sim.store.list("jobs", None, |_| true);
    for job in jobs {
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            release_pods(sim, &job);
            continue;
        }
        if finished(&job) {
            release_pods(sim, &job);
            expire(sim, &job);
        } else {
            job_pass(sim, &job);
        }
    }
}

fn pods_of(sim: &Sim, job: &Value) -> Vec<Value> {
    let ns = str_at(job, "/metadata/namespace");
    sim.store
        .list("pods", Some(ns), |p| controlled_by(p, job))
        .0
}

fn terminal(pod: &Value) -> Option<bool> {
    match str_at(pod, "/status/phase") {
        "Succeeded" => Some(true),
        "Failed" => Some(false),
        _ => None,
    }
}

/// Counts finished pods into the Job's status and drops their tracking finalizers.
fn release_pods(sim: &Sim, job: &Value) -> (i64, i64) {
    let ns = str_at(job, "/metadata/namespace");
    let (mut succeeded, mut failed) = (0, 0);
    for pod in pods_of(sim, job) {
        let has_tracking = pod["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == TRACKING));
        let outcome = terminal(&pod).or_else(|| {
            // A pod deleted before it finished counts as failed once it is going away.
            pod.pointer("/metadata/deletionTimestamp").map(|_| false)
        });
        if let (true, Some(ok)) = (has_tracking, outcome) {
            if ok {
                succeeded += 1
            } else {
                failed += 1
            }
            let _ = sim
                .store
                .modify("pods", ns, str_at(&pod, "/metadata/name"), |p| {
                    remove_finalizer(p, TRACKING)
                });
        }
    }
    if succeeded + failed > 0 {
        let _ = sim
            .store
            .modify("jobs", ns, str_at(job, "/metadata/name"), |j| {
                j["status"]["succeeded"] = json!(int(&j["status"]["succeeded"]) + succeeded);
                j["status"]["failed"] = json!(int(&j["status"]["failed"]) + failed);
            });
    }
    (succeeded, failed)
}

/// Pods whose Job is gone (deleted, or orphaned them) lose the tracking finalizer, so that
/// nothing holds them any more.
fn release_orphans(sim: &Sim) {
    let tracked = |p: &Value| {
        p["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == TRACKING))
    };
    let (pods, _) = sim.store.list("pods", None, tracked);
    for pod in pods {
        let ns = str_at(&pod, "/metadata/namespace");
        let owner = pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["controller"].as_bool() == Some(true) && str_at(r, "/kind") == "Job");
        let job_alive = owner.is_some_and(|r| {
            sim.store
                .get("jobs", ns, str_at(r, "/name"))
                .is_some_and(|j| str_at(&j, "/metadata/uid") == str_at(r, "/uid"))
        });
        if !job_alive {
            let _ = sim
                .store
                .modify("pods", ns, str_at(&pod, "/metadata/name"), |p| {
                    remove_finalizer(p, TRACKING)
                });
        }
    }
}

fn job_pass(sim: &Sim, job: &Value) {
    let ns = str_at(job, "/metadata/namespace");
    let name = str_at(job, "/metadata/name");
    release_pods(sim, job);
    let Some(job) = sim.store.get("jobs", ns, name) else {
        return;
    };
    let pods = pods_of(sim, &job);
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| terminal(p).is_none() && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let succeeded = int(&job["status"]["succeeded"]);
    let failed = int(&job["status"]["failed"]);
    let completions = job["spec"]["completions"].as_i64();
    let parallelism = int(&job["spec"]["parallelism"]);
    let backoff_limit = int(&job["spec"]["backoffLimit"]);
    let suspended = job["spec"]["suspend"].as_bool() == Some(true);
    let now = timestamp();

    if job["status"]["startTime"].is_null() && !suspended {
        let _ = sim
            .store
            .modify("jobs", ns, name, |j| j["status"]["startTime"] = json!(now));
    }
    let deadline_hit = job["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|limit| {
            seconds_since(str_at(&job, "/status/startTime")).is_some_and(|elapsed| elapsed >= limit)
        });
    let failure = if failed > backoff_limit {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline_hit {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    let done = completions.map_or(succeeded > 0 && active.is_empty(), |c| succeeded >= c);
    if let Some((reason, message)) = failure {
        conclude(
            sim,
            &job,
            &active,
            ["FailureTarget", "Failed"],
            reason,
            message,
        );
        sim.event(
            &job,
            None,
            EventType::Warning,
            reason,
            message,
            "job-controller",
        );
        return;
    }
    if done {
        let message = "Reached expected number of succeeded pods";
        conclude(
            sim,
            &job,
            &active,
            ["SuccessCriteriaMet", "Complete"],
            "CompletionsReached",
            message,
        );
        sim.event(
            &job,
            None,
            EventType::Normal,
            "Completed",
            "Job completed",
            "job-controller",
        );
        return;
    }
    if suspended {
        return;
    }
    // Backoff after failures: no new pod until the delay since the last failure passed.
    let in_backoff = failed > 0 && {
        let delay = BACKOFF_BASE
            .saturating_mul(1 << (failed - 1).min(6) as u32)
            .min(BACKOFF_MAX);
        let last_failure = pods
            .iter()
            .filter(|p| terminal(p) == Some(false))
            .filter_map(|p| {
                p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"].as_str()
            })
            .filter_map(seconds_since)
            .min();
        last_failure.is_some_and(|since| since < delay.as_secs() as i64)
    };
    let remaining = completions.map_or(1, |c| c - succeeded);
    let wanted = parallelism.min(remaining).max(0);
    if !in_backoff {
        for _ in (active.len() as i64)..wanted {
            create_job_pod(sim, &job);
        }
    }
    let pods = pods_of(sim, &job);
    let active_now = pods
        .iter()
        .filter(|p| terminal(p).is_none() && p.pointer("/metadata/deletionTimestamp").is_none())
        .count();
    let ready = pods
        .iter()
        .filter(|p| condition(p, "Ready").is_some_and(|c| str_at(c, "/status") == "True"))
        .count();
    let terminating = pods
        .iter()
        .filter(|p| terminal(p).is_none() && p.pointer("/metadata/deletionTimestamp").is_some())
        .count();
    let _ = sim.store.modify("jobs", ns, name, |j| {
        j["status"]["active"] = json!(active_now);
        j["status"]["ready"] = json!(ready);
        j["status"]["terminating"] = json!(terminating);
        j["status"]["uncountedTerminatedPods"] = json!({});
        remove_zero(j, "active");
    });
}

/// Ends a Job: stops its active pods and sets the interim and the final condition (and the
/// completion time for `Complete`), as 1.32's controller does.
fn conclude(
    sim: &Sim,
    job: &Value,
    active: &[&Value],
    kinds: [&str; 2],
    reason: &str,
    message: &str,
) {
    let ns = str_at(job, "/metadata/namespace");
    for pod in active {
        let name = str_at(pod, "/metadata/name");
        let _ = gc::delete(&sim.store, "pods", ns, name, Propagation::Background, None);
    }
    let now = timestamp();
    let _ = sim
        .store
        .modify("jobs", ns, str_at(job, "/metadata/name"), |j| {
            for kind in kinds {
                set_condition(
                    j,
                    json!({"type": kind, "status": "True", "reason": reason, "message": message,
                "lastProbeTime": now, "lastTransitionTime": now}),
                );
            }
            if kinds[1] == "Complete" {
                j["status"]["completionTime"] = json!(now);
            }
            j["status"]["active"] = json!(0);
            remove_zero(j, "active");
        });
}

fn remove_zero(job: &mut Value, field: &str) {
    if job["status"][field] == json!(0)
        && let Some(m) = job["status"].as_object_mut()
    {
        m.remove(field);
    }
}

fn create_job_pod(sim: &Sim, job: &Value) {
    let name = str_at(job, "/metadata/name");
    let mut owner = job.clone();
    let finalizers = &mut owner["spec"]["template"]["metadata"]["finalizers"];
    *finalizers = json!([TRACKING]);
    create_pod(sim, &owner, &format!("{name}-"), "job-controller");
}

/// `ttlSecondsAfterFinished`: a finished Job is deleted (foreground) once the TTL passed.
fn expire(sim: &Sim, job: &Value) {
    let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_i64() else {
        return;
    };
    let finished_at = ["Complete", "Failed"]
        .iter()
        .filter_map(|t| condition(job, t))
        .map(|c| str_at(c, "/lastTransitionTime"))
        .find(|t| !t.is_empty())
        .unwrap_or("");
    if seconds_since(finished_at).is_some_and(|elapsed| elapsed >= ttl) {
        let ns = str_at(job, "/metadata/namespace");
        let _ = gc::delete(
            &sim.store,
            "jobs",
            ns,
            str_at(job, "/metadata/name"),
            Propagation::Foreground,
            None,
        );
    }
}
