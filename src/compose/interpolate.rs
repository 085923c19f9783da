//! Compose's `${VAR}` interpolation (`template/template.go`), applied to every string value of a
//! file, followed by compose's type casts by path (`loader/interpolate.go`).

use std::sync::LazyLock;

use serde_json::{Number, Value};

use super::error::LoadError;
use super::merge::PathTable;
use super::yaml::join_path;

/// Why a template could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Malformed `${…}`: compose reports the whole value.
    Invalid,
    /// A `:?` / `?` variable was missing; the text is compose's message.
    Required(String),
}

/// Substitutes `template`, looking variables up with `lookup`; unset variables without an
/// operator become `""` and push compose's warning onto `warnings`.
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.as_bytes().first() {
            Some(b'$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some(b'{') => {
                let body_and_rest = &after[1..];
                let end = closing_brace(body_and_rest).ok_or(TemplateError::Invalid)?;
                out.push_str(&braced(&body_and_rest[..end], lookup, warnings)?);
                rest = &body_and_rest[end + 1..];
            }
            Some(c) if is_name_start(*c) => {
                let len = name_len(after);
                let name = &after[..len];
                out.push_str(&value_or_warn(name, lookup, warnings));
                rest = &after[len..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn name_len(s: &str) -> usize {
    s.bytes()
        .take_while(|c| *c == b'_' || c.is_ascii_alphanumeric())
        .count()
}

/// Index of the `}` closing a `${`, counting nested braces.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn value_or_warn(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> String {
    lookup(name).unwrap_or_else(|| {
        warnings.push(format!(
            "The {name:?} variable is not set. Defaulting to a blank string."
        ));
        String::new()
    })
}

fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<String, TemplateError> {
    if !body.bytes().next().is_some_and(is_name_start) {
        return Err(TemplateError::Invalid);
    }
    let len = name_len(body);
    let (name, op_and_arg) = body.split_at(len);
    if op_and_arg.is_empty() {
        return Ok(value_or_warn(name, lookup, warnings));
    }
    let (colon, rest) = match op_and_arg.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, op_and_arg),
    };
    let op = rest.chars().next().ok_or(TemplateError::Invalid)?;
    let arg = &rest[op.len_utf8()..];
    let value = lookup(name);
    // `:` variants treat an empty value like an unset one.
    let present = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
    match op {
        '-' if present => Ok(value.unwrap_or_default()),
        '-' => substitute(arg, lookup, warnings),
        '+' if present => substitute(arg, lookup, warnings),
        '+' => Ok(String::new()),
        '?' if present => Ok(value.unwrap_or_default()),
        '?' => {
            let detail = substitute(arg, lookup, warnings)?;
            let mut message = format!("required variable {name} is missing a value");
            if !detail.is_empty() {
                message.push_str(": ");
                message.push_str(&detail);
            }
            Err(TemplateError::Required(message))
        }
        _ => Err(TemplateError::Invalid),
    }
}

/// A variable a template uses, as `config --variables` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// `${NAME?…}` / `${NAME:?…}`.
    pub required: bool,
    /// The default of `${NAME-…}` / `${NAME:-…}`.
    pub default: String,
    /// The alternate value of `${NAME+…}` / `${NAME:+…}`.
    pub alternate: String,
}

/// The variables `template` uses, with those of defaults and alternates (compose-go's
/// `template.ExtractVariables`); `$$` escapes.
pub fn variables(template: &str) -> Vec<Variable> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let plain = |name: &str| Variable {
            name: name.to_string(),
            required: false,
            default: String::new(),
            alternate: String::new(),
        };
        match after.as_bytes().first() {
            Some(b'$') => rest = &after[1..],
            Some(b'{') => {
                let body_and_rest = &after[1..];
                let Some(end) = closing_brace(body_and_rest) else {
                    break;
                };
                let body = &body_and_rest[..end];
                let name_end = if body.bytes().next().is_some_and(is_name_start) {
                    name_len(body)
                } else {
                    0
                };
                let (name, op) = body.split_at(name_end);
                let op = op.strip_prefix(':').unwrap_or(op);
                let mut v = plain(name);
                match op.chars().next() {
                    None => {}
                    Some('?') => v.required = true,
                    Some('-') => v.default = op[1..].to_string(),
                    Some('+') => v.alternate = op[1..].to_string(),
                    // compose's pattern reads an invalid template as a nameless variable
                    Some(_) => v = plain(""),
                }
                if name.is_empty() {
                    v = plain("");
                }
                let nested = [variables(&v.default), variables(&v.alternate)];
                found.push(v);
                found.extend(nested.into_iter().flatten());
                rest = &body_and_rest[end + 1..];
            }
            Some(c) if is_name_start(*c) => {
                let len = name_len(after);
                found.push(plain(&after[..len]));
                rest = &after[len..];
            }
            _ => rest = after,
        }
    }
    found
}

/// Turns a template error into compose's message for the value at `path`.
pub fn template_error(err: TemplateError, path: &str, original: &str) -> LoadError {
    match err {
        TemplateError::Invalid => LoadError::invalid(format!(
            "invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{original}"
        )),
        TemplateError::Required(message) => {
            LoadError::invalid(format!("error while interpolating {path}: {message}"))
        }
    }
}

/// How a value at a given path is cast after interpolation.
#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

/// compose-go's `interpolateTypeCastMapping`: `*` matches any key, `[]` any list index.
const CASTS: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("services.*.depends_on.*.required", Cast::Bool),
    ("services.*.depends_on.*.restart", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// [`CASTS`] split into segments once.
static CAST_TABLE: LazyLock<PathTable<Cast>> = LazyLock::new(|| PathTable::new(CASTS));

fn cast_for(path: &[&str]) -> Option<Cast> {
    CAST_TABLE.find(path)
}

fn apply_cast(cast: Cast, s: &str, warnings: &mut Vec<String>) -> Result<Value, String> {
    match cast {
        Cast::Int => s
            .trim()
            .parse::<i64>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| format!("failed to cast to expected type: invalid integer: {s}")),
        Cast::Float => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("failed to cast to expected type: invalid float: {s}")),
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "y" | "yes" | "on" => {
                warnings.push(format!(
                    "{s:?} for boolean is not supported by YAML 1.2, please use `true`"
                ));
                Ok(Value::Bool(true))
            }
            "n" | "no" | "off" => {
                warnings.push(format!(
                    "{s:?} for boolean is not supported by YAML 1.2, please use `false`"
                ));
                Ok(Value::Bool(false))
            }
            _ => Err(format!(
                "failed to cast to expected type: invalid boolean: {s}"
            )),
        },
    }
}

/// Interpolates every string value of a file's tree in place (keys are left alone), then
/// applies compose's type casts. `lines` gives error lines by display path.
pub fn interpolate_tree(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
    lines: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), LoadError> {
    let mut walker = Walker {
        lookup,
        warnings,
        lines,
        path: Vec::new(),
    };
    walker.walk(value)
}

struct Walker<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: &'a mut Vec<String>,
    lines: &'a dyn Fn(&str) -> Option<usize>,
    /// Keys and list indexes from the root to the current value.
    path: Vec<Seg>,
}

/// One step of a path: paths are only rendered to text when an error needs them.
enum Seg {
    Key(String),
    Index(usize),
}

impl Walker<'_> {
    fn walk(&mut self, value: &mut Value) -> Result<(), LoadError> {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.path.push(Seg::Key(k.clone()));
                    let r = self.walk(v);
                    self.path.pop();
                    r?;
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    self.path.push(Seg::Index(i));
                    let r = self.walk(v);
                    self.path.pop();
                    r?;
                }
            }
            Value::String(s) => {
                let cast = cast_for(&self.pattern());
                if cast.is_none() && !s.contains('$') {
                    return Ok(());
                }
                let substituted = substitute(s, self.lookup, self.warnings)
                    .map_err(|e| template_error(e, &self.dotted(), s).at_line(self.line()))?;
                *value = match cast {
                    Some(cast) => apply_cast(cast, &substituted, self.warnings).map_err(|m| {
                        LoadError::invalid(format!(
                            "error while interpolating {}: {m}",
                            self.dotted()
                        ))
                        .at_line(self.line())
                    })?,
                    None => Value::String(substituted),
                };
            }
            _ => {}
        }
        Ok(())
    }

    /// The current path with list indexes as `[]`, as compose's patterns and messages use it.
    fn pattern(&self) -> Vec<&str> {
        self.path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.as_str(),
                Seg::Index(_) => "[]",
            })
            .collect()
    }

    /// compose's error path: `services.x.ports.[]`.
    fn dotted(&self) -> String {
        self.pattern().join(".")
    }

    /// The line of the current value, from its display path (`services.x.ports[0]`).
    fn line(&self) -> Option<usize> {
        let shown = self.path.iter().fold(String::new(), |acc, seg| match seg {
            Seg::Key(k) => join_path(&acc, k),
            Seg::Index(i) => format!("{acc}[{i}]"),
        });
        (self.lines)(&shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            _ => None,
        }
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        substitute(t, &env, &mut Vec::new())
    }

    #[test]
    fn operators() {
        assert_eq!(sub("${BAR:-x} ${BAR-x} ${NOPE-x}").as_deref(), Ok("x  x"));
        assert_eq!(
            sub("${FOO:+y}|${BAR:+y}|${BAR+y}|${NOPE+y}").as_deref(),
            Ok("y||y|")
        );
        assert_eq!(sub("${BAR?e}").as_deref(), Ok(""));
        assert_eq!(
            sub("${BAR:?need it}"),
            Err(TemplateError::Required(
                "required variable BAR is missing a value: need it".into()
            ))
        );
        assert_eq!(sub("${UNSET-myerror?msg}").as_deref(), Ok("myerror?msg"));
        assert_eq!(
            sub("${BAR:-/non:-alphanumeric}").as_deref(),
            Ok("/non:-alphanumeric")
        );
    }

    #[test]
    fn nesting_braces_and_escapes() {
        assert_eq!(
            sub("${missing:-{\"json\":1}}").as_deref(),
            Ok("{\"json\":1}")
        );
        assert_eq!(
            sub("${NO:-${BAR:-x}_test_${BAR:-y}}").as_deref(),
            Ok("x_test_y")
        );
        assert_eq!(
            sub("$$FOO $FOO-bar a $ b $1 $} ^RE$").as_deref(),
            Ok("$FOO first-bar a $ b $1 $} ^RE$")
        );
    }

    #[test]
    fn invalid_templates() {
        for t in [
            "${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}", "${A.B}",
        ] {
            assert_eq!(sub(t), Err(TemplateError::Invalid), "{t}");
        }
    }

    #[test]
    fn lazy_defaults_do_not_warn() {
        let mut warnings = Vec::new();
        assert_eq!(
            substitute("${A:+${A},}B", &env, &mut warnings).as_deref(),
            Ok("B")
        );
        assert!(warnings.is_empty());
        substitute("$NOPE", &env, &mut warnings).expect("ok");
        assert_eq!(
            warnings,
            vec!["The \"NOPE\" variable is not set. Defaulting to a blank string."]
        );
    }

    #[test]
    fn tree_casts_by_path() {
        let mut v = json!({"services": {"a": {"init": "yes", "scale": "${N}", "ports": [{"target": "80"}], "image": "x"}}});
        let mut warnings = Vec::new();
        let lookup = |k: &str| (k == "N").then(|| "2".to_string());
        interpolate_tree(&mut v, &lookup, &mut warnings, &|_| None).expect("ok");
        assert_eq!(
            v,
            json!({"services": {"a": {"init": true, "scale": 2, "ports": [{"target": 80}], "image": "x"}}})
        );
        assert_eq!(warnings.len(), 1);
        let mut v = json!({"services": {"a": {"privileged": "maybe"}}});
        let err =
            interpolate_tree(&mut v, &lookup, &mut warnings, &|_| None).expect_err("bad bool");
        assert_eq!(
            err.message,
            "error while interpolating services.a.privileged: failed to cast to expected type: invalid boolean: maybe"
        );
    }

    #[test]
    fn variables_are_extracted_with_their_operators() {
        let names: Vec<(String, bool, String, String)> =
            variables("${A:-x} $B ${C?e} ${D:+alt} $$E ${F:-${G}} ${H }")
                .into_iter()
                .map(|v| (v.name, v.required, v.default, v.alternate))
                .collect();
        let row = |n: &str, r: bool, d: &str, a: &str| (n.into(), r, d.into(), a.into());
        assert_eq!(
            names,
            vec![
                row("A", false, "x", ""),
                row("B", false, "", ""),
                row("C", true, "", ""),
                row("D", false, "", "alt"),
                row("F", false, "${G}", ""),
                row("G", false, "", ""),
                row("", false, "", ""),
            ]
        );
    }
}
