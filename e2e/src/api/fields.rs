//! Field validation (`fieldValidation=Strict|Warn|Ignore`): fields the API types do not declare.
//!
//! kubectl sends `fieldValidation=Strict` on create and apply; the API server then refuses an
//! object with an unknown field (`strict decoding error: unknown field "spec.replica"`), and
//! by default (`Warn`) answers with a `Warning` header. kube-sim finds unknown fields by
//! decoding the object into its k8s-openapi type and comparing what survives the round trip.

use k8s_openapi::api::{apps, batch, core};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::resources::Resource;
use super::status::ApiError;

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// The object as its API type reads it, or why it does not decode; `None` for resources
/// without a typed form here.
fn typed(resource: &str, object: &Value) -> Option<Result<Value, String>> {
    Some(match resource {
        "pods" => round_trip::<core::v1::Pod>(object),
        "services" => round_trip::<core::v1::Service>(object),
        "configmaps" => round_trip::<core::v1::ConfigMap>(object),
        "secrets" => round_trip::<core::v1::Secret>(object),
        "persistentvolumeclaims" => round_trip::<core::v1::PersistentVolumeClaim>(object),
        "namespaces" => round_trip::<core::v1::Namespace>(object),
        "events" => round_trip::<core::v1::Event>(object),
        "nodes" => round_trip::<core::v1::Node>(object),
        "serviceaccounts" => round_trip::<core::v1::ServiceAccount>(object),
        "resourcequotas" => round_trip::<core::v1::ResourceQuota>(object),
        "limitranges" => round_trip::<core::v1::LimitRange>(object),
        "deployments" => round_trip::<apps::v1::Deployment>(object),
        "replicasets" => round_trip::<apps::v1::ReplicaSet>(object),
        "jobs" => round_trip::<batch::v1::Job>(object),
        _ => return None,
    })
}

/// Whether any `resources.requests`/`limits` value (anywhere in the object) is not a quantity.
fn has_bad_quantity(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, child)| {
            let bad_here = key == "resources"
                && ["requests", "limits"].iter().any(|kind| {
                    child[kind].as_object().is_some_and(|m| {
                        m.values().any(|q| super::validation::quantity(q).is_none())
                    })
                });
            bad_here || has_bad_quantity(child)
        }),
        Value::Array(items) => items.iter().any(has_bad_quantity),
        _ => false,
    }
}

fn unknown(input: &Value, output: &Value, path: &str, found: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            // Status is the controllers' and the kubelet's; clients only echo it back.
            for (key, value) in a
                .iter()
                .filter(|(k, _)| !(path.is_empty() && *k == "status"))
            {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    Some(other) => unknown(value, other, &child, found),
                    None if !value.is_null() => found.push(child),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                unknown(x, y, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Checks `object` (a whole object a client sent: create, update, apply; its `status` aside)
/// per the request's `fieldValidation` directive; returns the warnings to send
/// (for `Warn`, the default) or the 400 a strict request gets.
pub fn check(
    resource: &Resource,
    object: &Value,
    directive: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    // The API server's decoding errors all open with this.
    let prefix = format!(
        "{} in version {:?} cannot be handled as a {}",
        resource.kind, resource.version, resource.kind
    );
    let directive = directive.filter(|d| !d.is_empty()).unwrap_or("Warn");
    if !matches!(directive, "Strict" | "Warn" | "Ignore") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {directive:?}"
        )));
    }
    let Some(decoded) = typed(resource.plural, object) else {
        return Ok(Vec::new());
    };
    let decoded = decoded.map_err(|e| ApiError::bad_request(format!("{prefix}: {e}")))?;
    if has_bad_quantity(object) {
        return Err(ApiError::bad_request(format!(
            "{prefix}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )));
    }
    let mut found = Vec::new();
    unknown(object, &decoded, "", &mut found);
    let messages: Vec<String> = found
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    match directive {
        "Strict" if !messages.is_empty() => Err(ApiError::bad_request(format!(
            "{prefix}: strict decoding error: {}",
            messages.join(", ")
        ))),
        "Ignore" => Ok(Vec::new()),
        _ => Ok(messages),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::by_plural;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named_by_path() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "Always"}], "restartPolicy": "Never"}});
        let pods = by_plural("pods").unwrap();
        let err = check(pods, &pod, Some("Strict")).unwrap_err();
        assert_eq!(
            err.message,
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagePullPolcy\""
        );
        assert_eq!(
            check(pods, &pod, None).unwrap(),
            vec!["unknown field \"spec.containers[0].imagePullPolcy\"".to_string()]
        );
        assert!(check(pods, &pod, Some("Ignore")).unwrap().is_empty());
        let fine = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}});
        assert!(
            check(by_plural("deployments").unwrap(), &fine, Some("Strict"))
                .unwrap()
                .is_empty()
        );
    }
}
