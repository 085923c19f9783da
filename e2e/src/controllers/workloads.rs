//! The Deployment and ReplicaSet controllers.
//!
//! A Deployment owns one ReplicaSet per pod template, named `<deployment>-<pod-template-hash>`;
//! the current one is scaled up to `spec.replicas` and older ones down to 0, step by step within
//! `maxSurge`/`maxUnavailable` (RollingUpdate), or old ones first (Recreate).
//! A ReplicaSet keeps `spec.replicas` live pods, labelled with the template's labels.

use serde_json::{Value, json};

use super::gc::{self, Propagation, controlled_by, controller_ref};
use super::scheduler::{condition, set_condition};
use crate::api::selector::LabelSelector;
use crate::sim::{EventType, Sim};
use crate::store::{str_at, timestamp};

/// One pass over Deployments and ReplicaSets.
pub fn reconcile(sim: &Sim) {
    let (deployments, _) = sim.store.list("deployments", None, |d| {
        d.pointer("/metadata/deletionTimestamp").is_none()
    });
    for deployment in deployments {
        deployment_pass(sim, &deployment);
    }
    let (sets, _) = sim.store.list("replicasets", None, |r| {
        r.pointer("/metadata/deletionTimestamp").is_none()
    });
    for set in sets {
        replicaset_pass(sim, &set);
    }
}

/// apimachinery's `SafeEncodeString`: digits mapped onto a vowel-free alphabet.
fn safe_encode(s: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a template: FNV-1a over its canonical JSON, safe-encoded.
pub fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    safe_encode(&hash.to_string())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn deployment_pass(sim: &Sim, deployment: &Value) {
    let ns = str_at(deployment, "/metadata/namespace");
    let name = str_at(deployment, "/metadata/name");
    let template = &deployment["spec"]["template"];
    let hash = template_hash(template);
    let replicas = int(&deployment["spec"]["replicas"]);
    let (owned, _) = sim
        .store
        .list("replicasets", Some(ns), |r| controlled_by(r, deployment));
    let revision = |r: &Value| {
        str_at(
            r,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .parse::<i64>()
        .unwrap_or(0)
    };
    let max_revision = owned.iter().map(revision).max().unwrap_or(0);
    let current = owned
        .iter()
        .find(|r| str_at(r, "/metadata/labels/pod-template-hash") == hash)
        .cloned();
    let paused = deployment["spec"]["paused"].as_bool() == Some(true);
    let mut created_new = false;
    let current = match current {
        Some(rs) => rs,
        None if paused => return,
        None => {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"] = labels.clone();
            let mut selector = deployment["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "namespace": ns,
                    "labels": labels,
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
                        "deployment.kubernetes.io/revision": (max_revision + 1).to_string(),
                    },
                    "ownerReferences": [controller_ref(deployment)],
                },
                // Created empty; the rollout below scales it up.
                "spec": {"replicas": 0, "minReadySeconds": int(&deployment["spec"]["minReadySeconds"]), "selector": selector, "template": rs_template},
                "status": {"replicas": 0},
            });
            let mut rs = rs;
            if int(&rs["spec"]["minReadySeconds"]) == 0
                && let Some(spec) = rs["spec"].as_object_mut()
            {
                spec.remove("minReadySeconds");
            }
            match sim.store.create("replicasets", rs) {
                Ok(rs) => {
                    created_new = true;
                    rs
                }
                Err(_) => return,
            }
        }
    };
    if !paused {
        let olds: Vec<&Value> = owned
            .iter()
            .filter(|r| str_at(r, "/metadata/name") != str_at(&current, "/metadata/name"))
            .collect();
        rollout(sim, deployment, &current, &olds, replicas);
    }
    // Status from the (fresh) ReplicaSets.
    let (owned, _) = sim
        .store
        .list("replicasets", Some(ns), |r| controlled_by(r, deployment));
    let sum = |field: &str| owned.iter().map(|r| int(&r["status"][field])).sum::<i64>();
    let new_rs = owned
        .iter()
        .find(|r| str_at(r, "/metadata/labels/pod-template-hash") == hash);
    let updated = new_rs.map_or(0, |r| int(&r["status"]["replicas"]));
    let (total, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let unavailable_ok = resolve(
        &deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        replicas,
        false,
    );
    let is_available = available >= replicas - unavailable_ok;
    let complete = updated == replicas && available == replicas && total == replicas;
    let rs_name = new_rs.map_or(String::new(), |r| str_at(r, "/metadata/name").to_owned());
    let now = timestamp();
    let _ = sim.store.modify("deployments", ns, name, |d| {
        let generation = d["metadata"]["generation"].clone();
        let status = &mut d["status"];
        if !status.is_object() {
            *status = json!({});
        }
        status["observedGeneration"] = generation;
        status["replicas"] = json!(total);
        status["updatedReplicas"] = json!(updated);
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(available);
        if total - available > 0 {
            status["unavailableReplicas"] = json!(total - available);
        } else if let Some(m) = status.as_object_mut() {
            m.remove("unavailableReplicas");
        }
        for zero in ["updatedReplicas", "readyReplicas", "availableReplicas"] {
            if status[zero] == json!(0)
                && let Some(m) = status.as_object_mut()
            {
                m.remove(zero);
            }
        }
        let (available_reason, available_message) = if is_available {
            ("MinimumReplicasAvailable", "Deployment has minimum availability.")
        } else {
            ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        };
        set_condition(d, json!({"type": "Available", "status": if is_available { "True" } else { "False" },
            "reason": available_reason, "message": available_message, "lastUpdateTime": now, "lastTransitionTime": now}));
        let (reason, message) = if complete {
            ("NewReplicaSetAvailable", format!("ReplicaSet \"{rs_name}\" has successfully progressed."))
        } else if created_new {
            ("NewReplicaSetCreated", format!("Created new replica set \"{rs_name}\""))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{rs_name}\" is progressing."))
        };
        let unchanged = condition(d, "Progressing").is_some_and(|c| str_at(c, "/reason") == reason);
        if !unchanged {
            set_condition(d, json!({"type": "Progressing", "status": "True", "reason": reason, "message": message,
                "lastUpdateTime": now, "lastTransitionTime": now}));
        }
        // Conditions sort as the controller writes them: Available, then Progressing.
        if let Some(list) = d["status"]["conditions"].as_array_mut() {
            list.sort_by_key(|c| str_at(c, "/type") != "Available");
        }
    });
}

/// `maxSurge`/`maxUnavailable`: an int, or a percentage of `replicas` (surge rounds up,
/// unavailability down, as the Deployment controller does); 25% when unset.
fn resolve(value: &Value, replicas: i64, round_up: bool) -> i64 {
    let percent = match value {
        Value::Number(n) => return n.as_i64().unwrap_or(0),
        Value::String(s) => s.trim_end_matches('%').parse::<i64>().unwrap_or(25),
        _ => 25,
    };
    if round_up {
        (replicas * percent + 99) / 100
    } else {
        replicas * percent / 100
    }
}

/// One step of the rollout to `new_rs`: RollingUpdate surges the new ReplicaSet up to
/// `replicas + maxSurge` pods in all, and scales old ones down (unavailable pods first) while
/// at least `replicas - maxUnavailable` stay available; Recreate stops the old pods first.
fn rollout(sim: &Sim, deployment: &Value, new_rs: &Value, olds: &[&Value], replicas: i64) {
    let strategy = &deployment["spec"]["strategy"];
    let old_total: i64 = olds.iter().map(|r| int(&r["spec"]["replicas"])).sum();
    if str_at(strategy, "/type") == "Recreate" {
        for old in olds {
            scale(sim, deployment, old, 0);
        }
        let old_pods: i64 = olds.iter().map(|r| int(&r["status"]["replicas"])).sum();
        if old_total == 0 && old_pods == 0 {
            scale(sim, deployment, new_rs, replicas);
        }
        return;
    }
    let rolling = &strategy["rollingUpdate"];
    let surge = resolve(&rolling["maxSurge"], replicas, true);
    let unavailable = resolve(&rolling["maxUnavailable"], replicas, false);
    let current_new = int(&new_rs["spec"]["replicas"]);
    let wanted_new = if current_new > replicas {
        replicas
    } else {
        (replicas + surge - old_total).clamp(current_new, replicas)
    };
    scale(sim, deployment, new_rs, wanted_new);
    let available: i64 = std::iter::once(new_rs)
        .chain(olds.iter().copied())
        .map(|r| int(&r["status"]["availableReplicas"]))
        .sum();
    let mut removable = (available - (replicas - unavailable)).max(0);
    for old in olds {
        let count = int(&old["spec"]["replicas"]);
        let unhealthy = (count - int(&old["status"]["availableReplicas"])).max(0);
        let remove = (unhealthy + removable).min(count);
        if remove > 0 {
            removable -= (remove - unhealthy).max(0);
            scale(sim, deployment, old, count - remove);
        }
    }
}

/// Sets a ReplicaSet's `spec.replicas` (with the Deployment's ScalingReplicaSet Event).
fn scale(sim: &Sim, deployment: &Value, rs: &Value, replicas: i64) {
    let from = int(&rs["spec"]["replicas"]);
    if from == replicas {
        return;
    }
    let ns = str_at(rs, "/metadata/namespace");
    let name = str_at(rs, "/metadata/name");
    if sim
        .store
        .modify("replicasets", ns, name, |r| {
            r["spec"]["replicas"] = json!(replicas);
            r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                json!(int(&deployment["spec"]["replicas"]).to_string());
        })
        .is_ok()
    {
        scaled_event(sim, deployment, name, from, replicas);
    }
}

/// The Deployment's `ScalingReplicaSet` Event.
fn scaled_event(sim: &Sim, deployment: &Value, set: &str, from: i64, to: i64) {
    let direction = if to > from { "up" } else { "down" };
    let message = format!("Scaled {direction} replica set {set} from {from} to {to}");
    sim.event(
        deployment,
        None,
        EventType::Normal,
        "ScalingReplicaSet",
        &message,
        "deployment-controller",
    );
}

fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| str_at(c, "/status") == "True")
}

fn replicaset_pass(sim: &Sim, rs: &Value) {
    let ns = str_at(rs, "/metadata/namespace");
    let name = str_at(rs, "/metadata/name");
    let Some(selector) = LabelSelector::from_object(&rs["spec"]["selector"]) else {
        return;
    };
    let (pods, _) = sim.store.list("pods", Some(ns), |p| {
        controlled_by(p, rs) && selector.matches(p)
    });
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| {
            let phase = str_at(p, "/status/phase");
            p.pointer("/metadata/deletionTimestamp").is_none()
                && phase != "Succeeded"
                && phase != "Failed"
        })
        .collect();
    // Failed pods of a ReplicaSet are replaced; the controller deletes them.
    for failed in pods
        .iter()
        .filter(|p| matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed"))
    {
        if failed.pointer("/metadata/deletionTimestamp").is_none() {
            let _ = gc::delete(
                &sim.store,
                "pods",
                ns,
                str_at(failed, "/metadata/name"),
                Propagation::Background,
                None,
            );
        }
    }
    let want = int(&rs["spec"]["replicas"]);
    let have = active.len() as i64;
    if have < want {
        for _ in have..want {
            create_pod(sim, rs, &format!("{name}-"), "replicaset-controller");
        }
    } else if have > want {
        let mut extra: Vec<&&Value> = active.iter().collect();
        // Not-ready and younger pods go first, as the controller ranks them.
        extra.sort_by_key(|p| {
            (
                is_ready(p),
                std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_owned()),
            )
        });
        for pod in extra.into_iter().take((have - want) as usize) {
            let pod_name = str_at(pod, "/metadata/name");
            if gc::delete(
                &sim.store,
                "pods",
                ns,
                pod_name,
                Propagation::Background,
                None,
            )
            .is_ok()
            {
                sim.event(
                    rs,
                    None,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pod_name}"),
                    "replicaset-controller",
                );
            }
        }
    }
    let (pods, _) = sim.store.list("pods", Some(ns), |p| {
        controlled_by(p, rs)
            && selector.matches(p)
            && p.pointer("/metadata/deletionTimestamp").is_none()
    });
    let live: Vec<&Value> = pods
        .iter()
        .filter(|p| !matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed"))
        .collect();
    let ready = live.iter().filter(|p| is_ready(p)).count();
    let _ = sim.store.modify("replicasets", ns, name, |r| {
        let generation = r["metadata"]["generation"].clone();
        let mut status = json!({
            "replicas": live.len(),
            "fullyLabeledReplicas": live.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": generation,
        });
        for zero in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if status[zero] == json!(0)
                && let Some(m) = status.as_object_mut()
            {
                m.remove(zero);
            }
        }
        r["status"] = status;
    });
}

/// Creates a pod from an owner's `spec.template`, owned by it, with a SuccessfulCreate Event.
pub fn create_pod(sim: &Sim, owner: &Value, generate_name: &str, component: &str) -> Option<Value> {
    let template = &owner["spec"]["template"];
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["generateName"] = json!(generate_name);
    metadata["namespace"] = owner["metadata"]["namespace"].clone();
    metadata["ownerReferences"] = json!([controller_ref(owner)]);
    if let Some(m) = metadata.as_object_mut() {
        m.remove("name");
        m.remove("creationTimestamp");
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"].clone()});
    crate::api::defaults::on_create("pods", &mut pod, &sim.store);
    crate::api::managed::record_update(None, &mut pod, "kube-controller-manager", "v1", "");
    match sim.store.create("pods", pod) {
        Ok(pod) => {
            let message = format!("Created pod: {}", str_at(&pod, "/metadata/name"));
            sim.event(
                owner,
                None,
                EventType::Normal,
                "SuccessfulCreate",
                &message,
                component,
            );
            Some(pod)
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hashes_are_stable_and_safe() {
        let a = template_hash(&json!({"spec": {"containers": [{"name": "c"}]}}));
        assert_eq!(
            a,
            template_hash(&json!({"spec": {"containers": [{"name": "c"}]}}))
        );
        assert_ne!(
            a,
            template_hash(&json!({"spec": {"containers": [{"name": "d"}]}}))
        );
        assert!(
            a.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }
}
