//! `extends` (`loader/extends.go`): a service starts from another one, in the same file or in
//! another file (loaded on its own, paths relative to it), merged with compose's override rules.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::assemble::{Ctx, Source, interpolate_doc};
use super::discovery::{absolute, read_file};
use super::error::LoadError;
use super::merge;
use super::normalize;

/// Resolves every `extends` among `services` (the services of one file, `file`); `dir` is where
/// `extends.file` paths are relative to; `resets` are the `!reset`/`!override` paths in force.
pub fn apply(
    services: &mut Map<String, Value>,
    file: &Path,
    dir: &Path,
    resets: &[Vec<Vec<String>>],
    ctx: &Ctx<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let names: Vec<String> = services.keys().cloned().collect();
    let mut resolver = Resolver { ctx, warnings };
    for name in names {
        resolver.resolve(&name, services, file, dir, resets, &mut Vec::new())?;
    }
    Ok(())
}

/// A file's services and the `!reset`/`!override` paths its documents declare.
type ServicesAndResets = (Map<String, Value>, Vec<Vec<String>>);

struct Resolver<'a, 'c> {
    ctx: &'a Ctx<'c>,
    warnings: &'a mut Vec<String>,
}

impl Resolver<'_, '_> {
    /// Resolves service `name` of `services` (defined in `file`) and returns it.
    fn resolve(
        &mut self,
        name: &str,
        services: &mut Map<String, Value>,
        file: &Path,
        dir: &Path,
        resets: &[Vec<Vec<String>>],
        tracker: &mut Vec<(PathBuf, String)>,
    ) -> Result<Option<Value>, LoadError> {
        let Some(current) = services.get(name) else {
            return Ok(None);
        };
        let Value::Object(service) = current else {
            return Err(LoadError::invalid(format!(
                "services.{name} must be a mapping"
            )));
        };
        let Some(ext) = service.get("extends") else {
            return Ok(Some(current.clone()));
        };
        let (reference, other_file) = match ext {
            Value::String(s) => (s.clone(), None),
            Value::Object(m) => {
                let reference = m.get("service").and_then(Value::as_str).ok_or_else(|| {
                    LoadError::invalid(format!("extends.{name}.service is required"))
                })?;
                (
                    reference.to_string(),
                    m.get("file").and_then(Value::as_str).map(str::to_string),
                )
            }
            _ => {
                return Err(LoadError::invalid(format!(
                    "extends.{name}.service is required"
                )));
            }
        };
        let service = service.clone();
        let key = (file.to_path_buf(), name.to_string());
        if tracker.contains(&key) {
            return Err(circular(tracker, &key));
        }
        tracker.push(key);
        let not_found = |suffix: String| {
            LoadError::invalid(format!(
                "cannot extend service {name:?} in {}: service {reference:?} not found{suffix}",
                file.display()
            ))
        };
        let (base, resets_in_force) = match &other_file {
            Some(written) => {
                let path = absolute(Path::new(written), dir, self.ctx.home);
                let (mut other, other_resets) = self.load_services(&path)?;
                if !other.contains_key(&reference) {
                    return Err(not_found(format!(" in {written}")));
                }
                let mut all = resets.to_vec();
                all.push(other_resets);
                let other_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let base = self
                    .resolve(&reference, &mut other, &path, &other_dir, &all, tracker)
                    .map_err(|e| e.in_file(&path))?
                    .map(|b| rebase(&reference, b, &other_dir, self.ctx))
                    .transpose()?;
                (base, all)
            }
            None => {
                if !services.contains_key(&reference) {
                    return Err(not_found(String::new()));
                }
                (
                    self.resolve(&reference, services, file, dir, resets, tracker)?,
                    resets.to_vec(),
                )
            }
        };
        tracker.pop();
        let base = base.ok_or_else(|| not_found(String::new()))?;
        let mut wrapped = json!({ "services": { name: base } });
        for paths in &resets_in_force {
            merge::apply_resets(&mut wrapped, paths.iter());
        }
        let source = wrapped["services"][name].take();
        let mut merged = merge::extend_service(source, Value::Object(service))?;
        if let Value::Object(m) = &mut merged {
            m.remove("extends");
        }
        services.insert(name.to_string(), merged.clone());
        Ok(Some(merged))
    }

    /// Loads another file's services for `extends.file` (interpolated, not validated) and the
    /// reset paths its documents declare.
    fn load_services(&mut self, path: &Path) -> Result<ServicesAndResets, LoadError> {
        let text = read_file(path)?;
        let source = Source::parse(path.to_path_buf(), &text)?;
        let mut services = Value::Object(Map::new());
        let mut resets = Vec::new();
        for mut doc in source.docs {
            interpolate_doc(&mut doc, path, self.ctx, self.warnings)?;
            resets.extend(doc.reset_paths().cloned());
            if let Some(s) = doc.value.get_mut("services").map(Value::take) {
                services = merge::merge(json!({"services": services}), json!({"services": s}))
                    .map(|mut m| m["services"].take())
                    .map_err(|e| e.in_file(path))?;
            }
        }
        Ok((services.as_object().cloned().unwrap_or_default(), resets))
    }
}

/// Makes a base service from another file self-contained: canonical syntax (the map model's
/// only, for `--no-interpolate`), paths absolute against that file's directory.
fn rebase(name: &str, base: Value, dir: &Path, ctx: &Ctx<'_>) -> Result<Value, LoadError> {
    let Value::Object(mut svc) = base else {
        return Ok(base);
    };
    if ctx.raw {
        normalize::canonical_service_raw(&mut svc)?;
    } else {
        normalize::canonical_service(name, &mut svc)?;
    }
    normalize::resolve_service_paths(&mut svc, dir, ctx.home);
    Ok(Value::Object(svc))
}

fn circular(tracker: &[(PathBuf, String)], again: &(PathBuf, String)) -> LoadError {
    let mut lines = vec!["Circular reference:".to_string()];
    for (i, (file, service)) in tracker.iter().chain(std::iter::once(again)).enumerate() {
        let verb = if i == 0 { "" } else { "extends " };
        lines.push(format!("  {verb}{service} in {}", file.display()));
    }
    LoadError::invalid(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn run(services: Value, resets: Vec<Vec<String>>) -> Result<Map<String, Value>, LoadError> {
        let env = IndexMap::new();
        let ctx = Ctx {
            working_dir: Path::new("/p"),
            env: &env,
            home: None,
            include_stack: Vec::new(),
            resolve_paths: true,
            interpolate_and_validate: true,
            normalize: true,
            raw: false,
        };
        let mut services = services.as_object().cloned().unwrap_or_default();
        apply(
            &mut services,
            Path::new("/p/compose.yaml"),
            Path::new("/p"),
            &[resets],
            &ctx,
            &mut Vec::new(),
        )?;
        Ok(services)
    }

    #[test]
    fn same_file_chain_with_override() {
        let s = run(
            json!({
                "one": {"image": "nginx", "ports": ["8091:80"]},
                "main_one": {"image": "nginx", "depends_on": ["one"], "ports": ["8090:80"]},
                "main_two": {"extends": "main_one", "depends_on": ["two"]},
                "main": {"extends": {"service": "main_two"}, "depends_on": ["base"]},
            }),
            vec![vec![
                "services".into(),
                "main_two".into(),
                "depends_on".into(),
            ]],
        )
        .expect("resolves");
        assert_eq!(
            s["main"]["depends_on"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["two".to_string(), "base".to_string()])
        );
        assert_eq!(s["main"]["ports"], json!(["8090:80"]));
        assert!(s["main"].get("extends").is_none());
    }

    #[test]
    fn errors() {
        let e = run(json!({"a": {"extends": "b"}}), vec![]).expect_err("missing");
        assert_eq!(
            e.message,
            "cannot extend service \"a\" in /p/compose.yaml: service \"b\" not found"
        );
        let e = run(json!({"a": {"extends": {"file": "x.yaml"}}}), vec![]).expect_err("no service");
        assert_eq!(e.message, "extends.a.service is required");
        let e = run(
            json!({"a": {"extends": "b"}, "b": {"extends": "a"}}),
            vec![],
        )
        .expect_err("cycle");
        assert_eq!(
            e.message,
            "Circular reference:\n  a in /p/compose.yaml\n  extends b in /p/compose.yaml\n  extends a in /p/compose.yaml"
        );
        let e = run(json!({"a": "busybox"}), vec![]).expect_err("not a map");
        assert_eq!(e.message, "services.a must be a mapping");
    }
}
