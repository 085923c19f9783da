//! Dependencies: the transitive `depends_on` closure in start order, each as a headless
//! Service (plus alias Services) and a Deployment, or a Job for one-shot services, with the
//! waits compose performs for every edge.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service as KService, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::labels::{DEPENDS_ON, Meta, selector, stamp};
use super::names::{is_dns1035_label, label_with_suffix, service_dns_name, short_slug};
use super::pod::Role;
use super::probes::health;
use super::{Condition, Dependency, Object, PlanError, Planner, Wait, Workload, unsupported};
use crate::compose::model::Service;

/// How long a finished one-shot dependency's Job (and its logs) is kept.
const ONE_SHOT_TTL: i32 = 3600;

/// A service that runs once rather than staying up.
fn restarts_never(svc: &Service) -> bool {
    let restart = svc.restart.as_deref().unwrap_or("");
    let policy = svc
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
        .and_then(|p| p.condition.as_deref());
    restart == "no"
        || restart.starts_with("on-failure")
        || matches!(policy, Some("none" | "on-failure"))
}

/// `on-failure[:N]` (or deploy.restart_policy on-failure + max_attempts): retries allowed.
fn retries(svc: &Service) -> Option<Option<i32>> {
    let restart = svc.restart.as_deref().unwrap_or("");
    if let Some(rest) = restart.strip_prefix("on-failure") {
        return Some(rest.strip_prefix(':').and_then(|n| n.parse().ok()));
    }
    let policy = svc
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())?;
    (policy.condition.as_deref() == Some("on-failure"))
        .then(|| policy.max_attempts.and_then(|n| i32::try_from(n).ok()))
}

fn replicas(svc: &Service) -> i32 {
    if svc.deploy.as_ref().and_then(|d| d.mode.as_deref()) == Some("global") {
        return 1;
    }
    svc.deploy
        .as_ref()
        .and_then(|d| d.replicas)
        .or(svc.scale)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(1)
}

fn condition(raw: &str) -> Option<Condition> {
    match raw {
        "service_started" | "" => Some(Condition::Started),
        "service_healthy" => Some(Condition::Healthy),
        "service_completed_successfully" => Some(Condition::CompletedSuccessfully),
        _ => None,
    }
}

impl Planner<'_> {
    /// The dependencies of `target` in start order (a dependency's own dependencies first).
    pub(super) fn order(&mut self, target: &str) -> Result<Vec<String>, PlanError> {
        let mut out = Vec::new();
        let mut path = vec![target.to_string()];
        self.visit(target, &mut path, &mut out)?;
        Ok(out)
    }

    fn visit(
        &mut self,
        name: &str,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), PlanError> {
        let project = self.input.project;
        let Some(svc) = project.services.get(name) else {
            return Ok(());
        };
        for (dep, edge) in &svc.depends_on {
            if path.contains(dep) {
                return Err(unsupported(
                    name,
                    "depends_on",
                    format!("dependency cycle through \"{dep}\""),
                ));
            }
            match project.services.get(dep) {
                None if edge.required => {
                    return Err(unsupported(
                        name,
                        "depends_on",
                        format!(
                            "depends on undefined service \"{dep}\"; define it, or mark the dependency required: false"
                        ),
                    ));
                }
                None => continue,
                Some(d) if d.provider.is_some() => {
                    if !out.contains(dep) && self.emitted.insert(format!("provider/{dep}")) {
                        self.warn(dep, "provider", "provider services are managed by an external binary, which krun does not run: not started");
                    }
                    continue;
                }
                Some(_) => {}
            }
            if !out.contains(dep) {
                path.push(dep.clone());
                self.visit(dep, path, out)?;
                path.pop();
                out.push(dep.clone());
            }
        }
        Ok(())
    }

    /// Whether `name` runs as a Job: a one-shot service, or one someone waits to complete.
    fn runs_as_job(&self, name: &str) -> bool {
        let project = self.input.project;
        project.services.get(name).is_some_and(restarts_never)
            || project.services.values().any(|s| {
                s.depends_on
                    .get(name)
                    .is_some_and(|e| e.condition == "service_completed_successfully")
            })
    }

    /// The workload `name` runs as.
    fn workload(&self, name: &str) -> Workload {
        let dns = service_dns_name(name);
        if self.runs_as_job(name) {
            Workload::Job {
                name: label_with_suffix(&dns, short_slug(&self.input.slug)),
            }
        } else {
            Workload::Deployment { name: dns }
        }
    }

    /// The waits for `svc`'s `depends_on` edges (only services that are planned).
    pub(super) fn waits(
        &mut self,
        name: &str,
        svc: &Service,
        planned: &[String],
    ) -> Result<Vec<Wait>, PlanError> {
        let mut waits = Vec::new();
        for (dep, edge) in &svc.depends_on {
            let Some(d) = self.service(dep).filter(|_| planned.contains(dep)) else {
                continue;
            };
            if replicas(d) == 0 {
                continue;
            }
            let mut cond = match condition(&edge.condition) {
                Some(c) => c,
                None => {
                    self.warn(
                        name,
                        &format!("depends_on.{dep}.condition"),
                        format!(
                            "unsupported depends_on condition: {}; treated as service_started",
                            edge.condition
                        ),
                    );
                    Condition::Started
                }
            };
            let mut budget = None;
            if cond == Condition::Healthy {
                match health(d.healthcheck.as_ref()) {
                    Some(h) => budget = Some(h.budget),
                    None if edge.required => {
                        return Err(unsupported(
                            name,
                            &format!("depends_on.{dep}"),
                            format!(
                                "dependency failed to start: container {dep} has no healthcheck configured; add a healthcheck to \"{dep}\" (krun cannot see one declared only in the image), or use condition: service_started"
                            ),
                        ));
                    }
                    None => {
                        self.warn(name, &format!("depends_on.{dep}"), format!("optional dependency \"{dep}\" has no healthcheck configured: waiting for it to start instead"));
                        cond = Condition::Started;
                    }
                }
            }
            waits.push(Wait {
                service: dep.clone(),
                workload: self.workload(dep),
                condition: cond,
                required: edge.required,
                health_budget: budget,
            });
        }
        Ok(waits)
    }

    /// The compose `depends_on` annotation value (`db:service_healthy:false,…`).
    pub(super) fn depends_on_annotation(svc: &Service, meta: &mut Meta) {
        if !svc.depends_on.is_empty() {
            let value: Vec<String> = svc
                .depends_on
                .iter()
                .map(|(d, e)| format!("{d}:{}:{}", e.condition, e.restart))
                .collect();
            meta.annotations.insert(DEPENDS_ON.into(), value.join(","));
        }
    }

    /// The names this service answers to besides its own: `container_name`, network aliases
    /// and other services' `links` aliases.
    fn aliases(&mut self, name: &str, svc: &Service, own: &str) -> Vec<String> {
        let mut raw: Vec<String> = svc.container_name.iter().cloned().collect();
        raw.extend(
            svc.networks
                .values()
                .flatten()
                .flat_map(|n| n.aliases.iter().cloned()),
        );
        for other in self.input.project.services.values() {
            for link in &other.links {
                if let Some((target, alias)) = link.split_once(':')
                    && target == name
                {
                    raw.push(alias.to_string());
                }
            }
        }
        let mut out: Vec<String> = Vec::new();
        for alias in raw {
            let dns = service_dns_name(&alias);
            if dns != alias && !is_dns1035_label(&alias) {
                self.warn(
                    name,
                    "aliases",
                    format!(
                        "alias \"{alias}\" is not a valid Service name: it resolves as \"{dns}\""
                    ),
                );
            }
            if dns != own && !out.contains(&dns) {
                out.push(dns);
            }
        }
        out
    }

    /// A headless Service selecting `selector`'s pods, resolvable before they are ready.
    pub(super) fn headless_service(
        &self,
        name: &str,
        meta: &Meta,
        selector: BTreeMap<String, String>,
    ) -> KService {
        KService {
            metadata: meta.object_meta(name, &self.input.namespace),
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                publish_not_ready_addresses: Some(true),
                selector: Some(selector),
                ..ServiceSpec::default()
            }),
            ..KService::default()
        }
    }

    /// Plans one dependency: its shared objects, Services and workload.
    pub(super) fn dependency(
        &mut self,
        name: &str,
        planned: &[String],
    ) -> Result<Dependency, PlanError> {
        let project = self.input.project;
        let svc = project
            .services
            .get(name)
            .ok_or_else(|| PlanError::NoSuchService(name.to_string()))?;
        let dns = service_dns_name(name);
        if dns != name {
            self.warn(name, "name", format!("\"{name}\" is not a valid DNS name: the service resolves as \"{dns}\" inside the cluster"));
        }
        let mut built = self.pod_spec(name, svc, Role::Dependency)?;
        let health = health(svc.healthcheck.as_ref());
        if let Some(c) = built.spec.containers.first_mut() {
            c.readiness_probe = health.map(|h| h.probe);
            c.stdin = svc.stdin_open.then_some(true);
            c.tty = svc.tty.then_some(true);
        }
        let mut meta = self.service_meta(name, &svc.labels, &svc.annotations, false);
        Self::depends_on_annotation(svc, &mut meta);
        let sel = selector(&self.input.loaded.name, name);
        let mut objects = built.objects;
        objects.push(Object::Service(self.headless_service(
            &dns,
            &meta,
            sel.clone(),
        )));
        for alias in self.aliases(name, svc, &dns) {
            objects.push(Object::Service(self.headless_service(
                &alias,
                &meta,
                sel.clone(),
            )));
        }
        let template_meta = ObjectMeta {
            labels: meta.labels_only(),
            ..ObjectMeta::default()
        };
        let workload = self.workload(name);
        let mut workload_meta = meta.clone();
        if let Some(deploy) = &svc.deploy {
            for (k, v) in &deploy.labels {
                if super::names::is_qualified_name(k) {
                    workload_meta.set(k, v);
                }
            }
        }
        match &workload {
            Workload::Deployment { name: object } => {
                built.spec.restart_policy = Some("Always".into());
                objects.push(Object::Deployment(Deployment {
                    metadata: workload_meta.object_meta(object, &self.input.namespace),
                    spec: Some(DeploymentSpec {
                        replicas: Some(replicas(svc)),
                        selector: LabelSelector {
                            match_labels: Some(sel),
                            ..LabelSelector::default()
                        },
                        strategy: built.has_claim.then(|| DeploymentStrategy {
                            type_: Some("Recreate".into()),
                            rolling_update: None,
                        }),
                        template: PodTemplateSpec {
                            metadata: Some(template_meta),
                            spec: Some(built.spec),
                        },
                        ..DeploymentSpec::default()
                    }),
                    ..Deployment::default()
                }));
            }
            Workload::Job { name: object } => {
                let retry = retries(svc);
                built.spec.restart_policy = Some(
                    if retry.is_some() {
                        "OnFailure"
                    } else {
                        "Never"
                    }
                    .into(),
                );
                objects.push(Object::Job(Job {
                    metadata: workload_meta.object_meta(object, &self.input.namespace),
                    spec: Some(JobSpec {
                        backoff_limit: match retry {
                            Some(n) => n,
                            None => Some(0),
                        },
                        ttl_seconds_after_finished: Some(ONE_SHOT_TTL),
                        template: PodTemplateSpec {
                            metadata: Some(template_meta),
                            spec: Some(built.spec),
                        },
                        ..JobSpec::default()
                    }),
                    ..Job::default()
                }));
            }
        }
        objects.iter_mut().for_each(stamp);
        Ok(Dependency {
            service: name.to_string(),
            objects,
            workload,
            waits: self.waits(name, svc, planned)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Deploy, RestartPolicy};

    #[test]
    fn one_shot_services() {
        let mut s = Service {
            restart: Some("no".into()),
            ..Service::default()
        };
        assert!(restarts_never(&s) && retries(&s).is_none());
        s.restart = Some("on-failure:3".into());
        assert_eq!(retries(&s), Some(Some(3)));
        s.restart = Some("always".into());
        assert!(!restarts_never(&s));
        s.deploy = Some(Deploy {
            restart_policy: Some(RestartPolicy {
                condition: Some("none".into()),
                ..RestartPolicy::default()
            }),
            ..Deploy::default()
        });
        assert!(restarts_never(&s));
        assert_eq!(condition("service_healthy"), Some(Condition::Healthy));
        assert_eq!(condition("bogus"), None);
    }
}
