//! The imperative shell: reads the process environment, the working directory and local files,
//! then drives load → plan → apply → attach → clean up for each request.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use indexmap::IndexMap;

use crate::build::{self, BuildError, builder::Builder, registry::Destination};
use crate::cli::request::{ConfigRequest, ConfigView, ProjectArgs, RunRequest};
use crate::cli::{Invocation, Request};
use crate::cluster::{self, ExecOptions};
use crate::compose::{self, ConfigFormat, LoadOptions, Loaded, Selection};
use crate::plan::{self, PlanInput, RealFiles};
use crate::progress;
use crate::request::{DownRequest, OutputFormat};
use crate::timing;

/// Carries out an invocation and returns the process exit code.
pub async fn run(invocation: Invocation) -> anyhow::Result<u8> {
    let Invocation {
        project,
        kube,
        request,
    } = invocation;
    match request {
        Request::Config(req) => config(&project, &req),
        Request::Run(req) => run_one_off(&project, &kube, &req).await,
        Request::Ps(req) => {
            let loaded = load(&project, Selection::All)?;
            let conn = cluster::connect(&kube).await?;
            print!("{}", cluster::ps(&conn, &loaded.name, &req).await?);
            Ok(0)
        }
        Request::Completion(shell) => {
            std::io::stdout()
                .write_all(&crate::cli::completion(shell))
                .context("writing the completion script")?;
            Ok(0)
        }
        Request::Man => {
            let page = crate::cli::manual().context("rendering the manual page")?;
            std::io::stdout()
                .write_all(&page)
                .context("writing the manual page")?;
            Ok(0)
        }
        Request::Down(req) => {
            let loaded = load(&project, Selection::All)?;
            let conn = cluster::connect(&kube).await?;
            let mode = progress_mode(&loaded, false);
            cluster::down(&conn, &loaded.name, &req, mode).await?;
            Ok(0)
        }
    }
}

/// `krun config`: the project as `docker compose config` prints it.
fn config(project: &ProjectArgs, req: &ConfigRequest) -> anyhow::Result<u8> {
    let selection = if req.services.is_empty() {
        Selection::All
    } else {
        Selection::Services(req.services.clone())
    };
    let variables = req.view == ConfigView::Variables;
    // compose's --variables reads its map model too; its other views ignore --no-interpolate
    let raw = variables
        || req.no_interpolate && matches!(req.view, ConfigView::Model | ConfigView::Quiet);
    let loaded = load_with(project, selection, |opts| {
        opts.skip_env_resolution = req.no_env_resolution || req.view.skips_env_resolution();
        opts.skip_consistency = req.no_consistency || variables;
        opts.skip_path_resolution = req.no_path_resolution;
        opts.templates_as_written = variables;
        opts.skip_normalization = req.no_normalize;
        opts.raw_model = raw;
    })?;
    let format = match req.format {
        OutputFormat::Yaml => ConfigFormat::Yaml,
        OutputFormat::Json => ConfigFormat::Json,
    };
    let text = match req.view {
        ConfigView::Model if raw => compose::render::raw(&loaded.model, format),
        _ => compose::views::show(&loaded, &req.view, format)?,
    };
    match &req.output {
        // as compose: an empty view (`--quiet`) leaves the file alone
        Some(path) if !text.is_empty() => std::fs::write(path, text).map_err(|e| {
            let reason = compose::discovery::io_text(&e);
            anyhow::anyhow!("open {}: {reason}", path.display())
        })?,
        _ => print!("{text}"),
    }
    Ok(0)
}

/// `krun [run] SERVICE ...`: everything is loaded and planned before the cluster is touched.
async fn run_one_off(
    project: &ProjectArgs,
    kube: &crate::cli::request::KubeArgs,
    req: &RunRequest,
) -> anyhow::Result<u8> {
    let loaded = load(project, Selection::Run(req.service.clone()))?;
    timing::mark("project loaded");
    let model = compose::model::Project::from_canonical(&loaded.model)
        .context("reading the loaded project")?;
    let env_from_files = req
        .env_from_files
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| (path.clone(), text))
                .map_err(|e| anyhow::anyhow!("--env-from-file: open {}: {e}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jobs = build::jobs(&model, req)?;
    let chosen = req
        .settings
        .registry
        .as_deref()
        .map(|r| Destination::registry(r, "--registry / KRUN_REGISTRY"));
    let from_compose = Destination::from_compose(loaded.model.get("x-krun"));
    // A real run plans for the namespace of the connection it will use; building the
    // connection reads the kubeconfig but sends nothing: input errors come before any request.
    let conn = if req.settings.dry_run {
        None
    } else {
        Some(
            cluster::connect(kube)
                .await?
                .with_patience(req.settings.wait_timeout),
        )
    };
    let namespace = match &conn {
        Some(conn) => conn.namespace().to_string(),
        None => cluster::namespace_offline(kube),
    };
    let slug = random_slug()?;
    let plan_with = |images: &BTreeMap<String, String>| {
        plan::plan(&PlanInput {
            loaded: &loaded,
            project: &model,
            request: req,
            namespace: namespace.clone(),
            env_from_files: env_from_files.clone(),
            slug: slug.clone(),
            files: &RealFiles,
            images,
        })
    };
    // Planned with the images' names as far as they are known without the cluster, so that
    // every input error comes before a build or a request.
    let offline = chosen.as_ref().or(from_compose.as_ref());
    let mut plan = plan_with(&build::images(&jobs, offline))?;
    timing::mark("run planned");
    for warning in &plan.warnings {
        eprintln!("WARN[0000] {warning}");
    }
    let builder = || {
        let krun_builder = std::env::var("KRUN_BUILDER").ok();
        let path = std::env::var("PATH").ok();
        async move { Builder::detect(krun_builder.as_deref(), path.as_deref()).await }
    };
    let Some(conn) = conn else {
        if !jobs.is_empty() {
            let found = builder().await.ok();
            for line in build::describe(&jobs, found.as_ref(), offline) {
                eprintln!("{line}");
            }
        }
        print!("{}", plan::render(&plan, req.settings.output));
        return Ok(0);
    };
    if !jobs.is_empty() || plan.creates_before_the_one_off() {
        conn.preflight().await?;
        timing::mark("access checked");
    }
    if !jobs.is_empty() {
        let builder = builder().await?;
        let destination = match chosen {
            Some(d) => d,
            None => match cluster::local_registry(&conn).await? {
                Some(document) => Destination::from_hosting(&document)?,
                None => Destination::from_context(&conn.target.context)
                    .or(from_compose)
                    .ok_or(BuildError::NoDestination)?,
            },
        };
        let progress = progress::Progress::new(progress_mode(&loaded, req.quiet), req.quiet_pull);
        build::ensure(&jobs, &builder, &destination, req.quiet_build, &progress).await?;
        progress.clear();
        plan = plan_with(&build::images(&jobs, Some(&destination)))?;
        timing::mark("images built and shipped");
    }
    let opts = ExecOptions {
        progress: progress_mode(&loaded, req.quiet),
        quiet_pull: req.quiet_pull,
        remove_orphans: req.remove_orphans,
        ignore_orphans: loaded
            .environment
            .get("COMPOSE_IGNORE_ORPHANS")
            .is_some_and(|v| matches!(v.as_str(), "y" | "1" | "t" | "true" | "TRUE" | "True")),
        services: loaded.all_services.clone(),
        wait_timeout: req.settings.wait_timeout,
    };
    let result = cluster::execute(&conn, &plan, &opts).await;
    if req.down {
        let down = DownRequest {
            volumes: false,
            remove_orphans: false,
        };
        let removed = cluster::down(&conn, &loaded.name, &down, opts.progress).await;
        match (removed, &result) {
            (Err(e), Ok(_)) => return Err(anyhow::Error::new(e).context("--down")),
            // The run's own failure decides the exit code; this one is reported beside it.
            (Err(e), Err(_)) => eprintln!("WARN[0000] --down: {e}"),
            (Ok(()), _) => {}
        }
    }
    let code = result?;
    // A process exit status is one byte, as the container's own is.
    Ok(u8::try_from(code.rem_euclid(256)).unwrap_or(u8::MAX))
}

/// Loads the project for `selection`, printing the loader's warnings on stderr.
fn load(project: &ProjectArgs, selection: Selection) -> anyhow::Result<Loaded> {
    load_with(project, selection, |_| {})
}

/// [`load`] with the loader options `adjust` sets (`config`'s `--no-…` flags).
fn load_with(
    project: &ProjectArgs,
    selection: Selection,
    adjust: impl FnOnce(&mut LoadOptions),
) -> anyhow::Result<Loaded> {
    let mut opts = load_options(project, selection)?;
    adjust(&mut opts);
    let loaded = compose::load(&opts)?;
    for warning in &loaded.warnings {
        eprintln!("WARN[0000] {warning}");
    }
    Ok(loaded)
}

/// The loader's options from the command line, the process environment and stdin.
fn load_options(project: &ProjectArgs, selection: Selection) -> anyhow::Result<LoadOptions> {
    let stdin = if project.files.iter().any(|f| f.as_os_str() == "-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the compose file from stdin (-f -)")?;
        Some(text)
    } else {
        None
    };
    Ok(LoadOptions {
        files: project.files.clone(),
        project_name: project.project_name.clone(),
        project_directory: project.project_directory.clone(),
        env_files: project.env_files.clone(),
        profiles: project.profiles.clone(),
        cwd: std::env::current_dir().context("reading the current directory")?,
        env: process_env(),
        stdin,
        selection,
        ..LoadOptions::default()
    })
}

fn progress_mode(loaded: &Loaded, quiet: bool) -> progress::Mode {
    progress::Mode::decide(
        loaded
            .environment
            .get("COMPOSE_PROGRESS")
            .map(String::as_str),
        quiet,
        std::io::stderr().is_terminal(),
    )
}

fn process_env() -> IndexMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// compose's slug: 64 random hex characters (the pod name takes the first 12).
fn random_slug() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open(PathBuf::from("/dev/urandom"))
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the run's slug")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
