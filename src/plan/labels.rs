//! Labels and annotations: compose's own keys plus `app.kubernetes.io/managed-by: krun`, user
//! `labels:`/`-l` as labels when valid and annotations otherwise, and the config hash.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ring::digest::{SHA256, digest};
use serde::Serialize;

use super::names::{LABEL_MAX, is_label_value, is_qualified_name, sanitize};
use super::{Object, Planner};

pub use super::keys::{
    CONFIG_FILES, CONFIG_HASH, DEPENDS_ON, KRUN, MANAGED_BY, ONEOFF, PROJECT, RUN, SERVICE, SLUG,
    VOLUME, WORKING_DIR,
};

/// Labels and annotations of one object.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Valid label keys and values.
    pub labels: BTreeMap<String, String>,
    /// Everything else worth keeping.
    pub annotations: BTreeMap<String, String>,
}

impl Meta {
    /// Sets `key` as a label when `value` is a valid label value, as an annotation otherwise.
    pub fn set(&mut self, key: &str, value: &str) {
        if is_label_value(value) {
            self.labels.insert(key.to_string(), value.to_string());
        } else {
            self.annotations.insert(key.to_string(), value.to_string());
        }
    }

    /// An `ObjectMeta` with this name, namespace, labels and annotations.
    pub fn object_meta(&self, name: &str, namespace: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
            annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
            ..ObjectMeta::default()
        }
    }

    /// The labels only (pod templates of workloads carry no run-level annotations).
    pub fn labels_only(&self) -> Option<BTreeMap<String, String>> {
        (!self.labels.is_empty()).then(|| self.labels.clone())
    }
}

/// A label value for a compose name: itself when valid, else its DNS form (the raw name then
/// goes into an annotation of the same key, see [`Planner::project_meta`]).
pub fn value_of(name: &str) -> String {
    if is_label_value(name) {
        name.to_string()
    } else {
        sanitize(name, LABEL_MAX)
    }
}

/// The selector of a dependency's pods: never matches a one-off.
pub fn selector(project: &str, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT.to_string(), value_of(project)),
        (SERVICE.to_string(), value_of(service)),
        (ONEOFF.to_string(), "False".to_string()),
    ])
}

/// Adds the config-hash annotation to an object: sha256 of it as it is before the annotation,
/// so the runtime can leave unchanged objects untouched. Where the project lives on this
/// machine (its directory and files) is left out: the same project from another checkout
/// leaves running dependencies alone.
pub fn stamp(object: &mut Object) {
    match object {
        Object::Secret(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::ConfigMap(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::PersistentVolumeClaim(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::Service(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::Deployment(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::Job(o) => stamp_hash(o, |o| &mut o.metadata),
        Object::Pod(o) => stamp_hash(o, |o| &mut o.metadata),
    }
}

fn stamp_hash<T: Serialize>(object: &mut T, meta: fn(&mut T) -> &mut ObjectMeta) {
    let mut value = serde_json::to_value(&*object).unwrap_or_default();
    if let Some(annotations) = value
        .pointer_mut("/metadata/annotations")
        .and_then(serde_json::Value::as_object_mut)
    {
        annotations.remove(WORKING_DIR);
        annotations.remove(CONFIG_FILES);
    }
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let hash: String = digest(&SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    meta(object)
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(CONFIG_HASH.to_string(), hash);
}

impl Planner<'_> {
    /// Labels every object of the project carries: managed-by, project, and where the
    /// project-level annotations apply, the working directory and files.
    pub(super) fn project_meta(&self) -> Meta {
        let loaded = self.input.loaded;
        let mut meta = Meta::default();
        meta.labels.insert(MANAGED_BY.into(), KRUN.into());
        meta.labels.insert(PROJECT.into(), value_of(&loaded.name));
        if !is_label_value(&loaded.name) {
            meta.annotations.insert(PROJECT.into(), loaded.name.clone());
        }
        meta
    }

    /// The labels and annotations of a service's objects: compose's, then the user's.
    pub(super) fn service_meta(
        &mut self,
        service: &str,
        user_labels: &IndexMap<String, String>,
        annotations: &IndexMap<String, String>,
        oneoff: bool,
    ) -> Meta {
        let mut meta = Meta::default();
        for (k, v) in annotations {
            self.user_key(&mut meta, service, "annotations", k, v, true);
        }
        for (k, v) in user_labels {
            self.user_key(&mut meta, service, "labels", k, v, false);
        }
        let project = self.project_meta();
        meta.labels.extend(project.labels);
        meta.annotations.extend(project.annotations);
        meta.labels.insert(SERVICE.into(), value_of(service));
        if !is_label_value(service) {
            meta.annotations.insert(SERVICE.into(), service.into());
        }
        meta.labels
            .insert(ONEOFF.into(), if oneoff { "True" } else { "False" }.into());
        let loaded = self.input.loaded;
        meta.annotations
            .insert(WORKING_DIR.into(), loaded.working_dir.display().to_string());
        let files: Vec<String> = loaded
            .compose_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        meta.annotations
            .insert(CONFIG_FILES.into(), files.join(","));
        meta
    }

    /// One user label or annotation; compose's own keys cannot be overridden.
    fn user_key(
        &mut self,
        meta: &mut Meta,
        service: &str,
        key: &str,
        k: &str,
        v: &str,
        annotation_only: bool,
    ) {
        if k.starts_with("com.docker.compose.") || k == MANAGED_BY {
            return;
        }
        if !is_qualified_name(k) {
            self.warn(
                service,
                &format!("{key}.{k}"),
                "not a valid Kubernetes label or annotation key (at most 63 characters of \
                 [A-Za-z0-9_.-] with an optional DNS prefix and '/'): dropped",
            );
        } else if annotation_only {
            meta.annotations.insert(k.into(), v.into());
        } else {
            meta.set(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_become_annotations() {
        let mut m = Meta::default();
        m.set("a", "ok");
        m.set("b", "/not/a/label");
        assert_eq!(m.labels.get("a").map(String::as_str), Some("ok"));
        assert!(m.annotations.contains_key("b") && !m.labels.contains_key("b"));
        assert_eq!(value_of("my_db"), "my_db");
        assert_eq!(value_of("-x-"), "x");
    }

    #[test]
    fn hash_changes_with_content() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let cm = |v: &str| {
            Object::ConfigMap(ConfigMap {
                data: Some(BTreeMap::from([("k".to_string(), v.to_string())])),
                ..ConfigMap::default()
            })
        };
        let hash = |v: &str| {
            let mut o = cm(v);
            stamp(&mut o);
            match o {
                Object::ConfigMap(c) => {
                    c.metadata.annotations.unwrap_or_default()[CONFIG_HASH].clone()
                }
                _ => String::new(),
            }
        };
        let (a, b) = (hash("one"), hash("two"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn hash_ignores_where_the_project_lives() {
        use k8s_openapi::api::core::v1::Service;
        let hash = |dir: &str| {
            let mut o = Object::Service(Service {
                metadata: ObjectMeta {
                    annotations: Some(BTreeMap::from([
                        (WORKING_DIR.to_string(), dir.to_string()),
                        (CONFIG_FILES.to_string(), format!("{dir}/compose.yaml")),
                    ])),
                    ..ObjectMeta::default()
                },
                ..Service::default()
            });
            stamp(&mut o);
            o.kind_and_meta().1.annotations.clone().unwrap_or_default()[CONFIG_HASH].clone()
        };
        assert_eq!(hash("/home/a/app"), hash("/ci/checkout/app"));
    }
}
