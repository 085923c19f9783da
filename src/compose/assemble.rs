//! The per-file pipeline (`loader/loader.go:loadYamlFile`): parse → interpolate → include →
//! `!reset`/`!override` → extends → merge → uniqueness → schema, for every document of every
//! file in order; then canonical syntax, defaults and absolute paths on the merged model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::{ErrorKind, LoadError};
use super::yaml::{self, Document};
use super::{extends, include, interpolate, merge, normalize, schema, validate};

/// One compose file, read and parsed.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it came from (absolute, or `-` for stdin).
    pub path: PathBuf,
    /// Its YAML documents.
    pub docs: Vec<Document>,
}

impl Source {
    /// Parses `text` read from `path`.
    pub fn parse(path: PathBuf, text: &str) -> Result<Self, LoadError> {
        let docs = yaml::parse(text).map_err(|e| {
            // compose names the file for YAML syntax errors, not for a non-string key
            let message = match e.kind {
                ErrorKind::Syntax => format!("failed to parse {}: {}", path.display(), e.message),
                _ => e.message.clone(),
            };
            LoadError { message, ..e }.in_file(&path)
        })?;
        Ok(Source { path, docs })
    }
}

/// What every stage needs to know about the (sub-)project being assembled.
pub struct Ctx<'a> {
    /// The directory relative paths resolve against.
    pub working_dir: &'a Path,
    /// The interpolation environment.
    pub env: &'a IndexMap<String, String>,
    /// `$HOME`, for `~` in paths.
    pub home: Option<&'a str>,
    /// Files being included, outermost first (cycle detection).
    pub include_stack: Vec<PathBuf>,
    /// Whether relative paths become absolute (included projects' always do).
    pub resolve_paths: bool,
    /// Whether templates are substituted and the schema checked: not for the variables
    /// view, which needs the templates as written.
    pub interpolate_and_validate: bool,
    /// Whether compose's normalisation applies (all but `config --no-normalize`).
    pub normalize: bool,
    /// compose-go's map model (`config --no-interpolate`): templates as written, only
    /// `transform.Canonical`'s long syntax, the schema still checked.
    pub raw: bool,
}

impl Ctx<'_> {
    /// Looks a variable up in the interpolation environment.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

/// Where each key of the main files was written, to tie errors found after merging (by compose
/// path) back to a file and line. Later files win, as they do in the merge.
#[derive(Debug, Default)]
pub struct Origins(Vec<(PathBuf, HashMap<String, usize>)>);

impl Origins {
    /// Fills in the file and line of an error that names a compose path but no file.
    pub fn locate(&self, err: LoadError) -> LoadError {
        if err.file.is_some() {
            return err;
        }
        let Some(path) = err.path.clone() else {
            return err;
        };
        let mut probe = path.as_str();
        loop {
            if let Some((file, line)) = self
                .0
                .iter()
                .rev()
                .find_map(|(f, lines)| lines.get(probe).map(|l| (f, *l)))
            {
                return err.in_file(file).at_line(Some(line));
            }
            match probe.rfind(['.', '[']) {
                Some(i) => probe = &probe[..i],
                None => return err,
            }
        }
    }
}

/// Interpolates one document of `file` in place, with compose's error texts and lines.
pub fn interpolate_doc(
    doc: &mut Document,
    file: &Path,
    ctx: &Ctx<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    if !ctx.interpolate_and_validate || ctx.raw {
        return Ok(());
    }
    let Document { value, lines, .. } = doc;
    let line_of = |p: &str| lines.get(p).copied();
    let lookup = |k: &str| ctx.lookup(k);
    interpolate::interpolate_tree(value, &lookup, warnings, &line_of).map_err(|e| e.in_file(file))
}

/// The line of the compose path a message starts with (`services.foo.image must be …`).
fn line_of_message(message: &str, lines: &HashMap<String, usize>) -> Option<usize> {
    message
        .split([' ', ':'])
        .next()
        .and_then(|p| lines.get(p).copied())
}

/// Assembles the merged, canonical model of `sources` (compose-go's `loadYamlModel`).
pub fn assemble(
    sources: Vec<Source>,
    ctx: &Ctx<'_>,
    warnings: &mut Vec<String>,
    origins: &mut Origins,
) -> Result<Map<String, Value>, LoadError> {
    let mut model = Value::Object(Map::new());
    for source in sources {
        let path = source.path;
        for mut doc in source.docs {
            if doc.value.is_null() {
                continue;
            }
            if !doc.value.is_object() {
                return Err(LoadError::invalid("top-level object must be a mapping").in_file(&path));
            }
            interpolate_doc(&mut doc, &path, ctx, warnings)?;
            let file_err = |e: LoadError, lines: &HashMap<String, usize>| {
                let line = line_of_message(&e.message, lines);
                e.in_file(&path).at_line(line)
            };
            let Value::Object(mut cfg) = std::mem::take(&mut doc.value) else {
                continue;
            };
            if cfg.remove("version").is_some() {
                warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    path.display()
                ));
            }
            if let Some(entries) = cfg.remove("include") {
                let mut imported = Value::Object(include::load(&entries, ctx, &path, warnings)?);
                merge::apply_resets(&mut imported, doc.reset_paths());
                cfg = match merge::merge(imported, Value::Object(cfg))
                    .map_err(|e| file_err(e, &doc.lines))?
                {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
            }
            merge::apply_resets(&mut model, doc.reset_paths());
            if let Some(Value::Object(services)) = cfg.get_mut("services") {
                let resets: Vec<Vec<String>> = doc.reset_paths().cloned().collect();
                extends::apply(services, &path, ctx.working_dir, &[resets], ctx, warnings)
                    .map_err(|e| file_err(e, &doc.lines))?;
            }
            model = merge::merge(model, Value::Object(cfg)).map_err(|e| file_err(e, &doc.lines))?;
            // compose-go validates each merge after making list entries unique
            merge::enforce_unicity(&mut model);
            if ctx.raw {
                // and then brings the whole model to its canonical syntax, file after file
                raw_canonical(&mut model).map_err(|e| file_err(e, &doc.lines))?;
                merge::enforce_unicity(&mut model);
            }
            if let Some(m) = model.as_object().filter(|_| ctx.interpolate_and_validate) {
                schema::validate(m).map_err(|e| {
                    let line = line_of_message(&e.message, &doc.lines);
                    LoadError::invalid(format!("validating {}: {}", path.display(), e.message))
                        .in_file(&path)
                        .at_line(line)
                })?;
            }
            origins
                .0
                .push((path.clone(), std::mem::take(&mut doc.lines)));
        }
    }
    let Value::Object(mut model) = model else {
        return Ok(Map::new());
    };
    if ctx.interpolate_and_validate {
        validate::external_resources(&model)?;
    }
    finish(&mut model, ctx).map_err(|e| origins.locate(e))?;
    Ok(model)
}

/// [`normalize::canonical_service_raw`] on every service of `model`.
fn raw_canonical(model: &mut Value) -> Result<(), LoadError> {
    let services = model.get_mut("services").and_then(Value::as_object_mut);
    for svc in services.into_iter().flat_map(|s| s.values_mut()) {
        if let Value::Object(svc) = svc {
            normalize::canonical_service_raw(svc)?;
        }
    }
    Ok(())
}

/// Canonical syntax, defaults, uniqueness, absolute paths and valueless environment entries
/// (of the map model only, when `ctx.raw`: neither the types' syntax nor the environment).
fn finish(model: &mut Map<String, Value>, ctx: &Ctx<'_>) -> Result<(), LoadError> {
    if let Some(Value::Object(services)) = model.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            let Value::Object(svc) = svc else {
                return Err(
                    LoadError::invalid(format!("services.{name} must be a mapping"))
                        .at_path(format!("services.{name}")),
                );
            };
            if ctx.raw {
                normalize::canonical_service_raw(svc)?;
            } else {
                normalize::canonical_service(name, svc)?;
            }
        }
    }
    let mut wrapped = Value::Object(std::mem::take(model));
    merge::enforce_unicity(&mut wrapped);
    if let Value::Object(m) = wrapped {
        *model = m;
    }
    let lookup = |k: &str| ctx.lookup(k);
    if let Some(Value::Object(services)) = model.get_mut("services") {
        for svc in services.values_mut().filter_map(Value::as_object_mut) {
            normalize::apply_service_defaults(svc, ctx.normalize);
            if ctx.resolve_paths {
                normalize::resolve_service_paths(svc, ctx.working_dir, ctx.home);
            }
            if ctx.raw {
                normalize::raw_port_defaults(svc);
            } else {
                normalize::omit_struct_defaults(svc);
                normalize::resolve_valueless_environment(svc, &lookup);
            }
        }
    }
    if !ctx.raw {
        normalize::canonical_resources(model)?;
    }
    if ctx.resolve_paths {
        normalize::resolve_resource_paths(model, ctx.working_dir, ctx.home);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assemble_texts(texts: &[&str]) -> Result<Map<String, Value>, LoadError> {
        let env: IndexMap<String, String> =
            [("TAG".to_string(), "1".to_string())].into_iter().collect();
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
        let sources = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Source::parse(PathBuf::from(format!("/p/f{i}.yaml")), t))
            .collect::<Result<Vec<_>, _>>()?;
        assemble(sources, &ctx, &mut Vec::new(), &mut Origins::default())
    }

    #[test]
    fn reset_and_override_across_files() -> Result<(), LoadError> {
        let m = assemble_texts(&[
            "services:\n  a:\n    image: x:${TAG}\n    ports: ['80']\n    build: .\n    environment: {A: '1', B: '2'}\n",
            "services:\n  a:\n    ports: !override ['81']\n    build: !reset\n    environment: {B: !reset}\n---\nservices:\n  a:\n    image: y\n",
        ])?;
        let a = &m["services"]["a"];
        assert_eq!(a["image"], json!("y"));
        assert_eq!(
            a["ports"],
            json!([{"mode": "ingress", "target": 81, "protocol": "tcp"}])
        );
        assert!(a.get("build").is_none());
        assert_eq!(a["environment"], json!({"A": "1"}));
        Ok(())
    }

    #[test]
    fn errors_carry_file_and_line() {
        let e = assemble_texts(&[
            "services:\n  a:\n    image: x\n",
            "services:\n  a:\n    imagee: y\n",
        ])
        .expect_err("schema");
        assert_eq!(
            e.message,
            "validating /p/f1.yaml: services.a additional properties 'imagee' not allowed"
        );
        assert_eq!(
            (e.file.as_deref(), e.line),
            (Some(Path::new("/p/f1.yaml")), Some(2))
        );
        let e = assemble_texts(&["services:\n  a:\n    image: x\n    ports: ['80/xyz']\n"])
            .expect_err("port");
        assert_eq!(
            (e.message.as_str(), e.line),
            ("invalid proto: xyz", Some(4))
        );
    }
}
