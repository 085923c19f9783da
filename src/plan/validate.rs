//! The API server's validation rules, applied to every object of a plan before anything is
//! printed or created: names, namespaces, labels, annotations, containers, ports, env names,
//! volumes and mounts, selectors, Secret/ConfigMap keys.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::names::{
    is_config_key, is_dns_label, is_dns_subdomain, is_dns1035_label, is_env_name, is_label_value,
    is_port_name, is_qualified_name,
};
use super::render::objects;
use super::security::escalation_conflict;
use super::{Object, Plan};

/// The most annotation bytes an object may carry.
const ANNOTATIONS_MAX: usize = 256 * 1024;

/// Every rule a plan's objects break, as `Kind/name: problem` lines (empty when valid).
pub fn check(plan: &Plan) -> Vec<String> {
    let mut problems = Vec::new();
    for object in objects(plan) {
        let (kind, meta) = object.kind_and_meta();
        let name = meta.name.clone().unwrap_or_default();
        let mut p = |msg: String| problems.push(format!("{kind}/{name}: {msg}"));
        check_meta(kind, meta, &mut p);
        match &object {
            Object::Pod(o) => match &o.spec {
                Some(spec) => check_pod(spec, &["Never", "OnFailure", "Always"], &mut p),
                None => p("no spec".into()),
            },
            Object::Deployment(o) => {
                let spec = o.spec.as_ref();
                let template = spec.map(|s| &s.template);
                match template.and_then(|t| t.spec.as_ref()) {
                    Some(ps) => check_pod(ps, &["Always"], &mut p),
                    None => p("no pod template".into()),
                }
                let selector = spec
                    .and_then(|s| s.selector.match_labels.clone())
                    .unwrap_or_default();
                let labels = template
                    .and_then(|t| t.metadata.as_ref())
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                check_selector(&selector, &labels, &mut p);
            }
            Object::Job(o) => {
                if name.len() > 63 {
                    p("a Job name must be at most 63 characters".into());
                }
                match o.spec.as_ref().and_then(|s| s.template.spec.as_ref()) {
                    Some(ps) => check_pod(ps, &["Never", "OnFailure"], &mut p),
                    None => p("no pod template".into()),
                }
            }
            Object::Service(o) => {
                let selector = o
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default();
                check_selector(&selector, &selector, &mut p);
            }
            Object::Secret(o) => {
                let keys: Vec<&String> = o
                    .data
                    .iter()
                    .flat_map(|d| d.keys())
                    .chain(o.string_data.iter().flat_map(|d| d.keys()))
                    .collect();
                check_keys(&keys, &mut p);
            }
            Object::ConfigMap(o) => {
                let keys: Vec<&String> = o
                    .data
                    .iter()
                    .flat_map(|d| d.keys())
                    .chain(o.binary_data.iter().flat_map(|d| d.keys()))
                    .collect();
                check_keys(&keys, &mut p);
            }
            Object::PersistentVolumeClaim(o) => {
                if o.spec
                    .as_ref()
                    .and_then(|s| s.access_modes.as_ref())
                    .is_none_or(Vec::is_empty)
                {
                    p("at least one access mode is required".into());
                }
            }
        }
    }
    problems
}

fn check_meta(kind: &str, meta: &ObjectMeta, p: &mut impl FnMut(String)) {
    let name = meta.name.as_deref().unwrap_or("");
    let ok = match kind {
        "Service" => is_dns1035_label(name),
        _ => is_dns_subdomain(name),
    };
    if !ok {
        p(format!("invalid name \"{name}\""));
    }
    if !meta.namespace.as_deref().is_some_and(is_dns_label) {
        p(format!("invalid namespace {:?}", meta.namespace));
    }
    check_labels(meta.labels.as_ref(), p);
    let annotations = meta.annotations.clone().unwrap_or_default();
    let mut size = 0;
    for (k, v) in &annotations {
        size += k.len() + v.len();
        if !is_qualified_name(k) {
            p(format!("invalid annotation key \"{k}\""));
        }
    }
    if size > ANNOTATIONS_MAX {
        p(format!("annotations take {size} bytes, more than 256 KiB"));
    }
    for owner in meta.owner_references.iter().flatten() {
        if owner.kind.is_empty() || owner.name.is_empty() {
            p("an ownerReference needs a kind and a name".into());
        }
    }
}

fn check_labels(labels: Option<&BTreeMap<String, String>>, p: &mut impl FnMut(String)) {
    for (k, v) in labels.into_iter().flatten() {
        if !is_qualified_name(k) {
            p(format!("invalid label key \"{k}\""));
        }
        if !is_label_value(v) {
            p(format!("invalid value \"{v}\" of label \"{k}\""));
        }
    }
}

fn check_selector(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    p: &mut impl FnMut(String),
) {
    if selector.is_empty() {
        p("empty selector".into());
    }
    check_labels(Some(selector), p);
    for (k, v) in selector {
        if labels.get(k) != Some(v) {
            p(format!(
                "the selector {k}={v} does not match the pod template's labels"
            ));
        }
    }
}

fn check_keys(keys: &[&String], p: &mut impl FnMut(String)) {
    let mut seen = HashSet::new();
    for k in keys {
        if !is_config_key(k) {
            p(format!("invalid data key \"{k}\""));
        }
        if !seen.insert(*k) {
            p(format!("data key \"{k}\" appears twice"));
        }
    }
}

fn check_pod(spec: &PodSpec, restart: &[&str], p: &mut impl FnMut(String)) {
    if !spec
        .restart_policy
        .as_deref()
        .is_some_and(|r| restart.contains(&r))
    {
        p(format!(
            "restartPolicy {:?} is not allowed here ({restart:?})",
            spec.restart_policy
        ));
    }
    let mut volumes = HashSet::new();
    for v in spec.volumes.iter().flatten() {
        if !is_dns_label(&v.name) {
            p(format!("invalid volume name \"{}\"", v.name));
        }
        if !volumes.insert(v.name.as_str()) {
            p(format!("volume \"{}\" is declared twice", v.name));
        }
    }
    let containers: Vec<&Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();
    if spec.containers.is_empty() {
        p("a pod needs a container".into());
    }
    let mut names = HashSet::new();
    for c in containers {
        if !is_dns_label(&c.name) {
            p(format!("invalid container name \"{}\"", c.name));
        }
        if !names.insert(c.name.as_str()) {
            p(format!("container name \"{}\" is used twice", c.name));
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            p(format!("container \"{}\" has no image", c.name));
        }
        check_container(c, &volumes, p);
    }
    for a in spec.host_aliases.iter().flatten() {
        if a.ip.parse::<std::net::IpAddr>().is_err() {
            p(format!("hostAliases ip \"{}\" is not an IP address", a.ip));
        }
    }
    if spec.host_pid == Some(true) && spec.share_process_namespace == Some(true) {
        p("shareProcessNamespace and hostPID cannot both be set".into());
    }
    let nameservers = spec
        .dns_config
        .as_ref()
        .and_then(|d| d.nameservers.as_ref())
        .map_or(0, Vec::len);
    if nameservers > 3 {
        p("at most 3 nameservers".into());
    }
}

fn check_container(c: &Container, volumes: &HashSet<&str>, p: &mut impl FnMut(String)) {
    if c.security_context.as_ref().is_some_and(escalation_conflict) {
        p(format!(
            "container \"{}\": allowPrivilegeEscalation false with privileged or CAP_SYS_ADMIN",
            c.name
        ));
    }
    let mut port_names = HashSet::new();
    for port in c.ports.iter().flatten() {
        if !(1..=65535).contains(&port.container_port) {
            p(format!(
                "container \"{}\": port {} out of range",
                c.name, port.container_port
            ));
        }
        if let Some(n) = &port.name
            && (!is_port_name(n) || !port_names.insert(n.as_str()))
        {
            p(format!(
                "container \"{}\": invalid or repeated port name \"{n}\"",
                c.name
            ));
        }
        if !matches!(
            port.protocol.as_deref(),
            None | Some("TCP" | "UDP" | "SCTP")
        ) {
            p(format!(
                "container \"{}\": invalid protocol {:?}",
                c.name, port.protocol
            ));
        }
    }
    for e in c.env.iter().flatten() {
        if !is_env_name(&e.name) {
            p(format!(
                "container \"{}\": invalid environment variable name \"{}\"",
                c.name, e.name
            ));
        }
    }
    let mut paths = HashSet::new();
    for m in c.volume_mounts.iter().flatten() {
        if !volumes.contains(m.name.as_str()) {
            p(format!(
                "container \"{}\": mount of undeclared volume \"{}\"",
                c.name, m.name
            ));
        }
        if m.mount_path.is_empty() || !paths.insert(m.mount_path.as_str()) {
            p(format!(
                "container \"{}\": mount path \"{}\" is empty or used twice",
                c.name, m.mount_path
            ));
        }
        if !m.mount_path.is_empty() && !m.mount_path.starts_with('/') {
            p(format!(
                "container \"{}\": mount path \"{}\" is not absolute: a volume's target must \
                 start with / (short syntax: SOURCE:TARGET[:MODE])",
                c.name, m.mount_path
            ));
        }
        if let Some(sub) = &m.sub_path
            && (sub.starts_with('/') || sub.split('/').any(|s| s == ".."))
        {
            p(format!(
                "container \"{}\": subPath \"{sub}\" must be relative without '..'",
                c.name
            ));
        }
    }
}
