//! The event recorder (`Sim::event`): core/v1 Events about objects, deduplicated like
//! client-go's recorder.

use serde_json::{Value, json};

use crate::sim::{EventType, Sim};
use crate::store::{str_at, timestamp};

impl Sim {
    /// Records a core/v1 Event about `involved` (any stored object), so that `kubectl describe`
    /// and krun can show it. A repeat of the same reason and message on the same object bumps
    /// `count` and `lastTimestamp`, as client-go's recorder does. `field_path` names the
    /// container for kubelet events (`spec.containers{web}`); `component` is the reporter
    /// (`kubelet`, `default-scheduler`, `deployment-controller`…).
    pub fn event(
        &self,
        involved: &Value,
        field_path: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let store = &self.store;
        let namespace = match str_at(involved, "/metadata/namespace") {
            "" => "default",
            ns => ns,
        };
        let name = str_at(involved, "/metadata/name");
        let uid = str_at(involved, "/metadata/uid");
        let field_path = field_path.unwrap_or("");
        let now = timestamp();
        let (existing, _) = store.list("events", Some(namespace), |e| {
            str_at(e, "/involvedObject/uid") == uid
                && str_at(e, "/involvedObject/fieldPath") == field_path
                && str_at(e, "/reason") == reason
                && str_at(e, "/message") == message
        });
        if let Some(event) = existing.first() {
            let updated = store.modify("events", namespace, str_at(event, "/metadata/name"), |e| {
                let count = e["count"].as_i64().unwrap_or(1);
                e["count"] = json!(count + 1);
                e["lastTimestamp"] = json!(now);
            });
            if updated.is_ok() {
                return;
            }
        }
        let mut involved_object = json!({
            "kind": involved["kind"],
            "namespace": str_at(involved, "/metadata/namespace"),
            "name": name,
            "uid": uid,
            "apiVersion": involved["apiVersion"],
            "resourceVersion": str_at(involved, "/metadata/resourceVersion"),
        });
        if !field_path.is_empty() {
            involved_object["fieldPath"] = json!(field_path);
        }
        let kind = match kind {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let host = if component == "kubelet" {
            json!({"component": component, "host": crate::sim::NODE_NAME})
        } else {
            json!({"component": component})
        };
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                // client-go names events `<object>.<unix nanos in hex>`.
                "name": format!("{name}.{:x}", jiff::Timestamp::now().as_nanosecond()),
                "namespace": namespace,
            },
            "involvedObject": involved_object,
            "reason": reason,
            "message": message,
            "source": host,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": kind,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": if component == "kubelet" { crate::sim::NODE_NAME } else { "" },
        });
        // Two identical nanosecond names are practically impossible; a clash just drops the event.
        let _ = store.create("events", event);
    }
}
