//! `docker compose config` output: key order of compose-go's types (maps sorted, structs in
//! field order), every `$` doubled, as YAML (default) or JSON.

use serde_json::{Map, Value};

use super::Loaded;

/// The output format of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigFormat {
    /// YAML, compose's default.
    #[default]
    Yaml,
    /// compose-go's JSON model.
    Json,
}

/// Field orders of compose-go structs whose order differs from alphabetical.
const STRUCT_ORDERS: &[(&[&str], &[&str])] = &[
    (
        &[],
        &[
            "name", "services", "networks", "volumes", "secrets", "configs", "models",
        ],
    ),
    (
        &["services", "*", "ports", "[]"],
        &[
            "name",
            "mode",
            "host_ip",
            "target",
            "published",
            "protocol",
            "app_protocol",
        ],
    ),
    (
        &["services", "*", "volumes", "[]"],
        &[
            "type",
            "source",
            "target",
            "read_only",
            "consistency",
            "bind",
            "volume",
            "tmpfs",
            "image",
        ],
    ),
    (
        &["services", "*", "depends_on", "*"],
        &["condition", "restart", "required"],
    ),
];

/// Orders keys as compose-go marshals its model: maps sorted, known structs in field order,
/// extensions (`x-*`) last.
pub fn canonical_order(v: Value) -> Value {
    order(v, &mut Vec::new())
}

fn order(v: Value, path: &mut Vec<String>) -> Value {
    match v {
        Value::Object(map) => {
            let fields = STRUCT_ORDERS
                .iter()
                .find(|(p, _)| super::merge::path_matches(p, path))
                .map(|(_, f)| *f);
            let rank = |k: &str| -> (u8, usize) {
                let pos = fields.and_then(|f| f.iter().position(|x| *x == k));
                match (pos, k.starts_with("x-")) {
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
                .map(|(k, v)| (k.clone(), double_dollars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `docker compose config` output for a loaded project.
pub fn render(loaded: &Loaded, format: ConfigFormat) -> String {
    let model = double_dollars(&loaded.model);
    match format {
        ConfigFormat::Json => {
            let mut s = serde_json::to_string_pretty(&model).unwrap_or_default();
            s.push('\n');
            s
        }
        ConfigFormat::Yaml => {
            let mut model = model;
            // compose's YAML omits an unset command/entrypoint (its JSON prints null)
            if let Some(Value::Object(services)) = model.get_mut("services") {
                for svc in services.values_mut().filter_map(Value::as_object_mut) {
                    svc.retain(|k, v| !(v.is_null() && (k == "command" || k == "entrypoint")));
                }
            }
            let mut out = String::new();
            emit(&model, 0, &mut out);
            out
        }
    }
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.push_str(&pad);
                out.push_str(&scalar_string(k));
                out.push(':');
                emit_child(child, indent, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                out.push_str(&pad);
                out.push('-');
                match child {
                    Value::Object(m) if !m.is_empty() => {
                        let mut nested = String::new();
                        emit(child, indent + 2, &mut nested);
                        out.push(' ');
                        out.push_str(nested.trim_start());
                    }
                    _ => emit_child(child, indent, out),
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn emit_child(child: &Value, indent: usize, out: &mut String) {
    match child {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(child, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(child, indent + 2, out);
        }
        Value::String(s) if block_friendly(s) => {
            // multi-line text as a literal block, as compose prints it
            out.push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
            let pad = " ".repeat(indent + 2);
            for line in s.lines() {
                if !line.is_empty() {
                    out.push_str(&pad);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_text(other));
            out.push('\n');
        }
    }
}

/// Whether a string can be printed as a literal block: several lines, no other control
/// characters, no leading space or blank first line, at most one trailing newline.
fn block_friendly(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s.lines().any(|l| l.ends_with(' '))
        && !s.chars().any(|c| c.is_control() && c != '\n')
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A YAML scalar for `s`, quoted when it would otherwise read back as something else.
fn scalar_string(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let indicator = |c: char| "-?:".contains(c);
    let ambiguous = matches!(
        lower.as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || s.parse::<f64>().is_ok()
        || s.starts_with(|c: char| ",[]{}#&*!|>'\"%@` \t".contains(c))
        // `-`, `?` and `:` only start a structure when followed by a space (or alone)
        || (s.starts_with(indicator) && s.chars().nth(1).is_none_or(|c| c == ' '))
        || s.ends_with([' ', ':', '\t'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(char::is_control);
    if ambiguous {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loaded(model: Value) -> Loaded {
        Loaded {
            name: "p".into(),
            working_dir: "/p".into(),
            compose_files: vec![],
            model,
            environment: Default::default(),
            profiles: vec![],
            all_services: vec![],
            warnings: vec![],
        }
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
    fn yaml_and_json_double_dollars() {
        let l = loaded(
            json!({"name": "p", "services": {"a": {"entrypoint": null, "command": ["echo", "$HOME"], "environment": {"A": "1", "B": null, "C": "x: y"}, "ports": [{"mode": "ingress", "target": 80}]}}}),
        );
        let yaml = render(&l, ConfigFormat::Yaml);
        assert_eq!(
            yaml,
            "name: p\nservices:\n  a:\n    command:\n      - echo\n      - $$HOME\n    environment:\n      A: \"1\"\n      B: null\n      C: \"x: y\"\n    ports:\n      - mode: ingress\n        target: 80\n"
        );
        for (raw, shown) in [
            ("-c", "-c"),
            ("- x", "\"- x\""),
            ("1.5", "\"1.5\""),
            ("yes", "\"yes\""),
            ("a b", "a b"),
        ] {
            assert_eq!(scalar_string(raw), shown);
        }
        let block = loaded(json!({"x": "FROM a\nRUN b\n", "z": "one\ntwo"}));
        assert_eq!(
            render(&block, ConfigFormat::Yaml),
            "x: |\n  FROM a\n  RUN b\nz: |-\n  one\n  two\n"
        );
        let json = render(&l, ConfigFormat::Json);
        assert!(json.contains("\"$$HOME\"") && json.contains("\"entrypoint\": null"));
    }
}
