//! Images of `build:` services, built before the run as `docker compose run` builds them:
//! which images the run needs ([`jobs`]: compose's rules — `--build`, `--pull build` and
//! `pull_policy: build` always build, otherwise only a missing image is built), under which
//! content tag ([`context`]), with which local builder ([`builder`]), and shipped where the
//! cluster pulls from ([`registry`]). [`ensure`] carries it out; a failed build stops the run
//! before anything is created in the cluster.

pub mod builder;
pub mod context;
mod dockerignore;
mod ensure;
pub mod registry;
pub mod spec;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use ensure::{describe, ensure};

use crate::compose::model::Project;
use crate::request::{PullPolicy, RunRequest};
use spec::BuildSpec;

/// Why images could not be built or shipped.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The `build:` section does not have compose-go's shape.
    #[error("service \"{service}\": build: {message}")]
    Spec {
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// A file of the build context (or the Dockerfile) cannot be read.
    #[error(
        "service \"{service}\": build: cannot read {path}; check build.context and \
         build.dockerfile (relative paths resolve against the compose file's directory)"
    )]
    Context {
        /// The service.
        service: String,
        /// The unreadable file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A build secret has no file to give the builder.
    #[error(
        "service \"{service}\": build.secrets: \"{secret}\" {why}; declare it under the top-level \
         secrets: with file:"
    )]
    Secret {
        /// The service.
        service: String,
        /// The secret.
        secret: String,
        /// What is missing.
        why: &'static str,
    },
    /// No builder on this machine.
    #[error(
        "cannot build images: {detail}; install one (e.g. apt-get install buildah), or name it \
         with KRUN_BUILDER=docker|buildx|podman|buildah|nerdctl or a path"
    )]
    NoBuilder {
        /// What was looked for.
        detail: String,
    },
    /// A builder command failed.
    #[error("{what} failed: {command}\n{tail}")]
    Failed {
        /// What was being done (`building service "web"`).
        what: String,
        /// The command line.
        command: String,
        /// Its last lines of output.
        tail: String,
    },
    /// The registry setting cannot be used.
    #[error("{0}")]
    Destination(String),
    /// Nowhere to ship images to.
    #[error(
        "cannot ship built images to the cluster: it publishes no local registry \
         (ConfigMap kube-public/local-registry-hosting), its context is neither kind-* nor \
         minikube, and no registry is named; pass --registry HOST[:PORT][/PREFIX], set \
         KRUN_REGISTRY, or set x-krun.registry in the compose file"
    )]
    NoDestination,
}

/// When an image is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `--build`, `--pull build`, `pull_policy: build`: every run.
    Always,
    /// compose's default: when the cluster's registry does not have it yet.
    IfMissing,
}

/// One image to build; services with identical builds share it (each image is built once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The services that run it.
    pub services: Vec<String>,
    /// Their `build:` section.
    pub spec: BuildSpec,
    /// When it is built.
    pub when: When,
    /// The repository, without registry or tag: `image:`'s, or compose's `<project>-<service>`.
    pub repository: String,
    /// The content tag (`krun-<hash>`).
    pub tag: String,
    /// Local tags besides the pushed one: `image:` itself and `build.tags`.
    pub extra_tags: Vec<String>,
    /// Build secrets: id and file.
    pub secrets: Vec<(String, PathBuf)>,
}

/// The images this run needs built: every `build:` service among the target and (without
/// `--no-deps`) the dependencies the loader kept. Reads the build contexts to tag them.
pub fn jobs(project: &Project, request: &RunRequest) -> Result<Vec<Job>, BuildError> {
    let mut jobs: Vec<Job> = Vec::new();
    for (name, svc) in &project.services {
        let in_run = name == &request.service || !request.no_deps;
        let Some(build) = svc.build.as_ref().filter(|_| in_run) else {
            continue;
        };
        let spec = BuildSpec::from_model(name, build)?;
        let always = request.build
            || request.pull == Some(PullPolicy::Build)
            || svc.pull_policy.as_deref() == Some("build");
        let image = svc.image.as_deref().filter(|i| !i.is_empty());
        let repository = match image {
            Some(i) => spec::repository(i),
            None => format!("{}-{name}", project.name).to_ascii_lowercase(),
        };
        let tag = context::tag(name, &spec)?;
        let extra_tags = image
            .map(String::from)
            .into_iter()
            .chain(spec.tags.iter().cloned())
            .collect();
        let secrets = spec
            .secrets
            .iter()
            .map(|s| {
                secret_file(project, name, &s.source)
                    .map(|f| (s.target.clone().unwrap_or_else(|| s.source.clone()), f))
            })
            .collect::<Result<_, _>>()?;
        let when = if always {
            When::Always
        } else {
            When::IfMissing
        };
        match jobs
            .iter_mut()
            .find(|j| j.repository == repository && j.tag == tag)
        {
            Some(same) => {
                same.services.push(name.clone());
                if when == When::Always {
                    same.when = When::Always;
                }
            }
            None => jobs.push(Job {
                services: vec![name.clone()],
                spec,
                when,
                repository,
                tag,
                extra_tags,
                secrets,
            }),
        }
    }
    Ok(jobs)
}

/// The image each `build:` service's pods run: its reference at `destination`, or the bare
/// `repository:tag` while the destination is not known yet (`--dry-run`).
pub fn images(
    jobs: &[Job],
    destination: Option<&registry::Destination>,
) -> BTreeMap<String, String> {
    jobs.iter()
        .flat_map(|j| {
            let reference = match destination {
                Some(d) => d.references(&j.repository, &j.tag).1,
                None => format!("{}:{}", j.repository, j.tag),
            };
            j.services
                .iter()
                .map(move |s| (s.clone(), reference.clone()))
        })
        .collect()
}

/// The file behind top-level secret `name`, for `--secret id=…,src=…`.
fn secret_file(project: &Project, service: &str, name: &str) -> Result<PathBuf, BuildError> {
    let fail = |why| BuildError::Secret {
        service: service.to_string(),
        secret: name.to_string(),
        why,
    };
    let secret = project
        .secrets
        .get(name)
        .ok_or_else(|| fail("is not defined"))?;
    secret
        .file
        .as_ref()
        .map(PathBuf::from)
        .ok_or_else(|| fail("has no file: (builders take secret files)"))
}
