//! `--dry-run` output: every object of a plan, in apply order, as one `v1` `List`.

use serde_json::{Value, json};

use super::{Object, Plan};
use crate::request::OutputFormat;

/// The object as the API server would receive it (`apiVersion` and `kind` included).
pub fn to_value(object: &Object) -> Value {
    let v = match object {
        Object::Secret(o) => serde_json::to_value(o),
        Object::ConfigMap(o) => serde_json::to_value(o),
        Object::PersistentVolumeClaim(o) => serde_json::to_value(o),
        Object::Service(o) => serde_json::to_value(o),
        Object::Deployment(o) => serde_json::to_value(o),
        Object::Job(o) => serde_json::to_value(o),
        Object::Pod(o) => serde_json::to_value(o),
    };
    v.unwrap_or(Value::Null)
}

/// Every object in apply order: dependencies' objects, the one-off's shared objects, the pod
/// (or its Job under `-d --rm`), then the objects it owns.
pub fn objects(plan: &Plan) -> Vec<Object> {
    let one_off = &plan.one_off;
    let mut out: Vec<Object> = plan
        .dependencies
        .iter()
        .flat_map(|d| d.objects.iter().cloned())
        .collect();
    out.extend(one_off.objects.iter().cloned());
    out.push(match &one_off.job {
        Some(job) => Object::Job(job.clone()),
        None => Object::Pod(one_off.pod.clone()),
    });
    out.extend(one_off.owned.iter().cloned());
    out
}

/// Renders the plan as one `v1` `List` document in YAML or JSON.
pub fn render(plan: &Plan, format: OutputFormat) -> String {
    let items: Vec<Value> = objects(plan).iter().map(to_value).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items});
    match format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
            s.push('\n');
            s
        }
        OutputFormat::Yaml => serde_saphyr::to_string(&list).unwrap_or_default(),
    }
}
