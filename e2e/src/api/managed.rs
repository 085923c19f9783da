//! `metadata.managedFields`: which field manager owns which fields, in the `FieldsV1` format.
//!
//! A field path is a list of `FieldsV1` keys: `f:name` for a map field, `k:{"name":"web"}` for
//! an element of an associative list (by its list-map keys), and `.` for "the element itself".
//! Every write records ownership: an Update operation takes the fields it changed from other
//! managers; an Apply owns exactly the fields of the applied configuration (see `apply`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::store::timestamp;

/// A set of owned field paths.
pub type FieldSet = BTreeSet<Vec<String>>;

/// The keys of associative lists (the Kubernetes types' `listMapKey`s; the first is also the
/// strategic merge patch's `patchMergeKey`), by field name and, for `ports`, element shape.
pub fn list_keys(field: &str, element: &Value) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "ports" if element.get("containerPort").is_some() => &["containerPort", "protocol"],
        "ports" => &["port", "protocol"],
        _ => return None,
    })
}

/// The `k:{…}` key of a list element (protocol defaults to TCP, as the API server defaults it).
fn element_key(keys: &[&str], element: &Value) -> String {
    let mut map = Map::new();
    for key in keys {
        let value = match (element.get(*key), *key) {
            (Some(v), _) => v.clone(),
            (None, "protocol") => json!("TCP"),
            (None, _) => continue,
        };
        map.insert((*key).to_owned(), value);
    }
    format!("k:{}", Value::Object(map))
}

/// The fields set in `object` (top-level `apiVersion`, `kind`, server-owned metadata and,
/// unless `status_only`, `status` excluded; with `status_only`, just `status`).
pub fn fields_of(object: &Value, status_only: bool) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(map) = object.as_object() else {
        return set;
    };
    for (key, value) in map {
        let wanted = if status_only {
            key == "status"
        } else {
            !matches!(key.as_str(), "apiVersion" | "kind" | "status")
        };
        if !wanted {
            continue;
        }
        let path = vec![format!("f:{key}")];
        if key == "metadata" {
            let mut meta = value.clone();
            if let Some(m) = meta.as_object_mut() {
                for server in [
                    "name",
                    "namespace",
                    "uid",
                    "resourceVersion",
                    "generation",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "managedFields",
                    "selfLink",
                    "generateName",
                ] {
                    m.remove(server);
                }
            }
            if meta.as_object().is_some_and(|m| !m.is_empty()) {
                walk(&meta, &path, "metadata", &mut set);
            }
        } else {
            walk(value, &path, key, &mut set);
        }
    }
    set
}

fn walk(value: &Value, path: &[String], field: &str, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let mut p = path.to_vec();
                p.push(format!("f:{key}"));
                walk(child, &p, key, set);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_keys(field, &items[0]) {
            Some(keys) => {
                for item in items {
                    let mut p = path.to_vec();
                    p.push(element_key(keys, item));
                    let mut marker = p.clone();
                    marker.push(".".into());
                    set.insert(marker);
                    walk(item, &p, "", set);
                }
            }
            None => {
                set.insert(path.to_vec());
            }
        },
        _ => {
            set.insert(path.to_vec());
        }
    }
}

/// The value a path points at, if present.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = object;
    let mut field = "";
    for element in path {
        if element == "." {
            return Some(current);
        }
        if let Some(name) = element.strip_prefix("f:") {
            current = current.get(name)?;
            field = name;
        } else if let Some(key) = element.strip_prefix("k:") {
            let wanted: Value = serde_json::from_str(key).ok()?;
            let items = current.as_array()?;
            let keys = list_keys(field, items.first()?)?;
            current = items
                .iter()
                .find(|i| element_key(keys, i) == format!("k:{wanted}"))?;
        } else {
            return None;
        }
    }
    Some(current)
}

/// Removes the field (or list element, for a path ending in `.`) a path points at.
pub fn remove_path(object: &mut Value, path: &[String]) {
    let (last, parent) = match path.split_last() {
        Some((last, parent)) if last == "." => match parent.split_last() {
            Some((element, grand)) => (element, grand),
            None => return,
        },
        Some(split) => split,
        None => return,
    };
    let mut current = object;
    let mut field = String::new();
    for element in parent {
        let next = if let Some(name) = element.strip_prefix("f:") {
            field = name.to_owned();
            current.get_mut(name)
        } else if element.starts_with("k:") {
            let keys = current
                .as_array()
                .and_then(|i| i.first())
                .and_then(|f| list_keys(&field, f));
            match (keys, current.as_array_mut()) {
                (Some(keys), Some(items)) => {
                    items.iter_mut().find(|i| element_key(keys, i) == *element)
                }
                _ => None,
            }
        } else {
            None
        };
        match next {
            Some(n) => current = n,
            None => return,
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = current.as_object_mut() {
            map.remove(name);
        }
    } else if last.starts_with("k:") {
        let keys = current
            .as_array()
            .and_then(|i| i.first())
            .and_then(|f| list_keys(&field, f));
        if let (Some(keys), Some(items)) = (keys, current.as_array_mut()) {
            items.retain(|i| element_key(keys, i) != *last);
        }
    }
}

/// A field set in the `fieldsV1` wire form.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = json!({});
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node
                .as_object_mut()
                .expect("fieldsV1 nodes are objects")
                .entry(element.clone())
                .or_insert_with(|| json!({}));
        }
    }
    root
}

/// Reads a `fieldsV1` tree back into a set.
pub fn from_fields_v1(tree: &Value) -> FieldSet {
    fn visit(node: &Value, path: &mut Vec<String>, set: &mut FieldSet) {
        let Some(map) = node.as_object() else { return };
        for (key, child) in map {
            path.push(key.clone());
            if child.as_object().is_none_or(Map::is_empty) {
                set.insert(path.clone());
            } else {
                visit(child, path, set);
            }
            path.pop();
        }
    }
    let mut set = FieldSet::new();
    visit(tree, &mut Vec::new(), &mut set);
    set
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `manager`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// `apiVersion` the manager used.
    pub api_version: String,
    /// `subresource` (`""` or `status`).
    pub subresource: String,
    /// The owned fields.
    pub fields: FieldSet,
}

/// The entries of an object's `metadata.managedFields`.
pub fn entries(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: e["operation"].as_str().unwrap_or_default().to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            subresource: e["subresource"].as_str().unwrap_or_default().to_owned(),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

/// A copy of `object` without `metadata.managedFields` (to compare what an operation changed).
pub fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// Writes `entries` into the object's metadata (dropping empty ones), with a fresh time for
/// the entry of `touched` (manager, operation).
pub fn store_entries(object: &mut Value, entries: &[Entry], touched: (&str, &str)) {
    let now = timestamp();
    let old_times: Vec<(String, String, Value)> = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_owned(),
                e["operation"].as_str().unwrap_or_default().to_owned(),
                e["time"].clone(),
            )
        })
        .collect();
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let time = if (e.manager.as_str(), e.operation.as_str()) == touched {
                json!(now)
            } else {
                old_times
                    .iter()
                    .find(|(m, o, _)| *m == e.manager && *o == e.operation)
                    .map_or_else(|| json!(now), |(_, _, t)| t.clone())
            };
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    crate::store::metadata_mut(object).insert("managedFields".into(), Value::Array(list));
}

/// Records an Update-operation write by `manager`: it takes the fields whose values it
/// changed (or added); fields the object no longer has leave every manager.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
) {
    let status_only = subresource == "status";
    let new_fields = fields_of(new, status_only);
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    let mut list = old.map(entries).unwrap_or_default();
    for entry in &mut list {
        if entry.subresource == subresource {
            entry
                .fields
                .retain(|p| new_fields.contains(p) && !changed.contains(p));
        }
    }
    if changed.is_empty()
        && old.is_some_and(|o| without_managed_fields(o) == without_managed_fields(new))
    {
        // Nothing changed: ownership and times stay as they were.
        if let Some(m) = old.and_then(|o| o.pointer("/metadata/managedFields")) {
            crate::store::metadata_mut(new).insert("managedFields".into(), m.clone());
        }
        return;
    }
    if !changed.is_empty() {
        match list.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        }) {
            Some(entry) => entry.fields.extend(changed),
            None => list.push(Entry {
                manager: manager.to_owned(),
                operation: "Update".into(),
                api_version: api_version.to_owned(),
                subresource: subresource.to_owned(),
                fields: changed,
            }),
        }
    }
    store_entries(new, &list, (manager, "Update"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_fields_v1() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "web", "image": "busybox", "ports": [{"containerPort": 80}], "args": ["a"]}]}});
        let set = fields_of(&pod, false);
        let tree = to_fields_v1(&set);
        assert_eq!(
            tree["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]
                ["."],
            json!({})
        );
        assert_eq!(tree["f:metadata"]["f:labels"]["f:app"], json!({}));
        assert_eq!(from_fields_v1(&tree), set);
        let image = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(value_at(&pod, &image), Some(&json!("busybox")));
        let mut pod2 = pod.clone();
        remove_path(&mut pod2, &image);
        assert!(value_at(&pod2, &image).is_none());
    }
}
