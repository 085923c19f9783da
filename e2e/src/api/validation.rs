//! The API server's validation: names, labels, pod specs, workloads, services, config data.
//!
//! Messages are the API server's (`k8s.io/apimachinery/pkg/util/validation` and
//! `pkg/apis/core/validation`), cause by cause, so a 422 from kube-sim reads as one from a
//! real cluster. Only what krun and kubectl can trip over is checked; anything else is
//! accepted, never rejected for a reason a real cluster would not give.

use std::collections::HashSet;

use serde_json::Value;

use super::status::Cause;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";

/// apimachinery's `RegexError`: the message, examples (with its double space) and the regex.
fn regex_error(message: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{message} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

fn quote(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Collects causes under field paths.
#[derive(Debug, Default)]
pub struct Errors {
    causes: Vec<Cause>,
}

impl Errors {
    fn invalid(&mut self, field: &str, value: &Value, why: &str) {
        self.causes.push(Cause {
            reason: "FieldValueInvalid",
            field: field.to_owned(),
            message: format!("Invalid value: {}: {why}", quote(value)),
        });
    }

    fn required(&mut self, field: &str, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        self.causes.push(Cause {
            reason: "FieldValueRequired",
            field: field.to_owned(),
            message,
        });
    }

    fn duplicate(&mut self, field: &str, value: &Value) {
        self.causes.push(Cause {
            reason: "FieldValueDuplicate",
            field: field.to_owned(),
            message: format!("Duplicate value: {}", quote(value)),
        });
    }

    fn not_supported(&mut self, field: &str, value: &Value, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        self.causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: field.to_owned(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                quote(value),
                list.join(", ")
            ),
        });
    }

    fn not_found(&mut self, field: &str, value: &Value) {
        self.causes.push(Cause {
            reason: "FieldValueNotFound",
            field: field.to_owned(),
            message: format!("Not found: {}", quote(value)),
        });
    }

    fn forbidden(&mut self, field: &str, why: &str) {
        self.causes.push(Cause {
            reason: "FieldValueForbidden",
            field: field.to_owned(),
            message: format!("Forbidden: {why}"),
        });
    }

    /// The causes found, in order.
    pub fn into_causes(self) -> Vec<Cause> {
        self.causes
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `IsDNS1123Label`: the messages for a value that is not a DNS-1123 label.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_owned());
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower);
    if !ok {
        errors.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errors
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 253 {
        errors.push("must be no more than 253 characters".to_owned());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| is_alnum_lower(c) || c == '-')
                && part.starts_with(is_alnum_lower)
                && part.ends_with(is_alnum_lower)
        });
    if !ok {
        errors.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errors
}

/// `IsDNS1035Label` (Service names).
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_owned());
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(is_alnum_lower);
    if !ok {
        errors.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errors
}

fn is_qualified_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `IsQualifiedName` (label and annotation keys: `[prefix/]name`).
pub fn qualified_name(s: &str) -> Vec<String> {
    let qualified_msg = regex_error(
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        QUALIFIED_NAME_FMT,
        &["MyName", "my.name", "123-abc"],
    );
    let parts: Vec<&str> = s.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![format!(
                "a qualified name {qualified_msg} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    let mut errors = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else {
            errors.extend(
                dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_owned());
    }
    if !name.is_empty() && !is_qualified_part(name) {
        errors.push(format!("name part {qualified_msg}"));
    }
    errors
}

/// `IsValidLabelValue`.
pub fn label_value(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_owned());
    }
    if !s.is_empty() && !is_qualified_part(s) {
        errors.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

/// The name rule a resource's objects follow.
fn name_rule(resource: &str) -> fn(&str) -> Vec<String> {
    match resource {
        "namespaces" => dns1123_label,
        "services" => dns1035_label,
        _ => dns1123_subdomain,
    }
}

/// Validates `object` of `resource`, as the API server does on create (`old: None`) and update.
pub fn validate(resource: &str, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errors = Errors::default();
    metadata(resource, object, &mut errors);
    match resource {
        "pods" => {
            pod_spec(&object["spec"], "spec", &mut errors);
            if let Some(old) = old {
                pod_update(&old["spec"], &object["spec"], &mut errors);
            }
        }
        "deployments" | "replicasets" => workload(resource, object, old, &mut errors),
        "jobs" => job(object, old, &mut errors),
        "services" => service(object, old, &mut errors),
        "configmaps" => {
            config_keys(object, "data", &mut errors);
            config_keys(object, "binaryData", &mut errors);
            immutable_data(object, old, &mut errors);
        }
        "secrets" => {
            config_keys(object, "data", &mut errors);
            immutable_data(object, old, &mut errors);
        }
        "persistentvolumeclaims" => pvc(object, old, &mut errors),
        _ => {}
    }
    errors.into_causes()
}

fn metadata(resource: &str, object: &Value, errors: &mut Errors) {
    let meta = &object["metadata"];
    let rule = name_rule(resource);
    match meta["name"].as_str() {
        Some(name) if !name.is_empty() => {
            for e in rule(name) {
                errors.invalid("metadata.name", &meta["name"], &e);
            }
        }
        _ => match meta["generateName"].as_str() {
            // A generated name ends in five random characters, so the prefix may end in '-'.
            Some(prefix) if !prefix.is_empty() => {
                let masked = format!("{}a", prefix.trim_end_matches('-'));
                for e in rule(&masked) {
                    errors.invalid("metadata.generateName", &meta["generateName"], &e);
                }
            }
            _ => errors.required("metadata.name", "name or generateName is required"),
        },
    }
    labels(&meta["labels"], "metadata.labels", errors);
    if let Some(annotations) = meta["annotations"].as_object() {
        for key in annotations.keys() {
            for e in qualified_name(key) {
                errors.invalid("metadata.annotations", &Value::String(key.clone()), &e);
            }
        }
    }
}

fn labels(labels: &Value, field: &str, errors: &mut Errors) {
    let Some(labels) = labels.as_object() else {
        return;
    };
    for (key, value) in labels {
        for e in qualified_name(key) {
            errors.invalid(field, &Value::String(key.clone()), &e);
        }
        let text = value.as_str().unwrap_or_default();
        for e in label_value(text) {
            errors.invalid(field, value, &e);
        }
    }
}

fn items(value: &Value) -> impl Iterator<Item = (usize, &Value)> {
    value.as_array().into_iter().flatten().enumerate()
}

fn pod_spec(spec: &Value, path: &str, errors: &mut Errors) {
    let mut volumes = HashSet::new();
    for (i, volume) in items(&spec["volumes"]) {
        let field = format!("{path}.volumes[{i}]");
        match volume["name"].as_str() {
            None | Some("") => errors.required(&format!("{field}.name"), ""),
            Some(name) => {
                for e in dns1123_label(name) {
                    errors.invalid(&format!("{field}.name"), &volume["name"], &e);
                }
                if !volumes.insert(name.to_owned()) {
                    errors.duplicate(&format!("{field}.name"), &volume["name"]);
                }
            }
        }
        let sources = volume
            .as_object()
            .map_or(0, |m| m.keys().filter(|k| *k != "name").count());
        match sources {
            0 => errors.required(&field, "must specify a volume type"),
            1 => {}
            _ => errors.forbidden(&field, "may not specify more than 1 volume type"),
        }
    }
    let mut names = HashSet::new();
    if spec["containers"].as_array().is_none_or(Vec::is_empty) {
        errors.required(&format!("{path}.containers"), "");
    }
    for list in ["initContainers", "containers"] {
        for (i, c) in items(&spec[list]) {
            container(
                c,
                &format!("{path}.{list}[{i}]"),
                &volumes,
                &mut names,
                errors,
            );
        }
    }
    if let Some(policy) = spec.get("restartPolicy").filter(|v| !v.is_null())
        && !matches!(policy.as_str(), Some("Always" | "OnFailure" | "Never"))
    {
        errors.not_supported(
            &format!("{path}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        );
    }
    if let Some(d) = spec["activeDeadlineSeconds"].as_i64()
        && d <= 0
    {
        errors.invalid(
            &format!("{path}.activeDeadlineSeconds"),
            &spec["activeDeadlineSeconds"],
            "must be between 1 and 2147483647, inclusive",
        );
    }
}

fn container(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    names: &mut HashSet<String>,
    errors: &mut Errors,
) {
    match c["name"].as_str() {
        None | Some("") => errors.required(&format!("{path}.name"), ""),
        Some(name) => {
            for e in dns1123_label(name) {
                errors.invalid(&format!("{path}.name"), &c["name"], &e);
            }
            if !names.insert(name.to_owned()) {
                errors.duplicate(&format!("{path}.name"), &c["name"]);
            }
        }
    }
    resources(&c["resources"], &format!("{path}.resources"), errors);
    if c["image"].as_str().is_none_or(|i| i.trim().is_empty()) {
        errors.required(&format!("{path}.image"), "");
    }
    let mut port_names = HashSet::new();
    for (i, port) in items(&c["ports"]) {
        let field = format!("{path}.ports[{i}]");
        match port["containerPort"].as_i64() {
            None | Some(0) => errors.required(&format!("{field}.containerPort"), ""),
            Some(p) if !(1..=65535).contains(&p) => errors.invalid(
                &format!("{field}.containerPort"),
                &port["containerPort"],
                "must be between 1 and 65535, inclusive",
            ),
            Some(_) => {}
        }
        if let Some(name) = port["name"].as_str() {
            for e in port_name(name) {
                errors.invalid(&format!("{field}.name"), &port["name"], &e);
            }
            if !port_names.insert(name.to_owned()) {
                errors.duplicate(&format!("{field}.name"), &port["name"]);
            }
        }
        protocol(&port["protocol"], &format!("{field}.protocol"), errors);
    }
    for (i, env) in items(&c["env"]) {
        let field = format!("{path}.env[{i}].name");
        match env["name"].as_str() {
            None | Some("") => errors.required(&field, ""),
            Some(name) => {
                if !name
                    .chars()
                    .all(|ch| (' '..='~').contains(&ch) && ch != '=')
                {
                    errors.invalid(&field, &env["name"], "a valid environment variable name must consist only of printable ASCII characters other than '='");
                }
            }
        }
    }
    let mut mount_paths = HashSet::new();
    for (i, mount) in items(&c["volumeMounts"]) {
        let field = format!("{path}.volumeMounts[{i}]");
        match mount["name"].as_str() {
            None | Some("") => errors.required(&format!("{field}.name"), ""),
            Some(name) if !volumes.contains(name) => {
                errors.not_found(&format!("{field}.name"), &mount["name"])
            }
            Some(_) => {}
        }
        match mount["mountPath"].as_str() {
            None | Some("") => errors.required(&format!("{field}.mountPath"), ""),
            Some(p) => {
                if !mount_paths.insert(p.to_owned()) {
                    errors.invalid(
                        &format!("{field}.mountPath"),
                        &mount["mountPath"],
                        "must be unique",
                    );
                }
            }
        }
    }
    if let Some(policy) = c.get("imagePullPolicy").filter(|v| !v.is_null())
        && !matches!(policy.as_str(), Some("Always" | "IfNotPresent" | "Never"))
    {
        errors.not_supported(
            &format!("{path}.imagePullPolicy"),
            policy,
            &["Always", "IfNotPresent", "Never"],
        );
    }
}

/// Requests may not exceed limits (`requests: Invalid value: "2": must be less than or equal
/// to cpu limit of 1`).
fn resources(resources: &Value, path: &str, errors: &mut Errors) {
    let Some(requests) = resources["requests"].as_object() else {
        return;
    };
    for (name, request) in requests {
        let limit = &resources["limits"][name];
        let (Some(want), Some(cap)) = (quantity(request), quantity(limit)) else {
            continue;
        };
        if want > cap {
            let text = limit
                .as_str()
                .map_or_else(|| limit.to_string(), str::to_owned);
            errors.invalid(
                &format!("{path}.requests"),
                request,
                &format!("must be less than or equal to {name} limit of {text}"),
            );
        }
    }
}

/// A resource quantity's value (`500m`, `1Gi`, `2e3`, `1.5`), if it parses.
pub fn quantity(value: &Value) -> Option<f64> {
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let power: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(power)
        }
    };
    Some(number * scale)
}

fn protocol(value: &Value, field: &str, errors: &mut Errors) {
    if !value.is_null() && !matches!(value.as_str(), Some("TCP" | "UDP" | "SCTP")) {
        errors.not_supported(field, value, &["SCTP", "TCP", "UDP"]);
    }
}

/// `IsValidPortName` (IANA service names).
fn port_name(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.len() > 15 {
        errors.push("must be no more than 15 characters".to_owned());
    }
    if !name.chars().all(|c| is_alnum_lower(c) || c == '-') {
        errors.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".to_owned());
    }
    if name.contains("--") {
        errors.push("must not contain consecutive hyphens".to_owned());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errors.push("must not begin or end with a hyphen".to_owned());
    }
    errors
}

/// Pod updates may change only images, the deadline and tolerations.
fn pod_update(old: &Value, new: &Value, errors: &mut Errors) {
    let strip = |spec: &Value| {
        let mut spec = spec.clone();
        for list in ["containers", "initContainers"] {
            if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("image");
                    }
                }
            }
        }
        if let Some(m) = spec.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
        }
        spec
    };
    if strip(old) != strip(new) {
        errors.forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        );
    }
}

fn immutable(field: &str, old: &Value, new: &Value, errors: &mut Errors) {
    if old != new {
        errors.invalid(field, new, "field is immutable");
    }
}

fn workload(resource: &str, object: &Value, old: Option<&Value>, errors: &mut Errors) {
    let spec = &object["spec"];
    if let Some(n) = spec["replicas"].as_i64()
        && n < 0
    {
        errors.invalid(
            "spec.replicas",
            &spec["replicas"],
            "must be greater than or equal to 0",
        );
    }
    selector_matches_template(spec, errors);
    pod_spec(&spec["template"]["spec"], "spec.template.spec", errors);
    labels(
        &spec["template"]["metadata"]["labels"],
        "spec.template.metadata.labels",
        errors,
    );
    let policy = &spec["template"]["spec"]["restartPolicy"];
    if !policy.is_null() && policy.as_str() != Some("Always") {
        errors.not_supported("spec.template.spec.restartPolicy", policy, &["Always"]);
    }
    if resource == "deployments"
        && let Some(old) = old
    {
        immutable(
            "spec.selector",
            &old["spec"]["selector"],
            &spec["selector"],
            errors,
        );
    }
}

fn selector_matches_template(spec: &Value, errors: &mut Errors) {
    let selector = &spec["selector"];
    if selector.is_null() {
        errors.required("spec.selector", "");
        return;
    }
    let Some(parsed) = super::selector::LabelSelector::from_object(selector) else {
        errors.invalid("spec.selector", selector, "invalid label selector");
        return;
    };
    if parsed.is_empty() {
        errors.invalid(
            "spec.selector",
            selector,
            "empty selector is invalid for deployment",
        );
    }
    let template = &spec["template"];
    if !parsed.matches(template) {
        errors.invalid(
            "spec.template.metadata.labels",
            &template["metadata"]["labels"],
            "`selector` does not match template `labels`",
        );
    }
}

fn job(object: &Value, old: Option<&Value>, errors: &mut Errors) {
    let spec = &object["spec"];
    for field in ["parallelism", "completions", "backoffLimit"] {
        if let Some(n) = spec[field].as_i64()
            && n < 0
        {
            errors.invalid(
                &format!("spec.{field}"),
                &spec[field],
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(d) = spec["activeDeadlineSeconds"].as_i64()
        && d <= 0
    {
        errors.invalid(
            "spec.activeDeadlineSeconds",
            &spec["activeDeadlineSeconds"],
            "must be greater than 0",
        );
    }
    selector_matches_template(spec, errors);
    pod_spec(&spec["template"]["spec"], "spec.template.spec", errors);
    let policy = &spec["template"]["spec"]["restartPolicy"];
    if !matches!(policy.as_str(), Some("OnFailure" | "Never")) {
        errors.not_supported(
            "spec.template.spec.restartPolicy",
            policy,
            &["OnFailure", "Never"],
        );
    }
    if let Some(old) = old {
        immutable(
            "spec.selector",
            &old["spec"]["selector"],
            &spec["selector"],
            errors,
        );
        immutable(
            "spec.template",
            &old["spec"]["template"],
            &spec["template"],
            errors,
        );
        immutable(
            "spec.completions",
            &old["spec"]["completions"],
            &spec["completions"],
            errors,
        );
    }
}

fn service(object: &Value, old: Option<&Value>, errors: &mut Errors) {
    let spec = &object["spec"];
    labels(&spec["selector"], "spec.selector", errors);
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    if !matches!(
        kind,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        errors.not_supported(
            "spec.type",
            &spec["type"],
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        );
    }
    let headless = spec["clusterIP"].as_str() == Some("None");
    let ports = spec["ports"].as_array().map_or(0, Vec::len);
    if ports == 0 && !headless && kind != "ExternalName" {
        errors.required("spec.ports", "");
    }
    let mut names = HashSet::new();
    for (i, port) in items(&spec["ports"]) {
        let field = format!("spec.ports[{i}]");
        match port["name"].as_str() {
            None | Some("") if ports > 1 => errors.required(&format!("{field}.name"), ""),
            None | Some("") => {}
            Some(name) => {
                for e in dns1123_label(name) {
                    errors.invalid(&format!("{field}.name"), &port["name"], &e);
                }
                if !names.insert(name.to_owned()) {
                    errors.duplicate(&format!("{field}.name"), &port["name"]);
                }
            }
        }
        match port["port"].as_i64() {
            Some(p) if (1..=65535).contains(&p) => {}
            _ => errors.invalid(
                &format!("{field}.port"),
                &port["port"],
                "must be between 1 and 65535, inclusive",
            ),
        }
        // Defaulted from `port` when unset, so a bad port is a bad targetPort too.
        match &port["targetPort"] {
            Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => errors.invalid(
                &format!("{field}.targetPort"),
                &port["targetPort"],
                "must be between 1 and 65535, inclusive",
            ),
            Value::String(name) => {
                for e in port_name(name) {
                    errors.invalid(&format!("{field}.targetPort"), &port["targetPort"], &e);
                }
            }
            _ => {}
        }
        protocol(&port["protocol"], &format!("{field}.protocol"), errors);
    }
    if let Some(old) = old
        && !old["spec"]["clusterIP"].is_null()
        && old["spec"]["clusterIP"] != spec["clusterIP"]
    {
        errors.invalid(
            "spec.clusterIPs[0]",
            &spec["clusterIP"],
            "may not change once set",
        );
    }
}

fn config_keys(object: &Value, field: &str, errors: &mut Errors) {
    let Some(data) = object[field].as_object() else {
        return;
    };
    for key in data.keys() {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok || key == "." || key == ".." {
            errors.invalid(
                &format!("{field}[{key}]"),
                &Value::String(key.clone()),
                &regex_error(
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                    CONFIG_KEY_FMT,
                    &["key.name", "KEY_NAME", "key-name"],
                ),
            );
        }
    }
}

fn immutable_data(object: &Value, old: Option<&Value>, errors: &mut Errors) {
    let Some(old) = old else { return };
    if old["immutable"].as_bool() == Some(true) {
        for field in ["data", "binaryData", "immutable"] {
            if old[field] != object[field] {
                errors.forbidden(field, "field is immutable when `immutable` is set");
            }
        }
    }
}

fn pvc(object: &Value, old: Option<&Value>, errors: &mut Errors) {
    let spec = &object["spec"];
    if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
        errors.required("spec.accessModes", "at least 1 access mode is required");
    }
    if spec["resources"]["requests"]["storage"].is_null() {
        errors.required("spec.resources[storage]", "");
    }
    if let Some(old) = old {
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                m.remove("resources");
                m.remove("volumeName");
            }
            s
        };
        if strip(&old["spec"]) != strip(spec) {
            errors.forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(resource: &str, object: Value) -> Vec<String> {
        validate(resource, &object, None)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn quantities_compare_across_suffixes() {
        assert_eq!(quantity(&json!("500m")), Some(0.5));
        assert_eq!(quantity(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(quantity(&json!("2e3")), Some(2000.0));
        assert_eq!(quantity(&json!("1x")), None);
        let got = messages(
            "pods",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}}),
        );
        assert_eq!(
            got,
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
            ]
        );
    }

    #[test]
    fn names_follow_each_resource_rule() {
        let got = messages("configmaps", json!({"metadata": {"name": "Bad_Name"}}));
        assert_eq!(
            got,
            vec![
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        let got = messages(
            "services",
            json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}),
        );
        assert!(
            got[0].contains("a DNS-1035 label must consist of"),
            "{got:?}"
        );
        assert!(
            got[0].contains("(e.g. 'my-name',  or 'abc-123', regex"),
            "{got:?}"
        );
        assert!(
            messages(
                "services",
                json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
            )
            .is_empty()
        );
    }

    #[test]
    fn pods_need_named_containers_with_images_and_known_volumes() {
        let got = messages(
            "pods",
            json!({"metadata": {"name": "p", "labels": {"a b": "x"}}, "spec": {
            "containers": [{"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/v"}], "env": [{"name": "A=B"}]},
                           {"name": "c", "image": "i", "ports": [{"containerPort": 70000}]}]}}),
        );
        let fields: Vec<&str> = got.iter().map(|m| m.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.labels",
                "spec.containers[0].image",
                "spec.containers[0].env[0].name",
                "spec.containers[0].volumeMounts[0].name",
                "spec.containers[1].name",
                "spec.containers[1].ports[0].containerPort",
            ]
        );
    }
}
