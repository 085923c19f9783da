//! Planning: a pure mapping from (loaded compose project, run request) to the Kubernetes
//! objects a run creates, in apply order. No I/O of its own (local files are read through
//! [`LocalFiles`]); `cluster` executes the result.

mod command;
mod dependencies;
mod env;
pub mod keys;
mod labels;
pub mod names;
mod one_off;
mod pod;
mod ports;
mod probes;
mod render;
mod resources;
mod security;
mod types;
pub mod validate;
mod volumes;
mod warnings;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

pub use render::render;
pub use types::*;

use crate::compose;
use crate::compose::model::{Project, Service};
use crate::request::RunRequest;

/// Everything planning needs: the loaded project, the request, and the run's fixed facts.
pub struct PlanInput<'a> {
    /// The loader's result (project name, directory, files, environment).
    pub loaded: &'a compose::Loaded,
    /// The typed model of `loaded.model`.
    pub project: &'a Project,
    /// The validated command line.
    pub request: &'a RunRequest,
    /// Namespace of every object.
    pub namespace: String,
    /// `--env-from-file` path and contents, read by the caller.
    pub env_from_files: Vec<(PathBuf, String)>,
    /// 64 hex characters: random at the edge, fixed in tests.
    pub slug: String,
    /// Access to local files (bind mount sources, secret and config files).
    pub files: &'a dyn LocalFiles,
    /// The images built for this run, by service: they replace `image:` (see `crate::build`).
    pub images: &'a BTreeMap<String, String>,
}

/// What planning may learn from the local machine, injected so `plan` stays pure and testable.
pub trait LocalFiles {
    /// The contents of a file (secret and config sources).
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// What is at `path` (bind mount sources): a file, a directory, or nothing.
    fn kind(&self, path: &Path) -> Option<FileKind>;
    /// The entries of a directory, by name (bind mounts of dependencies become ConfigMaps).
    fn list(&self, path: &Path) -> std::io::Result<Vec<(String, FileKind)>>;
    /// The directory relative `-v` sources resolve against (compose uses its own CWD).
    fn current_dir(&self) -> PathBuf;
}

/// What a local path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// A regular file (mounted with `subPath`).
    File,
    /// A directory (mounted whole).
    Dir,
}

/// The real file system, for the binary.
pub struct RealFiles;

impl LocalFiles for RealFiles {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn kind(&self, path: &Path) -> Option<FileKind> {
        let meta = std::fs::metadata(path).ok()?;
        Some(if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::File
        })
    }

    fn list(&self, path: &Path) -> std::io::Result<Vec<(String, FileKind)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let kind = if entry.file_type()?.is_dir() {
                FileKind::Dir
            } else {
                FileKind::File
            };
            out.push((entry.file_name().to_string_lossy().into_owned(), kind));
        }
        out.sort();
        Ok(out)
    }

    fn current_dir(&self) -> PathBuf {
        std::env::current_dir().unwrap_or_default()
    }
}

/// Why a run cannot be planned: each message says what, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The requested service is not in the project.
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// A key or flag whose Kubernetes form would run something other than what compose runs.
    #[error("service \"{service}\": {key}: {message}")]
    Unsupported {
        /// The compose service.
        service: String,
        /// The key or flag.
        key: String,
        /// Why, and how to fix it.
        message: String,
    },
    /// A local file the project refers to cannot be read.
    #[error(
        "service \"{service}\": {key}: cannot read {path} (relative paths resolve against the project directory)"
    )]
    File {
        /// The compose service.
        service: String,
        /// The key naming the file.
        key: String,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An `--env-from-file` that does not parse.
    #[error("--env-from-file {path}: {message}")]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// The parser's message with its line.
        message: String,
    },
    /// The rendered objects break the API server's rules (names, labels, ports, …).
    #[error("the objects for this run would be rejected by the API server:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

fn unsupported(service: &str, key: &str, message: impl Into<String>) -> PlanError {
    PlanError::Unsupported {
        service: service.to_string(),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Plans one `krun run`: every object in apply order, the waits, streams and copies.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let mut planner = Planner {
        input,
        warnings: Vec::new(),
        emitted: HashSet::new(),
    };
    let request = input.request;
    let target = input
        .project
        .services
        .get(&request.service)
        .ok_or_else(|| PlanError::NoSuchService(request.service.clone()))?;
    let order = if request.no_deps {
        Vec::new()
    } else {
        planner.order(&request.service)?
    };
    let mut deps = Vec::new();
    for name in &order {
        deps.push(planner.dependency(name, &order)?);
    }
    let one_off = planner.one_off(target, &deps)?;
    let plan = Plan {
        project: input.loaded.name.clone(),
        namespace: input.namespace.clone(),
        dependencies: deps,
        one_off,
        warnings: planner.warnings,
    };
    let problems = validate::check(&plan);
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(PlanError::Invalid(problems))
    }
}

/// The state of one planning pass: the input, the warnings so far, and the shared objects
/// (PVCs, Secrets, ConfigMaps) already emitted, so each appears once in the List.
struct Planner<'a> {
    input: &'a PlanInput<'a>,
    warnings: Vec<Warning>,
    emitted: HashSet<String>,
}

impl<'a> Planner<'a> {
    /// Records a key without a faithful mapping.
    fn warn(&mut self, service: &str, key: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            service: Some(service.to_string()),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// The service named `name` (present: callers take names from the project).
    fn service(&self, name: &str) -> Option<&'a Service> {
        self.input.project.services.get(name)
    }
}
