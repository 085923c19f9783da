//! Server-side apply: merges an applied configuration into the live object, owns exactly the
//! applied fields for the field manager, removes fields the manager stopped applying, and
//! refuses (409) to take fields another manager owns with a different value unless forced.

use serde_json::Value;

use super::managed::{self, Entry, FieldSet};
use super::patch;
use super::status::{ApiError, Cause};

/// Decodes an apply body: YAML or JSON (JSON is YAML).
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("error decoding YAML: invalid UTF-8"))?;
    let value: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration must be an object",
        ));
    }
    Ok(value)
}

/// What an apply needs besides the objects.
pub struct ApplyRequest<'a> {
    /// The field manager (required by the API server for apply).
    pub manager: &'a str,
    /// Whether to take conflicting fields.
    pub force: bool,
    /// `v1`, `apps/v1`…, recorded in the managed fields entry.
    pub api_version: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
}

/// Applies `applied` onto `live` (or onto nothing, for create-on-apply); returns the new object
/// with its managed fields recorded. `applied` must already be checked for name and kind.
pub fn apply(
    live: Option<&Value>,
    mut applied: Value,
    req: &ApplyRequest,
) -> Result<Value, ApiError> {
    if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let status_only = req.subresource == "status";
    let fields = managed::fields_of(&applied, status_only);
    let Some(live) = live else {
        let mut object = applied;
        let entry = Entry {
            manager: req.manager.to_owned(),
            operation: "Apply".into(),
            api_version: req.api_version.to_owned(),
            subresource: req.subresource.to_owned(),
            fields,
        };
        managed::store_entries(&mut object, &[entry], (req.manager, "Apply"));
        return Ok(object);
    };
    let mut entries = managed::entries(live);
    let is_mine = |e: &Entry| {
        e.manager == req.manager && e.operation == "Apply" && e.subresource == req.subresource
    };
    let previous: FieldSet = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    // Conflicts: fields in the applied config another manager owns, with a different value.
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| !is_mine(e) && e.subresource == req.subresource)
    {
        for path in fields.intersection(&entry.fields) {
            if path.last().is_some_and(|l| l == ".") {
                continue;
            }
            if managed::value_at(live, path) != managed::value_at(&applied, path) {
                conflicts.push((describe(entry, live), dotted(path)));
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(conflict_error(&conflicts));
    }

    let mut object = live.clone();
    let mut applied_body = applied.clone();
    if let Some(meta) = applied_body
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        meta.remove("resourceVersion");
    }
    patch::strategic_merge(&mut object, &applied_body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;

    // With force the conflicting fields change hands.
    for entry in entries.iter_mut().filter(|e| !is_mine(e)) {
        entry
            .fields
            .retain(|p| !conflicts.iter().any(|(_, c)| *c == dotted(p)));
    }
    // Fields this manager applied before, no longer applies, and nobody else owns: removed.
    for path in previous.difference(&fields) {
        let owned_elsewhere = entries
            .iter()
            .any(|e| !is_mine(e) && e.fields.contains(path));
        if !owned_elsewhere {
            managed::remove_path(&mut object, path);
        }
    }
    let before = managed::entries(live);
    let position = entries.iter().position(is_mine);
    let mine = Entry {
        manager: req.manager.to_owned(),
        operation: "Apply".into(),
        api_version: req.api_version.to_owned(),
        subresource: req.subresource.to_owned(),
        fields,
    };
    match position {
        Some(i) => entries[i] = mine,
        None => entries.push(mine),
    }
    // An apply that changes neither the object nor who owns what is a no-op: the API server
    // keeps the object as it was (same resourceVersion, same managedFields times).
    if entries == before
        && managed::without_managed_fields(&object) == managed::without_managed_fields(live)
    {
        return Ok(live.clone());
    }
    managed::store_entries(&mut object, &entries, (req.manager, "Apply"));
    Ok(object)
}

/// `.spec.replicas`, `.spec.containers[name="web"].image`: how conflicts name fields.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let parsed: Value = serde_json::from_str(key).unwrap_or(Value::Null);
            let parts: Vec<String> = parsed
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    out
}

/// How a conflict names the other manager, as the API server prints it: `"name"` for an apply,
/// `"name" using v1 at <time>` for an update, with the subresource when there is one.
fn describe(entry: &Entry, live: &Value) -> String {
    let mut text = format!("{:?}", entry.manager);
    if !entry.subresource.is_empty() {
        text.push_str(&format!(" with subresource {:?}", entry.subresource));
    }
    if entry.operation == "Update" {
        text.push_str(&format!(" using {}", entry.api_version));
        let time = live["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["manager"] == entry.manager.as_str() && m["operation"] == "Update")
            .and_then(|m| m["time"].as_str());
        if let Some(time) = time {
            text.push_str(&format!(" at {time}"));
        }
    }
    text
}

/// The API server's apply-conflict Status; `conflicts` are (manager as [`describe`]d, field).
fn conflict_error(conflicts: &[(String, String)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(manager, field)| Cause {
            reason: "FieldManagerConflict",
            field: field.clone(),
            message: format!("conflict with {manager}"),
        })
        .collect();
    let why = match conflicts {
        [(manager, field)] => {
            format!("Apply failed with 1 conflict: conflict with {manager}: {field}")
        }
        many => {
            let mut text = format!("Apply failed with {} conflicts: ", many.len());
            let mut by_manager: Vec<&String> = many.iter().map(|(m, _)| m).collect();
            by_manager.dedup();
            for manager in by_manager {
                text.push_str(&format!("conflicts with {manager}:"));
                for (_, field) in many.iter().filter(|(m, _)| m == manager) {
                    text.push_str(&format!("\n- {field}"));
                }
            }
            text
        }
    };
    let causes: Vec<Value> = causes
        .iter()
        .map(|c| serde_json::json!({"reason": c.reason, "message": c.message, "field": c.field}))
        .collect();
    ApiError::new(409, "Conflict", why).with_details(serde_json::json!({ "causes": causes }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            manager,
            force,
            api_version: "v1",
            subresource: "",
        }
    }

    #[test]
    fn yaml_bodies_decode_with_yaml_1_1_scalars_as_the_api_server() {
        let v = decode(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n")
            .unwrap();
        assert_eq!(v["metadata"]["name"], "cm");
        // sigs.k8s.io/yaml reads YAML 1.1: an unquoted `y` is a boolean there too.
        assert_eq!(decode(b"a: y").unwrap()["a"], true);
        assert!(decode(b"- 1").is_err());
    }

    #[test]
    fn apply_owns_fields_and_conflicts_with_other_managers() {
        let first = apply(
            None,
            json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}),
            &req("one", false),
        )
        .unwrap();
        // Same value: shared ownership, no conflict.
        let shared = apply(
            Some(&first),
            json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
            &req("two", false),
        )
        .unwrap();
        let err = apply(
            Some(&shared),
            json!({"metadata": {"name": "c"}, "data": {"a": "9"}}),
            &req("two", false),
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .data.a"
        );
        let forced = apply(
            Some(&shared),
            json!({"metadata": {"name": "c"}, "data": {"a": "9"}}),
            &req("two", true),
        )
        .unwrap();
        assert_eq!(forced["data"]["a"], "9");
        // "one" stops applying b: it goes; a is owned by "two" now and stays.
        let pruned = apply(
            Some(&forced),
            json!({"metadata": {"name": "c"}}),
            &req("one", false),
        )
        .unwrap();
        assert_eq!(pruned["data"], json!({"a": "9"}));
    }
}
