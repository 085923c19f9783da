//! A container's environment and command line, built as the kubelet and containerd build them.
//!
//! Order (kubelet `makeEnvironmentVariables`): `envFrom` sources, then `env` entries, each
//! `value` expanded with `$(VAR)` against the variables defined before it; then command and
//! args are expanded against the result. The runtime then merges the image's `ENV` under the
//! container's variables and adds `HOSTNAME` (containerd), `TERM=xterm` for a TTY (containerd)
//! and `HOME` (runc, from `/etc/passwd`) when missing.
//!
//! # Caveats
//! Service-link variables (`enableServiceLinks`) and `resourceFieldRef` are not produced.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use base64::Engine;
use serde_json::Value;

use super::expand::expand;
use super::image::ImageConfig;
use crate::store::{Store, str_at};

/// Why a container's configuration could not be built: a `CreateContainerConfigError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A referenced ConfigMap or Secret does not exist.
    #[error("{kind} \"{name}\" not found")]
    Missing {
        /// `configmap` or `secret`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A referenced key is not in it.
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    MissingKey {
        /// The key.
        key: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
    /// A field reference the simulator does not know.
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
}

/// Variables as raw name/value bytes, in definition order (later ones override).
pub type Vars = Vec<(Vec<u8>, Vec<u8>)>;

/// The data of a ConfigMap (`data` plus `binaryData`) or Secret (`data`, decoded), by key.
pub fn source_data(
    store: &Store,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> Option<Vec<(String, Vec<u8>)>> {
    let (resource, object) = match kind {
        "secret" => ("secrets", store.get("secrets", namespace, name)?),
        _ => ("configmaps", store.get("configmaps", namespace, name)?),
    };
    let mut out = Vec::new();
    if let Some(data) = object.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let text = value.as_str().unwrap_or("");
            let bytes = if resource == "secrets" {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            out.push((key.clone(), bytes));
        }
    }
    if let Some(data) = object.get("binaryData").and_then(Value::as_object) {
        for (key, value) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or(""))
                .unwrap_or_default();
            out.push((key.clone(), bytes));
        }
    }
    Some(out)
}

/// The kind word and the capitalised kind used in the key error, for a `*KeyRef`/`*Ref` field.
fn ref_kind(field: &str) -> (&'static str, &'static str) {
    if field.starts_with("secret") {
        ("secret", "Secret")
    } else {
        ("configmap", "ConfigMap")
    }
}

/// Resolves `fieldRef.fieldPath` against the pod.
fn field_ref(pod: &Value, path: &str) -> Result<String, ConfigError> {
    let simple = |pointer: &str| Ok(str_at(pod, pointer).to_owned());
    match path {
        "metadata.name" => simple("/metadata/name"),
        "metadata.namespace" => simple("/metadata/namespace"),
        "metadata.uid" => simple("/metadata/uid"),
        "spec.nodeName" => simple("/spec/nodeName"),
        "spec.serviceAccountName" => simple("/spec/serviceAccountName"),
        "status.hostIP" | "status.hostIPs" => simple("/status/hostIP"),
        "status.podIP" | "status.podIPs" => simple("/status/podIP"),
        other => {
            for (prefix, field) in [
                ("metadata.labels['", "labels"),
                ("metadata.annotations['", "annotations"),
            ] {
                if let Some(key) = other
                    .strip_prefix(prefix)
                    .and_then(|k| k.strip_suffix("']"))
                {
                    return Ok(pod["metadata"][field][key]
                        .as_str()
                        .unwrap_or("")
                        .to_owned());
                }
            }
            Err(ConfigError::FieldPath(other.to_owned()))
        }
    }
}

/// The container's variables (without the image's), in order, later ones overriding.
pub fn container_env(store: &Store, pod: &Value, container: &Value) -> Result<Vars, ConfigError> {
    let namespace = str_at(pod, "/metadata/namespace");
    let mut vars: Vars = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or("");
        for field in ["configMapRef", "secretRef"] {
            let Some(reference) = source.get(field) else {
                continue;
            };
            let (kind, _) = ref_kind(field);
            let name = reference["name"].as_str().unwrap_or("");
            match source_data(store, kind, namespace, name) {
                Some(data) => {
                    for (key, value) in data {
                        vars.push((format!("{prefix}{key}").into_bytes(), value));
                    }
                }
                None if reference["optional"].as_bool() == Some(true) => {}
                None => {
                    return Err(ConfigError::Missing {
                        kind,
                        name: name.to_owned(),
                    });
                }
            }
        }
    }
    let mut mapping = defined_snapshot(&vars);
    for entry in container["env"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().unwrap_or("").as_bytes().to_vec();
        let value = if let Some(value) = entry.get("value").and_then(Value::as_str) {
            expand(value.as_bytes(), &mapping)
        } else if let Some(from) = entry.get("valueFrom") {
            match value_from(store, pod, namespace, from)? {
                Some(value) => value,
                None => continue,
            }
        } else {
            Vec::new()
        };
        mapping.insert(name.clone(), value.clone());
        vars.push((name, value));
    }
    Ok(vars)
}

fn defined_snapshot(vars: &[(Vec<u8>, Vec<u8>)]) -> HashMap<Vec<u8>, Vec<u8>> {
    vars.iter().cloned().collect()
}

/// One `valueFrom`; `None` for an optional reference that is missing.
fn value_from(
    store: &Store,
    pod: &Value,
    namespace: &str,
    from: &Value,
) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(field) = from.get("fieldRef") {
        return field_ref(pod, field["fieldPath"].as_str().unwrap_or(""))
            .map(|v| Some(v.into_bytes()));
    }
    for field in ["configMapKeyRef", "secretKeyRef"] {
        let Some(reference) = from.get(field) else {
            continue;
        };
        let (kind, kind_title) = ref_kind(field);
        let name = reference["name"].as_str().unwrap_or("");
        let key = reference["key"].as_str().unwrap_or("");
        let optional = reference["optional"].as_bool() == Some(true);
        let Some(data) = source_data(store, kind, namespace, name) else {
            if optional {
                return Ok(None);
            }
            return Err(ConfigError::Missing {
                kind,
                name: name.to_owned(),
            });
        };
        return match data.into_iter().find(|(k, _)| k == key) {
            Some((_, value)) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(ConfigError::MissingKey {
                key: key.to_owned(),
                kind: kind_title,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
        };
    }
    Ok(Some(Vec::new()))
}

/// The command line: pod `command`/`args` expanded against `vars`, combined with the image's
/// entrypoint and cmd as the runtime does.
pub fn command_line(container: &Value, image: &ImageConfig, vars: &Vars) -> Vec<OsString> {
    let mapping = defined_snapshot(vars);
    let list = |field: &str| -> Option<Vec<Vec<u8>>> {
        container.get(field).and_then(Value::as_array).map(|items| {
            items
                .iter()
                .map(|item| expand(item.as_str().unwrap_or("").as_bytes(), &mapping))
                .collect()
        })
    };
    let image_list = |items: &[String]| {
        items
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let argv = match (list("command"), list("args")) {
        (Some(command), Some(args)) => [command, args].concat(),
        (Some(command), None) => command,
        (None, Some(args)) => [image_list(&image.entrypoint), args].concat(),
        (None, None) => [image_list(&image.entrypoint), image_list(&image.cmd)].concat(),
    };
    argv.into_iter().map(OsString::from_vec).collect()
}

/// The process environment: image `ENV`, then the container's variables, then what the
/// runtime adds when missing (`HOSTNAME`, `TERM` for a TTY, `HOME`: the user's home).
pub fn process_env(
    image: &ImageConfig,
    vars: &Vars,
    hostname: &str,
    tty: bool,
    home: &str,
) -> Vec<(OsString, OsString)> {
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let set = |merged: &mut Vec<(Vec<u8>, Vec<u8>)>, name: Vec<u8>, value: Vec<u8>| match merged
        .iter_mut()
        .find(|(k, _)| *k == name)
    {
        Some(slot) => slot.1 = value,
        None => merged.push((name, value)),
    };
    for (name, value) in &image.env {
        set(
            &mut merged,
            name.as_bytes().to_vec(),
            value.as_bytes().to_vec(),
        );
    }
    set(
        &mut merged,
        b"HOSTNAME".to_vec(),
        hostname.as_bytes().to_vec(),
    );
    if tty {
        set(&mut merged, b"TERM".to_vec(), b"xterm".to_vec());
    }
    for (name, value) in vars {
        set(&mut merged, name.clone(), value.clone());
    }
    if !merged.iter().any(|(k, _)| k == b"HOME") {
        merged.push((b"HOME".to_vec(), home.as_bytes().to_vec()));
    }
    merged
        .into_iter()
        .map(|(k, v)| (OsString::from_vec(k), OsString::from_vec(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn busybox() -> ImageConfig {
        ImageConfig {
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec![("PATH".into(), "/bin".into())],
            working_dir: "/".into(),
            size: 1,
            digest: String::new(),
        }
    }

    #[test]
    fn env_expands_in_order_and_feeds_the_command() {
        let store = Store::default();
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}});
        let container = json!({
            "env": [
                {"name": "A", "value": "a"},
                {"name": "B", "value": "$(A)-$(C)-$$(A)"},
                {"name": "C", "value": "c"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "command": ["echo", "$(B)", "$(POD)", "$$HOME"],
        });
        let vars = container_env(&store, &pod, &container).unwrap();
        assert_eq!(vars[1].1, b"a-$(C)-$(A)".to_vec());
        let argv = command_line(&container, &busybox(), &vars);
        assert_eq!(argv, vec!["echo", "a-$(C)-$(A)", "p", "$HOME"]);
        let env = process_env(&busybox(), &vars, "p", false, "/root");
        assert!(env.contains(&("HOME".into(), "/root".into())));
        assert!(env.contains(&("HOSTNAME".into(), "p".into())));
    }

    #[test]
    fn image_defaults_fill_the_command() {
        let argv = |c: Value| command_line(&c, &busybox(), &Vec::new());
        assert_eq!(argv(json!({})), vec!["sh"]);
        assert_eq!(argv(json!({"args": ["-c", "x"]})), vec!["-c", "x"]);
        assert_eq!(argv(json!({"command": ["id"]})), vec!["id"]);
    }

    #[test]
    fn missing_references_are_config_errors() {
        let store = Store::default();
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}});
        let container = json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]});
        assert_eq!(
            container_env(&store, &pod, &container)
                .unwrap_err()
                .to_string(),
            "configmap \"cm\" not found"
        );
        store
            .create(
                "configmaps",
                json!({"metadata": {"name": "cm", "namespace": "default"}, "data": {"j": "1"}}),
            )
            .unwrap();
        assert_eq!(
            container_env(&store, &pod, &container)
                .unwrap_err()
                .to_string(),
            "couldn't find key k in ConfigMap default/cm"
        );
    }
}
