//! Profiles (`types/project.go:HasProfile`, `WithServicesEnabled`, `WithSelectedServices`):
//! which services are active, and the `run SERVICE` / `config SERVICE…` selection.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::{ErrorKind, LoadError};

/// Whether a service is active for the enabled profiles (no profiles, a shared one, or `*`).
pub fn is_active(service: &Value, enabled: &[String]) -> bool {
    match service.get("profiles").and_then(Value::as_array) {
        None => true,
        Some(p) if p.is_empty() => true,
        Some(p) => {
            enabled.iter().any(|e| e == "*")
                || p.iter()
                    .any(|x| x.as_str().is_some_and(|x| enabled.iter().any(|e| e == x)))
        }
    }
}

/// Splits services into (active, disabled) for the enabled profiles, keeping order.
pub fn split(
    services: Map<String, Value>,
    enabled: &[String],
) -> (Map<String, Value>, Map<String, Value>) {
    services
        .into_iter()
        .partition(|(_, s)| is_active(s, enabled))
}

/// `WithServicesEnabled`: adds the profiles of each named disabled service to `enabled`.
pub fn enable_for(
    names: &[String],
    active: &Map<String, Value>,
    disabled: &Map<String, Value>,
    enabled: &mut Vec<String>,
) -> Result<(), LoadError> {
    for name in names {
        if active.contains_key(name) {
            continue;
        }
        let service = disabled.get(name).ok_or_else(|| no_such_service(name))?;
        for p in service
            .get("profiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = p.as_str()
                && !enabled.iter().any(|e| e == p)
            {
                enabled.push(p.to_string());
            }
        }
    }
    Ok(())
}

fn no_such_service(name: &str) -> LoadError {
    LoadError::new(ErrorKind::NoSuchService, format!("no such service: {name}"))
}

/// `WithSelectedServices`: keeps the named services plus the closure of their `depends_on`.
/// A missing required dependency is `no such service: X`; a missing optional one is dropped
/// from `depends_on`.
pub fn select(services: &mut Map<String, Value>, names: &[String]) -> Result<(), LoadError> {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = names.to_vec();
    while let Some(name) = stack.pop() {
        if keep.contains(&name) {
            continue;
        }
        let service = services.get(&name).ok_or_else(|| no_such_service(&name))?;
        for (dep, cfg) in service
            .get("depends_on")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let required = cfg.get("required") != Some(&Value::Bool(false));
            if services.contains_key(dep) {
                stack.push(dep.clone());
            } else if required {
                return Err(no_such_service(dep));
            }
        }
        keep.insert(name);
    }
    services.retain(|name, _| keep.contains(name));
    for service in services.values_mut() {
        if let Some(Value::Object(deps)) = service.get_mut("depends_on") {
            deps.retain(|dep, _| keep.contains(dep));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn services() -> Map<String, Value> {
        json!({
            "s1": {"image": "a"},
            "s2": {"image": "a", "profiles": ["foo"], "depends_on": {"s1": {"required": true}}},
            "s3": {"image": "a", "profiles": ["bar"], "depends_on": {"s2": {"required": true}}},
            "s4": {"image": "a", "profiles": ["zot"], "depends_on": {"s2": {"required": false}}},
        })
        .as_object()
        .cloned()
        .expect("map")
    }

    #[test]
    fn activity() {
        let (active, disabled) = split(services(), &["foo".into()]);
        assert_eq!(active.keys().collect::<Vec<_>>(), ["s1", "s2"]);
        assert_eq!(disabled.len(), 2);
        let (active, _) = split(services(), &["*".into()]);
        assert_eq!(active.len(), 4);
    }

    #[test]
    fn run_selection() {
        let mut enabled = vec![];
        let (active, disabled) = split(services(), &enabled);
        enable_for(&["s3".into()], &active, &disabled, &mut enabled).expect("exists");
        assert_eq!(enabled, ["bar"]);
        let (mut active, _) = split(services(), &enabled);
        assert_eq!(
            select(&mut active, &["s3".into()])
                .expect_err("s2 disabled")
                .message,
            "no such service: s2"
        );
        let (mut active, _) = split(services(), &["zot".into()]);
        select(&mut active, &["s4".into()]).expect("optional dep dropped");
        assert_eq!(active["s4"]["depends_on"], json!({}));
        assert!(enable_for(&["nope".into()], &active, &Map::new(), &mut enabled).is_err());
    }
}
