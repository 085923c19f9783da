//! The pod spec of a service, shared by dependencies and the one-off: image, command, env,
//! ports, storage, security, resources, DNS, hosts, namespaces, hooks, grace period.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ExecAction, HostAlias, Lifecycle, LifecycleHandler, PodDNSConfig,
    PodDNSConfigOption, PodSpec,
};

use super::env::env_vars;
use super::names::{is_dns_label, is_dns_subdomain, service_dns_name};
use super::volumes::Storage;
use super::{Copy, Object, PlanError, Planner, unsupported};
use crate::compose::model::{Hook, Service};
use crate::request::PullPolicy;

/// Which pod is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A dependency's Deployment or Job template.
    Dependency,
    /// The one-off.
    OneOff,
}

/// A pod spec and what comes with it.
#[derive(Debug)]
pub struct Built {
    /// The spec (restartPolicy left to the caller).
    pub spec: PodSpec,
    /// Shared objects to apply before the pod.
    pub objects: Vec<Object>,
    /// Bind mounts to copy in.
    pub copies: Vec<Copy>,
    /// A PVC is mounted.
    pub has_claim: bool,
}

/// `docker.io/library/` in front of short image names (CRI-O may refuse ambiguous ones).
pub fn normalize_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or(image);
    let has_registry = image.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

/// Seconds of `stop_grace_period` (default 10, as Docker).
pub fn grace_seconds(svc: &Service) -> std::time::Duration {
    svc.stop_grace_period
        .as_deref()
        .and_then(super::probes::go_duration)
        .unwrap_or(std::time::Duration::from_secs(10))
}

fn hook(h: &Hook) -> LifecycleHandler {
    let mut command: Vec<String> = Vec::new();
    let env: Vec<String> = h
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    if !env.is_empty() {
        command.push("env".into());
        command.extend(env);
    }
    command.extend(h.command.iter().cloned());
    LifecycleHandler {
        exec: Some(ExecAction {
            command: Some(command),
        }),
        ..LifecycleHandler::default()
    }
}

impl Planner<'_> {
    /// Builds the pod spec of `svc` for `role`.
    pub(super) fn pod_spec(
        &mut self,
        name: &str,
        svc: &Service,
        role: Role,
    ) -> Result<Built, PlanError> {
        let image = self.image(name, svc)?;
        let mut c = Container {
            name: service_dns_name(name),
            image: Some(image),
            image_pull_policy: Some(self.pull_policy(name, svc).into()),
            working_dir: svc.working_dir.clone().filter(|w| !w.is_empty()),
            ..Container::default()
        };
        self.command(name, svc, &mut c);
        self.unset_env(name, &svc.environment);
        c.env = env_vars(&svc.environment);
        c.ports = self.container_ports(name, svc);
        c.security_context = self.security_context(name, svc)?;
        c.resources = self.resources(name, svc);
        c.lifecycle = self.lifecycle(name, svc);
        let Storage {
            volumes,
            mounts,
            init_containers,
            copies,
            objects,
            has_claim,
        } = self.storage(name, svc, role == Role::OneOff)?;
        c.volume_mounts = (!mounts.is_empty()).then_some(mounts);
        let mut spec = PodSpec {
            enable_service_links: Some(false),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(grace_seconds(svc).as_secs() as i64),
            volumes: (!volumes.is_empty()).then_some(volumes),
            init_containers: (!init_containers.is_empty()).then_some(init_containers),
            security_context: self.pod_security_context(name, svc)?,
            ..PodSpec::default()
        };
        self.hostname(name, svc, &mut spec);
        self.dns(name, svc, &mut spec);
        self.namespaces(name, svc, &mut spec)?;
        if svc.init && spec.host_pid == Some(true) {
            self.warn(
                name,
                "init",
                "Kubernetes cannot share the pod's process namespace together with pid: host: \
                 no init process is added",
            );
        } else if svc.init {
            spec.share_process_namespace = Some(true);
        }
        if let Some(platform) = svc.platform.as_deref().filter(|p| !p.is_empty()) {
            let mut parts = platform.split('/');
            let mut sel = BTreeMap::new();
            if let Some(os) = parts.next() {
                sel.insert("kubernetes.io/os".to_string(), os.to_string());
            }
            if let Some(arch) = parts.next() {
                sel.insert("kubernetes.io/arch".to_string(), arch.to_string());
            }
            spec.node_selector = Some(sel);
        }
        if let Some(rt) = svc.runtime.as_deref().filter(|r| !r.is_empty()) {
            if is_dns_subdomain(rt) {
                spec.runtime_class_name = Some(rt.to_string());
            } else {
                self.warn(
                    name,
                    "runtime",
                    format!("\"{rt}\" is not a valid RuntimeClass name: ignored"),
                );
            }
        }
        if svc.stop_signal.is_some() {
            self.warn(
                name,
                "stop_signal",
                "Kubernetes sends the image's STOPSIGNAL (a per-container stop signal needs the alpha ContainerStopSignals feature): ignored",
            );
        }
        self.unmapped_keys(name, svc, role);
        spec.containers = vec![c];
        Ok(Built {
            spec,
            objects,
            copies,
            has_claim,
        })
    }

    fn image(&mut self, name: &str, svc: &Service) -> Result<String, PlanError> {
        if let Some(built) = self.input.images.get(name) {
            return Ok(built.clone());
        }
        match svc.image.as_deref().filter(|i| !i.is_empty()) {
            Some(image) => Ok(normalize_image(image)),
            None if svc.build.is_some() => Err(unsupported(
                name,
                "build",
                "its image was not built for this run",
            )),
            None => Err(unsupported(
                name,
                "image",
                "has no image: set image:, or build: to have krun build one",
            )),
        }
    }

    /// `imagePullPolicy` from `--pull`, else `pull_policy`, else IfNotPresent.
    fn pull_policy(&mut self, name: &str, svc: &Service) -> &'static str {
        match self.input.request.pull {
            Some(PullPolicy::Always) => return "Always",
            Some(PullPolicy::Never) => return "Never",
            Some(PullPolicy::Missing | PullPolicy::Build) => return "IfNotPresent",
            None => {}
        }
        match svc.pull_policy.as_deref() {
            Some("always") => "Always",
            Some("never") => "Never",
            None | Some("missing" | "if_not_present" | "build" | "") => "IfNotPresent",
            Some(other) => {
                self.warn(
                    name,
                    "pull_policy",
                    format!("\"{other}\" has no Kubernetes equivalent: IfNotPresent is used"),
                );
                "IfNotPresent"
            }
        }
    }

    fn lifecycle(&mut self, name: &str, svc: &Service) -> Option<Lifecycle> {
        let mut lc = Lifecycle::default();
        for (key, hooks, slot) in [
            ("post_start", &svc.post_start, &mut lc.post_start),
            ("pre_stop", &svc.pre_stop, &mut lc.pre_stop),
        ] {
            if let Some(h) = hooks.first() {
                *slot = Some(hook(h));
            }
            if hooks.len() > 1
                || hooks
                    .iter()
                    .any(|h| h.user.is_some() || h.privileged || h.working_dir.is_some())
            {
                self.warnings.push(super::Warning {
                    service: Some(name.to_string()),
                    key: key.to_string(),
                    message: "Kubernetes runs one hook command in the container's own user and directory: only the first command is kept, without user/privileged/working_dir".into(),
                });
            }
        }
        (lc != Lifecycle::default()).then_some(lc)
    }

    fn hostname(&mut self, name: &str, svc: &Service, spec: &mut PodSpec) {
        if let Some(h) = svc.hostname.as_deref().filter(|h| !h.is_empty()) {
            if is_dns_label(h) {
                spec.hostname = Some(h.to_string());
            } else {
                self.warn(
                    name,
                    "hostname",
                    format!("\"{h}\" is not a DNS label, which a pod hostname must be: ignored"),
                );
            }
        }
        if let Some(d) = svc.domainname.as_deref().filter(|d| !d.is_empty()) {
            match d.split('.').next().filter(|l| is_dns_label(l)) {
                Some(sub) => {
                    spec.subdomain = Some(sub.to_string());
                    self.warn(name, "domainname", format!("mapped to the pod subdomain \"{sub}\": the FQDN becomes <hostname>.{sub}.<namespace>.svc, not <hostname>.{d}"));
                }
                None => self.warn(
                    name,
                    "domainname",
                    format!("\"{d}\" cannot be a pod subdomain: ignored"),
                ),
            }
        }
    }

    fn dns(&mut self, name: &str, svc: &Service, spec: &mut PodSpec) {
        let mut cfg = PodDNSConfig::default();
        if !svc.dns.is_empty() {
            if svc.dns.len() > 3 {
                self.warn(
                    name,
                    "dns",
                    "a pod takes at most 3 nameservers: the first 3 are used",
                );
            }
            cfg.nameservers = Some(svc.dns.iter().take(3).cloned().collect());
        }
        if !svc.dns_search.is_empty() {
            cfg.searches = Some(svc.dns_search.clone());
        }
        if !svc.dns_opt.is_empty() {
            cfg.options = Some(
                svc.dns_opt
                    .iter()
                    .map(|o| match o.split_once(':') {
                        Some((n, v)) => PodDNSConfigOption {
                            name: Some(n.into()),
                            value: Some(v.into()),
                        },
                        None => PodDNSConfigOption {
                            name: Some(o.clone()),
                            value: None,
                        },
                    })
                    .collect(),
            );
        }
        if cfg != PodDNSConfig::default() {
            spec.dns_config = Some(cfg);
        }
        let mut aliases: Vec<HostAlias> = Vec::new();
        for (i, entry) in svc.extra_hosts.iter().enumerate() {
            let (host, ip) = entry
                .split_once('=')
                .or_else(|| entry.split_once(':'))
                .unwrap_or((entry, ""));
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if ip.parse::<std::net::IpAddr>().is_err() {
                self.warn(name, &format!("extra_hosts[{i}]"), format!("\"{ip}\" is not an IP address (host-gateway has no cluster equivalent): {host} left out"));
                continue;
            }
            match aliases.iter_mut().find(|a| a.ip == ip) {
                Some(a) => a.hostnames.get_or_insert_with(Vec::new).push(host.into()),
                None => aliases.push(HostAlias {
                    ip: ip.into(),
                    hostnames: Some(vec![host.into()]),
                }),
            }
        }
        if !aliases.is_empty() {
            spec.host_aliases = Some(aliases);
        }
    }

    /// `network_mode`, `pid`, `ipc`, `uts`, `userns_mode`, `cgroup`.
    fn namespaces(
        &mut self,
        name: &str,
        svc: &Service,
        spec: &mut PodSpec,
    ) -> Result<(), PlanError> {
        let shared = |key: &str, v: &str| {
            unsupported(
                name,
                key,
                format!(
                    "\"{v}\" shares another container's namespace, which separate pods cannot do; remove {key} (or move both processes into one service)"
                ),
            )
        };
        match svc.network_mode.as_deref() {
            None | Some("" | "bridge" | "default") => {}
            Some("host") => {
                spec.host_network = Some(true);
                spec.dns_policy = Some("ClusterFirstWithHostNet".into());
                self.warn(
                    name,
                    "network_mode",
                    "host means the node's network here, not this machine's",
                );
            }
            Some("none") => self.warn(
                name,
                "network_mode",
                "a pod always has a network: \"none\" is ignored",
            ),
            Some(v) if v.starts_with("service:") || v.starts_with("container:") => {
                return Err(shared("network_mode", v));
            }
            Some(v) => self.warn(
                name,
                "network_mode",
                format!("\"{v}\": the pod network is flat: ignored"),
            ),
        }
        for (key, value, slot) in [
            ("pid", svc.pid.as_deref(), &mut spec.host_pid),
            ("ipc", svc.ipc.as_deref(), &mut spec.host_ipc),
        ] {
            match value {
                None | Some("" | "private" | "shareable") => {}
                Some("host") => *slot = Some(true),
                Some(v) if v.starts_with("service:") || v.starts_with("container:") => {
                    return Err(shared(key, v));
                }
                Some(v) => self.warn(
                    name,
                    key,
                    format!("\"{v}\" has no Kubernetes equivalent: ignored"),
                ),
            }
        }
        if let Some(v) = svc
            .uts
            .as_deref()
            .filter(|v| !(v.is_empty() || *v == "host" && spec.host_network == Some(true)))
        {
            self.warn(
                name,
                "uts",
                format!(
                    "\"{v}\": a pod shares the host UTS namespace only with hostNetwork: ignored"
                ),
            );
        }
        if let Some(v) = svc
            .userns_mode
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "host")
        {
            self.warn(name, "userns_mode", format!("\"{v}\" has no Kubernetes equivalent (pods use the host user namespace by default): ignored"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_fully_qualified() {
        assert_eq!(
            normalize_image("postgres:16"),
            "docker.io/library/postgres:16"
        );
        assert_eq!(normalize_image("bitnami/redis"), "docker.io/bitnami/redis");
        assert_eq!(normalize_image("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(normalize_image("localhost/x"), "localhost/x");
        assert_eq!(normalize_image("localhost:5000/x"), "localhost:5000/x");
    }
}
