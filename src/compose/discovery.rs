//! Where the project comes from (docker compose `toProjectOptions` + compose-go `cli/options.go`):
//! env files in two passes with the `COMPOSE_*` export, `COMPOSE_FILE`, the upward search for
//! default file names, the project directory and the profiles. The only part of the loader, with
//! [`read_file`], that touches the filesystem.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::LoadOptions;
use super::dotenv;
use super::error::{ErrorKind, LoadError};
use super::normalize::volumes::clean_path;

const MAIN_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The outcome of discovery: everything the loader needs before reading compose files.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Compose files in merge order (absolute; `-` for stdin).
    pub files: Vec<PathBuf>,
    /// The project directory.
    pub working_dir: PathBuf,
    /// The project environment: process env, then env files without overriding.
    pub env: IndexMap<String, String>,
    /// Enabled profiles (`--profile`, else `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
    /// Warnings (several default files found, …).
    pub warnings: Vec<String>,
}

/// Reads a file as compose reports failures (`open <abs>: no such file or directory`).
pub fn read_file(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Invalid
        };
        LoadError::new(kind, format!("open {}: {}", path.display(), io_text(&e)))
    })
}

/// Go's wording for the common I/O errors, so messages read like compose's.
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ if e.raw_os_error() == Some(21) => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// Makes `p` absolute against `base`, expanding a leading `~` with `home`, and cleans it.
pub fn absolute(p: &Path, base: &Path, home: Option<&str>) -> PathBuf {
    let s = p.to_string_lossy();
    let expanded = match (s.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => s.into_owned(),
    };
    let joined = if expanded.starts_with('/') {
        expanded
    } else {
        format!("{}/{expanded}", base.display())
    };
    PathBuf::from(clean_path(&joined))
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Runs discovery for `opts` (compose's option chain, in compose's order).
pub fn discover(opts: &LoadOptions) -> Result<Discovered, LoadError> {
    let home = opts.env.get("HOME").cloned();
    let home = home.as_deref();
    let cwd = &opts.cwd;
    let mut env = opts.env.clone();
    if !env.contains_key("PWD") {
        env.insert("PWD".into(), cwd.display().to_string());
    }
    let explicit_env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        opts.env
            .get("COMPOSE_ENV_FILES")
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| absolute(Path::new(s), cwd, home))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.env_files
            .iter()
            .map(|p| absolute(p, cwd, home))
            .collect()
    };
    let project_dir = opts
        .project_directory
        .as_ref()
        .map(|p| absolute(p, cwd, home));
    let mut files: Vec<PathBuf> = opts
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                f.clone()
            } else {
                absolute(f, cwd, home)
            }
        })
        .collect();
    let first_dir = |files: &[PathBuf]| {
        files
            .first()
            .filter(|f| f.as_os_str() != "-")
            .and_then(|f| f.parent().map(Path::to_path_buf))
    };
    let first_wd = project_dir
        .clone()
        .or_else(|| first_dir(&files))
        .unwrap_or_else(|| cwd.clone());

    // docker compose exports COMPOSE_* from the env files before anything else reads them
    let exported = load_env_files(&explicit_env_files, &first_wd, &env)?;
    for (k, v) in &exported {
        if k.starts_with("COMPOSE_") && !env.contains_key(k) {
            env.insert(k.clone(), v.clone());
        }
    }
    let first_pass = load_env_files(&explicit_env_files, &first_wd, &env)?;
    merge_missing(&mut env, first_pass);

    let mut warnings = Vec::new();
    if files.is_empty()
        && let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty())
    {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map_or(":", String::as_str);
        for entry in list.split(sep).filter(|e| !e.is_empty()) {
            if entry == "-" {
                files.push(PathBuf::from("-"));
                continue;
            }
            let path = absolute(Path::new(entry), cwd, home);
            if let Err(e) = std::fs::metadata(&path) {
                return Err(LoadError::new(
                    ErrorKind::NotFound,
                    format!("stat {}: {}", path.display(), io_text(&e)),
                ));
            }
            files.push(path);
        }
    }
    if files.is_empty() {
        files = default_files(project_dir.as_deref().unwrap_or(cwd), &mut warnings)?;
    }
    let working_dir = project_dir
        .or_else(|| first_dir(&files))
        .unwrap_or_else(|| cwd.clone());
    if working_dir != first_wd {
        let second_pass = load_env_files(&explicit_env_files, &working_dir, &env)?;
        merge_missing(&mut env, second_pass);
    }
    let profiles = if opts.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    Ok(Discovered {
        files,
        working_dir,
        env,
        profiles,
        warnings,
    })
}

fn merge_missing(env: &mut IndexMap<String, String>, from_files: IndexMap<String, String>) {
    for (k, v) in from_files {
        env.entry(k).or_insert(v);
    }
}

/// compose-go's `WithEnvFiles` + `GetEnvFromFile`: the explicit files (each must exist), or
/// `<wd>/.env` unless `COMPOSE_DISABLE_ENV_FILE`; later files override earlier ones.
fn load_env_files(
    explicit: &[PathBuf],
    wd: &Path,
    env: &IndexMap<String, String>,
) -> Result<IndexMap<String, String>, LoadError> {
    let files: Vec<PathBuf> = if explicit.is_empty() {
        let disabled = match env.get("COMPOSE_DISABLE_ENV_FILE") {
            Some(v) => parse_bool(v).ok_or_else(|| {
                LoadError::invalid(format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))
            })?,
            None => false,
        };
        let default = wd.join(".env");
        if disabled || !default.is_file() {
            Vec::new()
        } else {
            vec![default]
        }
    } else {
        for f in explicit {
            match std::fs::metadata(f) {
                Err(_) => {
                    return Err(LoadError::new(
                        ErrorKind::NotFound,
                        format!("couldn't find env file: {}", f.display()),
                    ));
                }
                Ok(m) if m.is_dir() => {
                    return Err(LoadError::invalid(format!(
                        "{} is a directory",
                        f.display()
                    )));
                }
                Ok(_) => {}
            }
        }
        explicit.to_vec()
    };
    let mut values: IndexMap<String, String> = IndexMap::new();
    for f in files {
        let text = read_file(&f)?;
        let lookup = |k: &str| env.get(k).cloned();
        let earlier = |k: &str| values.get(k).cloned();
        let parsed = dotenv::parse_layered(&text, &lookup, &earlier).map_err(|e| {
            LoadError::invalid(format!("failed to read {}: {e}", f.display()))
                .in_file(&f)
                .at_line(Some(e.line))
        })?;
        values.extend(parsed);
    }
    Ok(values)
}

/// The upward search for `compose.yaml` & co. and their override file.
fn default_files(start: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>, LoadError> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if let Some(main) = first_existing(d, &MAIN_NAMES, warnings) {
            let mut files = vec![main];
            files.extend(first_existing(d, &OVERRIDE_NAMES, warnings));
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(LoadError::new(
        ErrorKind::NotFound,
        "no configuration file provided: not found",
    ))
}

fn first_existing(dir: &Path, names: &[&str], warnings: &mut Vec<String>) -> Option<PathBuf> {
    let found: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    let first = found.first()?.clone();
    if found.len() > 1 {
        let shown: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        warnings.push(format!(
            "Found multiple config files with supported names: {}",
            shown.join(", ")
        ));
        warnings.push(format!("Using {}", first.display()));
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            cwd: dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..LoadOptions::default()
        }
    }

    #[test]
    fn upward_search_and_override() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b"))?;
        std::fs::write(root.join("compose.yaml"), "services: {}")?;
        std::fs::write(root.join("compose.yml"), "services: {}")?;
        std::fs::write(root.join("docker-compose.override.yml"), "services: {}")?;
        std::fs::write(root.join(".env"), "A=root\nB=root\nCOMPOSE_PROFILES=x, y\n")?;
        std::fs::write(root.join("a/b/.env"), "A=sub\n")?;
        let d = discover(&options(&root.join("a/b"), &[]))?;
        assert_eq!(
            d.files,
            vec![
                root.join("compose.yaml"),
                root.join("docker-compose.override.yml")
            ]
        );
        assert_eq!(d.working_dir, root);
        assert_eq!(d.env.get("A").map(String::as_str), Some("sub"));
        assert_eq!(d.env.get("B").map(String::as_str), Some("root"));
        assert_eq!(d.profiles, ["x", "y"]);
        assert!(d.warnings[0].ends_with(&format!(
            "{}, {}",
            root.join("compose.yaml").display(),
            root.join("compose.yml").display()
        )));
        Ok(())
    }

    #[test]
    fn compose_file_and_env_file_errors() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::write(root.join("a.yaml"), "")?;
        let d = discover(&options(
            root,
            &[
                ("COMPOSE_FILE", "a.yaml;a.yaml"),
                ("COMPOSE_PATH_SEPARATOR", ";"),
            ],
        ))?;
        assert_eq!(d.files.len(), 2);
        let e = discover(&options(root, &[("COMPOSE_FILE", "b.yaml")])).expect_err("missing");
        assert!(e.message.starts_with("stat ") && e.message.ends_with("no such file or directory"));
        let mut o = options(root, &[]);
        o.env_files = vec![PathBuf::from("nope.env")];
        let e = discover(&o).expect_err("missing env file");
        assert_eq!(
            e.message,
            format!(
                "couldn't find env file: {}",
                root.join("nope.env").display()
            )
        );
        let e = discover(&options(root, &[])).expect_err("nothing");
        assert_eq!(e.message, "no configuration file provided: not found");
        Ok(())
    }
}
