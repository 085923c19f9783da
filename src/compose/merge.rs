//! Merging compose trees (`override/merge.go`): a later file (or the local side of `extends`)
//! over an earlier one, with compose's special rules by path, then uniqueness of sequence
//! entries (`override/uncity.go`) and `!reset` / `!override` removal.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::error::LoadError;
use super::normalize::volumes;

/// How the two sides at a path combine.
#[derive(Clone, Copy)]
enum Rule {
    /// Both sides become `KEY=VALUE` lists, appended (uniqueness later keeps the last value).
    Sequence,
    /// The later side replaces the earlier one.
    Replace,
    /// Lists of hosts, appended without exact duplicates.
    ExtraHosts,
    /// List form becomes a map with compose's defaults, then mapping merge.
    DependsOn,
    /// List form becomes a map with null values, then mapping merge.
    NamesToMap,
    /// String form becomes `{context}`, then mapping merge.
    Build,
    /// Merged only when the drivers agree (or one side has none).
    Logging,
    /// Merged by `subnet`.
    Ipam,
}

const RULES: &[(&str, Rule)] = &[
    ("networks.*.ipam.config", Rule::Ipam),
    ("networks.*.labels", Rule::Sequence),
    ("volumes.*.labels", Rule::Sequence),
    ("services.*.annotations", Rule::Sequence),
    ("services.*.build", Rule::Build),
    ("services.*.build.args", Rule::Sequence),
    ("services.*.build.additional_contexts", Rule::Sequence),
    ("services.*.build.extra_hosts", Rule::ExtraHosts),
    ("services.*.build.labels", Rule::Sequence),
    ("services.*.command", Rule::Replace),
    ("services.*.depends_on", Rule::DependsOn),
    ("services.*.deploy.labels", Rule::Sequence),
    ("services.*.dns", Rule::Sequence),
    ("services.*.dns_opt", Rule::Sequence),
    ("services.*.dns_search", Rule::Sequence),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.env_file", Rule::Sequence),
    ("services.*.label_file", Rule::Sequence),
    ("services.*.environment", Rule::Sequence),
    ("services.*.extra_hosts", Rule::ExtraHosts),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.labels", Rule::Sequence),
    ("services.*.logging", Rule::Logging),
    ("services.*.models", Rule::NamesToMap),
    ("services.*.networks", Rule::NamesToMap),
    ("services.*.sysctls", Rule::Sequence),
    ("services.*.tmpfs", Rule::Sequence),
    ("services.*.ulimits.*", Rule::Replace),
];

/// Whether a concrete path (segments, `[]` for list items) matches a pattern with `*`.
pub fn path_matches<S: AsRef<str>>(pattern: &[&str], path: &[S]) -> bool {
    pattern.len() == path.len()
        && pattern
            .iter()
            .rev()
            .zip(path.iter().rev())
            .all(|(p, s)| *p == "*" || *p == s.as_ref())
}

/// A table of dotted path patterns (`services.*.ports`), split once, mapping to a value.
pub struct PathTable<T>(Vec<(Vec<&'static str>, T)>);

impl<T: Copy> PathTable<T> {
    /// Splits every pattern of `table`.
    pub fn new(table: &[(&'static str, T)]) -> Self {
        PathTable(
            table
                .iter()
                .map(|(p, v)| (p.split('.').collect(), *v))
                .collect(),
        )
    }

    /// The value of the first pattern matching `path`.
    pub fn find<S: AsRef<str>>(&self, path: &[S]) -> Option<T> {
        self.0
            .iter()
            .find(|(p, _)| path_matches(p, path))
            .map(|(_, v)| *v)
    }
}

static RULE_TABLE: LazyLock<PathTable<Rule>> = LazyLock::new(|| PathTable::new(RULES));
static UNIQUE_TABLE: LazyLock<PathTable<Indexer>> = LazyLock::new(|| PathTable::new(UNIQUE));

fn rule_for(path: &[String]) -> Option<Rule> {
    // every rule is 3 to 5 segments deep
    if !(3..=5).contains(&path.len()) {
        return None;
    }
    RULE_TABLE.find(path)
}

/// Merges `over` onto `base` (whole compose models).
pub fn merge(base: Value, over: Value) -> Result<Value, LoadError> {
    merge_at(base, over, &mut Vec::new())
}

/// Merges a service definition onto its `extends` base, local side winning.
pub fn extend_service(base: Value, local: Value) -> Result<Value, LoadError> {
    merge_at(base, local, &mut vec!["services".into(), "x".into()])
}

fn merge_at(base: Value, over: Value, path: &mut Vec<String>) -> Result<Value, LoadError> {
    if let Some(rule) = rule_for(path) {
        return merge_special(rule, base, over, path);
    }
    match (base, over) {
        (base, Value::Null) => Ok(base),
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o, path).map(Value::Object),
        (Value::Array(mut b), Value::Array(o)) => {
            b.extend(o);
            Ok(Value::Array(b))
        }
        (Value::Object(_) | Value::Array(_), _) => Err(LoadError::invalid(format!(
            "cannot override {}",
            display(path)
        ))),
        (_, over) => Ok(over),
    }
}

fn display(path: &[String]) -> String {
    path.join(".")
}

fn merge_maps(
    mut base: Map<String, Value>,
    over: Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Map<String, Value>, LoadError> {
    for (k, v) in over {
        match base.get_mut(&k) {
            Some(slot) => {
                path.push(k);
                let merged = merge_at(slot.take(), v, path);
                path.pop();
                *slot = merged?;
            }
            None => {
                base.insert(k, v);
            }
        }
    }
    Ok(base)
}

fn merge_special(
    rule: Rule,
    base: Value,
    over: Value,
    path: &mut Vec<String>,
) -> Result<Value, LoadError> {
    Ok(match rule {
        Rule::Replace => over,
        Rule::Sequence => {
            let mut items = to_sequence(&base);
            items.extend(to_sequence(&over));
            Value::Array(items)
        }
        Rule::ExtraHosts => {
            let mut items = to_sequence(&base);
            for item in to_sequence(&over) {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
            Value::Array(items)
        }
        Rule::DependsOn => {
            let defaults = json!({"condition": "service_started", "required": true});
            merge_to_maps(
                names_to_map(base, &defaults),
                names_to_map(over, &defaults),
                path,
            )?
        }
        Rule::NamesToMap => merge_to_maps(
            names_to_map(base, &Value::Null),
            names_to_map(over, &Value::Null),
            path,
        )?,
        Rule::Build => merge_to_maps(build_map(base), build_map(over), path)?,
        Rule::Logging => {
            let driver = |v: &Value| v.get("driver").cloned();
            match (driver(&base), driver(&over)) {
                (Some(a), Some(b)) if a != b => over,
                _ => merge_to_maps(base, over, path)?,
            }
        }
        Rule::Ipam => {
            let mut items = as_items(base);
            for entry in as_items(over) {
                let subnet = entry.get("subnet").cloned();
                match items
                    .iter_mut()
                    .find(|e| subnet.is_some() && e.get("subnet").cloned() == subnet)
                {
                    Some(existing) => {
                        let merged = merge_at(existing.take(), entry, &mut Vec::new())?;
                        *existing = merged;
                    }
                    None => items.push(entry),
                }
            }
            Value::Array(items)
        }
    })
}

fn merge_to_maps(base: Value, over: Value, path: &mut Vec<String>) -> Result<Value, LoadError> {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o, path).map(Value::Object),
        (base, Value::Null) => Ok(base),
        (_, over) => Ok(over),
    }
}

fn as_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// compose-go's `convertIntoSequence`: a map becomes `KEY=VALUE` entries sorted by key (a null
/// value gives bare `KEY`); a scalar becomes a one-item list.
pub fn to_sequence(v: &Value) -> Vec<Value> {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| match &map[k] {
                    Value::Null => Value::String(k.clone()),
                    value => Value::String(format!("{k}={}", scalar_text(value))),
                })
                .collect()
        }
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn names_to_map(v: Value, default: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Object(
            items
                .iter()
                .map(|i| (scalar_text(i), default.clone()))
                .collect(),
        ),
        other => other,
    }
}

fn build_map(v: Value) -> Value {
    match v {
        Value::String(s) => json!({ "context": s }),
        other => other,
    }
}

/// Removes from `target` every attribute at one of `paths` (the `!reset`/`!override` paths of a
/// later file), so that the later definition starts from scratch there.
pub fn apply_resets<'a>(target: &mut Value, paths: impl Iterator<Item = &'a Vec<String>>) {
    for path in paths {
        remove_path(target, path);
    }
}

fn remove_path(target: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = target;
    for seg in parents {
        node = match node {
            Value::Object(map) => match map.get_mut(seg) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(map) = node {
        map.shift_remove(last);
    }
}

/// Which key identifies an entry of a sequence, for uniqueness.
#[derive(Clone, Copy)]
enum Indexer {
    KeyValue,
    Volume,
    Port,
    EnvFile,
    Expose,
    Mount(&'static str),
}

const UNIQUE: &[(&str, Indexer)] = &[
    ("networks.*.labels", Indexer::KeyValue),
    ("networks.*.ipam.options", Indexer::KeyValue),
    ("services.*.annotations", Indexer::KeyValue),
    ("services.*.build.args", Indexer::KeyValue),
    ("services.*.build.additional_contexts", Indexer::KeyValue),
    ("services.*.build.platforms", Indexer::KeyValue),
    ("services.*.build.tags", Indexer::KeyValue),
    ("services.*.build.labels", Indexer::KeyValue),
    ("services.*.cap_add", Indexer::KeyValue),
    ("services.*.cap_drop", Indexer::KeyValue),
    ("services.*.devices", Indexer::Volume),
    ("services.*.configs", Indexer::Mount("")),
    ("services.*.deploy.labels", Indexer::KeyValue),
    ("services.*.dns", Indexer::KeyValue),
    ("services.*.dns_opt", Indexer::KeyValue),
    ("services.*.dns_search", Indexer::KeyValue),
    ("services.*.environment", Indexer::KeyValue),
    ("services.*.env_file", Indexer::EnvFile),
    ("services.*.expose", Indexer::Expose),
    ("services.*.labels", Indexer::KeyValue),
    ("services.*.links", Indexer::KeyValue),
    ("services.*.networks.*.aliases", Indexer::KeyValue),
    ("services.*.networks.*.link_local_ips", Indexer::KeyValue),
    ("services.*.ports", Indexer::Port),
    ("services.*.profiles", Indexer::KeyValue),
    ("services.*.secrets", Indexer::Mount("/run/secrets")),
    ("services.*.sysctls", Indexer::KeyValue),
    ("services.*.tmpfs", Indexer::KeyValue),
    ("services.*.volumes", Indexer::Volume),
];

fn index_key(indexer: Indexer, v: &Value) -> Option<String> {
    match indexer {
        Indexer::KeyValue => match v {
            Value::String(s) => Some(s.split_once('=').map_or(s.as_str(), |(k, _)| k).to_string()),
            Value::Object(_) | Value::Array(_) => None,
            other => Some(other.to_string()),
        },
        Indexer::Volume => match v {
            Value::Object(m) => m.get("target").map(scalar_text),
            Value::String(s) => volumes::parse_short(s)
                .ok()
                .and_then(|p| p.get("target").map(scalar_text)),
            _ => None,
        },
        Indexer::Port => match v {
            Value::Object(m) => {
                let get = |k: &str| m.get(k).map(scalar_text);
                Some(format!(
                    "{}:{}:{}/{}",
                    get("host_ip").unwrap_or_else(|| "0.0.0.0".into()),
                    get("published").unwrap_or_default(),
                    get("target").unwrap_or_default(),
                    get("protocol").unwrap_or_else(|| "tcp".into()),
                ))
            }
            other => Some(scalar_text(other)),
        },
        Indexer::EnvFile => match v {
            Value::Object(m) => m.get("path").map(scalar_text),
            other => Some(scalar_text(other)),
        },
        Indexer::Expose => Some(scalar_text(v)),
        Indexer::Mount(prefix) => {
            let (source, target) = match v {
                Value::Object(m) => (
                    m.get("source").map(scalar_text),
                    m.get("target").map(scalar_text),
                ),
                other => (Some(scalar_text(other)), None),
            };
            target.or_else(|| source.map(|s| format!("{prefix}/{s}")))
        }
    }
}

/// Enforces uniqueness in every sequence compose keys (`EnforceUnicity`): a later entry with the
/// same key replaces the earlier one, in the earlier one's position.
pub fn enforce_unicity(model: &mut Value) {
    walk_unique(model, &mut Vec::new());
}

fn walk_unique(v: &mut Value, path: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            // unique sequences live under services and networks, at most 5 keys deep
            if path.len() >= 5 {
                return;
            }
            for (k, child) in map.iter_mut() {
                if path.is_empty() && k != "services" && k != "networks" {
                    continue;
                }
                path.push(k.clone());
                walk_unique(child, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            if let Some(indexer) = UNIQUE_TABLE.find(path) {
                dedup(items, indexer);
            }
            for child in items.iter_mut() {
                path.push("[]".into());
                walk_unique(child, path);
                path.pop();
            }
        }
        _ => {}
    }
}

fn dedup(items: &mut Vec<Value>, indexer: Indexer) {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut seen: indexmap::IndexMap<String, usize> = indexmap::IndexMap::new();
    for item in items.drain(..) {
        match index_key(indexer, &item) {
            Some(key) => match seen.get(&key) {
                Some(&i) => out[i] = item,
                None => {
                    seen.insert(key, out.len());
                    out.push(item);
                }
            },
            None => out.push(item),
        }
    }
    *items = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(a: Value, b: Value) -> Value {
        let mut m = merge(a, b).expect("merges");
        enforce_unicity(&mut m);
        m
    }

    #[test]
    fn environment_and_scalars() {
        let m = merged(
            json!({"services": {"t": {"image": "a", "environment": {"FOO": 1, "KEEP": "x"}}}}),
            json!({"services": {"t": {"image": "b", "environment": ["FOO=3"]}}}),
        );
        assert_eq!(
            m,
            json!({"services": {"t": {"image": "b", "environment": ["FOO=3", "KEEP=x"]}}})
        );
    }

    #[test]
    fn unicity_keeps_first_position() {
        let mut v = json!({"services": {"t": {"environment": ["FOO=BAR", "BAR=QIX", "QIX=", "ZOT", "FOO=ZOT", "QIX", "ZOT="]}}});
        enforce_unicity(&mut v);
        assert_eq!(
            v["services"]["t"]["environment"],
            json!(["FOO=ZOT", "BAR=QIX", "QIX", "ZOT="])
        );
    }

    #[test]
    fn special_rules() {
        let m = merged(
            json!({"services": {"t": {"command": ["a", "b"], "depends_on": ["db"], "build": ".", "volumes": ["./a:/src"],
                "logging": {"driver": "local", "options": {"a": "1"}}, "dns": ["8.8.8.8"]}}}),
            json!({"services": {"t": {"command": "c", "depends_on": {"db": {"required": false}}, "build": {"target": "x"},
                "volumes": ["./b:/src"], "logging": {"driver": "syslog"}, "dns": "9.9.9.9"}}}),
        );
        let t = &m["services"]["t"];
        assert_eq!(t["command"], json!("c"));
        assert_eq!(
            t["depends_on"],
            json!({"db": {"condition": "service_started", "required": false}})
        );
        assert_eq!(t["build"], json!({"context": ".", "target": "x"}));
        assert_eq!(t["volumes"], json!(["./b:/src"]));
        assert_eq!(t["logging"], json!({"driver": "syslog"}));
        assert_eq!(t["dns"], json!(["8.8.8.8", "9.9.9.9"]));
        let err = merge(
            json!({"services": {"t": {"ports": ["80"]}}}),
            json!({"services": {"t": {"ports": {"a": 1}}}}),
        );
        assert_eq!(
            err.expect_err("type change").message,
            "cannot override services.t.ports"
        );
    }

    #[test]
    fn resets_remove_paths() {
        let mut v = json!({"services": {"t": {"build": ".", "image": "x"}}});
        let paths = [vec!["services".to_string(), "t".into(), "build".into()]];
        apply_resets(&mut v, paths.iter());
        assert_eq!(v, json!({"services": {"t": {"image": "x"}}}));
    }
}
