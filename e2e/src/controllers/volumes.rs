//! The PVC binder and PVC protection: claims bind at once to a pretend volume `pvc-<uid>`
//! (no PersistentVolume objects), and a deleted claim goes only when no pod uses it.

use serde_json::json;

use super::gc::{add_finalizer, remove_finalizer};
use crate::sim::{EventType, Sim};
use crate::store::str_at;

/// The finalizer the API server's admission puts on every claim.
const PROTECTION: &str = "kubernetes.io/pvc-protection";

/// The provisioner named in the claims' annotations (kind's, which kube-sim imitates).
const PROVISIONER: &str = "rancher.io/local-path";

/// One pass over the claims.
pub fn reconcile(sim: &Sim) {
    let (claims, _) = sim.store.list("persistentvolumeclaims", None, |_| true);
    for claim in claims {
        let ns = str_at(&claim, "/metadata/namespace");
        let name = str_at(&claim, "/metadata/name");
        if claim.pointer("/metadata/deletionTimestamp").is_some() {
            let (users, _) = sim.store.list("pods", Some(ns), |p| {
                let phase = str_at(p, "/status/phase");
                phase != "Succeeded"
                    && phase != "Failed"
                    && p["spec"]["volumes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| str_at(v, "/persistentVolumeClaim/claimName") == name)
            });
            if users.is_empty() {
                let _ = sim.store.modify("persistentvolumeclaims", ns, name, |c| {
                    remove_finalizer(c, PROTECTION)
                });
            }
            continue;
        }
        if str_at(&claim, "/status/phase") == "Bound" {
            continue;
        }
        let volume = format!("pvc-{}", str_at(&claim, "/metadata/uid"));
        let bound = sim.store.modify("persistentvolumeclaims", ns, name, |c| {
            add_finalizer(c, PROTECTION);
            let annotations = &mut c["metadata"]["annotations"];
            if !annotations.is_object() {
                *annotations = json!({});
            }
            for (k, v) in [
                ("pv.kubernetes.io/bind-completed", "yes"),
                ("pv.kubernetes.io/bound-by-controller", "yes"),
                ("volume.beta.kubernetes.io/storage-provisioner", PROVISIONER),
                ("volume.kubernetes.io/storage-provisioner", PROVISIONER),
            ] {
                annotations[k] = json!(v);
            }
            c["spec"]["volumeName"] = json!(volume);
            let storage = c["spec"]["resources"]["requests"]["storage"].clone();
            c["status"] = json!({
                "phase": "Bound",
                "accessModes": c["spec"]["accessModes"].clone(),
                "capacity": {"storage": storage},
            });
        });
        if let Ok(claim) = bound {
            let message = format!("Successfully provisioned volume {volume}");
            sim.event(
                &claim,
                None,
                EventType::Normal,
                "ProvisioningSucceeded",
                &message,
                PROVISIONER,
            );
        }
    }
}
