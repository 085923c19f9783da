//! compose-go's consistency checks (`loader/validate.go`): external resources with creation
//! options, references between services and resources, dependency cycles. The structural
//! rules are the schema's ([`super::schema`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::LoadError;

/// A network or volume marked `external` cannot also say how to create it (compose-go's
/// `checkConsistency` of resources; secrets and configs are exempt).
pub fn external_resources(model: &Map<String, Value>) -> Result<(), LoadError> {
    for kind in ["networks", "volumes"] {
        for (name, res) in model
            .get(kind)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if res.get("external") != Some(&Value::Bool(true)) {
                continue;
            }
            let conflicting = [
                "driver",
                "driver_opts",
                "labels",
                "ipam",
                "internal",
                "attachable",
            ];
            if let Some(key) = conflicting.iter().find(|k| res.get(**k).is_some()) {
                return Err(LoadError::invalid(format!(
                    "{kind}.{name}: conflicting parameters \"external\" and \"{key}\" specified"
                )));
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
    for (key, value) in [("scale", scale), ("deploy.replicas", replicas)] {
        if value.is_some_and(|v| v < 0) {
            return Err(LoadError::invalid(format!(
                "services.{name}.{key}: must be greater than or equal to 0"
            )));
        }
    }
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
    for (key, twin) in RESOURCE_TWINS {
        let pointer = format!("/{}", twin.replace('.', "/"));
        match (amount(s.get(*key)), amount(s.pointer(&pointer))) {
            (Some(a), Some(b)) if a != 0.0 && b != 0.0 && a != b => {
                return Err(LoadError::invalid(format!(
                    "services.{name}: can't set distinct values on '{key}' and '{twin}': invalid compose project"
                )));
            }
            _ => {}
        }
    }
    mount_conflicts(name, s, &volumes)?;
    Ok(())
}

/// Service-level resources and their `deploy.resources` twins: compose refuses both set to
/// different values.
const RESOURCE_TWINS: &[(&str, &str)] = &[
    ("mem_limit", "deploy.resources.limits.memory"),
    ("cpus", "deploy.resources.limits.cpus"),
    ("mem_reservation", "deploy.resources.reservations.memory"),
    ("pids_limit", "deploy.resources.limits.pids"),
];

/// A canonical resource amount (bytes as a string, cpus and pids as numbers).
fn amount(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
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
    fn external_resources_say_nothing_of_their_creation() {
        let e = external_resources(&obj(
            json!({"volumes": {"v": {"external": true, "driver_opts": {}}}}),
        ))
        .expect_err("conflict");
        assert_eq!(
            e.message,
            "volumes.v: conflicting parameters \"external\" and \"driver_opts\" specified"
        );
        external_resources(&obj(
            json!({"secrets": {"s": {"external": true, "labels": {}}}}),
        ))
        .expect("secrets are exempt");
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
    fn resources_and_their_deploy_twins_agree() {
        let check = |v: Value| consistency(&obj(v), &Map::new()).map_err(|e| e.message);
        let twins = |a: Value, b: Value| {
            check(json!({"services": {"a": {"image": "i", "mem_limit": a,
                "deploy": {"resources": {"limits": {"memory": b}}}}}}))
        };
        assert!(twins(json!("536870912"), json!("536870912")).is_ok());
        assert_eq!(
            twins(json!("1073741824"), json!("536870912")),
            Err("services.a: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory': invalid compose project".into())
        );
        let cpus = json!({"services": {"a": {"image": "i", "cpus": 1,
            "deploy": {"resources": {"limits": {"cpus": 0.5}}}}}});
        assert!(
            check(cpus).is_err_and(|m| m.contains("'cpus' and 'deploy.resources.limits.cpus'"))
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
        let e = check(json!({"services": {"a": {"image": "i", "scale": -1}}}));
        assert!(e.is_err_and(|m| m == "services.a.scale: must be greater than or equal to 0"));
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
