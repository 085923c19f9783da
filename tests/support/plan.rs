//! Planning a `krun --dry-run` command line in-process, as the binary does it, with a fixed
//! slug and the case directory as the current directory: shared by the plan snapshots and the
//! run-flag differential test.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use krun::cli::args::OutputFormat;
use krun::cli::{Request, Terminals};
use krun::compose::model::Project;
use krun::compose::{LoadOptions, Selection};
use krun::plan::{self, FileKind, LocalFiles, Plan, PlanInput, RealFiles};

/// The run's slug: fixed so that generated names are stable.
pub const SLUG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The real file system, with the case directory as the current directory.
struct CaseFiles(PathBuf);

impl LocalFiles for CaseFiles {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        RealFiles.read(path)
    }
    fn kind(&self, path: &Path) -> Option<FileKind> {
        RealFiles.kind(path)
    }
    fn list(&self, path: &Path) -> std::io::Result<Vec<(String, FileKind)>> {
        RealFiles.list(path)
    }
    fn current_dir(&self) -> PathBuf {
        self.0.clone()
    }
}

/// Parses `argv` (`krun --dry-run ...`, no terminals), loads the project from `dir` with the
/// process environment `env`, and plans the run: the plan and its `-o` format, or the error
/// text (usage, loading or planning).
pub fn plan_argv(
    dir: &Path,
    argv: &[String],
    env: IndexMap<String, String>,
) -> Result<(Plan, OutputFormat), String> {
    let terminals = Terminals {
        stdin: false,
        stdout: false,
        stdin_null: false,
    };
    let invocation = krun::cli::parse(argv, terminals).map_err(|e| e.to_string())?;
    let Request::Run(request) = invocation.request else {
        return Err("not a run".into());
    };
    let p = invocation.project;
    let loaded = krun::compose::load(&LoadOptions {
        files: p.files,
        project_name: p.project_name,
        project_directory: p.project_directory,
        env_files: p.env_files,
        profiles: p.profiles,
        cwd: dir.to_path_buf(),
        env,
        stdin: None,
        selection: Selection::Run(request.service.clone()),
        ..LoadOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let project = Project::from_canonical(&loaded.model).map_err(|e| e.to_string())?;
    let env_from_files = request
        .env_from_files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(f))
                .map_err(|e| format!("open {}: {e}", f.display()))?;
            Ok((f.clone(), text))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let files = CaseFiles(dir.to_path_buf());
    // Images of build: services as a run would push them to a registry.
    let jobs = krun::build::jobs(&project, &request).map_err(|e| e.to_string())?;
    let registry = krun::build::registry::Destination::registry("registry.test:5000", "test");
    let images = krun::build::images(&jobs, Some(&registry));
    let input = PlanInput {
        loaded: &loaded,
        project: &project,
        request: &request,
        namespace: "krun-test".into(),
        env_from_files,
        slug: SLUG.into(),
        files: &files,
        images: &images,
    };
    let output = request.settings.output;
    plan::plan(&input)
        .map(|p| (p, output))
        .map_err(|e| e.to_string())
}
