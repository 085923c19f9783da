//! `include` (`loader/include.go`): other compose projects loaded on their own (own project
//! directory, own env file visible only to them) and added to the including file's model.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::assemble::{Ctx, Origins, Source, assemble};
use super::discovery::{absolute, read_file};
use super::dotenv;
use super::error::{ErrorKind, LoadError};
use super::merge;

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Loads every entry of an `include` list found in `file`; returns the imported model (all
/// entries merged in order) for the caller to merge its own definitions over.
pub fn load(
    entries: &Value,
    ctx: &Ctx<'_>,
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>, LoadError> {
    let mut imported = Value::Object(Map::new());
    let mut stack = ctx.include_stack.clone();
    stack.push(file.to_path_buf());
    for entry in entries.as_array().into_iter().flatten() {
        let (paths, project_dir, env_files) = match entry {
            Value::String(s) => (vec![s.clone()], None, None),
            Value::Object(m) => (
                strings(m.get("path")),
                m.get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                m.contains_key("env_file")
                    .then(|| strings(m.get("env_file"))),
            ),
            _ => {
                return Err(
                    LoadError::invalid("include must be a list of strings or mappings")
                        .in_file(file),
                );
            }
        };
        let paths: Vec<PathBuf> = paths
            .iter()
            .map(|p| absolute(Path::new(p), ctx.working_dir, ctx.home))
            .collect();
        let Some(first) = paths.first() else {
            return Err(LoadError::invalid("include.path is required").in_file(file));
        };
        if let Some(again) = paths.iter().find(|p| stack.contains(p)) {
            let mut chain: Vec<String> = stack.iter().map(|p| p.display().to_string()).collect();
            chain.push(again.display().to_string());
            return Err(LoadError::invalid(format!(
                "include cycle detected:\n{}",
                chain.join("\n include ")
            ))
            .in_file(file));
        }
        let working_dir = match &project_dir {
            Some(d) => absolute(Path::new(d), ctx.working_dir, ctx.home),
            None => first.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let env_paths: Vec<PathBuf> = match env_files {
            Some(files) => files
                .iter()
                .filter(|f| f.as_str() != "/dev/null")
                .map(|f| absolute(Path::new(f), ctx.working_dir, ctx.home))
                .collect(),
            None => Some(working_dir.join(".env"))
                .filter(|p| p.is_file())
                .into_iter()
                .collect(),
        };
        let mut env = ctx.env.clone();
        for f in env_paths {
            if !f.is_file() {
                return Err(LoadError::new(
                    ErrorKind::NotFound,
                    format!("couldn't find env file: {}", f.display()),
                )
                .in_file(file));
            }
            let text = read_file(&f)?;
            let lookup = |k: &str| ctx.env.get(k).cloned();
            let values = dotenv::parse(&text, &lookup).map_err(|e| {
                LoadError::invalid(format!("failed to read {}: {e}", f.display())).in_file(&f)
            })?;
            for (k, v) in values {
                env.entry(k).or_insert(v);
            }
        }
        let sources = paths
            .iter()
            .map(|p| read_file(p).and_then(|text| Source::parse(p.clone(), &text)))
            .collect::<Result<Vec<_>, _>>()?;
        let sub = Ctx {
            working_dir: &working_dir,
            env: &env,
            home: ctx.home,
            include_stack: stack.clone(),
            resolve_paths: true,
            interpolate_and_validate: ctx.interpolate_and_validate,
            normalize: ctx.normalize,
            raw: ctx.raw,
        };
        let model = assemble(sources, &sub, warnings, &mut Origins::default())?;
        imported = merge::merge(imported, Value::Object(model)).map_err(|e| e.in_file(file))?;
    }
    match imported {
        Value::Object(mut m) => {
            m.remove("name");
            Ok(m)
        }
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    }

    fn ctx_at<'a>(root: &'a Path, env: &'a IndexMap<String, String>) -> Ctx<'a> {
        Ctx {
            working_dir: root,
            env,
            home: None,
            include_stack: Vec::new(),
            resolve_paths: true,
            interpolate_and_validate: true,
            normalize: true,
            raw: false,
        }
    }

    #[test]
    fn included_env_is_private_and_paths_are_theirs() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        write(
            root,
            "sub/compose.yaml",
            "services:\n  inc:\n    image: ${IMG}\n    build: .\n    environment: [SECRET]\n",
        )?;
        write(root, "sub/.env", "IMG=from-include\nSECRET=s\n")?;
        let env: IndexMap<String, String> = IndexMap::new();
        let ctx = ctx_at(root, &env);
        let entries = serde_json::json!(["sub/compose.yaml"]);
        let model = load(&entries, &ctx, &root.join("compose.yaml"), &mut Vec::new())?;
        let inc = &model["services"]["inc"];
        assert_eq!(inc["image"], "from-include");
        assert_eq!(inc["environment"]["SECRET"], "s");
        assert_eq!(
            inc["build"]["context"],
            root.join("sub").display().to_string()
        );
        Ok(())
    }

    #[test]
    fn cycles_are_reported() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        write(root, "a.yaml", "include: [b.yaml]\n")?;
        write(root, "b.yaml", "include: [a.yaml]\n")?;
        let env: IndexMap<String, String> = IndexMap::new();
        let ctx = ctx_at(root, &env);
        let err = load(
            &serde_json::json!(["b.yaml"]),
            &ctx,
            &root.join("a.yaml"),
            &mut Vec::new(),
        )
        .expect_err("cycle");
        assert!(
            err.message.starts_with("include cycle detected:\n"),
            "{}",
            err.message
        );
        Ok(())
    }
}
