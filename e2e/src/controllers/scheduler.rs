//! The scheduler: binds pending pods to the one node, or leaves them `Unschedulable` (with a
//! `FailedScheduling` Event) when the unschedulable fault matches or a claimed PVC is missing.

use serde_json::{Value, json};

use crate::sim::{EventType, NODE_NAME, Sim};
use crate::store::{str_at, timestamp};

/// One scheduling pass over the unbound pods.
pub fn reconcile(sim: &Sim) {
    let (pods, _) = sim.store.list("pods", None, |p| {
        str_at(p, "/spec/nodeName").is_empty() && p.pointer("/metadata/deletionTimestamp").is_none()
    });
    for pod in pods {
        let ns = str_at(&pod, "/metadata/namespace");
        let name = str_at(&pod, "/metadata/name");
        match unschedulable_reason(sim, &pod) {
            Some(message) => {
                let already = condition(&pod, "PodScheduled")
                    .is_some_and(|c| str_at(c, "/message") == message);
                if already {
                    continue;
                }
                let updated = sim.store.modify("pods", ns, name, |p| {
                    set_condition(p, json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": message, "lastProbeTime": null, "lastTransitionTime": timestamp()}));
                });
                if let Ok(pod) = updated {
                    sim.event(
                        &pod,
                        None,
                        EventType::Warning,
                        "FailedScheduling",
                        &message,
                        "default-scheduler",
                    );
                }
            }
            None => {
                let bound = sim.store.modify("pods", ns, name, |p| {
                    p["spec"]["nodeName"] = json!(NODE_NAME);
                    set_condition(
                        p,
                        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                        "lastTransitionTime": timestamp()}),
                    );
                });
                if let Ok(pod) = bound {
                    let message = format!("Successfully assigned {ns}/{name} to {NODE_NAME}");
                    sim.event(
                        &pod,
                        None,
                        EventType::Normal,
                        "Scheduled",
                        &message,
                        "default-scheduler",
                    );
                }
            }
        }
    }
}

/// Why the pod cannot be placed, in the scheduler's words, if it cannot.
fn unschedulable_reason(sim: &Sim, pod: &Value) -> Option<String> {
    let images = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .chain(pod["spec"]["initContainers"].as_array())
        .flatten()
        .map(|c| str_at(c, "/image"));
    if sim.faults.unschedulable(images) {
        return Some("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into());
    }
    let ns = str_at(pod, "/metadata/namespace");
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let claim = str_at(volume, "/persistentVolumeClaim/claimName");
        if claim.is_empty() {
            continue;
        }
        match sim.store.get("persistentvolumeclaims", ns, claim) {
            None => {
                return Some(format!(
                    "0/1 nodes are available: persistentvolumeclaim \"{claim}\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
                ));
            }
            Some(pvc) if pvc.pointer("/metadata/deletionTimestamp").is_some() => {
                return Some(format!(
                    "0/1 nodes are available: persistentvolumeclaim \"{claim}\" is being deleted. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
                ));
            }
            Some(pvc) if str_at(&pvc, "/status/phase") != "Bound" => {
                return Some("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into());
            }
            Some(_) => {}
        }
    }
    None
}

/// The pod condition of a type, if present.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| str_at(c, "/type") == kind)
}

/// Sets a condition by type, keeping `lastTransitionTime` when the status did not change.
pub fn set_condition(object: &mut Value, mut new: Value) {
    if !object["status"].is_object() {
        object["status"] = json!({});
    }
    let conditions = object["status"]
        .as_object_mut()
        .expect("just made an object")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("just made an array");
    let kind = str_at(&new, "/type").to_owned();
    match list.iter_mut().find(|c| str_at(c, "/type") == kind) {
        Some(existing) => {
            if existing["status"] == new["status"] {
                for field in ["lastTransitionTime", "lastProbeTime", "lastUpdateTime"] {
                    if existing.get(field).is_some() && new.get(field).is_some() {
                        new[field] = existing[field].clone();
                    }
                }
            }
            *existing = new;
        }
        None => list.push(new),
    }
}
