//! The one-off: the target service with `docker compose run`'s options applied (compose's
//! `applyRunOptions`), as a pod that never restarts — or a Job under `-d --rm`, which the
//! cluster deletes when it finishes.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::labels::{RUN, SLUG, stamp};
use super::names::{label_with_suffix, service_dns_name, short_slug};
use super::pod::{Role, grace_seconds};
use super::security::merge_caps;
use super::{Dependency, Io, Object, OneOff, PlanError, Planner, unsupported};
use crate::compose::model::{Service, ServiceVolume};

impl Planner<'_> {
    /// The target service as `run` sees it: flags applied, ports cleared unless published.
    fn run_service(&self, target: &Service) -> Result<Service, PlanError> {
        let request = self.input.request;
        let mut svc = target.clone();
        if let Some(cmd) = &request.command {
            svc.command = Some(cmd.clone());
        }
        if let Some(ep) = &request.entrypoint {
            svc.entrypoint = Some(ep.clone());
            if request.command.is_none() {
                svc.command = Some(Vec::new());
            }
        }
        svc.environment = self.run_env(svc.environment)?;
        for (k, v) in &request.labels {
            svc.labels.insert(k.clone(), v.clone());
        }
        if let Some(u) = request.user {
            svc.user = Some(match u.gid {
                Some(g) => format!("{}:{g}", u.uid),
                None => u.uid.to_string(),
            });
        }
        if let Some(w) = &request.workdir {
            svc.working_dir = Some(w.clone());
        }
        for spec in &request.volumes {
            let invalid = |e: String| {
                unsupported(
                    &request.service,
                    "--volume",
                    format!("invalid -v \"{spec}\": {e}"),
                )
            };
            let parsed =
                crate::compose::volumes::parse_short(spec).map_err(|e| invalid(e.to_string()))?;
            let v: ServiceVolume =
                serde_json::from_value(parsed).map_err(|e| invalid(e.to_string()))?;
            svc.volumes.retain(|m| m.target != v.target);
            svc.tmpfs
                .retain(|t| t.split(':').next() != Some(v.target.as_str()));
            svc.volumes.push(v);
        }
        let (add, drop) = merge_caps(
            &svc.cap_add,
            &svc.cap_drop,
            &request.cap_add,
            &request.cap_drop,
        );
        svc.cap_add = add;
        svc.cap_drop = drop;
        svc.ports = self.published_ports(target)?;
        svc.restart = None;
        if let Some(d) = svc.deploy.as_mut() {
            d.restart_policy = None;
        }
        Ok(svc)
    }

    /// Plans the one-off for `target`, after its dependencies.
    pub(super) fn one_off(
        &mut self,
        target: &Service,
        deps: &[Dependency],
    ) -> Result<OneOff, PlanError> {
        let input = self.input;
        let request = input.request;
        let name = request.service.as_str();
        let svc = self.run_service(target)?;
        let slug12 = short_slug(&input.slug);
        let pod_name = request.name.clone().unwrap_or_else(|| {
            label_with_suffix(
                &format!("{}-{name}", input.loaded.name),
                &format!("run-{slug12}"),
            )
        });
        let mut built = self.pod_spec(name, &svc, Role::OneOff)?;
        let container = service_dns_name(name);
        if let Some(c) = built.spec.containers.first_mut() {
            c.stdin = request.interactive.then_some(true);
            c.stdin_once = request.interactive.then_some(true);
            c.tty = request.tty.then_some(true);
            c.termination_message_policy = Some("FallbackToLogsOnError".into());
        }
        built.spec.restart_policy = Some("Never".into());
        built.spec.active_deadline_seconds =
            request.settings.timeout.map(|t| t.as_secs().max(1) as i64);
        let mut meta = self.service_meta(name, &svc.labels, &svc.annotations, true);
        meta.annotations.insert(SLUG.into(), input.slug.clone());
        if !request.no_deps {
            Self::depends_on_annotation(&svc, &mut meta);
        }
        if request.use_aliases {
            meta.labels.insert(RUN.into(), slug12.to_string());
        }
        let pod = Pod {
            metadata: meta.object_meta(&pod_name, &input.namespace),
            spec: Some(built.spec),
            ..Pod::default()
        };
        let job = (request.detach && request.rm).then(|| Job {
            metadata: meta.object_meta(&pod_name, &input.namespace),
            spec: Some(JobSpec {
                backoff_limit: Some(0),
                ttl_seconds_after_finished: Some(0),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: meta.labels_only(),
                        annotations: pod.metadata.annotations.clone(),
                        ..ObjectMeta::default()
                    }),
                    spec: pod.spec.clone(),
                },
                ..JobSpec::default()
            }),
            ..Job::default()
        });
        let owner = OwnerReference {
            api_version: if job.is_some() { "batch/v1" } else { "v1" }.into(),
            kind: if job.is_some() { "Job" } else { "Pod" }.into(),
            name: pod_name.clone(),
            uid: String::new(),
            controller: Some(false),
            block_owner_deletion: None,
        };
        let owned = if request.use_aliases {
            self.alias_services(name, &svc, &meta, &owner, deps)
        } else {
            Vec::new()
        };
        let mut objects = built.objects;
        objects.iter_mut().for_each(stamp);
        let waits = if request.no_deps {
            Vec::new()
        } else {
            let planned: Vec<String> = deps.iter().map(|d| d.service.clone()).collect();
            self.waits(name, &svc, &planned)?
        };
        let forwards = self.forwards(name, &svc.ports);
        Ok(OneOff {
            service: name.to_string(),
            pod,
            job,
            objects,
            owned,
            waits,
            container,
            io: Io {
                tty: request.tty,
                interactive: request.interactive,
            },
            forwards,
            copies: built.copies,
            rm: request.rm,
            detach: request.detach,
            grace_period: grace_seconds(&svc),
            timeout: request.settings.timeout,
        })
    }

    /// `--use-aliases`: headless Services for the service name and its network aliases,
    /// selecting this run's pod only, owned by it.
    fn alias_services(
        &mut self,
        name: &str,
        svc: &Service,
        meta: &super::labels::Meta,
        owner: &OwnerReference,
        deps: &[Dependency],
    ) -> Vec<Object> {
        let taken: Vec<&str> = deps
            .iter()
            .flat_map(|d| d.objects.iter())
            .filter_map(|o| match o {
                Object::Service(s) => s.metadata.name.as_deref(),
                _ => None,
            })
            .collect();
        let mut names = vec![service_dns_name(name)];
        for alias in svc
            .networks
            .values()
            .flatten()
            .flat_map(|n| n.aliases.iter())
        {
            let dns = service_dns_name(alias);
            if !names.contains(&dns) {
                names.push(dns);
            }
        }
        let selector = std::collections::BTreeMap::from([(
            RUN.to_string(),
            short_slug(&self.input.slug).to_string(),
        )]);
        let mut out = Vec::new();
        for n in names {
            if taken.contains(&n.as_str()) {
                self.warn(name, "--use-aliases", format!("\"{n}\" already names a dependency's Service: the one-off is not added to it"));
                continue;
            }
            let mut service = self.headless_service(&n, meta, selector.clone());
            service.metadata.owner_references = Some(vec![owner.clone()]);
            out.push(Object::Service(service));
        }
        out
    }
}
