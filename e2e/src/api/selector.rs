//! Label and field selectors, parsed once per request and matched against stored objects.
//!
//! Label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`.
//! Field selectors: `f=v`, `f==v`, `f!=v` over the fields the API server supports for each
//! resource (`metadata.name`, `metadata.namespace`, and e.g. `status.phase`, `spec.nodeName`
//! for pods); any other field is a 400, as on a real cluster.

use serde_json::Value;

use super::status::ApiError;

/// Why a selector could not be parsed (the message becomes a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label requirement that does not parse.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// A field selector term that does not parse.
    #[error("invalid selector: '{0}'; can't understand '{0}'")]
    Field(String),
    /// A field the resource cannot be selected by.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<(String, Op)>,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn set_values(s: &str) -> Result<Vec<String>, SelectorError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::Label(format!("expected '(' in {s:?}")))?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

impl LabelSelector {
    /// Parses a `labelSelector` query value.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_top(s)
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let requirement = if let Some(key) = term.strip_prefix('!') {
                (key.trim().to_owned(), Op::NotExists)
            } else if let Some((k, v)) = term.split_once("!=") {
                (k.trim().to_owned(), Op::NotEq(v.trim().to_owned()))
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k.trim().to_owned(), Op::Eq(v.trim().to_owned()))
            } else if let Some((k, v)) = term.split_once(" notin ") {
                (k.trim().to_owned(), Op::NotIn(set_values(v)?))
            } else if let Some((k, v)) = term.split_once(" in ") {
                (k.trim().to_owned(), Op::In(set_values(v)?))
            } else if let Some((k, v)) = term.split_once('>') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| SelectorError::Label(format!("{term}: not an integer")))?;
                (k.trim().to_owned(), Op::Gt(n))
            } else if let Some((k, v)) = term.split_once('<') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| SelectorError::Label(format!("{term}: not an integer")))?;
                (k.trim().to_owned(), Op::Lt(n))
            } else {
                (term.to_owned(), Op::Exists)
            };
            if requirement.0.is_empty() || requirement.0.contains(char::is_whitespace) {
                return Err(SelectorError::Label(format!(
                    "invalid label key {:?}",
                    requirement.0
                )));
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds the selector of a `metav1.LabelSelector` object (`matchLabels` +
    /// `matchExpressions`), as Deployments, ReplicaSets and Jobs carry; `None` if malformed.
    pub fn from_object(selector: &Value) -> Option<Self> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push((k.clone(), Op::Eq(v.as_str()?.to_owned())));
            }
        }
        for expr in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr.get("key")?.as_str()?.to_owned();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let op = match expr.get("operator")?.as_str()? {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::NotExists,
                _ => return None,
            };
            requirements.push((key, op));
        }
        Some(LabelSelector { requirements })
    }

    /// Whether this selector selects nothing in particular (matches all).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.requirements.iter().all(|(key, op)| {
            let value = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            match (op, value) {
                (Op::Exists, v) => v.is_some(),
                (Op::NotExists, v) => v.is_none(),
                (Op::Eq(want), v) => v == Some(want.as_str()),
                (Op::NotEq(want), v) => v != Some(want.as_str()),
                (Op::In(set), v) => v.is_some_and(|v| set.iter().any(|s| s == v)),
                (Op::NotIn(set), v) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                (Op::Gt(n), v) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                (Op::Lt(n), v) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// A parsed field selector for one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// The JSON pointer of each selectable field, per resource (beyond `metadata.name/namespace`).
fn field_pointer(resource: &str, field: &str) -> Option<&'static str> {
    Some(match (resource, field) {
        (_, "metadata.name") => "/metadata/name",
        (_, "metadata.namespace") => "/metadata/namespace",
        ("pods", "spec.nodeName") => "/spec/nodeName",
        ("pods", "spec.restartPolicy") => "/spec/restartPolicy",
        ("pods", "spec.schedulerName") => "/spec/schedulerName",
        ("pods", "spec.serviceAccountName") => "/spec/serviceAccountName",
        ("pods", "status.phase") => "/status/phase",
        ("pods", "status.podIP") => "/status/podIP",
        ("pods", "status.nominatedNodeName") => "/status/nominatedNodeName",
        ("events", "involvedObject.kind") => "/involvedObject/kind",
        ("events", "involvedObject.namespace") => "/involvedObject/namespace",
        ("events", "involvedObject.name") => "/involvedObject/name",
        ("events", "involvedObject.uid") => "/involvedObject/uid",
        ("events", "involvedObject.apiVersion") => "/involvedObject/apiVersion",
        ("events", "involvedObject.resourceVersion") => "/involvedObject/resourceVersion",
        ("events", "involvedObject.fieldPath") => "/involvedObject/fieldPath",
        ("events", "reason") => "/reason",
        ("events", "reportingComponent") => "/reportingComponent",
        ("events", "source") => "/source/component",
        ("events", "type") => "/type",
        ("secrets", "type") => "/type",
        ("namespaces", "status.phase") => "/status/phase",
        ("nodes", "spec.unschedulable") => "/spec/unschedulable",
        _ => return None,
    })
}

impl FieldSelector {
    /// Parses a `fieldSelector` query value for `resource`.
    pub fn parse(resource: &str, s: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, negate, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, false, v)
            } else {
                return Err(SelectorError::Field(term.to_owned()));
            };
            let field = field.trim();
            if field_pointer(resource, field).is_none() {
                return Err(SelectorError::UnsupportedField(field.to_owned()));
            }
            terms.push((field.to_owned(), negate, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object satisfies every term (a missing field reads as `""`).
    pub fn matches(&self, resource: &str, object: &Value) -> bool {
        self.terms.iter().all(|(field, negate, want)| {
            let got = field_pointer(resource, field)
                .and_then(|p| object.pointer(p))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (got == *want) != *negate
        })
    }
}

/// Both selectors of a list or watch request, ready to filter objects.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    resource: String,
}

impl Selectors {
    /// Parses the request's selectors; errors are the API server's 400.
    pub fn parse(resource: &str, labels: &str, fields: &str) -> Result<Self, ApiError> {
        // kubectl prefixes "Unable to find … that match …" itself; the server says just why.
        let wrap = |e: SelectorError| ApiError::bad_request(e.to_string());
        Ok(Selectors {
            labels: LabelSelector::parse(labels).map_err(wrap)?,
            fields: FieldSelector::parse(resource, fields).map_err(wrap)?,
            resource: resource.to_owned(),
        })
    }

    /// Whether the object passes both.
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(&self.resource, object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_match_like_the_api_server() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front", "n": "5"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("app notin (web)", false),
            ("!missing", true),
            ("missing", false),
            ("n>4,n<6", true),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&pod),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn field_selectors_reject_unknown_fields() {
        let pod =
            json!({"metadata": {"name": "a", "namespace": "x"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("pods", "metadata.name=a,status.phase!=Failed").unwrap();
        assert!(sel.matches("pods", &pod));
        assert_eq!(
            FieldSelector::parse("configmaps", "status.phase=x"),
            Err(SelectorError::UnsupportedField("status.phase".into()))
        );
    }
}
