//! `docker compose config` output: key order of compose-go's types (maps sorted, structs in
//! field order), every `$` doubled, as YAML (default) or JSON.

use serde_json::{Map, Value};

use super::{Loaded, emit, layout};

/// The output format of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigFormat {
    /// YAML, compose's default.
    #[default]
    Yaml,
    /// compose-go's JSON model.
    Json,
}

/// Orders keys as compose-go marshals its model: maps sorted, structs in field order with
/// their extensions (`x-*`) last.
pub fn canonical_order(v: Value) -> Value {
    order(v, &mut Vec::new())
}

fn order(v: Value, path: &mut Vec<String>) -> Value {
    match v {
        Value::Object(map) => {
            let fields = layout::fields(path);
            let rank = |k: &str| -> (u8, usize) {
                let Some(fields) = fields else {
                    return (0, 0);
                };
                match (fields.iter().position(|x| *x == k), k.starts_with("x-")) {
                    (Some(i), _) => (0, i),
                    (None, false) => (1, 0),
                    (None, true) => (2, 0),
                }
            };
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, child)| {
                        path.push(k.clone());
                        let child = order(child, path);
                        path.pop();
                        (k, child)
                    })
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|child| {
                    path.push("[]".into());
                    let child = order(child, path);
                    path.pop();
                    child
                })
                .collect(),
        ),
        other => other,
    }
}

fn double_dollars(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(items) => Value::Array(items.iter().map(double_dollars).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.replace('$', "$$"), double_dollars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// compose-go's `Project.MarshalJSON` differs from its YAML: the top level is a Go map (keys
/// sorted, extensions among them, no models), the structs below drop their extensions, and
/// struct-typed fields (a network's `ipam`, `deploy.resources`/`placement`) are never omitted.
fn json_shape(model: Value) -> Value {
    let Value::Object(mut top) = model else {
        return model;
    };
    top.remove("models");
    match canonical_order(json_struct_fields(Value::Object(top), &mut Vec::new())) {
        Value::Object(top) => {
            let mut entries: Vec<(String, Value)> = top.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(entries.into_iter().collect())
        }
        other => other,
    }
}

/// Struct-typed fields `encoding/json` prints even when empty.
const ALWAYS_PRINTED: &[(&str, &str)] = &[
    ("networks.*", "ipam"),
    ("services.*.deploy", "resources"),
    ("services.*.deploy", "placement"),
];

fn json_struct_fields(v: Value, path: &mut Vec<String>) -> Value {
    match v {
        Value::Object(map) => {
            // the project keeps its extensions
            let is_struct = !path.is_empty() && layout::fields(path).is_some();
            let mut out: Map<String, Value> = map
                .into_iter()
                .filter(|(k, _)| !(is_struct && k.starts_with("x-")))
                .map(|(k, child)| {
                    path.push(k.clone());
                    let child = json_struct_fields(child, path);
                    path.pop();
                    (k, child)
                })
                .collect();
            for (pattern, field) in ALWAYS_PRINTED {
                let pattern: Vec<&str> = pattern.split('.').collect();
                if super::merge::path_matches(&pattern, path) && !out.contains_key(*field) {
                    out.insert((*field).to_string(), Value::Object(Map::new()));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|child| {
                    path.push("[]".into());
                    let child = json_struct_fields(child, path);
                    path.pop();
                    child
                })
                .collect(),
        ),
        other => other,
    }
}

/// Go's `encoding/json` escapes HTML-sensitive characters and line separators, which can
/// only occur inside strings.
fn go_json(text: String) -> String {
    let escaped = |c: char| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
    if !text.contains(escaped) {
        return text;
    }
    text.chars()
        .map(|c| {
            if escaped(c) {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Fields docker compose leaves out of a service's config hash: those that change nothing
/// in the container (`ServiceHash`).
const NOT_HASHED: &[&str] = &["build", "pull_policy", "scale", "depends_on", "profiles"];

/// docker compose's config hash of a service (`config --hash`): the SHA-256 of the service's
/// compact JSON without what [`NOT_HASHED`] lists and without `deploy.replicas`.
pub fn service_hash(name: &str, svc: &Value) -> String {
    let mut path = vec!["services".to_string(), name.to_string()];
    let mut shaped = order(json_struct_fields(svc.clone(), &mut path), &mut path);
    if let Value::Object(fields) = &mut shaped {
        fields.retain(|k, _| !NOT_HASHED.contains(&k.as_str()));
        if let Some(Value::Object(deploy)) = fields.get_mut("deploy") {
            deploy.shift_remove("replicas");
        }
    }
    let text = go_json(serde_json::to_string(&shaped).unwrap_or_default());
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `docker compose config` output for a loaded project.
pub fn render(loaded: &Loaded, format: ConfigFormat) -> String {
    let model = double_dollars(&loaded.model);
    match format {
        ConfigFormat::Json => {
            let model = json_shape(model);
            // compose prints its JSON without a final newline
            go_json(serde_json::to_string_pretty(&model).unwrap_or_default())
        }
        ConfigFormat::Yaml => {
            let mut model = model;
            // compose's YAML omits an unset command/entrypoint (its JSON prints null)
            if let Some(Value::Object(services)) = model.get_mut("services") {
                for svc in services.values_mut().filter_map(Value::as_object_mut) {
                    svc.retain(|k, v| !(v.is_null() && (k == "command" || k == "entrypoint")));
                }
            }
            emit::document(&model)
        }
    }
}

/// `config --no-interpolate`'s output: compose prints its map model as Go encodes a map
/// (keys sorted at every level), templates and `$$` as written.
pub fn raw(model: &Value, format: ConfigFormat) -> String {
    let model = sorted(model.clone());
    match format {
        ConfigFormat::Json => go_json(serde_json::to_string_pretty(&model).unwrap_or_default()),
        ConfigFormat::Yaml => emit::document(&model),
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loaded(model: Value) -> Loaded {
        Loaded::of(model)
    }

    #[test]
    fn order_follows_compose_types() {
        let v = canonical_order(
            json!({"services": {"b": {"ports": [{"protocol": "tcp", "target": 80, "mode": "ingress"}]}, "a": {}}, "x-e": 1, "name": "p"}),
        );
        assert_eq!(
            serde_json::to_string(&v).ok().as_deref(),
            Some(
                r#"{"name":"p","services":{"a":{},"b":{"ports":[{"mode":"ingress","target":80,"protocol":"tcp"}]}},"x-e":1}"#
            )
        );
    }

    #[test]
    fn raw_model_sorts_every_map_and_keeps_templates() {
        let model =
            json!({"services": {"a": {"image": "x:${T}", "environment": ["A=$$b"]}}, "name": "p"});
        assert_eq!(
            raw(&model, ConfigFormat::Yaml),
            "name: p\nservices:\n  a:\n    environment:\n      - A=$$b\n    image: x:${T}\n"
        );
        assert!(raw(&model, ConfigFormat::Json).ends_with('}'));
    }

    #[test]
    fn yaml_and_json_double_dollars() {
        let l = loaded(
            json!({"name": "p", "services": {"a": {"entrypoint": null, "command": ["echo", "$HOME"], "environment": {"A": "1", "B": null, "C": "x: y"}, "ports": [{"mode": "ingress", "target": 80}]}}}),
        );
        let yaml = render(&l, ConfigFormat::Yaml);
        assert_eq!(
            yaml,
            "name: p\nservices:\n  a:\n    command:\n      - echo\n      - $$HOME\n    environment:\n      A: \"1\"\n      B: null\n      C: 'x: y'\n    ports:\n      - mode: ingress\n        target: 80\n"
        );
        let block = loaded(json!({"x": "FROM a\nRUN b\n", "z": "one\ntwo"}));
        assert_eq!(
            render(&block, ConfigFormat::Yaml),
            "x: |\n  FROM a\n  RUN b\nz: |-\n  one\n  two\n"
        );
        let json = render(&l, ConfigFormat::Json);
        assert!(json.contains("\"$$HOME\"") && json.contains("\"entrypoint\": null"));
        let keys = loaded(json!({"services": {"a": {"environment": {"$K": "$v"}}}}));
        assert!(render(&keys, ConfigFormat::Json).contains("\"$$K\": \"$$v\""));
    }
}
