//! The compose-spec JSON schema, as compose-go validates each merged file with it, and its
//! errors in compose-go's words (`schema/schema.go`): the most specific failure, its path
//! dotted, `must be a string`, `additional properties 'x' not allowed`, ...

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::{Map, Value};

use super::error::LoadError;

/// compose-go e70e961c's `schema/compose-spec.json` (Apache-2.0, the compose-spec project).
const SPEC: &str = include_str!("schema/compose-spec.json");

static VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| {
    let spec: Value = serde_json::from_str(SPEC).map_err(|e| e.to_string())?;
    jsonschema::validator_for(&spec).map_err(|e| e.to_string())
});

/// Checks a merged compose model against the schema; the caller says which file it was.
pub fn validate(model: &Map<String, Value>) -> Result<(), LoadError> {
    let validator = VALIDATOR
        .as_ref()
        .map_err(|e| LoadError::invalid(format!("the compose schema does not compile: {e}")))?;
    let instance = Value::Object(model.clone());
    let errors: Vec<ValidationError<'_>> = validator.iter_errors(&instance).collect();
    match most_specific(errors.iter().collect()) {
        Some(e) => Err(LoadError::invalid(message(e))),
        None => Ok(()),
    }
}

/// compose-go's `getMostSpecificError`: the deepest failure (an unknown key counting one
/// level deeper), looking inside `oneOf`/`anyOf` alternatives; the first of equals wins.
fn most_specific<'a, 'i: 'a>(
    errors: Vec<&'a ValidationError<'i>>,
) -> Option<&'a ValidationError<'i>> {
    let mut best: Option<(&ValidationError<'i>, usize)> = None;
    for e in errors {
        let leaf = match e.kind() {
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::OneOfMultipleValid { context } => {
                let nested = context
                    .iter()
                    .flatten()
                    .map(|n| -> &ValidationError<'i> { n });
                most_specific(nested.collect()).unwrap_or(e)
            }
            _ => e,
        };
        let rank = specificity(leaf);
        if best.is_none_or(|(_, r)| rank > r) {
            best = Some((leaf, rank));
        }
    }
    best.map(|(e, _)| e)
}

fn specificity(e: &ValidationError<'_>) -> usize {
    let depth = e.instance_path().iter().count();
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { .. } => depth + 1,
        _ => depth,
    }
}

/// compose-go's `validationError.Error()` over santhosh-tekuri/jsonschema's English texts.
fn message(e: &ValidationError<'_>) -> String {
    let path: Vec<String> = e
        .instance_path()
        .iter()
        .map(|s| match s {
            LocationSegment::Property(p) => p.into_owned(),
            LocationSegment::Index(i) => i.to_string(),
        })
        .collect();
    let path = path.join(".");
    let what = match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let types = match kind {
                TypeKind::Single(t) => vec![*t],
                TypeKind::Multiple(set) => set.iter().collect(),
            };
            format!("must be a {}", human_types(&types))
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("must be greater than or equal to {limit}")
        }
        ValidationErrorKind::Maximum { limit } => format!("must be less than or equal to {limit}"),
        ValidationErrorKind::AdditionalProperties { unexpected } => format!(
            "additional properties {} not allowed",
            quoted_list(unexpected.iter().map(|u| format!("'{u}'")))
        ),
        ValidationErrorKind::Required { property } => {
            format!("missing property {}", quoted(property))
        }
        ValidationErrorKind::Enum { options } => {
            match options.as_array().map(Vec::as_slice).unwrap_or_default() {
                [one] => format!("value must be {}", quoted(one)),
                options => format!(
                    "value must be one of {}",
                    quoted_list(options.iter().map(quoted))
                ),
            }
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("value must be {}", quoted(expected_value))
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "{} does not match pattern '{pattern}'",
                quoted(e.instance())
            )
        }
        _ => e.to_string(),
    };
    format!("{path} {what}")
}

/// `object` is a mapping; several types sorted, `a, b or c`.
fn human_types(types: &[JsonType]) -> String {
    let mut names: Vec<&str> = types
        .iter()
        .map(|t| match t {
            JsonType::Object => "mapping",
            other => other.as_str(),
        })
        .collect();
    names.sort_unstable();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// A value as the Go library shows it: strings single-quoted, anything else as JSON.
fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn quoted_list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(model: Value) -> String {
        let Value::Object(m) = model else {
            return String::new();
        };
        validate(&m).map_or_else(|e| e.message, |()| String::new())
    }

    /// Each message as compose-go prints it (checked against the oracle).
    #[test]
    fn errors_read_as_compose_go_words_them() {
        let cases = [
            (
                json!({"foo": 1, "services": {}}),
                " additional properties 'foo' not allowed",
            ),
            (
                json!({"services": {"a": {"image": "a", "deploy": {"resources": {"impossible": 1}}}}}),
                "services.a.deploy.resources additional properties 'impossible' not allowed",
            ),
            (
                json!({"services": {"a": {"image": "a", "restart": 1}}}),
                "services.a.restart must be a string",
            ),
            (
                json!({"services": {"a": {"image": "a", "depends_on": {"b": {"condition": "bad"}}}}}),
                "services.a.depends_on.b.condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'",
            ),
            (
                json!({"services": {"a b": {"image": "a"}}}),
                "services additional properties 'a b' not allowed",
            ),
            (
                json!({"services": {"a": {"image": "a", "networks": [1]}}}),
                "services.a.networks.0 must be a string",
            ),
            (
                json!({"services": {"a": {"image": "a", "ulimits": {"nofile": {"soft": 1}}}}}),
                "services.a.ulimits.nofile must be a integer or string",
            ),
            (
                json!({"services": {"a": {"image": "a", "x": 1, "y": 2}}}),
                "services.a additional properties 'x', 'y' not allowed",
            ),
            (
                json!({"services": {"a": {"image": "a", "environment": {"A": [1]}}}}),
                "services.a.environment.A must be a boolean, null, number or string",
            ),
            (
                json!({"services": {"a": {"image": "a", "environment": "x"}}}),
                "services.a.environment must be a mapping",
            ),
            (
                json!({"services": {"a": {"image": "a", "gpus": "x"}}}),
                "services.a.gpus value must be 'all'",
            ),
            (
                json!({"services": {"a": {"image": "a", "pull_policy": "sometimes"}}}),
                "services.a.pull_policy 'sometimes' does not match pattern 'always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+'",
            ),
        ];
        for (model, want) in cases {
            assert_eq!(error_of(model), want);
        }
        assert_eq!(
            error_of(json!({"services": {"a": {"image": "a", "x-any": [1]}}})),
            ""
        );
    }
}
