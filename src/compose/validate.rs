//! Validation: the compose-spec schema's structural rules that users hit (unknown keys, wrong
//! types, external resources with driver options) and compose-go's consistency checks
//! (`loader/validate.go`), including dependency cycles.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::LoadError;

/// The JSON types a key accepts (null is always accepted, as compose treats it as unset).
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Num,
    List,
    Map,
    ListOrMap,
    StrOrList,
    StrOrMap,
    Any,
}

impl Kind {
    fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (_, Value::Null)
                | (Kind::Any, _)
                | (Kind::Str, Value::String(_))
                | (Kind::Bool, Value::Bool(_) | Value::String(_))
                | (Kind::Num, Value::Number(_) | Value::String(_))
                | (Kind::List, Value::Array(_))
                | (Kind::Map, Value::Object(_))
                | (Kind::ListOrMap, Value::Array(_) | Value::Object(_))
                | (Kind::StrOrList, Value::String(_) | Value::Array(_))
                | (Kind::StrOrMap, Value::String(_) | Value::Object(_))
        )
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Num => "a number",
            Kind::List => "a list",
            Kind::Map | Kind::ListOrMap => "a mapping",
            Kind::StrOrList => "a string or a list",
            Kind::StrOrMap => "a string or a mapping",
            Kind::Any => "any value",
        }
    }
}

use Kind::{Any, Bool, List, ListOrMap, Map as M, Num, Str, StrOrList, StrOrMap};

const SERVICE_KEYS: &[(&str, Kind)] = &[
    ("annotations", ListOrMap),
    ("attach", Bool),
    ("build", StrOrMap),
    ("blkio_config", M),
    ("cap_add", List),
    ("cap_drop", List),
    ("cgroup", Str),
    ("cgroup_parent", Str),
    ("command", StrOrList),
    ("configs", List),
    ("container_name", Str),
    ("cpu_count", Num),
    ("cpu_percent", Num),
    ("cpu_shares", Num),
    ("cpu_quota", Num),
    ("cpu_period", Num),
    ("cpu_rt_period", Num),
    ("cpu_rt_runtime", Num),
    ("cpus", Num),
    ("cpuset", Str),
    ("credential_spec", M),
    ("depends_on", ListOrMap),
    ("deploy", M),
    ("develop", M),
    ("device_cgroup_rules", List),
    ("devices", List),
    ("dns", StrOrList),
    ("dns_opt", List),
    ("dns_search", StrOrList),
    ("domainname", Str),
    ("entrypoint", StrOrList),
    ("env_file", StrOrList),
    ("label_file", StrOrList),
    ("environment", ListOrMap),
    ("expose", List),
    ("extends", StrOrMap),
    ("external_links", List),
    ("extra_hosts", ListOrMap),
    ("gpus", Any),
    ("group_add", List),
    ("healthcheck", M),
    ("hostname", Str),
    ("image", Str),
    ("init", Bool),
    ("ipc", Str),
    ("isolation", Str),
    ("labels", ListOrMap),
    ("links", List),
    ("logging", M),
    ("mac_address", Str),
    ("mem_limit", Num),
    ("mem_reservation", Num),
    ("mem_swappiness", Num),
    ("memswap_limit", Num),
    ("models", ListOrMap),
    ("network_mode", Str),
    ("networks", ListOrMap),
    ("oom_kill_disable", Bool),
    ("oom_score_adj", Num),
    ("pid", Str),
    ("pids_limit", Num),
    ("platform", Str),
    ("ports", List),
    ("post_start", List),
    ("pre_start", List),
    ("pre_stop", List),
    ("privileged", Bool),
    ("profiles", List),
    ("provider", M),
    ("pull_policy", Str),
    ("pull_refresh_after", Str),
    ("read_only", Bool),
    ("restart", Str),
    ("runtime", Str),
    ("scale", Num),
    ("security_opt", List),
    ("shm_size", Num),
    ("secrets", List),
    ("sysctls", ListOrMap),
    ("stdin_open", Bool),
    ("stop_grace_period", Str),
    ("stop_signal", Str),
    ("storage_opt", M),
    ("tmpfs", StrOrList),
    ("tty", Bool),
    ("ulimits", M),
    ("use_api_socket", Bool),
    ("user", Str),
    ("uts", Str),
    ("userns_mode", Str),
    ("volumes", List),
    ("volumes_from", List),
    ("working_dir", Str),
];

const TOP_KEYS: &[(&str, Kind)] = &[
    ("version", Str),
    ("name", Str),
    ("include", List),
    ("services", M),
    ("networks", M),
    ("volumes", M),
    ("secrets", M),
    ("configs", M),
    ("models", M),
];

const RESOURCE_KEYS: &[(&str, &[&str])] = &[
    (
        "networks",
        &[
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "enable_ipv4",
            "enable_ipv6",
            "attachable",
            "labels",
        ],
    ),
    (
        "volumes",
        &["name", "driver", "driver_opts", "external", "labels"],
    ),
    (
        "secrets",
        &[
            "name",
            "environment",
            "file",
            "external",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
            "content",
        ],
    ),
    (
        "configs",
        &[
            "name",
            "content",
            "environment",
            "file",
            "external",
            "labels",
            "template_driver",
        ],
    ),
    (
        "models",
        &["name", "model", "context_size", "runtime_flags"],
    ),
];

fn schema_error(message: String) -> LoadError {
    LoadError::invalid(message)
}

fn check_keys(
    map: &Map<String, Value>,
    path: &str,
    allowed: &[(&str, Kind)],
) -> Result<(), LoadError> {
    for (key, value) in map {
        if key.starts_with("x-") {
            continue;
        }
        let shown = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match allowed.iter().find(|(k, _)| k == key) {
            None => {
                let at = if path.is_empty() { "(root)" } else { path };
                return Err(schema_error(format!(
                    "{at} additional properties '{key}' not allowed"
                )));
            }
            Some((_, kind)) if !kind.accepts(value) => {
                return Err(schema_error(format!("{shown} must be {}", kind.expected())));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Allowed keys of the service sub-objects users most often get wrong.
const SERVICE_OBJECT_KEYS: &[(&str, &[&str])] = &[
    (
        "healthcheck",
        &[
            "disable",
            "interval",
            "retries",
            "test",
            "timeout",
            "start_period",
            "start_interval",
        ],
    ),
    ("logging", &["driver", "options"]),
    (
        "build",
        &[
            "context",
            "dockerfile",
            "dockerfile_inline",
            "entitlements",
            "args",
            "ssh",
            "labels",
            "cache_from",
            "cache_to",
            "no_cache",
            "additional_contexts",
            "network",
            "provenance",
            "sbom",
            "pull",
            "target",
            "shm_size",
            "extra_hosts",
            "isolation",
            "privileged",
            "secrets",
            "tags",
            "ulimits",
            "platforms",
        ],
    ),
    (
        "deploy",
        &[
            "mode",
            "endpoint_mode",
            "replicas",
            "labels",
            "rollback_config",
            "update_config",
            "resources",
            "restart_policy",
            "placement",
        ],
    ),
];

const CONDITIONS: [&str; 3] = [
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];

/// The schema's `^[a-zA-Z0-9._-]+$` for service and resource names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Rejects keys of `map` (at `path`) outside `allowed`; `x-*` keys are always allowed.
fn check_names(map: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), LoadError> {
    match map
        .keys()
        .find(|k| !k.starts_with("x-") && !allowed.contains(&k.as_str()))
    {
        Some(key) => Err(schema_error(format!(
            "{path} additional properties '{key}' not allowed"
        ))),
        None => Ok(()),
    }
}

fn check_service_schema(name: &str, svc: &Map<String, Value>) -> Result<(), LoadError> {
    let path = format!("services.{name}");
    check_keys(svc, &path, SERVICE_KEYS)?;
    for (key, allowed) in SERVICE_OBJECT_KEYS {
        if let Some(Value::Object(obj)) = svc.get(*key) {
            check_names(obj, &format!("{path}.{key}"), allowed)?;
        }
    }
    for (dep, cfg) in svc
        .get("depends_on")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at = format!("{path}.depends_on.{dep}");
        let cfg = match cfg {
            Value::Object(cfg) => cfg,
            Value::Null => continue,
            _ => return Err(schema_error(format!("{at} must be a mapping"))),
        };
        check_names(cfg, &at, &["condition", "restart", "required"])?;
        if let Some(condition) = cfg.get("condition")
            && !condition.as_str().is_some_and(|c| CONDITIONS.contains(&c))
        {
            let expected: Vec<String> = CONDITIONS.iter().map(|c| format!("{c:?}")).collect();
            return Err(schema_error(format!(
                "{at}.condition must be one of the following: {}",
                expected.join(", ")
            )));
        }
    }
    Ok(())
}

/// The schema checks compose runs after each file is merged (`validating <file>: …` is added
/// by the caller). Services that are not mappings are reported by the extends pass instead.
pub fn schema(model: &Map<String, Value>) -> Result<(), LoadError> {
    check_keys(model, "", TOP_KEYS)?;
    for kind in ["services", "networks", "volumes", "secrets", "configs"] {
        let names = model
            .get(kind)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys());
        if let Some(bad) = names.into_iter().find(|n| !valid_name(n)) {
            return Err(schema_error(format!(
                "{kind} additional properties '{bad}' not allowed"
            )));
        }
    }
    for (name, svc) in model
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Value::Object(svc) = svc {
            check_service_schema(name, svc)?;
        }
    }
    for (kind, allowed) in RESOURCE_KEYS {
        for (name, res) in model
            .get(*kind)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let path = format!("{kind}.{name}");
            let Value::Object(res) = res else {
                if res.is_null() {
                    continue;
                }
                return Err(schema_error(format!("{path} must be a mapping")));
            };
            check_names(res, &path, allowed)?;
            if res.get("external").is_some_and(|e| e == &Value::Bool(true)) {
                for conflicting in [
                    "driver",
                    "driver_opts",
                    "labels",
                    "ipam",
                    "internal",
                    "attachable",
                ] {
                    if res.contains_key(conflicting) && *kind != "secrets" && *kind != "configs" {
                        return Err(schema_error(format!(
                            "{path}: conflicting parameters \"external\" and \"{conflicting}\" specified"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

fn invalid_project(message: String) -> LoadError {
    LoadError::invalid(format!("{message}: invalid compose project"))
}

/// compose-go's `checkConsistency` over the active services (`disabled` are the services
/// switched off by profiles), then the dependency-cycle check.
pub fn consistency(
    model: &Map<String, Value>,
    disabled: &Map<String, Value>,
) -> Result<(), LoadError> {
    let empty = Map::new();
    let services = model
        .get("services")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let defined = |kind: &str, name: &str| model.get(kind).and_then(|k| k.get(name)).is_some();
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for name in names {
        check_service(name, &services[name], services, disabled, &defined)
            .map_err(|e| e.at_path(format!("services.{name}")))?;
    }
    check_cycles(services)
}

fn check_service(
    name: &str,
    s: &Value,
    services: &Map<String, Value>,
    disabled: &Map<String, Value>,
    defined: &dyn Fn(&str, &str) -> bool,
) -> Result<(), LoadError> {
    if s.get("build").is_none_or(Value::is_null)
        && s.get("image").is_none_or(Value::is_null)
        && s.get("provider").is_none()
    {
        return Err(invalid_project(format!(
            "service {name:?} has neither an image nor a build context specified"
        )));
    }
    if s.get("networks").is_some_and(|n| !n.is_null())
        && s.get("network_mode").is_some_and(|n| !n.is_null())
    {
        return Err(invalid_project(format!(
            "service {name} declares mutually exclusive `network_mode` and `networks`"
        )));
    }
    for network in s
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|n| n.keys())
    {
        if !defined("networks", network) {
            return Err(invalid_project(format!(
                "service {name:?} refers to undefined network {network}"
            )));
        }
    }
    if let Some(first) = s.pointer("/healthcheck/test/0").and_then(Value::as_str)
        && !matches!(first, "CMD" | "CMD-SHELL" | "NONE")
    {
        return Err(LoadError::invalid(
            r#"healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE""#,
        ));
    }
    let mut deps: Vec<(&String, &Value)> = s
        .get("depends_on")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .collect();
    deps.sort_by_key(|(d, _)| *d);
    for (dep, cfg) in deps {
        if services.contains_key(dep) {
            continue;
        }
        let required = cfg.get("required") != Some(&Value::Bool(false));
        if disabled.contains_key(dep) && !required {
            continue;
        }
        return Err(invalid_project(format!(
            "service {name:?} depends on undefined service {dep:?}"
        )));
    }
    if let Some(target) = s
        .get("network_mode")
        .and_then(Value::as_str)
        .and_then(|m| m.strip_prefix("service:"))
        && !services.contains_key(target)
    {
        return Err(LoadError::invalid(format!(
            "service {target:?} not found for network_mode 'service:{target}'"
        )));
    }
    let volumes = s
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in &volumes {
        if v.get("type").and_then(Value::as_str) == Some("volume")
            && let Some(source) = v
                .get("source")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            && !defined("volumes", source)
        {
            return Err(invalid_project(format!(
                "service {name:?} refers to undefined volume {source}"
            )));
        }
    }
    for kind in ["configs", "secrets"] {
        for r in s.get(kind).and_then(Value::as_array).into_iter().flatten() {
            if let Some(source) = r.get("source").and_then(Value::as_str)
                && !defined(kind, source)
            {
                let singular = kind.trim_end_matches('s');
                return Err(invalid_project(format!(
                    "service {name:?} refers to undefined {singular} {source}"
                )));
            }
        }
    }
    let scale = s.get("scale").and_then(Value::as_i64);
    let replicas = s.pointer("/deploy/replicas").and_then(Value::as_i64);
    if let (Some(scale), Some(replicas)) = (scale, replicas)
        && scale != replicas
    {
        return Err(LoadError::invalid(format!(
            "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project"
        )));
    }
    if scale.or(replicas).unwrap_or(1) > 1 && s.get("container_name").is_some_and(|c| !c.is_null())
    {
        return Err(LoadError::invalid(format!(
            "services.{name}: can't set container_name and {name} as container name must be unique: invalid compose project"
        )));
    }
    mount_conflicts(name, s, &volumes)?;
    Ok(())
}

fn mount_conflicts(name: &str, s: &Value, volumes: &[Value]) -> Result<(), LoadError> {
    let mut mounts: BTreeMap<String, String> = BTreeMap::new();
    for (i, t) in s
        .get("tmpfs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = t
            .as_str()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let loc = format!("services.{name}.tmpfs[{i}]");
        if let Some(prev) = mounts.get(&path) {
            return Err(LoadError::invalid(format!(
                "{loc}: target {path} already mounted as {prev}"
            )));
        }
        mounts.insert(path, loc);
    }
    for (i, v) in volumes.iter().enumerate() {
        let target = v
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let loc = format!("services.{name}.volumes[{i}]");
        if let Some(prev) = mounts.get(&target) {
            return Err(LoadError::invalid(format!(
                "{loc}: target {target} already mounted as {prev}"
            )));
        }
        mounts.insert(target, loc);
    }
    Ok(())
}

/// Finds the first dependency cycle in name order (compose-go's `checkCycle`), with a
/// depth-first search that visits each service once.
fn check_cycles(services: &Map<String, Value>) -> Result<(), LoadError> {
    let children = |name: &str| -> Vec<&String> {
        let mut c: Vec<&String> = services
            .get(name)
            .and_then(|s| s.get("depends_on"))
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|d| d.keys())
            .filter(|d| services.contains_key(*d))
            .collect();
        c.sort();
        c
    };
    let mut done: BTreeMap<&str, ()> = BTreeMap::new();
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for start in names {
        if done.contains_key(start.as_str()) {
            continue;
        }
        // the current path, each entry with the children still to visit
        let mut path: Vec<(&String, Vec<&String>)> = vec![(start, children(start))];
        while let Some((node, pending)) = path.last_mut() {
            let node: &String = node;
            let Some(child) = (!pending.is_empty()).then(|| pending.remove(0)) else {
                done.insert(node.as_str(), ());
                path.pop();
                continue;
            };
            if let Some(i) = path.iter().position(|(p, _)| *p == child) {
                let cycle: Vec<&str> = path[i..].iter().map(|(p, _)| p.as_str()).collect();
                return Err(LoadError::invalid(format!(
                    "dependency cycle detected: {} -> {child}",
                    cycle.join(" -> ")
                ))
                .at_path(format!("services.{}.depends_on", cycle[0])));
            }
            if !done.contains_key(child.as_str()) {
                path.push((child, children(child)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("map")
    }

    #[test]
    fn schema_rules() {
        let e = schema(&obj(json!({"services": {"foo": {"imagee": "x"}}}))).expect_err("unknown");
        assert_eq!(
            e.message,
            "services.foo additional properties 'imagee' not allowed"
        );
        let e = schema(&obj(json!({"services": {"foo": {"image": ["a"]}}}))).expect_err("type");
        assert_eq!(e.message, "services.foo.image must be a string");
        assert_eq!(
            schema(&obj(json!({"name": 123})))
                .expect_err("name")
                .message,
            "name must be a string"
        );
        let e = schema(&obj(
            json!({"volumes": {"v": {"external": true, "driver_opts": {}}}}),
        ))
        .expect_err("conflict");
        assert_eq!(
            e.message,
            "volumes.v: conflicting parameters \"external\" and \"driver_opts\" specified"
        );
        schema(&obj(
            json!({"x-a": 1, "services": {"s": {"x-b": 2, "image": "i"}}}),
        ))
        .expect("extensions allowed");
        let e = schema(&obj(
            json!({"services": {"s": {"healthcheck": {"tset": []}}}}),
        ))
        .expect_err("nested");
        assert_eq!(
            e.message,
            "services.s.healthcheck additional properties 'tset' not allowed"
        );
        let e = schema(&obj(
            json!({"services": {"s": {"depends_on": {"db": {"condition": "up"}}}}}),
        ))
        .expect_err("enum");
        assert!(e.message.starts_with(
            "services.s.depends_on.db.condition must be one of the following: \"service_started\""
        ));
    }

    #[test]
    fn names_follow_the_schema_pattern() {
        let e =
            schema(&obj(json!({"services": {"my service": {"image": "i"}}}))).expect_err("name");
        assert_eq!(
            e.message,
            "services additional properties 'my service' not allowed"
        );
        schema(&obj(json!({"services": {"x-foo.bar_1": {"image": "i"}}}))).expect("valid name");
    }

    #[test]
    fn consistency_rules() {
        let check = |v: Value| consistency(&obj(v), &Map::new()).map_err(|e| e.message);
        assert_eq!(
            check(json!({"services": {"a": {}}})),
            Err("service \"a\" has neither an image nor a build context specified: invalid compose project".into())
        );
        assert_eq!(
            check(json!({"services": {"a": {"image": "i", "depends_on": {"b": {}}}}})),
            Err("service \"a\" depends on undefined service \"b\": invalid compose project".into())
        );
        assert_eq!(
            check(
                json!({"services": {"a": {"image": "i", "volumes": [{"type": "volume", "source": "d", "target": "/d"}]}}})
            ),
            Err("service \"a\" refers to undefined volume d: invalid compose project".into())
        );
        assert_eq!(
            check(
                json!({"services": {"web": {"image": "i", "tmpfs": ["/data"], "volumes": [{"type": "bind", "source": "/a", "target": "/data"}]}}})
            ),
            Err(
                "services.web.volumes[0]: target /data already mounted as services.web.tmpfs[0]"
                    .into()
            )
        );
    }

    #[test]
    fn scale_rules() {
        let check = |v: Value| consistency(&obj(v), &Map::new()).map_err(|e| e.message);
        let e = check(
            json!({"services": {"a": {"image": "i", "scale": 2, "deploy": {"replicas": 3}}}}),
        );
        assert!(e.is_err_and(|m| {
            m.contains("can't set distinct values on 'scale' and 'deploy.replicas'")
        }));
        let e =
            check(json!({"services": {"a": {"image": "i", "scale": 2, "container_name": "c"}}}));
        assert!(e.is_err_and(|m| {
            m.contains("can't set container_name and a as container name must be unique")
        }));
        assert!(
            check(json!({"services": {"a": {"image": "i", "scale": 1, "container_name": "c"}}}))
                .is_ok()
        );
    }

    #[test]
    fn cycles() {
        let cycle = json!({"services": {
            "s1": {"image": "i", "depends_on": {"s2": {}}},
            "s2": {"image": "i", "depends_on": {"s3": {}}},
            "s3": {"image": "i", "depends_on": {"s1": {}}}}});
        assert_eq!(
            consistency(&obj(cycle), &Map::new())
                .expect_err("cycle")
                .message,
            "dependency cycle detected: s1 -> s2 -> s3 -> s1"
        );
        let own = json!({"services": {"s1": {"image": "i", "depends_on": {"s1": {}}}}});
        assert_eq!(
            consistency(&obj(own), &Map::new())
                .expect_err("self")
                .message,
            "dependency cycle detected: s1 -> s1"
        );
    }
}
