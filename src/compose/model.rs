//! Typed view of compose-go's canonical JSON model (`docker compose config --format json`): the
//! keys planning maps, with every other key kept in `extra` so the planner can warn about it.
//!
//! Deserialisation is lenient where compose-go's own output varies between versions (numbers
//! that may be strings, single strings that may be lists); unknown keys never fail.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The canonical model did not have the shape compose-go produces.
#[derive(Debug, thiserror::Error)]
#[error("the loaded compose model is malformed at {path}: {message}")]
pub struct ModelError {
    /// Where (`services.web.ports`).
    pub path: String,
    /// What serde said.
    pub message: String,
}

/// A loaded compose project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Project {
    /// The project name.
    pub name: String,
    /// Services by name, in file order.
    pub services: IndexMap<String, Service>,
    /// Top-level named volumes.
    pub volumes: IndexMap<String, TopLevelObject>,
    /// Top-level secrets.
    pub secrets: IndexMap<String, TopLevelObject>,
    /// Top-level configs.
    pub configs: IndexMap<String, TopLevelObject>,
    /// Top-level networks (the pod network is flat; kept for warnings).
    pub networks: IndexMap<String, Option<TopLevelObject>>,
}

impl Project {
    /// Reads the canonical JSON the loader produced.
    pub fn from_canonical(v: &Value) -> Result<Project, ModelError> {
        let mut top = v.clone();
        let services = top.as_object_mut().and_then(|m| m.remove("services"));
        let mut project: Project = parse(&top, "")?;
        if let Some(Value::Object(services)) = services {
            for (name, raw) in services {
                let service: Service = parse(&raw, &format!("services.{name}"))?;
                project.services.insert(name, service);
            }
        }
        Ok(project)
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, path: &str) -> Result<T, ModelError> {
    T::deserialize(v).map_err(|e| ModelError {
        path: if path.is_empty() {
            "the top level".into()
        } else {
            path.into()
        },
        message: e.to_string(),
    })
}

/// A top-level volume, secret, config or network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TopLevelObject {
    /// The project-scoped name compose gives it (`<project>_<key>`), or `name:`.
    pub name: Option<String>,
    /// Refers to an object created outside the project.
    #[serde(deserialize_with = "lenient_bool")]
    pub external: bool,
    /// `file:` source (secrets, configs), absolute.
    pub file: Option<String>,
    /// `environment:` source: the project variable holding the content.
    pub environment: Option<String>,
    /// `content:` source (configs).
    pub content: Option<String>,
    /// `driver:`.
    pub driver: Option<String>,
    /// `driver_opts:`.
    pub driver_opts: IndexMap<String, Value>,
    /// `labels:`.
    pub labels: IndexMap<String, String>,
    /// Everything else (`x-*` extensions included).
    #[serde(flatten)]
    pub extra: IndexMap<String, Value>,
}

/// One compose service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    /// `image:`.
    pub image: Option<String>,
    /// `build:` (krun cannot build; only its presence matters).
    pub build: Option<Value>,
    /// `command:` (already split by the loader).
    #[serde(deserialize_with = "string_list_opt")]
    pub command: Option<Vec<String>>,
    /// `entrypoint:`.
    #[serde(deserialize_with = "string_list_opt")]
    pub entrypoint: Option<Vec<String>>,
    /// `environment:` with `env_file` folded in; `None` means "no value anywhere".
    pub environment: IndexMap<String, Option<String>>,
    /// `working_dir:`.
    pub working_dir: Option<String>,
    /// `user:`.
    pub user: Option<String>,
    /// `hostname:`.
    pub hostname: Option<String>,
    /// `domainname:`.
    pub domainname: Option<String>,
    /// `ports:` in long syntax.
    pub ports: Vec<Port>,
    /// `expose:` (`"80"`, `"8000-8010"`, `"53/udp"`).
    #[serde(deserialize_with = "string_list")]
    pub expose: Vec<String>,
    /// `volumes:` in long syntax.
    pub volumes: Vec<ServiceVolume>,
    /// `tmpfs:` targets (`/run:size=64m`).
    #[serde(deserialize_with = "string_list")]
    pub tmpfs: Vec<String>,
    /// `secrets:` references.
    pub secrets: Vec<FileReference>,
    /// `configs:` references.
    pub configs: Vec<FileReference>,
    /// `depends_on:` in long syntax (implicit edges from `links` etc. included by the loader).
    pub depends_on: IndexMap<String, DependsOn>,
    /// `healthcheck:`.
    pub healthcheck: Option<Healthcheck>,
    /// `labels:`.
    #[serde(deserialize_with = "string_map")]
    pub labels: IndexMap<String, String>,
    /// `annotations:`.
    #[serde(deserialize_with = "string_map")]
    pub annotations: IndexMap<String, String>,
    /// `cap_add:`.
    pub cap_add: Vec<String>,
    /// `cap_drop:`.
    pub cap_drop: Vec<String>,
    /// `privileged:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub privileged: bool,
    /// `read_only:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub read_only: bool,
    /// `init:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub init: bool,
    /// `tty:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub tty: bool,
    /// `stdin_open:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub stdin_open: bool,
    /// `restart:` (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    pub restart: Option<String>,
    /// `deploy:`.
    pub deploy: Option<Deploy>,
    /// `scale:`.
    pub scale: Option<i64>,
    /// `stop_grace_period:` (Go duration).
    pub stop_grace_period: Option<String>,
    /// `stop_signal:`.
    pub stop_signal: Option<String>,
    /// `pull_policy:`.
    pub pull_policy: Option<String>,
    /// `network_mode:`.
    pub network_mode: Option<String>,
    /// `networks:` this service joins, with its per-network options.
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    /// `pid:`.
    pub pid: Option<String>,
    /// `ipc:`.
    pub ipc: Option<String>,
    /// `uts:`.
    pub uts: Option<String>,
    /// `userns_mode:`.
    pub userns_mode: Option<String>,
    /// `extra_hosts:` as `host=ip` (or `host:ip`) entries.
    #[serde(deserialize_with = "hosts")]
    pub extra_hosts: Vec<String>,
    /// `dns:`.
    #[serde(deserialize_with = "string_list")]
    pub dns: Vec<String>,
    /// `dns_search:`.
    #[serde(deserialize_with = "string_list")]
    pub dns_search: Vec<String>,
    /// `dns_opt:`.
    #[serde(deserialize_with = "string_list")]
    pub dns_opt: Vec<String>,
    /// `sysctls:`.
    #[serde(deserialize_with = "string_map")]
    pub sysctls: IndexMap<String, String>,
    /// `group_add:`.
    #[serde(deserialize_with = "string_list")]
    pub group_add: Vec<String>,
    /// `security_opt:`.
    pub security_opt: Vec<String>,
    /// `shm_size:` in bytes.
    #[serde(deserialize_with = "opt_number")]
    pub shm_size: Option<f64>,
    /// `mem_limit:` in bytes.
    #[serde(deserialize_with = "opt_number")]
    pub mem_limit: Option<f64>,
    /// `mem_reservation:` in bytes.
    #[serde(deserialize_with = "opt_number")]
    pub mem_reservation: Option<f64>,
    /// `cpus:`.
    #[serde(deserialize_with = "opt_number")]
    pub cpus: Option<f64>,
    /// `cpu_shares:`.
    #[serde(deserialize_with = "opt_number")]
    pub cpu_shares: Option<f64>,
    /// `cpu_period:` (µs).
    #[serde(deserialize_with = "opt_number")]
    pub cpu_period: Option<f64>,
    /// `cpu_quota:` (µs).
    #[serde(deserialize_with = "opt_number")]
    pub cpu_quota: Option<f64>,
    /// `storage_opt:`.
    #[serde(deserialize_with = "string_map")]
    pub storage_opt: IndexMap<String, String>,
    /// `gpus:` device requests (`all` reads as one request of every device).
    #[serde(deserialize_with = "gpus")]
    pub gpus: Vec<DeviceRequest>,
    /// `platform:`.
    pub platform: Option<String>,
    /// `runtime:`.
    pub runtime: Option<String>,
    /// `profiles:`.
    pub profiles: Vec<String>,
    /// `links:` (`svc` or `svc:alias`).
    pub links: Vec<String>,
    /// `volumes_from:`.
    pub volumes_from: Vec<String>,
    /// `container_name:`.
    pub container_name: Option<String>,
    /// `post_start:` hooks.
    pub post_start: Vec<Hook>,
    /// `pre_stop:` hooks.
    pub pre_stop: Vec<Hook>,
    /// `provider:` (an external binary manages the service).
    pub provider: Option<Value>,
    /// Keys without a typed field (`ulimits`, `logging`, `x-*`, …): warned about by the planner.
    #[serde(flatten)]
    pub extra: IndexMap<String, Value>,
}

/// A `ports:` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Port {
    /// Container port.
    #[serde(deserialize_with = "port_number")]
    pub target: u32,
    /// Host port (compose-go writes a string; a range only before expansion).
    #[serde(deserialize_with = "opt_string")]
    pub published: Option<String>,
    /// Host address.
    pub host_ip: Option<String>,
    /// `tcp`, `udp`, `sctp`.
    pub protocol: Option<String>,
    /// `ingress` or `host`.
    pub mode: Option<String>,
    /// Port name.
    pub name: Option<String>,
    /// `app_protocol`.
    pub app_protocol: Option<String>,
}

/// A `volumes:` entry in long syntax.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceVolume {
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe`, `cluster`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path, volume name or image reference; absent for anonymous volumes.
    pub source: Option<String>,
    /// Mount point in the container.
    pub target: String,
    /// `read_only:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub read_only: bool,
    /// `bind:` options.
    pub bind: Option<BindOptions>,
    /// `volume:` options.
    pub volume: Option<VolumeOptions>,
    /// `tmpfs:` options.
    pub tmpfs: Option<TmpfsOptions>,
    /// `image:` options.
    pub image: Option<VolumeOptions>,
    /// `consistency:` (macOS only).
    pub consistency: Option<String>,
}

/// `bind:` options.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BindOptions {
    /// `propagation:`.
    pub propagation: Option<String>,
    /// `create_host_path:` (compose-go omits it when true, its default).
    pub create_host_path: Option<bool>,
    /// `selinux:` (`z`/`Z`).
    pub selinux: Option<String>,
}

/// `volume:` / `image:` options.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct VolumeOptions {
    /// `nocopy:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub nocopy: bool,
    /// `subpath:`.
    pub subpath: Option<String>,
}

/// `tmpfs:` options.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TmpfsOptions {
    /// Size in bytes.
    #[serde(deserialize_with = "opt_number")]
    pub size: Option<f64>,
    /// File mode.
    #[serde(deserialize_with = "opt_number")]
    pub mode: Option<f64>,
}

/// A service's `secrets:` / `configs:` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileReference {
    /// The top-level secret/config name.
    pub source: String,
    /// Where it appears (relative targets are under `/run/secrets` for secrets).
    pub target: Option<String>,
    /// `uid:`.
    #[serde(deserialize_with = "opt_string")]
    pub uid: Option<String>,
    /// `gid:`.
    #[serde(deserialize_with = "opt_string")]
    pub gid: Option<String>,
    /// `mode:` (compose-go writes a number; an octal string is accepted too).
    #[serde(deserialize_with = "file_mode")]
    pub mode: Option<i32>,
}

/// A `depends_on` edge in long syntax.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DependsOn {
    /// `service_started`, `service_healthy`, `service_completed_successfully`.
    pub condition: String,
    /// `required:` (default true).
    #[serde(deserialize_with = "lenient_bool")]
    pub required: bool,
    /// `restart:` (only matters to `up`).
    #[serde(deserialize_with = "lenient_bool")]
    pub restart: bool,
}

impl Default for DependsOn {
    fn default() -> Self {
        DependsOn {
            condition: "service_started".into(),
            required: true,
            restart: false,
        }
    }
}

/// `healthcheck:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", s]`, `["NONE"]` (a plain string is CMD-SHELL).
    #[serde(deserialize_with = "string_list_opt")]
    pub test: Option<Vec<String>>,
    /// Go duration.
    pub interval: Option<String>,
    /// Go duration.
    pub timeout: Option<String>,
    /// Go duration.
    pub start_period: Option<String>,
    /// Go duration.
    pub start_interval: Option<String>,
    /// Consecutive failures before unhealthy.
    pub retries: Option<u64>,
    /// `disable: true`.
    #[serde(deserialize_with = "lenient_bool")]
    pub disable: bool,
}

/// `deploy:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deploy {
    /// `replicated` / `global`.
    pub mode: Option<String>,
    /// `replicas:`.
    pub replicas: Option<i64>,
    /// `labels:` (for the workload object).
    #[serde(deserialize_with = "string_map")]
    pub labels: IndexMap<String, String>,
    /// `resources:`.
    pub resources: Resources,
    /// `restart_policy:`.
    pub restart_policy: Option<RestartPolicy>,
    /// Everything else (`placement`, `update_config`, `endpoint_mode`, …).
    #[serde(flatten)]
    pub extra: IndexMap<String, Value>,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    /// `limits:`.
    pub limits: Option<ResourceSpec>,
    /// `reservations:`.
    pub reservations: Option<ResourceSpec>,
}

/// `deploy.resources.limits` / `reservations`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResourceSpec {
    /// CPUs (may be a string like `"0.5"`).
    #[serde(deserialize_with = "opt_number")]
    pub cpus: Option<f64>,
    /// Bytes.
    #[serde(deserialize_with = "opt_number")]
    pub memory: Option<f64>,
    /// `pids:` (limits only).
    #[serde(deserialize_with = "opt_number")]
    pub pids: Option<f64>,
    /// `devices:` (reservations only).
    pub devices: Vec<DeviceRequest>,
    /// `generic_resources:` (Swarm).
    pub generic_resources: Vec<Value>,
}

/// A device request (`gpus:`, `deploy.resources.reservations.devices`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceRequest {
    /// `capabilities:` (`[gpu]`).
    pub capabilities: Vec<String>,
    /// `count:` (`-1` or `all` means every device).
    pub count: Option<Value>,
    /// `device_ids:`.
    pub device_ids: Vec<String>,
    /// `driver:`.
    pub driver: Option<String>,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RestartPolicy {
    /// `none`, `on-failure`, `any`.
    pub condition: Option<String>,
    /// `max_attempts:`.
    pub max_attempts: Option<u64>,
    /// `delay:`.
    pub delay: Option<String>,
    /// `window:`.
    pub window: Option<String>,
}

/// A service's options on one network.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceNetwork {
    /// `aliases:`.
    pub aliases: Vec<String>,
    /// Everything else (static addresses, priority, …).
    #[serde(flatten)]
    pub extra: IndexMap<String, Value>,
}

/// A `post_start` / `pre_stop` hook.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Hook {
    /// The command.
    #[serde(deserialize_with = "string_list")]
    pub command: Vec<String>,
    /// `user:`.
    pub user: Option<String>,
    /// `privileged:`.
    #[serde(deserialize_with = "lenient_bool")]
    pub privileged: bool,
    /// `working_dir:`.
    pub working_dir: Option<String>,
    /// `environment:`.
    pub environment: IndexMap<String, Option<String>>,
}

// --- lenient field readers -------------------------------------------------------------------

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn invalid<E: serde::de::Error>(what: &str, v: &Value) -> E {
    E::custom(format!("expected {what}, found {v}"))
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(None),
        other => scalar_string(&other)
            .map(Some)
            .ok_or_else(|| invalid("a string", &other)),
    }
}

fn string_list_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|i| scalar_string(i).ok_or_else(|| invalid("a string", i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => scalar_string(other)
            .map(|s| Some(vec![s]))
            .ok_or_else(|| invalid("a list of strings", other)),
    }
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    string_list_opt(d).map(Option::unwrap_or_default)
}

fn hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Object(map) => Ok(map
            .iter()
            .flat_map(|(host, ips)| match ips {
                Value::Array(list) => list
                    .iter()
                    .filter_map(scalar_string)
                    .map(|ip| format!("{host}={ip}"))
                    .collect::<Vec<_>>(),
                other => scalar_string(other)
                    .map(|ip| format!("{host}={ip}"))
                    .into_iter()
                    .collect(),
            })
            .collect()),
        _ => string_list(v).map_err(serde::de::Error::custom),
    }
}

fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s == "all" => Ok(vec![DeviceRequest {
            capabilities: vec!["gpu".into()],
            count: Some(Value::from(-1)),
            ..DeviceRequest::default()
        }]),
        _ => Vec::<DeviceRequest>::deserialize(v).map_err(serde::de::Error::custom),
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(IndexMap::new()),
        Value::Object(map) => Ok(map
            .iter()
            .map(|(k, v)| (k.clone(), scalar_string(v).unwrap_or_default()))
            .collect()),
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(scalar_string)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s, String::new()),
            })
            .collect()),
        other => Err(invalid("a mapping", other)),
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "1" | "y" | "yes" => Ok(true),
            "false" | "False" | "FALSE" | "0" | "n" | "no" | "" => Ok(false),
            _ => Err(invalid("a boolean", &v)),
        },
        other => Err(invalid("a boolean", other)),
    }
}

fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| invalid("a number", &v)),
        other => Err(invalid("a number", other)),
    }
}

fn port_number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = Value::deserialize(d)?;
    scalar_string(&v)
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| invalid("a port number", &v))
}

fn file_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid("a file mode", &v)),
        Value::String(s) => {
            let digits = s.trim_start_matches("0o").trim_start_matches('0');
            i32::from_str_radix(if digits.is_empty() { "0" } else { digits }, 8)
                .map(Some)
                .map_err(|_| invalid("an octal file mode", &v))
        }
        other => Err(invalid("a file mode", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_canonical_shapes() {
        let p = Project::from_canonical(&json!({
            "name": "p",
            "services": {"web": {
                "image": "nginx",
                "command": ["a", "b"],
                "environment": {"A": "1", "B": null},
                "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "mode": "ingress"}],
                "expose": ["81", 82],
                "depends_on": {"db": {"condition": "service_healthy", "required": true}},
                "extra_hosts": ["a=1.2.3.4"],
                "secrets": [{"source": "s", "mode": "0440"}],
                "cpus": "0.5",
                "ulimits": {"nofile": 10},
                "x-krun": {"size": "1Gi"}
            }}
        }))
        .unwrap();
        let web = &p.services["web"];
        assert_eq!(web.command.as_deref(), Some(&["a".into(), "b".into()][..]));
        assert_eq!(web.environment["B"], None);
        assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
        assert_eq!(web.expose, ["81", "82"]);
        assert_eq!(web.depends_on["db"].condition, "service_healthy");
        assert_eq!(web.secrets[0].mode, Some(0o440));
        assert_eq!(web.cpus, Some(0.5));
        assert!(web.extra.contains_key("ulimits") && web.extra.contains_key("x-krun"));
    }

    #[test]
    fn names_the_place_of_a_malformed_model() {
        let err = Project::from_canonical(&json!({"services": {"web": {"ports": "x"}}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("services.web"), "{err}");
    }
}
