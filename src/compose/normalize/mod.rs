//! Canonicalisation (`transform/canonical.go`, `transform/defaults.go`, `loader/normalize.go`,
//! `paths/resolve.go`): every short syntax becomes compose-go's long form, defaults are filled
//! in and relative paths become absolute, so the model matches `docker compose config`.

pub mod ports;
pub mod units;
pub mod volumes;

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::error::LoadError;
use super::shellwords;

/// Looks a variable up in the project environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads an env file by path (`required` decides whether a missing file is an error); `None`
/// for an optional file that does not exist.
pub type ReadEnvFile<'a> = &'a dyn Fn(&str, bool) -> Result<Option<String>, LoadError>;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn invalid(path: &str, message: &str) -> LoadError {
    LoadError::invalid(format!("{path} {message}"))
}

/// `KEY=VALUE` list or map → map; `null_for_bare` chooses between `KEY: null` (environment,
/// build args) and `KEY: ""` (labels, sysctls).
fn list_or_dict(v: &Value, path: &str, null_for_bare: bool) -> Result<Value, LoadError> {
    let mut out = Map::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                let s = text(item);
                let (k, val) = match s.split_once('=') {
                    Some((k, val)) => (k.to_string(), json!(val)),
                    None if null_for_bare => (s.clone(), Value::Null),
                    None => (s.clone(), json!("")),
                };
                if k.ends_with(' ') {
                    return Err(LoadError::invalid(format!(
                        "environment variable {k} is declared with a trailing space"
                    )));
                }
                out.insert(k, val);
            }
        }
        Value::Object(map) => {
            for (k, val) in map {
                let val = match val {
                    Value::Null if null_for_bare => Value::Null,
                    Value::Null => json!(""),
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => json!(text(val)),
                    _ => {
                        return Err(invalid(
                            &format!("{path}.{k}"),
                            "must be a boolean, null, number or string",
                        ));
                    }
                };
                out.insert(k.clone(), val);
            }
        }
        _ => return Err(invalid(path, "must be a mapping")),
    }
    Ok(Value::Object(out))
}

fn string_list(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| json!(text(i))).collect()),
        Value::Null => Value::Null,
        other => json!([text(other)]),
    }
}

fn shell_command(v: &Value, path: &str) -> Result<Value, LoadError> {
    match v {
        Value::String(s) => shellwords::split(s)
            .map(|words| json!(words))
            .map_err(|e| LoadError::invalid(format!("{path}: {e}"))),
        other => Ok(string_list(other)),
    }
}

fn duration(v: &Value, path: &str) -> Result<Value, LoadError> {
    let s = text(v);
    units::parse_duration(&s)
        .map(|ns| json!(units::format_duration(ns)))
        .ok_or_else(|| LoadError::invalid(format!("{path}: time: invalid duration {s:?}")))
}

fn bytes(v: &Value, path: &str) -> Result<Value, LoadError> {
    match v {
        Value::Number(n) => Ok(json!(n.to_string())),
        other => {
            let s = text(other);
            units::parse_bytes(&s)
                .map(|b| json!(b.to_string()))
                .ok_or_else(|| LoadError::invalid(format!("{path}: invalid size: '{s}'")))
        }
    }
}

fn float(v: &Value) -> Value {
    match v {
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .map_or_else(|| v.clone(), |f| json!(f)),
        other => other.clone(),
    }
}

/// Replaces `map[key]` with `f(value)`; an error is tied to the compose path `{path}.{key}`.
fn update(
    map: &mut Map<String, Value>,
    path: &str,
    key: &str,
    f: impl FnOnce(&Value) -> Result<Value, LoadError>,
) -> Result<(), LoadError> {
    if let Some(v) = map.get(key) {
        let new = f(v).map_err(|e| e.at_path(format!("{path}.{key}")))?;
        map.insert(key.to_string(), new);
    }
    Ok(())
}

fn sub_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// Converts one service's short syntax into compose-go's canonical long form (no defaults,
/// no path resolution: that is [`apply_service_defaults`] and [`resolve_service_paths`]).
pub fn canonical_service(name: &str, svc: &mut Map<String, Value>) -> Result<(), LoadError> {
    let p = format!("services.{name}");
    let at = |k: &str| format!("{p}.{k}");
    update(svc, &p, "environment", |v| {
        list_or_dict(v, &at("environment"), true)
    })?;
    for key in ["labels", "annotations", "sysctls"] {
        update(svc, &p, key, |v| list_or_dict(v, &at(key), false))?;
    }
    for key in ["command", "entrypoint"] {
        update(svc, &p, key, |v| shell_command(v, &at(key)))?;
    }
    for key in [
        "dns",
        "dns_search",
        "dns_opt",
        "tmpfs",
        "expose",
        "cap_add",
        "cap_drop",
        "profiles",
        "links",
        "volumes_from",
        "security_opt",
        "group_add",
    ] {
        update(svc, &p, key, |v| Ok(string_list(v)))?;
    }
    if let Some(Value::Array(dns)) = svc.get_mut("dns") {
        dns.retain(|d| d.as_str().is_some_and(|s| !s.is_empty()));
    }
    update(svc, &p, "build", |v| build(v, &at("build")))?;
    update(svc, &p, "env_file", |v| Ok(env_files(v)))?;
    update(svc, &p, "ports", |v| canonical_ports(v, &at("ports")))?;
    update(svc, &p, "volumes", |v| canonical_volumes(v, &at("volumes")))?;
    update(svc, &p, "depends_on", |v| Ok(depends_on(v)))?;
    update(svc, &p, "networks", |v| Ok(names_map(v)))?;
    update(svc, &p, "extra_hosts", |v| Ok(extra_hosts(v)))?;
    update(svc, &p, "devices", |v| Ok(devices(v)))?;
    for key in ["secrets", "configs"] {
        update(svc, &p, key, |v| file_refs(v, &at(key)))?;
    }
    update(svc, &p, "healthcheck", |v| {
        healthcheck(v, &at("healthcheck"))
    })?;
    update(svc, &p, "stop_grace_period", |v| {
        duration(v, &at("stop_grace_period"))
    })?;
    for key in ["mem_limit", "mem_reservation", "memswap_limit", "shm_size"] {
        update(svc, &p, key, |v| bytes(v, &at(key)))?;
    }
    update(svc, &p, "cpus", |v| Ok(float(v)))?;
    if let Some(deploy) = sub_map(svc, "deploy") {
        canonical_deploy(deploy, &at("deploy"))?;
    }
    Ok(())
}

/// compose-go's `transform.Canonical` alone, as it runs without interpolation (`config
/// --no-interpolate` prints this map model): long syntax for build, env_file, ports, volumes,
/// depends_on, networks, devices, secrets, configs and dns, everything else as written. A
/// ports list with an entry it cannot parse stays as it is, as compose-go ignores that parse
/// error when it does not interpolate. compose-go runs this after each file's merge, so it
/// must leave what it already made alone.
pub fn canonical_service_raw(svc: &mut Map<String, Value>) -> Result<(), LoadError> {
    if let Some(Value::String(context)) = svc.get("build") {
        let long = json!({"context": context});
        svc.insert("build".into(), long);
    }
    if let Some(secrets) = sub_map(svc, "build").and_then(|b| b.get_mut("secrets")) {
        *secrets = raw_file_refs(secrets);
    }
    for key in ["secrets", "configs"] {
        if let Some(refs) = svc.get_mut(key) {
            *refs = raw_file_refs(refs);
        }
    }
    let mut set = |key: &str, f: &dyn Fn(&Value) -> Value| {
        if let Some(v) = svc.get_mut(key) {
            *v = f(v);
        }
    };
    set("env_file", &env_files);
    set("ports", &raw_ports);
    set("depends_on", &depends_on);
    set("networks", &names_map);
    set("devices", &devices);
    set("dns", &|v| match v {
        Value::String(_) => json!([v]),
        other => other.clone(),
    });
    if let Some(Value::Array(items)) = svc.get_mut("volumes") {
        for item in items.iter_mut() {
            if let Value::String(s) = item {
                let mut long = volumes::parse_short(s)?;
                // the types omit it, the map shows the short syntax's default
                if long["type"] == "bind" {
                    long["bind"]["create_host_path"] = json!(true);
                }
                *item = long;
            }
        }
    }
    Ok(())
}

/// `transformPorts` without interpolation: strings and numbers in long syntax, mappings as
/// written; the whole list as it is when one string cannot be parsed.
fn raw_ports(v: &Value) -> Value {
    let Some(items) = v.as_array() else {
        return v.clone();
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(_) | Value::Number(_) => match ports::parse_spec(&text(item)) {
                Ok(parsed) => out.extend(parsed),
                Err(_) => return v.clone(),
            },
            other => out.push(other.clone()),
        }
    }
    Value::Array(out)
}

/// `transform/defaults.go`'s port defaults, which the map model shows on every long entry.
pub fn raw_port_defaults(svc: &mut Map<String, Value>) {
    if let Some(Value::Array(ports)) = svc.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("mode").or_insert_with(|| json!("ingress"));
            p.entry("protocol").or_insert_with(|| json!("tcp"));
        }
    }
}

/// `secrets:` / `configs:` entries in long syntax, modes as written.
fn raw_file_refs(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|r| match r {
                    Value::String(s) => json!({"source": s}),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_deploy(deploy: &mut Map<String, Value>, p: &str) -> Result<(), LoadError> {
    update(deploy, p, "labels", |v| {
        list_or_dict(v, &format!("{p}.labels"), false)
    })?;
    if let Some(resources) = sub_map(deploy, "resources") {
        for kind in ["limits", "reservations"] {
            if let Some(r) = sub_map(resources, kind) {
                update(r, p, "memory", |v| {
                    bytes(v, &format!("{p}.resources.{kind}.memory"))
                })?;
                update(r, p, "cpus", |v| Ok(float(v)))?;
            }
        }
    }
    for (section, keys) in [
        ("restart_policy", &["delay", "window"][..]),
        ("update_config", &["delay", "monitor"]),
        ("rollback_config", &["delay", "monitor"]),
    ] {
        if let Some(s) = sub_map(deploy, section) {
            for key in keys {
                update(s, p, key, |v| duration(v, &format!("{p}.{section}.{key}")))?;
            }
        }
    }
    Ok(())
}

fn build(v: &Value, p: &str) -> Result<Value, LoadError> {
    let mut b = match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("context".into(), json!(s));
            m
        }
        Value::Object(m) => m.clone(),
        _ => return Ok(v.clone()),
    };
    update(&mut b, p, "args", |v| {
        list_or_dict(v, &format!("{p}.args"), true)
    })?;
    update(&mut b, p, "labels", |v| {
        list_or_dict(v, &format!("{p}.labels"), false)
    })?;
    update(&mut b, p, "additional_contexts", |v| {
        list_or_dict(v, &format!("{p}.additional_contexts"), false)
    })?;
    update(&mut b, p, "extra_hosts", |v| Ok(extra_hosts(v)))?;
    update(&mut b, p, "shm_size", |v| {
        bytes(v, &format!("{p}.shm_size"))
    })?;
    for key in ["cache_from", "cache_to", "tags", "platforms"] {
        update(&mut b, p, key, |v| Ok(string_list(v)))?;
    }
    update(&mut b, p, "secrets", |v| {
        file_refs(v, &format!("{p}.secrets"))
    })?;
    Ok(Value::Object(b))
}

fn env_files(v: &Value) -> Value {
    let items = match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    Value::Array(
        items
            .into_iter()
            .map(|i| match i {
                Value::Object(mut m) => {
                    if !m.contains_key("required") {
                        m.insert("required".into(), json!(true));
                    }
                    Value::Object(m)
                }
                other => json!({"path": text(&other), "required": true}),
            })
            .collect(),
    )
}

fn canonical_ports(v: &Value, p: &str) -> Result<Value, LoadError> {
    let mut out = Vec::new();
    for item in v.as_array().into_iter().flatten() {
        match item {
            Value::Object(m) => out.push(ports::canonical_long(m.clone())),
            Value::String(_) | Value::Number(_) => {
                out.extend(
                    ports::parse_spec(&text(item))
                        .map_err(|e| LoadError::invalid(e.message).at_line(None))?,
                );
            }
            _ => return Err(invalid(p, "must be a string or number")),
        }
    }
    Ok(Value::Array(out))
}

fn canonical_volumes(v: &Value, p: &str) -> Result<Value, LoadError> {
    let mut out = Vec::new();
    for item in v.as_array().into_iter().flatten() {
        match item {
            Value::String(s) => out.push(volumes::parse_short(s)?),
            Value::Object(m) => {
                let mut m = m.clone();
                if let Some(t) = m.get("target").and_then(Value::as_str) {
                    let cleaned = volumes::clean_path(t);
                    m.insert("target".into(), json!(cleaned));
                }
                if let Some(tmpfs) = sub_map(&mut m, "tmpfs") {
                    update(tmpfs, p, "size", |v| bytes(v, &format!("{p}.tmpfs.size")))?;
                }
                out.push(Value::Object(m));
            }
            _ => return Err(invalid(p, "must be a string or mapping")),
        }
    }
    Ok(Value::Array(out))
}

fn depends_on(v: &Value) -> Value {
    let mut out = Map::new();
    match v {
        Value::Array(items) => {
            for i in items {
                out.insert(
                    text(i),
                    json!({"condition": "service_started", "required": true}),
                );
            }
        }
        Value::Object(m) => {
            for (name, cfg) in m {
                let mut c = cfg.as_object().cloned().unwrap_or_default();
                let mut entry = Map::new();
                entry.insert(
                    "condition".into(),
                    c.remove("condition")
                        .unwrap_or_else(|| json!("service_started")),
                );
                if let Some(restart) = c.remove("restart") {
                    entry.insert("restart".into(), restart);
                }
                entry.insert(
                    "required".into(),
                    c.remove("required").unwrap_or(json!(true)),
                );
                entry.extend(c);
                out.insert(name.clone(), Value::Object(entry));
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn names_map(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            Value::Object(items.iter().map(|i| (text(i), Value::Null)).collect())
        }
        other => other.clone(),
    }
}

fn extra_hosts(v: &Value) -> Value {
    let mut list: Vec<String> = Vec::new();
    match v {
        Value::Object(m) => {
            for (host, ips) in m {
                match ips {
                    Value::Array(ips) => {
                        list.extend(ips.iter().map(|ip| format!("{host}={}", text(ip))))
                    }
                    ip => list.push(format!("{host}={}", text(ip))),
                }
            }
        }
        other => {
            for entry in string_list(other).as_array().into_iter().flatten() {
                let s = text(entry);
                let normalized = match s.split_once('=') {
                    Some(_) => s,
                    None => s
                        .split_once(':')
                        .map_or(s.clone(), |(h, ip)| format!("{h}={ip}")),
                };
                list.push(normalized);
            }
        }
    }
    list.sort();
    list.dedup();
    json!(list)
}

fn devices(v: &Value) -> Value {
    Value::Array(
        v.as_array()
            .into_iter()
            .flatten()
            .map(|d| match d {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    let source = parts[0];
                    let target = parts.get(1).copied().unwrap_or(source);
                    let permissions = parts.get(2).copied().unwrap_or("rwm");
                    json!({"source": source, "target": target, "permissions": permissions})
                }
                other => other.clone(),
            })
            .collect(),
    )
}

/// A service's `secrets:` / `configs:` (or build secrets) in long syntax, `mode` as
/// compose-go prints its `FileMode`: `0` and the octal digits (a string mode is octal).
fn file_refs(v: &Value, p: &str) -> Result<Value, LoadError> {
    let Some(items) = v.as_array() else {
        return Ok(v.clone());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Value::String(s) => Ok(json!({"source": s})),
            Value::Object(m) => {
                let mut m = m.clone();
                if let Some(mode) = m.get("mode") {
                    let shown = file_mode(mode).ok_or_else(|| {
                        // mapstructure's wording, with its `services[web]` paths
                        let (head, tail) = p.split_once('.').unwrap_or((p, ""));
                        let (service, rest) = tail.split_once('.').unwrap_or((tail, ""));
                        LoadError::invalid(format!(
                            "decoding failed due to the following error(s):\n\n\
                             '{head}[{service}].{rest}[{i}].mode' strconv.ParseInt: \
                             parsing {:?}: invalid syntax",
                            text(mode)
                        ))
                    })?;
                    m.insert("mode".into(), json!(shown));
                }
                Ok(Value::Object(m))
            }
            other => Ok(other.clone()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Go's `fmt.Sprintf("0%o", mode)` of a number, or of a string read as octal.
fn file_mode(v: &Value) -> Option<String> {
    let n = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => {
            let (neg, digits) = s
                .strip_prefix('-')
                .map_or((false, s.as_str()), |d| (true, d));
            let n = i64::from_str_radix(digits.strip_prefix('+').unwrap_or(digits), 8).ok()?;
            if neg { -n } else { n }
        }
        _ => return None,
    };
    Some(if n < 0 {
        format!("0-{:o}", n.unsigned_abs())
    } else {
        format!("0{n:o}")
    })
}

fn healthcheck(v: &Value, p: &str) -> Result<Value, LoadError> {
    let Some(m) = v.as_object() else {
        return Ok(v.clone());
    };
    let mut h = m.clone();
    update(&mut h, p, "test", |t| {
        Ok(match t {
            Value::String(s) => json!(["CMD-SHELL", s]),
            other => string_list(other),
        })
    })?;
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        update(&mut h, p, key, |d| duration(d, &format!("{p}.{key}")))?;
    }
    Ok(Value::Object(h))
}

/// Fills in compose's defaults for a canonical service (`transform/defaults.go`): build
/// context, bind options, secret targets; and unless `normalize` is false (`config
/// --no-normalize`), `loader/normalize.go`'s: dockerfile, `pull_policy`, default network,
/// implicit `depends_on` from links / `service:` modes / volumes_from.
pub fn apply_service_defaults(svc: &mut Map<String, Value>, normalize: bool) {
    if let Some(b) = sub_map(svc, "build") {
        if !b.contains_key("context") {
            b.insert("context".into(), json!("."));
        }
        if normalize && !b.contains_key("dockerfile") && !b.contains_key("dockerfile_inline") {
            b.insert("dockerfile".into(), json!("Dockerfile"));
        }
    }
    if let Some(Value::Array(secrets)) = svc.get_mut("secrets") {
        for s in secrets.iter_mut().filter_map(Value::as_object_mut) {
            if !s.contains_key("target")
                && let Some(source) = s.get("source").map(text)
            {
                s.insert("target".into(), json!(format!("/run/secrets/{source}")));
            }
        }
    }
    if !normalize {
        return;
    }
    if svc.get("pull_policy").and_then(Value::as_str) == Some("if_not_present") {
        svc.insert("pull_policy".into(), json!("missing"));
    }
    if !svc.contains_key("networks") && !svc.contains_key("network_mode") {
        svc.insert("networks".into(), json!({"default": null}));
    }
    implicit_dependencies(svc);
}

/// What compose-go's types omit and its map model keeps: a bind mount's `create_host_path` when
/// true (its default), a dependency's `restart` when false.
pub fn omit_struct_defaults(svc: &mut Map<String, Value>) {
    if let Some(Value::Object(deps)) = svc.get_mut("depends_on") {
        for dep in deps.values_mut().filter_map(Value::as_object_mut) {
            if dep.get("restart") == Some(&json!(false)) {
                dep.remove("restart");
            }
        }
    }
    if let Some(Value::Array(vols)) = svc.get_mut("volumes") {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::Object(b)) = v.get_mut("bind")
                && b.get("create_host_path") == Some(&json!(true))
            {
                b.remove("create_host_path");
            }
        }
    }
}

/// Service names referenced by a list key (`links: [db:alias]`, `volumes_from: [data:ro]`),
/// skipping `container:` references.
fn referenced_services(svc: &Map<String, Value>, key: &str) -> Vec<String> {
    svc.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(text)
        .filter(|r| !r.starts_with("container:"))
        .map(|r| r.split_once(':').map_or(r.as_str(), |(n, _)| n).to_string())
        .collect()
}

fn implicit_dependencies(svc: &mut Map<String, Value>) {
    let mut implicit: Vec<(String, bool)> = referenced_services(svc, "links")
        .into_iter()
        .map(|name| (name, true))
        .collect();
    for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(target) = svc
            .get(key)
            .and_then(Value::as_str)
            .and_then(|m| m.strip_prefix("service:"))
        {
            implicit.push((target.to_string(), true));
        }
    }
    implicit.extend(
        referenced_services(svc, "volumes_from")
            .into_iter()
            .map(|name| (name, false)),
    );
    if implicit.is_empty() {
        return;
    }
    let deps = svc.entry("depends_on").or_insert_with(|| json!({}));
    if let Value::Object(deps) = deps {
        for (name, restart) in implicit {
            if !deps.contains_key(&name) {
                let entry =
                    json!({"condition": "service_started", "restart": restart, "required": true});
                deps.insert(name, entry);
            }
        }
    }
}

fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// Makes a path absolute against `dir` (`~` uses `home`), cleaning it as Go's `filepath.Join`.
pub fn absolute(path: &str, dir: &Path, home: Option<&str>) -> String {
    let expanded = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => path.to_string(),
    };
    if expanded.starts_with('/')
        || volumes::is_bind_source(&expanded) && !expanded.starts_with(['.', '~'])
    {
        volumes::clean_path(&expanded)
    } else {
        volumes::clean_path(&format!("{}/{expanded}", dir.display()))
    }
}

/// Resolves a canonical service's relative paths (build context, bind sources, env_file,
/// label_file) against `dir`, the directory of the file that defined them.
pub fn resolve_service_paths(svc: &mut Map<String, Value>, dir: &Path, home: Option<&str>) {
    if let Some(b) = sub_map(svc, "build") {
        // a missing context defaults later, against the project directory (not against the
        // directory of a file a service extends)
        if let Some(context) = b.get("context").map(text)
            && !is_remote(&context)
        {
            b.insert("context".into(), json!(absolute(&context, dir, home)));
        }
        if let Some(Value::Object(contexts)) = b.get_mut("additional_contexts") {
            for v in contexts.values_mut() {
                let s = text(v);
                if !is_remote(&s) && !s.contains(':') {
                    *v = json!(absolute(&s, dir, home));
                }
            }
        }
    }
    if let Some(Value::Array(vols)) = svc.get_mut("volumes") {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            if v.get("type").and_then(Value::as_str) == Some("bind")
                && let Some(source) = v.get("source").map(text)
            {
                v.insert("source".into(), json!(absolute(&source, dir, home)));
            }
        }
    }
    if let Some(Value::Array(files)) = svc.get_mut("env_file") {
        for f in files.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(path) = f.get("path").map(text) {
                f.insert("path".into(), json!(absolute(&path, dir, home)));
            }
        }
    }
    if let Some(Value::Array(files)) = svc.get_mut("label_file") {
        for f in files.iter_mut() {
            *f = json!(absolute(&text(f), dir, home));
        }
    }
}

/// Canonical syntax of top-level resources: `labels` as a map, `driver_opts` values as strings.
pub fn canonical_resources(model: &mut Map<String, Value>) -> Result<(), LoadError> {
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(Value::Object(items)) = model.get_mut(kind) else {
            continue;
        };
        for (name, item) in items.iter_mut() {
            let Value::Object(m) = item else { continue };
            let p = format!("{kind}.{name}");
            update(m, &p, "labels", |v| {
                list_or_dict(v, &format!("{p}.labels"), false)
            })?;
            update(m, &p, "driver_opts", |v| {
                Ok(match v {
                    Value::Object(opts) => Value::Object(
                        opts.iter()
                            .map(|(k, v)| (k.clone(), json!(text(v))))
                            .collect(),
                    ),
                    other => other.clone(),
                })
            })?;
        }
    }
    Ok(())
}

/// Resolves top-level secret/config `file` paths against `dir`.
pub fn resolve_resource_paths(model: &mut Map<String, Value>, dir: &Path, home: Option<&str>) {
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(items)) = model.get_mut(kind) {
            for item in items.values_mut().filter_map(Value::as_object_mut) {
                if let Some(file) = item.get("file").map(text) {
                    item.insert("file".into(), json!(absolute(&file, dir, home)));
                }
            }
        }
    }
}

/// Fills valueless `environment` entries from `lookup` (left null when unknown).
pub fn resolve_valueless_environment(svc: &mut Map<String, Value>, lookup: Lookup<'_>) {
    if let Some(Value::Object(env)) = svc.get_mut("environment") {
        for (k, v) in env.iter_mut() {
            if v.is_null()
                && let Some(value) = lookup(k)
            {
                *v = json!(value);
            }
        }
    }
}

/// Top-level networks/volumes/secrets/configs: null → `{}`; and unless `normalize` is false
/// (`config --no-normalize`), the `name` compose derives (`<project>_<key>`, or the key itself
/// when external) and the `default` network when used.
pub fn finish_resources(model: &mut Map<String, Value>, project: &str, normalize: bool) {
    let uses_default = normalize
        && model
            .get("services")
            .and_then(Value::as_object)
            .is_some_and(|s| {
                s.values()
                    .any(|svc| svc.get("networks").and_then(|n| n.get("default")).is_some())
            });
    if uses_default {
        let networks = model.entry("networks").or_insert_with(|| json!({}));
        if let Value::Object(n) = networks
            && !n.contains_key("default")
        {
            n.insert("default".into(), Value::Null);
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = model.get_mut(kind) {
            for (key, item) in items.iter_mut() {
                if item.is_null() {
                    *item = json!({});
                }
                // legacy `external: {name: x}` means `external: true, name: x`
                if let Some(Value::Object(legacy)) = item.get("external").cloned()
                    && let Value::Object(m) = item
                {
                    m.insert("external".into(), json!(true));
                    if let Some(name) = legacy.get("name") {
                        m.entry("name").or_insert_with(|| name.clone());
                    }
                }
                if let Value::Object(m) = item
                    && normalize
                    && !m.contains_key("name")
                {
                    let external = m.get("external").is_some_and(|e| e == &json!(true));
                    let name = if external {
                        key.clone()
                    } else {
                        format!("{project}_{key}")
                    };
                    m.insert("name".into(), json!(name));
                }
            }
        }
    }
}

/// Adds the labels of `label_file` files (dotenv syntax; explicit `labels` win) and drops
/// `label_file`.
pub fn resolve_label_files(
    svc: &mut Map<String, Value>,
    read: ReadEnvFile<'_>,
) -> Result<(), LoadError> {
    let Some(Value::Array(files)) = svc.remove("label_file") else {
        return Ok(());
    };
    let mut labels = svc
        .get("labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for f in files {
        let path = text(&f);
        let Some(content) = read(&path, true)? else {
            continue;
        };
        let parsed = super::dotenv::parse(&content, &|_| None).map_err(|e| {
            LoadError::invalid(format!("failed to read label file {path}: {e}"))
                .in_file(Path::new(&path))
                .at_line(Some(e.line))
        })?;
        for (k, v) in parsed {
            labels.entry(k).or_insert(json!(v));
        }
    }
    svc.insert("labels".into(), Value::Object(labels));
    Ok(())
}

/// An `env_file` left unresolved, as compose-go prints it: `required` only when false.
pub fn unresolved_env_files(svc: &mut Map<String, Value>) {
    if let Some(Value::Array(files)) = svc.get_mut("env_file") {
        for f in files.iter_mut().filter_map(Value::as_object_mut) {
            if f.get("required") == Some(&json!(true)) {
                f.shift_remove("required");
            }
        }
    }
}

/// Build args without a value take the project environment's, or are dropped (compose-go's
/// `Args.Resolve(lookup).RemoveEmpty()`); no args left, no `args`.
pub fn resolve_build_args(svc: &mut Map<String, Value>, project_env: &IndexMap<String, String>) {
    let Some(build) = sub_map(svc, "build") else {
        return;
    };
    if let Some(Value::Object(args)) = build.get_mut("args") {
        let resolved = std::mem::take(args)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Null => project_env.get(&k).map(|value| (k, json!(value))),
                v => Some((k, v)),
            })
            .collect();
        *args = resolved;
        if args.is_empty() {
            build.remove("args");
        }
    }
}

/// Resolves env_file into environment (`WithServicesEnvironmentResolved`): each file in order
/// (later wins), its `${X}` looking up the project env first, then the service's environment;
/// explicit `environment` entries win, null ones included. `env_file` is dropped.
pub fn resolve_env_files(
    svc: &mut Map<String, Value>,
    project_env: &IndexMap<String, String>,
    read: ReadEnvFile<'_>,
) -> Result<(), LoadError> {
    let Some(Value::Array(files)) = svc.remove("env_file") else {
        return Ok(());
    };
    let environment = svc
        .get("environment")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut from_files: IndexMap<String, String> = IndexMap::new();
    for f in files {
        let path = f.get("path").map(text).unwrap_or_default();
        let required = f.get("required") != Some(&json!(false));
        if let Some(format) = f
            .get("format")
            .map(text)
            .filter(|f| !f.is_empty() && f != "raw" && f != "dotenv")
        {
            return Err(LoadError::invalid(format!(
                "unsupported env_file format {format:?}"
            )));
        }
        let Some(content) = read(&path, required)? else {
            continue;
        };
        let lookup = |k: &str| {
            project_env.get(k).cloned().or_else(|| {
                environment
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        };
        let earlier = |k: &str| from_files.get(k).cloned();
        let format = f.get("format").map(text).unwrap_or_default();
        let parsed = if format == "raw" {
            super::dotenv::parse_raw(&content)
        } else {
            super::dotenv::parse_layered(&content, &lookup, &earlier).map_err(|e| {
                LoadError::invalid(format!("failed to read {path}: {e}"))
                    .in_file(Path::new(&path))
                    .at_line(Some(e.line))
            })?
        };
        from_files.extend(parsed);
    }
    let mut merged: Map<String, Value> =
        from_files.into_iter().map(|(k, v)| (k, json!(v))).collect();
    for (k, v) in environment {
        merged.insert(k, v);
    }
    // an empty environment is no environment (compose-go omits it)
    if !merged.is_empty() {
        svc.insert("environment".into(), Value::Object(merged));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(v: Value) -> Result<Value, LoadError> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        canonical_service("s", &mut m)?;
        Ok(Value::Object(m))
    }

    #[test]
    fn short_syntax_becomes_long() {
        let s = canon(json!({
            "environment": ["A=1", "B"], "labels": {"x": 1}, "command": "sh -c 'echo hi'",
            "depends_on": ["db"], "networks": ["n"], "dns": "8.8.8.8", "build": ".",
            "healthcheck": {"test": "true", "interval": "90s"}, "extra_hosts": {"b": "1.1.1.1", "a": ["2.2.2.2"]},
            "env_file": "x.env", "shm_size": "1k", "pull_policy": "if_not_present"
        }))
        .expect("ok");
        assert_eq!(s["environment"], json!({"A": "1", "B": null}));
        assert_eq!(s["labels"], json!({"x": "1"}));
        assert_eq!(s["command"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(
            s["depends_on"],
            json!({"db": {"condition": "service_started", "required": true}})
        );
        assert_eq!(s["networks"], json!({"n": null}));
        assert_eq!(s["dns"], json!(["8.8.8.8"]));
        assert_eq!(s["build"], json!({"context": "."}));
        assert_eq!(
            s["healthcheck"],
            json!({"test": ["CMD-SHELL", "true"], "interval": "1m30s"})
        );
        assert_eq!(s["extra_hosts"], json!(["a=2.2.2.2", "b=1.1.1.1"]));
        assert_eq!(s["env_file"], json!([{"path": "x.env", "required": true}]));
        assert_eq!(s["shm_size"], json!("1024"));
        // normalisation's, not the canonical syntax's
        assert_eq!(s["pull_policy"], json!("if_not_present"));
    }

    /// `--no-interpolate`'s map model: compose-go's transform.Canonical only.
    #[test]
    fn raw_canonical_syntax_keeps_what_the_types_would_change() -> Result<(), LoadError> {
        let mut s = json!({
            "environment": ["A=1"], "command": "echo hi", "build": ".", "ports": ["${P}:80", "81"],
            "volumes": ["./a:/a"], "secrets": ["s"], "depends_on": {"db": {"restart": false}}, "dns": "d"
        })
        .as_object()
        .cloned()
        .expect("map");
        canonical_service_raw(&mut s)?;
        assert_eq!(s["environment"], json!(["A=1"]));
        assert_eq!(s["command"], json!("echo hi"));
        assert_eq!(s["build"], json!({"context": "."}));
        assert_eq!(s["ports"], json!(["${P}:80", "81"]));
        assert_eq!(s["volumes"][0]["bind"], json!({"create_host_path": true}));
        assert_eq!(s["secrets"], json!([{"source": "s"}]));
        assert_eq!(
            s["depends_on"]["db"],
            json!({"condition": "service_started", "restart": false, "required": true})
        );
        assert_eq!(s["dns"], json!(["d"]));
        let mut bad = json!({"volumes": ["/foo::rw"]})
            .as_object()
            .cloned()
            .expect("map");
        assert!(canonical_service_raw(&mut bad).is_err());
        Ok(())
    }

    #[test]
    fn environment_errors() {
        let e = canon(json!({"environment": {"FOO": ["1"]}})).expect_err("list value");
        assert_eq!(
            e.message,
            "services.s.environment.FOO must be a boolean, null, number or string"
        );
        let e = canon(json!({"environment": "FOO=1"})).expect_err("string");
        assert_eq!(e.message, "services.s.environment must be a mapping");
        let e = canon(json!({"environment": ["DEBUG = true"]})).expect_err("space");
        assert_eq!(
            e.message,
            "environment variable DEBUG  is declared with a trailing space"
        );
    }

    #[test]
    fn file_modes_print_as_go_octal() {
        let refs = json!([{"source": "a", "mode": 288}, {"source": "b", "mode": "0600"}, "c"]);
        assert_eq!(
            file_refs(&refs, "services.web.secrets").expect("valid"),
            json!([{"source": "a", "mode": "0440"}, {"source": "b", "mode": "0600"}, {"source": "c"}])
        );
        let e = file_refs(
            &json!([{"source": "a", "mode": "abc"}]),
            "services.web.secrets",
        )
        .expect_err("not octal");
        assert!(e.message.ends_with(
            "'services[web].secrets[0].mode' strconv.ParseInt: parsing \"abc\": invalid syntax"
        ));
    }

    #[test]
    fn build_args_without_value_come_from_the_environment_or_go() {
        let mut svc = json!({"build": {"args": {"SET": null, "UNSET": null, "GIVEN": "1"}}})
            .as_object()
            .cloned()
            .expect("map");
        let env = IndexMap::from([("SET".to_string(), "x".to_string())]);
        resolve_build_args(&mut svc, &env);
        assert_eq!(svc["build"]["args"], json!({"SET": "x", "GIVEN": "1"}));
        let mut svc = json!({"build": {"args": {"UNSET": null}}})
            .as_object()
            .cloned()
            .expect("map");
        resolve_build_args(&mut svc, &IndexMap::new());
        assert_eq!(svc["build"], json!({}));
    }

    #[test]
    fn defaults_and_implicit_dependencies() {
        let mut m = json!({"build": {"target": "t"}, "links": ["db:alias"], "volumes_from": ["data", "container:x"],
            "volumes": [{"type": "bind", "source": "./a", "target": "/a"}, {"type": "bind", "source": "/b", "target": "/b", "bind": {"create_host_path": true}}],
            "secrets": [{"source": "s"}]})
        .as_object()
        .cloned()
        .expect("map");
        apply_service_defaults(&mut m, true);
        omit_struct_defaults(&mut m);
        resolve_service_paths(&mut m, Path::new("/p"), None);
        assert_eq!(
            m["build"],
            json!({"target": "t", "context": "/p", "dockerfile": "Dockerfile"})
        );
        assert_eq!(
            m["volumes"][0],
            json!({"type": "bind", "source": "/p/a", "target": "/a"})
        );
        // compose-go omits create_host_path when true (its default), and adds no `bind` itself
        assert_eq!(m["volumes"][1]["bind"], json!({}));
        assert_eq!(m["networks"], json!({"default": null}));
        assert_eq!(m["secrets"][0]["target"], json!("/run/secrets/s"));
        assert_eq!(
            m["depends_on"]["db"],
            json!({"condition": "service_started", "restart": true, "required": true})
        );
        assert_eq!(
            m["depends_on"]["data"],
            json!({"condition": "service_started", "required": true})
        );
        assert!(m["depends_on"].get("container:x").is_none());
        let mut m = json!({"build": {}, "pull_policy": "if_not_present"})
            .as_object()
            .cloned()
            .expect("map");
        apply_service_defaults(&mut m, false);
        assert_eq!(
            (&m["build"], &m["pull_policy"]),
            (&json!({"context": "."}), &json!("if_not_present"))
        );
        assert!(m.get("networks").is_none());
    }

    #[test]
    fn env_files_resolve_into_environment() {
        let mut m = json!({
            "environment": {"EXPLICIT": "e", "UNSET": null, "FROM_SVC": "svc"},
            "env_file": [{"path": "/a.env", "required": true}, {"path": "/raw.env", "format": "raw", "required": true},
                         {"path": "/missing.env", "required": false}]
        })
        .as_object()
        .cloned()
        .expect("map");
        let read = |p: &str, _: bool| {
            Ok(match p {
                "/a.env" => {
                    Some("EXPLICIT=file\nUNSET=file\nP=${PROJECT}\nS=${FROM_SVC}\n".to_string())
                }
                "/raw.env" => Some("R=${P}\n".to_string()),
                _ => None,
            })
        };
        let env: IndexMap<String, String> = [("PROJECT".to_string(), "p".to_string())]
            .into_iter()
            .collect();
        resolve_env_files(&mut m, &env, &read).expect("resolves");
        assert_eq!(
            Value::Object(m),
            json!({"environment": {"EXPLICIT": "e", "UNSET": null, "P": "p", "S": "svc", "R": "${P}", "FROM_SVC": "svc"}})
        );
    }

    #[test]
    fn label_files_fill_missing_labels() {
        let mut m = json!({"labels": {"a": "explicit"}, "label_file": ["/l"]})
            .as_object()
            .cloned()
            .expect("map");
        let read = |_: &str, _: bool| Ok(Some("a=file\nb=file\n".to_string()));
        resolve_label_files(&mut m, &read).expect("resolves");
        assert_eq!(
            Value::Object(m),
            json!({"labels": {"a": "explicit", "b": "file"}})
        );
    }

    #[test]
    fn resource_syntax() {
        let mut m = json!({"volumes": {"v": {"labels": ["a=b"], "driver_opts": {"size": 5}}}})
            .as_object()
            .cloned()
            .expect("map");
        canonical_resources(&mut m).expect("ok");
        assert_eq!(
            Value::Object(m),
            json!({"volumes": {"v": {"labels": {"a": "b"}, "driver_opts": {"size": "5"}}}})
        );
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(absolute("..", Path::new("/p/sub"), None), "/p");
        assert_eq!(
            absolute("~/x", Path::new("/p"), Some("/home/u")),
            "/home/u/x"
        );
        assert_eq!(absolute("/abs/./y", Path::new("/p"), None), "/abs/y");
    }

    #[test]
    fn resources_get_names() {
        let mut m = json!({"services": {"a": {"networks": {"default": null}}}, "volumes": {"v": null, "e": {"external": true}, "l": {"external": {"name": "old"}}}})
            .as_object()
            .cloned()
            .expect("map");
        finish_resources(&mut m, "p", true);
        assert_eq!(
            m["volumes"],
            json!({"v": {"name": "p_v"}, "e": {"external": true, "name": "e"}, "l": {"external": true, "name": "old"}})
        );
        assert_eq!(m["networks"], json!({"default": {"name": "p_default"}}));
    }
}
