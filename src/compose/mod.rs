//! Compose project loading: everything `docker compose` does between the command line and a
//! ready project model (discovery, `.env`, interpolation, merge, `extends`, `include`,
//! profiles, canonical syntax, validation), as a pure function of options, environment and
//! files. The model is compose-go's canonical JSON (`docker compose config --format json`).

mod assemble;
pub mod discovery;
pub mod dotenv;
mod emit;
pub mod error;
mod extends;
mod include;
pub mod interpolate;
mod layout;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod profiles;
pub mod project_name;
pub mod render;
mod schema;
pub mod shellwords;
pub mod validate;
pub mod views;
pub mod yaml;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

pub use error::{ErrorKind, LoadError};
pub use normalize::{ports, volumes};
pub use render::{ConfigFormat, render};

use assemble::{Ctx, Origins, Source};

/// Everything the loader depends on besides files: compose's global flags, the cwd and the
/// whole process environment (never read from `std::env` here, so loading is reproducible).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order; `-` means stdin.
    pub files: Vec<PathBuf>,
    /// `--project-name`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`, repeatable; replaces the default `.env`.
    pub env_files: Vec<PathBuf>,
    /// `--profile`, repeatable; replaces `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// Where relative `-f`/`--env-file` paths and the file search start.
    pub cwd: PathBuf,
    /// The whole process environment.
    pub env: IndexMap<String, String>,
    /// Content for `-f -`.
    pub stdin: Option<String>,
    /// Which services the caller needs.
    pub selection: Selection,
    /// Leave `env_file` as written instead of folding the files into `environment`
    /// (`config --no-env-resolution`, and the views that do not show environments).
    pub skip_env_resolution: bool,
    /// Skip compose-go's consistency checks and the dependency-cycle check
    /// (`config --no-consistency`).
    pub skip_consistency: bool,
    /// Keep relative paths as written (`config --no-path-resolution`).
    pub skip_path_resolution: bool,
    /// Neither interpolate nor check the schema (`config --variables`).
    pub templates_as_written: bool,
    /// Skip compose's normalisation: no default network, dockerfile, resource names, implicit
    /// dependencies or build args from the environment (`config --no-normalize`).
    pub skip_normalization: bool,
    /// compose-go's map model instead of the project (`config --no-interpolate`): templates
    /// as written, no profiles, selection, env files or types; [`render::raw`] prints it.
    pub raw_model: bool,
}

/// Which part of the project a command needs: it decides profile auto-enable and which
/// services (and so which env files) are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// The whole project (`config`).
    #[default]
    All,
    /// `config SERVICE…`: those services and their dependencies.
    Services(Vec<String>),
    /// `run SERVICE`: enable its profiles, keep it and its `depends_on` closure.
    Run(String),
}

/// A loaded project: the model plus what commands need around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The project name.
    pub name: String,
    /// The project directory.
    pub working_dir: PathBuf,
    /// The compose files loaded, in order.
    pub compose_files: Vec<PathBuf>,
    /// compose-go's canonical JSON model (`config --format json` before `$` doubling).
    pub model: Value,
    /// The project environment (process env, then env files), for `run -e KEY` and COMPOSE_*.
    pub environment: IndexMap<String, String>,
    /// Enabled profiles, after `run`'s auto-enable.
    pub profiles: Vec<String>,
    /// Every service the files define, whatever the profiles and the selection: the project's
    /// services for orphan detection.
    pub all_services: Vec<String>,
    /// Every profile any service names, enabled or not, sorted (`config --profiles`).
    pub all_profiles: Vec<String>,
    /// Warnings to print on stderr.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// A project `p` in `/p` around `model`, for the tests of what reads a loaded project.
    #[cfg(test)]
    pub(crate) fn of(model: Value) -> Loaded {
        Loaded {
            name: "p".into(),
            working_dir: "/p".into(),
            compose_files: vec![],
            model,
            environment: IndexMap::new(),
            profiles: vec![],
            all_services: vec![],
            all_profiles: vec![],
            warnings: vec![],
        }
    }

    /// Service names of the model, in model order (`config --services`).
    pub fn service_names(&self) -> Vec<String> {
        self.model
            .get("services")
            .and_then(Value::as_object)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Loads the project described by `opts`, as docker compose would for the selected command.
pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    // compose-go rejects a bad `-p` when the option is set, before looking for any file.
    if let Some(name) = &opts.project_name {
        project_name::validate_explicit(name)?;
    }
    let found = discovery::discover(opts)?;
    let mut warnings = found.warnings;
    let mut env = found.env;
    let home = env.get("HOME").cloned();
    let sources = found
        .files
        .iter()
        .map(|path| {
            let text = if path.as_os_str() == "-" {
                opts.stdin.clone().unwrap_or_default()
            } else {
                discovery::read_file(path)?
            };
            Source::parse(path.clone(), &text)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let from_files = if opts.templates_as_written {
        None
    } else {
        name_from_files(&sources, &env, !opts.raw_model)?
    };
    let dir_name = found
        .working_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let explicit = [opts.project_name.as_ref(), env.get("COMPOSE_PROJECT_NAME")]
        .into_iter()
        .flatten()
        .any(|n| !n.is_empty());
    let name = project_name::choose(
        opts.project_name.as_deref(),
        env.get("COMPOSE_PROJECT_NAME").map(String::as_str),
        from_files.as_deref(),
        &dir_name,
    )?;
    // without normalisation, compose prints the name its files give as written
    let shown_name = match &from_files {
        Some(written) if opts.skip_normalization && !explicit => written.clone(),
        _ => name.clone(),
    };
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());
    let ctx = Ctx {
        working_dir: &found.working_dir,
        env: &env,
        home: home.as_deref(),
        include_stack: Vec::new(),
        resolve_paths: !opts.skip_path_resolution,
        interpolate_and_validate: !opts.templates_as_written,
        normalize: !opts.skip_normalization,
        raw: opts.raw_model,
    };
    let mut origins = Origins::default();
    let mut model = assemble::assemble(sources, &ctx, &mut warnings, &mut origins)?;
    if model.is_empty() {
        let file = found.files.first().cloned().unwrap_or_default();
        return Err(LoadError::invalid("empty compose file").in_file(&file));
    }
    if opts.raw_model {
        if matches!(opts.selection, Selection::Services(_)) {
            warnings.push(
                "service filtering is not applied when --no-interpolate is set, the full model will be rendered".into(),
            );
        }
        let mut loaded = Loaded {
            model: raw_model(model, &name, !opts.skip_normalization),
            name,
            working_dir: found.working_dir,
            compose_files: found.files,
            environment: env,
            profiles: found.profiles,
            all_services: Vec::new(),
            all_profiles: Vec::new(),
            warnings,
        };
        loaded.all_services = loaded.service_names();
        return Ok(loaded);
    }
    model.remove("name");
    let services = match model.remove("services") {
        Some(Value::Object(s)) => s,
        _ => Map::new(),
    };
    let mut enabled = found.profiles;
    let (mut active, mut disabled) = profiles::split(services, &enabled);
    model.insert(
        "services".into(),
        Value::Object(std::mem::take(&mut active)),
    );
    normalize::finish_resources(&mut model, &name, !opts.skip_normalization);
    if !opts.skip_consistency {
        validate::consistency(&model, &disabled).map_err(|e| origins.locate(e))?;
    }
    if let Some(Value::Object(s)) = model.remove("services") {
        active = s;
    }
    let all_services = active.keys().chain(disabled.keys()).cloned().collect();
    let all_profiles: std::collections::BTreeSet<String> = active
        .values()
        .chain(disabled.values())
        .filter_map(|svc| svc.get("profiles").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let selected: Option<Vec<String>> = match &opts.selection {
        Selection::All => None,
        Selection::Services(names) => Some(names.clone()),
        Selection::Run(service) => Some(vec![service.clone()]),
    };
    if let Some(names) = &selected {
        profiles::enable_for(names, &active, &disabled, &mut enabled)?;
        let all: Map<String, Value> = active
            .into_iter()
            .chain(std::mem::take(&mut disabled))
            .collect();
        (active, disabled) = profiles::split(all, &enabled);
        profiles::select(&mut active, names)?;
    }
    drop(disabled);
    resolve_service_files(&mut active, &env, opts).map_err(|e| origins.locate(e))?;
    for svc in active.values_mut().filter_map(Value::as_object_mut) {
        for key in ["command", "entrypoint"] {
            svc.entry(key).or_insert(Value::Null);
        }
    }
    model.insert("services".into(), Value::Object(active));
    drop_unused_resources(&mut model);
    normalize::finish_resources(&mut model, &name, !opts.skip_normalization);
    let mut project = Map::new();
    project.insert("name".into(), json!(shown_name));
    project.extend(model);
    let model = render::canonical_order(Value::Object(project));
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    Ok(Loaded {
        name,
        working_dir: found.working_dir,
        compose_files: found.files,
        model,
        environment: env,
        profiles: enabled,
        all_services,
        all_profiles: all_profiles.into_iter().collect(),
        warnings,
    })
}

/// `config --no-interpolate`'s model (compose-go's `LoadModelWithContext`): normalisation
/// names the project and its resources and drops build args the loader cannot resolve (it
/// gets no environment to resolve them from).
fn raw_model(mut model: Map<String, Value>, name: &str, normalize: bool) -> Value {
    if normalize {
        model.insert("name".into(), json!(name));
        normalize::finish_resources(&mut model, name, true);
        for svc in model
            .get_mut("services")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|s| s.values_mut())
        {
            // (a list left empty prints `[]` in YAML as compose does, but `[]` where compose's
            // JSON says null)
            match svc.get_mut("build").and_then(|b| b.get_mut("args")) {
                Some(Value::Object(args)) => args.retain(|_, v| !v.is_null()),
                Some(Value::Array(args)) => {
                    args.retain(|a| a.as_str().is_none_or(|a| a.contains('=')));
                }
                _ => {}
            }
        }
    }
    Value::Object(model)
}

/// The last non-empty top-level `name:` of the main files, interpolated unless `interpolate`
/// is false (compose pre-scans it so that `${COMPOSE_PROJECT_NAME}` works everywhere).
fn name_from_files(
    sources: &[Source],
    env: &IndexMap<String, String>,
    interpolate: bool,
) -> Result<Option<String>, LoadError> {
    let mut found = None;
    for source in sources {
        for doc in &source.docs {
            match doc.value.get("name") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if !interpolate => {
                    if !s.is_empty() {
                        found = Some(s.clone());
                    }
                }
                Some(Value::String(s)) => {
                    let lookup = |k: &str| env.get(k).cloned();
                    let value =
                        interpolate::substitute(s, &lookup, &mut Vec::new()).map_err(|e| {
                            interpolate::template_error(e, "name", s).in_file(&source.path)
                        })?;
                    if !value.is_empty() {
                        found = Some(value);
                    }
                }
                Some(_) => {
                    return Err(LoadError::invalid(format!(
                        "validating {}: name must be a string",
                        source.path.display()
                    ))
                    .in_file(&source.path)
                    .at_line(doc.lines.get("name").copied()));
                }
            }
        }
    }
    Ok(found)
}

/// Resolves each service's env_file into its environment (A11, unless env resolution is
/// skipped) and label_file into its labels, dropping those keys; valueless build args come
/// from the environment when normalising.
fn resolve_service_files(
    services: &mut Map<String, Value>,
    env: &IndexMap<String, String>,
    opts: &LoadOptions,
) -> Result<(), LoadError> {
    let env_file = file_reader("env file");
    let label_file = file_reader("label file");
    for (name, svc) in services.iter_mut() {
        if let Value::Object(svc) = svc {
            if !opts.skip_env_resolution {
                normalize::resolve_env_files(svc, env, &env_file)
                    .map_err(|e| e.at_path(format!("services.{name}.env_file")))?;
            } else {
                normalize::unresolved_env_files(svc);
            }
            normalize::resolve_label_files(svc, &label_file)
                .map_err(|e| e.at_path(format!("services.{name}.label_file")))?;
            if !opts.skip_normalization {
                normalize::resolve_build_args(svc, env);
            }
        }
    }
    Ok(())
}

/// Reads a service's env/label file: a missing required file is compose's `<kind> <path> not
/// found` error, a missing optional one is `None`.
fn file_reader(kind: &'static str) -> impl Fn(&str, bool) -> Result<Option<String>, LoadError> {
    move |path, required| {
        let p = Path::new(path);
        match std::fs::metadata(p) {
            Ok(_) => discovery::read_file(p).map(Some),
            Err(_) if !required => Ok(None),
            Err(e) => Err(LoadError::new(
                ErrorKind::NotFound,
                format!(
                    "{kind} {path} not found: stat {path}: {}",
                    discovery::io_text(&e)
                ),
            )),
        }
    }
}

/// compose keeps only the networks, volumes, secrets, configs and models the (selected)
/// services use (`WithoutUnnecessaryResources`).
fn drop_unused_resources(model: &mut Map<String, Value>) {
    let services: Vec<Value> = model
        .get("services")
        .and_then(Value::as_object)
        .map(|s| s.values().cloned().collect())
        .unwrap_or_default();
    let mut used: IndexMap<&str, Vec<String>> = IndexMap::new();
    for svc in &services {
        let nets = svc
            .get("networks")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|n| n.keys().cloned());
        used.entry("networks").or_default().extend(nets);
        let vols = svc
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v.get("type").and_then(Value::as_str) == Some("volume"));
        used.entry("volumes").or_default().extend(
            vols.filter_map(|v| v.get("source").and_then(Value::as_str).map(str::to_string)),
        );
        for (kind, refs) in [
            ("secrets", svc.get("secrets")),
            ("secrets", svc.get("build").and_then(|b| b.get("secrets"))),
            ("configs", svc.get("configs")),
        ] {
            let refs = refs.and_then(Value::as_array).into_iter().flatten();
            used.entry(kind).or_default().extend(
                refs.filter_map(|r| r.get("source").and_then(Value::as_str).map(str::to_string)),
            );
        }
        let models = svc
            .get("models")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys().cloned());
        used.entry("models").or_default().extend(models);
    }
    for kind in ["networks", "volumes", "secrets", "configs", "models"] {
        let keep = used.get(kind).cloned().unwrap_or_default();
        if let Some(Value::Object(items)) = model.get_mut(kind) {
            items.retain(|k, _| keep.contains(k));
            if items.is_empty() {
                model.remove(kind);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, selection: Selection) -> Result<Loaded, LoadError> {
        let tmp = tempfile::tempdir().map_err(|e| LoadError::invalid(e.to_string()))?;
        std::fs::write(tmp.path().join("compose.yaml"), text)
            .map_err(|e| LoadError::invalid(e.to_string()))?;
        load(&LoadOptions {
            cwd: tmp.path().to_path_buf(),
            selection,
            ..LoadOptions::default()
        })
    }

    #[test]
    fn hostile_projects_are_errors_not_panics() {
        let inputs = [
            "- a\n- b",
            "42",
            "services: 3",
            "services:\n  a: null",
            "volumes: [a]",
            "include: [3]",
            "include: x",
            "name: ${",
            "x: !!binary abc",
            "a: *undefined",
            "\u{feff}services: {}",
            "services:\n  a:\n    ports: [null, {}, [1]]\n    image: x",
            "services:\n  a:\n    volumes: [1, null, {target: 3}]\n    image: x",
            "services:\n  a:\n    environment: [[1]]\n    image: x",
            "services:\n  a:\n    extends: 3",
            "services:\n  a:\n    extends: {service: a}",
            "services:\n  a:\n    depends_on: 7\n    image: x",
            "services:\n  a:\n    healthcheck: {test: 5, interval: zz}\n    image: x",
            "services:\n  a:\n    image: x\n    build: {context: 5}",
            "services:\n  a:\n    image: x\n    networks: 5",
            "services:\n  a:\n    image: x\n    env_file: [{}]",
            "services:\n  a:\n    image: x\n    deploy: {resources: {limits: {memory: [1]}}}",
            "services:\n  a:\n    image: x\n    command: \"'unterminated\"",
            "services:\n  a:\n    image: x\n    ulimits: {nofile: [1]}",
            "services:\n  a: {image: x, links: [b], network_mode: 'service:'}",
            "services:\n  a: {image: x, devices: [':'], extra_hosts: [':'], tmpfs: [3]}",
        ];
        for input in inputs {
            for selection in [Selection::All, Selection::Run("a".into())] {
                let _ = load_text(input, selection);
            }
        }
    }

    /// Every short syntax at once; the result must also fit the typed model others build on.
    #[test]
    fn rich_project_fits_the_typed_model() -> Result<(), LoadError> {
        let text = r#"
x-env: &env {TZ: UTC}
services:
  web:
    build: {context: ./app, args: [VERSION=1], shm_size: 1g}
    image: app:${TAG:-latest}
    command: python app.py
    entrypoint: ["/bin/sh", "-c"]
    environment: {<<: *env, DEBUG: true, EMPTY: }
    ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp", {target: 443, published: 8443}]
    volumes: ["./src:/src:ro", "data:/data", {type: tmpfs, target: /tmp, tmpfs: {size: 64m}}]
    depends_on: {db: {condition: service_healthy}}
    healthcheck: {test: curl -f localhost, interval: 30s, retries: 3, start_period: 1m}
    secrets: [token]
    deploy: {resources: {limits: {cpus: "0.5", memory: 512M}}}
    stop_grace_period: 1m
    labels: [com.example=x]
    extra_hosts: ["host.docker.internal:host-gateway"]
    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}
    tmpfs: /run
    cap_add: [NET_ADMIN]
    init: true
    mem_limit: 512m
  db:
    image: postgres
    networks: [backend, default]
    healthcheck: {test: ["CMD", "pg_isready"], disable: false}
volumes: {data: }
networks: {backend: {driver: bridge}}
secrets: {token: {file: ./token.txt}}
"#;
        let loaded = load_text(text, Selection::Run("web".into()))?;
        let project = model::Project::from_canonical(&loaded.model)
            .map_err(|e| LoadError::invalid(e.to_string()))?;
        assert_eq!(project.services.len(), 2);
        assert_eq!(
            loaded.model["services"]["web"]["ports"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
        Ok(())
    }

    #[test]
    fn config_selection_and_stdin() -> Result<(), LoadError> {
        let text =
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y}\n  c: {image: z}\n";
        let loaded = load_text(text, Selection::Services(vec!["a".into()]))?;
        assert_eq!(loaded.service_names(), ["a", "b"]);
        let opts = LoadOptions {
            files: vec![PathBuf::from("-")],
            cwd: PathBuf::from("/nowhere/proj"),
            stdin: Some("services:\n  s: {image: '${IMG:-busybox}'}\n".into()),
            ..LoadOptions::default()
        };
        let loaded = load(&opts)?;
        assert_eq!(
            (loaded.name.as_str(), loaded.working_dir.as_path()),
            ("proj", Path::new("/nowhere/proj"))
        );
        assert_eq!(loaded.model["services"]["s"]["image"], "busybox");
        Ok(())
    }

    #[test]
    fn run_selection_enables_profiles_and_resolves_env_files() -> Result<(), LoadError> {
        let text = "services:\n  web:\n    image: x\n    profiles: [debug]\n    depends_on: [db]\n    environment: [FROM_ENV]\n  db:\n    image: y\n    profiles: [debug]\n  other:\n    image: z\n    profiles: [debug]\n";
        let loaded = load_text(text, Selection::Run("web".into()))?;
        assert_eq!(loaded.service_names(), ["db", "web"]);
        assert_eq!(loaded.profiles, ["debug"]);
        assert_eq!(
            loaded.model["services"]["web"]["environment"]["FROM_ENV"],
            Value::Null
        );
        assert_eq!(
            load_text(text, Selection::All)?.service_names(),
            Vec::<String>::new()
        );
        let err = load_text(text, Selection::Run("nope".into())).expect_err("unknown service");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::NoSuchService, "no such service: nope")
        );
        Ok(())
    }
}
