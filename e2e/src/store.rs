//! The in-memory object store: every API object as JSON, one global resourceVersion, a watch feed.
//!
//! This is the contract every part of kube-sim writes through (API server, controllers, kubelet).
//!
//! - Objects are `serde_json::Value`s in their wire form (`apiVersion`, `kind`, `metadata`, …),
//!   keyed by ([`Key`]) resource plural (`"pods"`, `"deployments"`), namespace (`""` for
//!   cluster-scoped resources such as `namespaces` and `nodes`) and name.
//! - Every write takes the next value of one global counter as the object's
//!   `metadata.resourceVersion` and publishes one [`WatchEvent`] with that version. A write that
//!   changes nothing is not a write: no new resourceVersion, no event (as the real API server).
//! - The store owns `uid`, `creationTimestamp`, `resourceVersion` and `generation` (bumped when
//!   anything outside `metadata` and `status` changes); it resolves `generateName`.
//! - It does not validate, default or authorise: that is the API layer's job. Controllers and the
//!   kubelet write through it directly, as the real ones write through the API server.
//!
//! # Deletion
//! An object whose `metadata.deletionTimestamp` is set is *terminating*. After any write, a
//! terminating object with no `metadata.finalizers` is removed (a DELETED event), except a pod
//! whose `deletionGracePeriodSeconds` is still above 0 (its processes may still be running) and a
//! namespace whose `spec.finalizers` is not empty yet (its contents are still being deleted).
//!
//! Pod deletion handshake: the API server sets `deletionTimestamp` and
//! `deletionGracePeriodSeconds` on a pod that a kubelet may be running (grace 0, unscheduled and
//! finished pods are removed at once). The kubelet sees the MODIFIED event, stops the processes
//! (SIGTERM, SIGKILL after the grace period), writes their final status, then calls
//! [`Store::finish_deletion`], which removes the pod or, when finalizers remain, leaves that to the
//! last finalizer's owner.
//!
//! # Locking
//! One `std::sync::Mutex` guards everything; closures given to [`Store::modify`] and
//! [`Store::try_modify`] run under it, so they must be quick and must not call the store.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How many past events the store keeps for watches that resume from a resourceVersion; older
/// versions get `410 Gone`, as on an API server whose etcd was compacted.
pub const DEFAULT_HISTORY: usize = 10_000;

/// Capacity of the live feed; a watcher that falls this far behind is cut off (it then relists).
const FEED_CAPACITY: usize = 8192;

/// Why a store operation failed; the API layer turns each into the matching `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No object with that key.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource plural.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// Create of a key that exists.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource plural.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// An update carried a resourceVersion that is no longer current.
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// The resource plural.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// A watch asked for events older than the kept history.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// The resourceVersion asked for.
        requested: u64,
        /// The oldest resourceVersion a watch can still start from.
        oldest: u64,
    },
    /// The object has neither `metadata.name` nor `metadata.generateName`.
    #[error("name or generateName is required")]
    NameRequired,
}

/// Identifies one object: resource plural, namespace (`""` when cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Resource plural, e.g. `"pods"`.
    pub resource: String,
    /// Namespace, `""` for cluster-scoped resources.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl Key {
    /// Builds a key from borrowed parts (the common call shape).
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Key {
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// The kind of change a [`WatchEvent`] reports (BOOKMARK and ERROR are made by the watch handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed; the event carries its last state with the removal's version.
    Deleted,
}

impl EventKind {
    /// The wire name used in watch streams.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as published on the feed and kept in the history.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventKind,
    /// Which object.
    pub key: Key,
    /// The resourceVersion of this change (also in `object.metadata.resourceVersion`).
    pub resource_version: u64,
    /// The object after the change (for DELETED: its last state).
    pub object: Arc<Value>,
    /// The object before the change (`None` for ADDED): lets a watch with a selector turn an
    /// object leaving or entering the selection into DELETED or ADDED, as the watch cache does.
    pub previous: Option<Arc<Value>>,
}

/// The store; share it through `Arc<Sim>`.
pub struct Store {
    inner: Mutex<Inner>,
    feed: broadcast::Sender<WatchEvent>,
    history_cap: usize,
}

struct Inner {
    rv: u64,
    /// Highest resourceVersion dropped from the history; watches must start at or after it.
    compacted: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<WatchEvent>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(DEFAULT_HISTORY)
    }
}

impl Store {
    /// A store that keeps `history` past events for resuming watches.
    pub fn new(history: usize) -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                compacted: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
            }),
            feed,
            history_cap: history.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-written (writes are single
        // inserts), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current (latest) resourceVersion: what a list reports in `metadata.resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// One object, if present.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&Key::new(resource, namespace, name))
            .cloned()
    }

    /// All objects of `resource` (in `namespace`, or in all namespaces for `None`) that `filter`
    /// accepts, ordered by namespace then name, with the resourceVersion they are consistent at.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        filter: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, u64) {
        let inner = self.lock();
        (Self::select(&inner, resource, namespace, &filter), inner.rv)
    }

    fn select(
        inner: &Inner,
        resource: &str,
        namespace: Option<&str>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let start = Key::new(resource, namespace.unwrap_or(""), "");
        inner
            .objects
            .range(start..)
            .take_while(|(k, _)| {
                k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .filter(|(_, v)| filter(v))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Creates `object` (its `metadata.namespace` must already be set for namespaced resources).
    ///
    /// Resolves `generateName`, sets `uid` (unless the caller chose one: the API layer strips
    /// client-sent uids, and pre-assigns one when a Job's selector must name it),
    /// `creationTimestamp`, `resourceVersion` and
    /// `generation: 1`, drops any client-sent `deletionTimestamp`, and publishes ADDED.
    pub fn create(&self, resource: &str, mut object: Value) -> Result<Value, StoreError> {
        let mut inner = self.lock();
        let namespace = str_at(&object, "/metadata/namespace").to_owned();
        let mut name = str_at(&object, "/metadata/name").to_owned();
        if name.is_empty() {
            let prefix = str_at(&object, "/metadata/generateName").to_owned();
            if prefix.is_empty() {
                return Err(StoreError::NameRequired);
            }
            name = loop {
                let candidate = format!("{prefix}{}", random_suffix());
                if !inner
                    .objects
                    .contains_key(&Key::new(resource, &namespace, &candidate))
                {
                    break candidate;
                }
            };
        }
        let key = Key::new(resource, &namespace, &name);
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                resource: resource.to_owned(),
                name,
            });
        }
        inner.rv += 1;
        let rv = inner.rv;
        let meta = metadata_mut(&mut object);
        meta.insert("name".into(), json!(name));
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            meta.insert("uid".into(), json!(new_uid()));
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(timestamp()));
        meta.insert("generation".into(), json!(1));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        inner.objects.insert(key.clone(), object.clone());
        self.publish(&mut inner, EventKind::Added, key, object.clone(), None);
        Ok(object)
    }

    /// Replaces an existing object with `object` (key taken from its metadata).
    ///
    /// A non-empty `metadata.resourceVersion` in `object` must equal the stored one (else
    /// [`StoreError::Conflict`]); an empty one means "unconditionally". `uid`,
    /// `creationTimestamp` and `deletionTimestamp` are kept from the stored object.
    pub fn update(&self, resource: &str, object: Value) -> Result<Value, StoreError> {
        let namespace = str_at(&object, "/metadata/namespace").to_owned();
        let name = str_at(&object, "/metadata/name").to_owned();
        let expected = str_at(&object, "/metadata/resourceVersion").to_owned();
        self.try_modify(resource, &namespace, &name, |current| {
            if !expected.is_empty() && expected != str_at(current, "/metadata/resourceVersion") {
                return Err(StoreError::Conflict {
                    resource: resource.to_owned(),
                    name: name.clone(),
                });
            }
            *current = object;
            Ok(())
        })
    }

    /// Changes an object in place through `change` (no resourceVersion check): the way
    /// controllers and the kubelet write status. Returns the object as stored afterwards.
    pub fn modify(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value, StoreError> {
        self.try_modify(resource, namespace, name, |obj| {
            change(obj);
            Ok::<(), StoreError>(())
        })
    }

    /// Like [`Store::modify`], but `change` may refuse with an error (the object is then left
    /// as it was). Used by patch and apply, whose failures are only known while merging.
    pub fn try_modify<E: From<StoreError>>(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), E>,
    ) -> Result<Value, E> {
        let mut inner = self.lock();
        let key = Key::new(resource, namespace, name);
        let old = Self::current(&inner, &key)?;
        let mut new = old.clone();
        change(&mut new)?;
        // Server-owned metadata survives whatever the change did.
        let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        {
            let meta = metadata_mut(&mut new);
            meta.insert("name".into(), json!(name));
            if !namespace.is_empty() {
                meta.insert("namespace".into(), json!(namespace));
            }
            for field in [
                "uid",
                "creationTimestamp",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
            ] {
                match old_meta.get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            // Grace may only shrink once deletion started (kubelet: 0 = stopped).
            if old_meta.get("deletionTimestamp").is_none() {
                meta.remove("deletionGracePeriodSeconds");
            }
        }
        if new == old {
            return Ok(old);
        }
        if spec_changed(&old, &new) {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        Ok(self.commit(&mut inner, resource, key, old, new))
    }

    /// Starts graceful deletion: sets `deletionTimestamp` (once) and `deletionGracePeriodSeconds`
    /// (which may only shrink), then removes the object if nothing holds it (see module docs).
    /// Returns the object as it now is (for a removed one, its last state).
    pub fn mark_deleted(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        grace_seconds: i64,
    ) -> Result<Value, StoreError> {
        let mut inner = self.lock();
        let key = Key::new(resource, namespace, name);
        let old = Self::current(&inner, &key)?;
        let mut new = old.clone();
        let meta = metadata_mut(&mut new);
        let grace = meta
            .get("deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .map_or(grace_seconds, |g| g.min(grace_seconds))
            .max(0);
        if !meta.contains_key("deletionTimestamp") {
            let at = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(grace))
                .unwrap_or_else(|_| jiff::Timestamp::now());
            meta.insert("deletionTimestamp".into(), json!(format_time(at)));
        }
        meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
        if new == old && !deletion_complete(resource, &new) {
            return Ok(old);
        }
        Ok(self.commit(&mut inner, resource, key, old, new))
    }

    /// The kubelet's last step for a pod it stopped: grace 0, so the pod is removed unless
    /// finalizers still hold it (then their owner's removal of the last one removes it).
    pub fn finish_deletion(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, StoreError> {
        self.mark_deleted(resource, namespace, name, 0)
    }

    /// Removes an object at once, whatever its finalizers (a DELETED event with a new version).
    pub fn remove(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, StoreError> {
        let mut inner = self.lock();
        let key = Key::new(resource, namespace, name);
        let Some(mut object) = inner.objects.remove(&key) else {
            return Err(StoreError::NotFound {
                resource: resource.to_owned(),
                name: name.to_owned(),
            });
        };
        let previous = object.clone();
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.publish(
            &mut inner,
            EventKind::Deleted,
            key,
            object.clone(),
            Some(previous),
        );
        Ok(object)
    }

    /// Starts the watch history at the current revision, as an API server's watch cache starts
    /// at the revision it was started at: a watch from any earlier one gets `410 Gone`.
    pub fn start_history_here(&self) {
        let mut inner = self.lock();
        inner.compacted = inner.rv;
        inner.history.clear();
    }

    /// The live feed of every change from now on. Lagging receivers get `RecvError::Lagged`
    /// and should end their watch (clients relist, as after a real watch drop).
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.feed.subscribe()
    }

    /// For a watch resuming after `resource_version`: the kept events newer than it, and a
    /// receiver for everything after those, with no gap and no overlap.
    /// [`StoreError::Gone`] when the history no longer reaches back that far.
    pub fn watch_from(
        &self,
        resource_version: u64,
    ) -> Result<(Vec<WatchEvent>, broadcast::Receiver<WatchEvent>), StoreError> {
        let inner = self.lock();
        if resource_version < inner.compacted {
            return Err(StoreError::Gone {
                requested: resource_version,
                oldest: inner.compacted,
            });
        }
        let past = inner
            .history
            .iter()
            .filter(|e| e.resource_version > resource_version)
            .cloned()
            .collect();
        Ok((past, self.feed.subscribe()))
    }

    /// For a watch starting "now" (resourceVersion unset or "0"): the current objects that
    /// `filter` accepts, the version they are consistent at, and a receiver for what follows.
    pub fn list_and_subscribe(
        &self,
        resource: &str,
        namespace: Option<&str>,
        filter: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, u64, broadcast::Receiver<WatchEvent>) {
        let inner = self.lock();
        let objects = Self::select(&inner, resource, namespace, &filter);
        (objects, inner.rv, self.feed.subscribe())
    }

    /// The stored object at `key`, or NotFound.
    fn current(inner: &Inner, key: &Key) -> Result<Value, StoreError> {
        inner
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                resource: key.resource.clone(),
                name: key.name.clone(),
            })
    }

    /// Stores a changed object under the next resourceVersion (removing it instead when its
    /// deletion is complete) and publishes the event.
    fn commit(
        &self,
        inner: &mut Inner,
        resource: &str,
        key: Key,
        old: Value,
        mut new: Value,
    ) -> Value {
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        if deletion_complete(resource, &new) {
            inner.objects.remove(&key);
            self.publish(inner, EventKind::Deleted, key, new.clone(), Some(old));
        } else {
            inner.objects.insert(key.clone(), new.clone());
            self.publish(inner, EventKind::Modified, key, new.clone(), Some(old));
        }
        new
    }

    fn publish(
        &self,
        inner: &mut Inner,
        kind: EventKind,
        key: Key,
        object: Value,
        previous: Option<Value>,
    ) {
        let event = WatchEvent {
            kind,
            key,
            resource_version: inner.rv,
            object: Arc::new(object),
            previous: previous.map(Arc::new),
        };
        if inner.history.len() >= self.history_cap
            && let Some(dropped) = inner.history.pop_front()
        {
            inner.compacted = dropped.resource_version;
        }
        inner.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.feed.send(event);
    }
}

/// Whether a terminating object may go now (see the module docs on deletion).
fn deletion_complete(resource: &str, object: &Value) -> bool {
    let meta = &object["metadata"];
    if meta.get("deletionTimestamp").is_none() {
        return false;
    }
    let finalizers_empty = meta
        .get("finalizers")
        .and_then(Value::as_array)
        .is_none_or(|f| f.is_empty());
    let stopped = match resource {
        "pods" => {
            meta.get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                == Some(0)
        }
        // The namespace controller empties `spec.finalizers` once the contents are gone.
        "namespaces" => object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty()),
        _ => true,
    };
    finalizers_empty && stopped
}

/// Whether anything outside `metadata` and `status` differs (what bumps `generation`).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// The string at a JSON pointer, or `""` (names, namespaces and versions are all strings).
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `object.metadata` as a map, created (and `object` made an object) if missing.
pub fn metadata_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let map = object.as_object_mut().expect("just made an object");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("just made an object")
}

/// Now, in the API's `metav1.Time` wire format (RFC 3339, whole seconds, UTC).
pub fn timestamp() -> String {
    format_time(jiff::Timestamp::now())
}

/// Now, in the `metav1.MicroTime` wire format (Events' `eventTime`).
pub fn micro_timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// `at` in the `metav1.Time` wire format.
pub fn format_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random version-4 UUID, the form of `metadata.uid`.
pub fn new_uid() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// Five characters from the API server's alphabet for `generateName` (no vowels, no 0/1/3).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default"}, "spec": {"containers": []}})
    }

    #[test]
    fn create_assigns_server_fields_and_rejects_duplicates() {
        let store = Store::default();
        let created = store.create("pods", pod("a")).unwrap();
        assert_eq!(str_at(&created, "/metadata/resourceVersion"), "2");
        assert_eq!(str_at(&created, "/metadata/uid").len(), 36);
        assert!(matches!(
            store.create("pods", pod("a")),
            Err(StoreError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn update_checks_resource_version_and_no_op_keeps_it() {
        let store = Store::default();
        let created = store.create("pods", pod("a")).unwrap();
        let same = store.update("pods", created.clone()).unwrap();
        assert_eq!(same, created);
        let mut stale = created.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        stale["spec"]["x"] = json!(1);
        assert!(matches!(
            store.update("pods", stale),
            Err(StoreError::Conflict { .. })
        ));
        let mut changed = created;
        changed["spec"]["x"] = json!(1);
        let changed = store.update("pods", changed).unwrap();
        assert_eq!(changed["metadata"]["generation"], json!(2));
    }

    #[test]
    fn pods_wait_for_the_kubelet_and_finalizers_hold_objects() {
        let store = Store::default();
        store.create("pods", pod("a")).unwrap();
        store.mark_deleted("pods", "default", "a", 30).unwrap();
        assert!(store.get("pods", "default", "a").is_some());
        store.finish_deletion("pods", "default", "a").unwrap();
        assert!(store.get("pods", "default", "a").is_none());

        let mut held = pod("b");
        held["metadata"]["finalizers"] = json!(["x"]);
        store.create("configmaps", held).unwrap();
        store.mark_deleted("configmaps", "default", "b", 0).unwrap();
        assert!(store.get("configmaps", "default", "b").is_some());
        store
            .modify("configmaps", "default", "b", |o| {
                o["metadata"]["finalizers"] = json!([]);
            })
            .unwrap();
        assert!(store.get("configmaps", "default", "b").is_none());
    }

    #[test]
    fn watch_from_replays_and_reports_gone() {
        let store = Store::new(2);
        for n in ["a", "b", "c"] {
            store.create("pods", pod(n)).unwrap();
        }
        let (past, _rx) = store.watch_from(3).unwrap();
        assert_eq!(past.len(), 1);
        assert!(matches!(store.watch_from(1), Err(StoreError::Gone { .. })));
    }
}
