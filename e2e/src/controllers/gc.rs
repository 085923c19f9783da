//! Deletion and garbage collection by ownerReference: the one place that knows how an object
//! is deleted (grace for pods, propagation finalizers), and the collector that deletes
//! dependents of vanished owners (Background), blocks owners on their dependents (Foreground),
//! and cuts dependents loose (Orphan).

use serde_json::{Value, json};

use crate::api::resources::RESOURCES;
use crate::store::{Store, StoreError, metadata_mut, str_at};

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Owner goes first; the collector then deletes the dependents.
    Background,
    /// Dependents go first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Dependents stay, their ownerReferences removed (`orphan` finalizer meanwhile).
    Orphan,
}

impl Propagation {
    /// Parses the `propagationPolicy` wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            "Orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }

    /// The API default for a resource: batch/v1 Jobs orphan "for backwards compatibility".
    pub fn default_for(resource: &str) -> Self {
        if resource == "jobs" {
            Propagation::Orphan
        } else {
            Propagation::Background
        }
    }

    fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
        }
    }
}

/// One stored object, by resource plural, namespace and name, with its current state.
#[derive(Debug, Clone)]
pub struct Dependent {
    /// Resource plural.
    pub resource: &'static str,
    /// The object.
    pub object: Value,
}

fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| str_at(r, "/uid"))
}

/// The objects whose ownerReferences name `owner` (by uid), in the owner's namespace.
pub fn dependents(store: &Store, owner: &Value) -> Vec<Dependent> {
    let uid = str_at(owner, "/metadata/uid");
    let namespace = str_at(owner, "/metadata/namespace");
    let mut found = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.plural != "events")
    {
        let scope = (!namespace.is_empty()).then_some(namespace);
        let (objects, _) = store.list(resource.plural, scope, |o| owner_uids(o).any(|u| u == uid));
        found.extend(objects.into_iter().map(|object| Dependent {
            resource: resource.plural,
            object,
        }));
    }
    found
}

/// Deletes an object as the API server does: pods get their grace period (0 when unscheduled
/// or finished), owners with dependents get the propagation finalizer, namespaces start
/// terminating. Returns the object's state afterwards (its last state if it is gone).
pub fn delete(
    store: &Store,
    resource: &str,
    namespace: &str,
    name: &str,
    propagation: Propagation,
    grace: Option<i64>,
) -> Result<Value, StoreError> {
    let current = store
        .get(resource, namespace, name)
        .ok_or_else(|| StoreError::NotFound {
            resource: resource.to_owned(),
            name: name.to_owned(),
        })?;
    if let Some(finalizer) = propagation.finalizer()
        && !dependents(store, &current).is_empty()
    {
        store.modify(resource, namespace, name, |o| add_finalizer(o, finalizer))?;
    }
    if resource == "namespaces" {
        store.modify(resource, namespace, name, |o| {
            o["status"]["phase"] = json!("Terminating")
        })?;
    }
    let grace = if resource == "pods" {
        let phase = str_at(&current, "/status/phase");
        let scheduled = !str_at(&current, "/spec/nodeName").is_empty();
        if !scheduled || phase == "Succeeded" || phase == "Failed" {
            0
        } else {
            grace
                .or_else(|| current["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30)
                .max(0)
        }
    } else {
        0
    };
    store.mark_deleted(resource, namespace, name, grace)
}

/// Adds a finalizer (once).
pub fn add_finalizer(object: &mut Value, finalizer: &str) {
    let list = metadata_mut(object)
        .entry("finalizers")
        .or_insert_with(|| json!([]));
    if let Some(items) = list.as_array_mut()
        && !items.iter().any(|f| f == finalizer)
    {
        items.push(json!(finalizer));
    }
}

/// Removes a finalizer (if present).
pub fn remove_finalizer(object: &mut Value, finalizer: &str) {
    if let Some(items) = object
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        items.retain(|f| f != finalizer);
    }
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == finalizer))
}

fn key(object: &Value) -> (&str, &str) {
    (
        str_at(object, "/metadata/namespace"),
        str_at(object, "/metadata/name"),
    )
}

/// One pass of the collector over every object.
pub fn reconcile(store: &Store) {
    for resource in RESOURCES
        .iter()
        .filter(|r| r.plural != "events" && r.plural != "selfsubjectaccessreviews")
    {
        let (objects, _) = store.list(resource.plural, None, |_| true);
        for object in objects {
            collect_orphaned(store, resource.plural, &object);
            if object.pointer("/metadata/deletionTimestamp").is_some() {
                finish_propagation(store, resource.plural, &object);
            }
        }
    }
}

/// Background: a dependent whose owners are all gone is deleted.
fn collect_orphaned(store: &Store, resource: &str, object: &Value) {
    let refs: Vec<Value> = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if refs.is_empty() || object.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let namespace = str_at(object, "/metadata/namespace");
    let owner_alive = |r: &Value| {
        let Some(owner_resource) =
            crate::api::resources::by_kind(str_at(r, "/apiVersion"), str_at(r, "/kind"))
        else {
            // Owners of kinds kube-sim does not serve cannot be checked; keep the dependent.
            return true;
        };
        let owner_ns = if owner_resource.namespaced {
            namespace
        } else {
            ""
        };
        store
            .get(owner_resource.plural, owner_ns, str_at(r, "/name"))
            .is_some_and(|o| str_at(&o, "/metadata/uid") == str_at(r, "/uid"))
    };
    if !refs.iter().any(owner_alive) {
        let (ns, name) = key(object);
        let _ = delete(store, resource, ns, name, Propagation::Background, None);
    }
}

/// Foreground and Orphan: act on the dependents, then release the owner.
fn finish_propagation(store: &Store, resource: &str, owner: &Value) {
    let (ns, name) = key(owner);
    let uid = str_at(owner, "/metadata/uid").to_owned();
    if has_finalizer(owner, "orphan") {
        for dependent in dependents(store, owner) {
            let (dns, dname) = key(&dependent.object);
            let _ = store.modify(dependent.resource, dns, dname, |o| {
                if let Some(refs) = o
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| str_at(r, "/uid") != uid);
                }
            });
        }
        let _ = store.modify(resource, ns, name, |o| remove_finalizer(o, "orphan"));
    }
    if has_finalizer(owner, "foregroundDeletion") {
        let remaining = dependents(store, owner);
        for dependent in &remaining {
            if dependent
                .object
                .pointer("/metadata/deletionTimestamp")
                .is_none()
            {
                let (dns, dname) = key(&dependent.object);
                let _ = delete(
                    store,
                    dependent.resource,
                    dns,
                    dname,
                    Propagation::Foreground,
                    None,
                );
            }
        }
        let blocking = remaining.iter().any(|d| {
            d.object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| {
                    str_at(r, "/uid") == uid && r["blockOwnerDeletion"].as_bool() == Some(true)
                })
        });
        if !blocking {
            let _ = store.modify(resource, ns, name, |o| {
                remove_finalizer(o, "foregroundDeletion")
            });
        }
    }
    if resource == "namespaces" {
        finish_namespace(store, name);
    }
}

/// A terminating namespace: delete its contents; once empty, drop its `kubernetes` finalizer.
fn finish_namespace(store: &Store, namespace: &str) {
    let mut left = false;
    for resource in RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.plural != "selfsubjectaccessreviews")
    {
        let (objects, _) = store.list(resource.plural, Some(namespace), |_| true);
        for object in objects {
            left = true;
            if object.pointer("/metadata/deletionTimestamp").is_none() {
                let _ = delete(
                    store,
                    resource.plural,
                    namespace,
                    str_at(&object, "/metadata/name"),
                    Propagation::Background,
                    None,
                );
            }
        }
    }
    if !left {
        let _ = store.modify("namespaces", "", namespace, |o| {
            o["spec"]["finalizers"] = json!([])
        });
    }
}

/// The owner reference a controller puts on what it creates.
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": str_at(owner, "/metadata/name"),
        "uid": str_at(owner, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `object` is controlled by `owner` (its controller reference has the owner's uid).
pub fn controlled_by(object: &Value, owner: &Value) -> bool {
    let uid = str_at(owner, "/metadata/uid");
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r["controller"].as_bool() == Some(true) && str_at(r, "/uid") == uid)
}
