//! `charts/krun` renders the same objects as `manifests/`, for the default values and for each
//! switch. helm is not available on the machines this runs on, so the chart is rendered here
//! by a small renderer of the only template language the chart may use: `{{ .Values.x.y }}`,
//! `{{ .Release.Namespace }}`, `{{ toJson .Values.x }}`, `{{ if X }}`/`{{ else }}`/`{{ end }}`,
//! `{{/* comments */}}` and the `{{-`/`-}}` whitespace trims. Anything else in a template fails
//! the test, so the chart cannot drift into constructs that go unchecked.
//!
//! What this cannot catch: helm's own behaviour around the templates (Chart.yaml validation,
//! `helm lint`, install order, how helm sets the release namespace on the namespaced objects,
//! which the chart leaves unset as the manifests do), Go template subtleties this renderer
//! interprets differently (it follows text/template for the constructs above), and values other
//! than the combinations rendered here. The objects are compared parsed, so comments, key order
//! and YAML style may differ.

use serde_json::{Value, json};

/// Renders `template` with `values` and `namespace` as `.Release.Namespace`.
fn render(template: &str, values: &Value, namespace: &str) -> String {
    let mut out = String::new();
    // One entry per open `if`: whether the branch being read is taken.
    let mut frames: Vec<bool> = Vec::new();
    let emitting = |frames: &[bool]| frames.iter().all(|taken| *taken);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let (text, after) = rest.split_at(open);
        let close = after.find("}}").expect("an unclosed {{");
        let mut action = &after[2..close];
        rest = &after[close + 2..];
        let mut text = text.to_string();
        if let Some(a) = action.strip_prefix('-') {
            text.truncate(text.trim_end().len());
            action = a;
        }
        if let Some(a) = action.strip_suffix('-') {
            rest = rest.trim_start();
            action = a;
        }
        if emitting(&frames) {
            out.push_str(&text);
        }
        let action = action.trim();
        let words: Vec<&str> = action.split_whitespace().collect();
        match words.as_slice() {
            _ if action.starts_with("/*") && action.ends_with("*/") => {}
            ["if", expr] => frames.push(truthy(lookup(expr, values, namespace))),
            ["else"] => {
                let taken = frames.last_mut().expect("else without if");
                *taken = !*taken;
            }
            ["end"] => {
                frames.pop().expect("end without if");
            }
            ["toJson", expr] => {
                if emitting(&frames) {
                    out.push_str(&lookup(expr, values, namespace).to_string());
                }
            }
            [expr] => {
                if emitting(&frames) {
                    match lookup(expr, values, namespace) {
                        Value::String(s) => out.push_str(&s),
                        v @ (Value::Number(_) | Value::Bool(_)) => out.push_str(&v.to_string()),
                        v => panic!("{expr} is {v}: print lists and maps with toJson"),
                    }
                }
            }
            _ => panic!("a template construct this test does not render: {{{{{action}}}}}"),
        }
    }
    assert!(frames.is_empty(), "an if without end");
    out.push_str(rest);
    out
}

fn lookup(expr: &str, values: &Value, namespace: &str) -> Value {
    if expr == ".Release.Namespace" {
        return json!(namespace);
    }
    let path = expr
        .strip_prefix(".Values.")
        .unwrap_or_else(|| panic!("an unsupported reference {expr}"));
    path.split('.')
        .try_fold(values, |v, key| v.get(key))
        .unwrap_or_else(|| panic!("{expr} is not in values.yaml"))
        .clone()
}

/// Go template truth: false, 0, "", null and empty collections are false.
fn truthy(value: Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn read(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The chart's objects for values.yaml with `overrides` merged in (top-level and `job` keys).
fn chart(overrides: Value, namespace: &str) -> Vec<Value> {
    let mut values: Value = serde_saphyr::from_str(&read("charts/krun/values.yaml")).unwrap();
    for (key, value) in overrides.as_object().unwrap() {
        match (values.get_mut(key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => into.extend(from.clone()),
            _ => values[key] = value.clone(),
        }
    }
    let mut objects = Vec::new();
    for template in ["serviceaccount.yaml", "rbac.yaml", "job.yaml"] {
        let text = render(
            &read(&format!("charts/krun/templates/{template}")),
            &values,
            namespace,
        );
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{template} renders to invalid YAML: {e}\n{text}"));
        objects.extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    objects
}

fn manifests(file: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(&read(&format!("manifests/{file}"))).unwrap()
}

#[test]
fn default_values_render_manifests_rbac() {
    assert_eq!(chart(json!({}), "ci"), manifests("rbac.yaml"));
}

#[test]
fn cluster_wide_renders_manifests_rbac_cluster_wide() {
    assert_eq!(
        chart(json!({"clusterWide": true}), "krun"),
        manifests("rbac-cluster-wide.yaml")
    );
}

#[test]
fn the_job_renders_the_example_job() {
    let objects = chart(json!({"job": {"enabled": true}}), "ci");
    let job = objects.iter().find(|o| o["kind"] == "Job").expect("a Job");
    let example = manifests("job-example.yaml");
    let expected = example.iter().find(|o| o["kind"] == "Job").unwrap();
    assert_eq!(job, expected);
    assert_eq!(objects.len(), 4, "ServiceAccount, Role, RoleBinding, Job");
}

#[test]
fn the_renderer_refuses_what_it_cannot_check() {
    let values = json!({"a": "x", "on": true, "off": false, "list": [1, 2]});
    assert_eq!(
        render(
            "{{ if .Values.on }}A{{ else }}B{{ end }}-{{ .Values.a }}",
            &values,
            "n"
        ),
        "A-x"
    );
    assert_eq!(
        render("{{ if .Values.off }}A{{ else }}B{{ end }}", &values, "n"),
        "B"
    );
    assert_eq!(
        render("a:\n  {{- toJson .Values.list }}", &values, "n"),
        "a:[1,2]"
    );
    let refused = std::panic::catch_unwind(|| render("{{ include \"x\" . }}", &values, "n"));
    assert!(refused.is_err());
}
