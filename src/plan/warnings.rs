//! The keys Kubernetes cannot honour: one warning per key naming the service, the key and why,
//! so nothing is dropped silently.

use super::Planner;
use super::pod::Role;
use crate::compose::model::Service;

/// Service keys without a Kubernetes equivalent, and why.
const UNMAPPED: &[(&str, &str)] = &[
    (
        "blkio_config",
        "Kubernetes has no per-container block I/O limits",
    ),
    (
        "cgroup",
        "Kubernetes does not let a pod choose its cgroup namespace",
    ),
    (
        "cgroup_parent",
        "the kubelet places pods in its own cgroup hierarchy",
    ),
    ("cpu_count", "a Windows-only setting"),
    ("cpu_percent", "a Windows-only setting"),
    (
        "cpu_rt_period",
        "Kubernetes has no real-time CPU scheduling settings",
    ),
    (
        "cpu_rt_runtime",
        "Kubernetes has no real-time CPU scheduling settings",
    ),
    (
        "cpuset",
        "CPU pinning needs the node's static CPU manager policy",
    ),
    ("credential_spec", "a Windows-only setting"),
    (
        "develop",
        "file watching and sync belong to tools such as Skaffold or Tilt",
    ),
    (
        "device_cgroup_rules",
        "Kubernetes gives access to devices through device plugins only",
    ),
    (
        "devices",
        "Kubernetes gives access to devices through device plugins only",
    ),
    (
        "external_links",
        "containers outside the project are not reachable by name (an ExternalName Service can stand in)",
    ),
    ("isolation", "a Windows-only setting"),
    ("logging", "logging is configured on the node, not per pod"),
    ("mac_address", "pods cannot choose a MAC address"),
    ("mem_swappiness", "swap is configured on the node"),
    ("memswap_limit", "swap is configured on the node"),
    ("models", "Docker Model Runner has no Kubernetes equivalent"),
    (
        "oom_kill_disable",
        "the kubelet sets OOM behaviour from the pod's QoS class",
    ),
    (
        "oom_score_adj",
        "the kubelet sets OOM scores from the pod's QoS class",
    ),
    ("pids_limit", "the pid limit is the node's podPidsLimit"),
    (
        "pull_refresh_after",
        "Kubernetes has no time-based pull policy",
    ),
    (
        "ulimits",
        "Kubernetes has no per-container ulimits (kubernetes#3595)",
    ),
    (
        "use_api_socket",
        "there is no Docker engine socket in a cluster",
    ),
    (
        "pre_start",
        "pre_start hooks do not run for one-off containers, and krun does not run them for dependencies",
    ),
    ("label_file", "not folded into labels by the loader"),
];

/// Keys that are handled by the loader or have no effect on `run`.
const NO_EFFECT: &[&str] = &["attach", "env_file", "extends", "name"];

impl Planner<'_> {
    /// Warns about every key of `svc` that the pod cannot carry.
    pub(super) fn unmapped_keys(&mut self, name: &str, svc: &Service, role: Role) {
        for key in svc.extra.keys() {
            if key.starts_with("x-") || NO_EFFECT.contains(&key.as_str()) {
                continue;
            }
            let why = UNMAPPED
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, why)| (*why).to_string())
                .unwrap_or_else(|| "krun does not know this key".to_string());
            self.warn(name, key, format!("{why}: ignored"));
        }
        if let Some(deploy) = &svc.deploy {
            for key in deploy.extra.keys().filter(|k| !k.starts_with("x-")) {
                self.warn(
                    name,
                    &format!("deploy.{key}"),
                    "Swarm scheduling settings have no effect on krun's pods: ignored",
                );
            }
            if deploy.mode.as_deref() == Some("global") {
                self.warn(
                    name,
                    "deploy.mode",
                    "global (one per node) runs as a single replica: a krun project has no node fleet to spread over",
                );
            }
        }
        for (net, opts) in &svc.networks {
            for key in opts.iter().flat_map(|o| o.extra.keys()) {
                self.warn(
                    name,
                    &format!("networks.{net}.{key}"),
                    "the pod network is flat: per-network addresses and options are ignored",
                );
            }
        }
        if role == Role::Dependency && !svc.ports.is_empty() {
            self.warn(
                name,
                "ports",
                "a dependency's ports are reachable inside the cluster by service name, not published on this machine (kubectl port-forward can)",
            );
        }
    }
}
