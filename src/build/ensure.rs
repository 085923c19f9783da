//! Carrying out the builds of a run: skip images the registry already has under their content
//! tag (unless the run must rebuild), build the others with the local builder, and ship them
//! (push, or `kind load` / `minikube image load`), with compose-style progress.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::builder::{BuildInputs, Builder, Kind, run_program, which};
use super::registry::{Destination, has_tag};
use super::{BuildError, Job, When};
use crate::progress::Progress;

/// Builds and ships every job that needs it; `quiet` hides the builders' output.
pub async fn ensure(
    jobs: &[Job],
    builder: &Builder,
    destination: &Destination,
    quiet: bool,
    progress: &Progress,
) -> Result<(), BuildError> {
    for job in jobs {
        let (local, _) = destination.references(&job.repository, &job.tag);
        let subject = format!("Image {local}");
        if job.when == When::IfMissing
            && has_tag(destination, &job.repository, &job.tag).await == Some(true)
        {
            progress.done(&subject, "Up to date");
            continue;
        }
        progress.step(&subject, &format!("Building with {}", builder.kind.name()));
        let dockerfile = dockerfile(job)?;
        let inputs = inputs(job, &local, dockerfile.as_deref());
        let (args, warnings) = builder.build_command(&job.spec, &inputs);
        for w in warnings {
            progress.warn(&format!("service \"{}\": build.{w}", job.services[0]));
        }
        progress.clear();
        let what = format!("building the image of service \"{}\"", job.services[0]);
        let built = builder.run(&what, &args, quiet).await;
        if let (Some(path), Some(_)) = (&dockerfile, &job.spec.dockerfile_inline) {
            let _ = std::fs::remove_file(path);
        }
        built?;
        progress.done(&subject, "Built");
        ship(builder, destination, &local, quiet, progress).await?;
    }
    Ok(())
}

/// What `--dry-run` says on stderr about the builds: one line per image.
pub fn describe(
    jobs: &[Job],
    builder: Option<&Builder>,
    destination: Option<&Destination>,
) -> Vec<String> {
    jobs.iter()
        .map(|job| {
            let services = job.services.join(", ");
            let when = match job.when {
                When::Always => "build",
                When::IfMissing => "build unless the registry has it",
            };
            let (local, _) = match destination {
                Some(d) => d.references(&job.repository, &job.tag),
                None => (format!("{}:{}", job.repository, job.tag), String::new()),
            };
            let dockerfile = job.spec.dockerfile_path().or_else(|| {
                job.spec
                    .dockerfile_inline
                    .as_ref()
                    .map(|_| PathBuf::from("<dockerfile_inline>"))
            });
            let with = builder.map_or("no builder found".to_string(), |b| {
                let (args, _) =
                    b.build_command(&job.spec, &inputs(job, &local, dockerfile.as_deref()));
                let args: Vec<String> = args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                format!("{} {}", b.program.display(), args.join(" "))
            });
            let to = destination.map_or(
                "to the cluster's registry (kube-public/local-registry-hosting), found at run time"
                    .to_string(),
                Destination::describe,
            );
            format!("build: service {services}: {when}: {with}; then {to}")
        })
        .collect()
}

/// The builder's inputs for `job`, pushed (or loaded) as `local`.
fn inputs<'a>(job: &Job, local: &str, dockerfile: Option<&'a Path>) -> BuildInputs<'a> {
    BuildInputs {
        dockerfile,
        tags: std::iter::once(local.to_string())
            .chain(job.extra_tags.iter().cloned())
            .collect(),
        secrets: job.secrets.clone(),
    }
}

/// The Dockerfile to pass with `-f`: the service's, or `dockerfile_inline` written to a
/// temporary file (removed after the build).
fn dockerfile(job: &Job) -> Result<Option<PathBuf>, BuildError> {
    let Some(text) = &job.spec.dockerfile_inline else {
        return Ok(job.spec.dockerfile_path());
    };
    let path = std::env::temp_dir().join(format!(
        "krun-{}-{}.Dockerfile",
        std::process::id(),
        job.tag
    ));
    std::fs::write(&path, text).map_err(|e| BuildError::Context {
        service: job.services[0].clone(),
        path: path.clone(),
        source: e,
    })?;
    Ok(Some(path))
}

/// Makes the built image `local` reachable for the cluster.
async fn ship(
    builder: &Builder,
    destination: &Destination,
    local: &str,
    quiet: bool,
    progress: &Progress,
) -> Result<(), BuildError> {
    let subject = format!("Image {local}");
    let (tool, load): (&str, Vec<OsString>) = match destination {
        Destination::Registry { insecure, .. } => {
            progress.step(&subject, "Pushing");
            let args = builder.push_command(local, *insecure);
            builder
                .run(&format!("pushing {local}"), &args, quiet)
                .await?;
            progress.done(&subject, "Pushed");
            return Ok(());
        }
        Destination::Kind { cluster } => {
            ("kind", vec!["load".into(), "--name".into(), cluster.into()])
        }
        Destination::Minikube { profile } => (
            "minikube",
            vec!["image".into(), "load".into(), "-p".into(), profile.into()],
        ),
    };
    let program = which(tool, std::env::var("PATH").ok().as_deref()).ok_or_else(|| {
        BuildError::Destination(format!(
            "the cluster is {}, but {tool} is not on PATH to load the image; install it, or \
             name a registry with --registry",
            destination.describe()
        ))
    })?;
    progress.step(&subject, &format!("Loading into {tool}"));
    let docker_daemon = matches!(builder.kind, Kind::Docker | Kind::Buildx);
    let mut args = load;
    let archive = std::env::temp_dir().join(format!("krun-{}.tar", std::process::id()));
    if docker_daemon && tool == "kind" {
        args.splice(1..1, ["docker-image".into(), local.into()]);
    } else if docker_daemon {
        args.push(local.into());
    } else {
        let save = builder.save_command(local, &archive);
        builder
            .run(&format!("saving {local}"), &save, quiet)
            .await?;
        if tool == "kind" {
            args.splice(1..1, ["image-archive".into(), archive.clone().into()]);
        } else {
            args.push(archive.clone().into());
        }
    }
    let loaded = run_program(&program, &format!("loading {local}"), &args, quiet).await;
    let _ = std::fs::remove_file(&archive);
    loaded?;
    progress.done(&subject, "Loaded");
    Ok(())
}
