//! Watch: a chunked stream of `{"type": …, "object": …}` lines, as the API server sends it.
//!
//! - No `resourceVersion` or `"0"`: synthetic ADDED events for the current objects, then changes.
//! - `resourceVersion=N`: every change after N; N older than the kept history gets one ERROR
//!   event carrying a 410 `Expired` Status (the stream then ends), as after an etcd compaction.
//! - `sendInitialEvents=true`: the current objects, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end: "true"` (watch-list).
//! - With a selector, an object that stops matching is reported DELETED and one that starts
//!   matching ADDED, as the watch cache does.
//! - `allowWatchBookmarks=true`: BOOKMARK events with the current resourceVersion periodically.
//! - `timeoutSeconds` ends the stream cleanly; faults can cut it abruptly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::selector::Selectors;
use super::status::ApiError;
use super::{Target, table};
use crate::sim::{Body, Sim};
use crate::store::{EventKind, StoreError, WatchEvent};

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

/// The API server's default watch timeout when the client gives none (its minimum request timeout).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// What a watch request asked for.
pub struct WatchParams {
    /// `resourceVersion` (`None` when unset or empty).
    pub resource_version: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub initial_events: bool,
    /// Table output (kubectl `get -w`).
    pub table: bool,
}

type Sender = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

/// Starts a watch; the response streams until timeout, shut-down or the client leaves.
pub fn serve(
    sim: Arc<Sim>,
    target: &Target,
    selectors: Selectors,
    params: WatchParams,
) -> Result<Response<Body>, ApiError> {
    let resource = target.resource;
    let namespace = target.namespace.clone();
    let name = target.name.clone();
    let wanted = move |key: &crate::store::Key| {
        key.resource == resource.plural
            && namespace.as_ref().is_none_or(|ns| *ns == key.namespace)
            && name.as_ref().is_none_or(|n| *n == key.name)
    };
    let matches = {
        let wanted = wanted.clone();
        move |object: &Value| {
            let key = crate::store::Key::new(
                resource.plural,
                crate::store::str_at(object, "/metadata/namespace"),
                crate::store::str_at(object, "/metadata/name"),
            );
            wanted(&key) && selectors.matches(object)
        }
    };

    let start = match params.resource_version.as_deref() {
        Some(rv) if rv != "0" && !params.initial_events => {
            let rv: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
            let gone = if sim.faults.take_watch_gone() {
                Err(StoreError::Gone {
                    requested: rv,
                    oldest: sim.store.resource_version(),
                })
            } else {
                sim.store.watch_from(rv)
            };
            match gone {
                Ok((past, rx)) => Start::Resume(rv, past, rx),
                Err(e) => Start::Gone(e.to_string()),
            }
        }
        _ => {
            let (objects, rv, rx) = sim.store.list_and_subscribe(
                resource.plural,
                target.namespace.as_deref(),
                &matches,
            );
            Start::Fresh(objects, rv, rx)
        }
    };

    let (mut tx, rx) = mpsc::channel(64);
    let timeout = params.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let drop_after = sim
        .faults
        .stream_drop("watch", target.namespace.as_deref().unwrap_or(""));
    let kind = resource.kind;
    let api_version = resource.api_version();
    let table = params.table;
    let bookmarks = params.bookmarks;
    let initial_events = params.initial_events;
    let sim2 = sim.clone();
    tokio::spawn(async move {
        let run = async {
            let (mut feed, mut last_rv) = match start {
                Start::Gone(message) => {
                    let status = ApiError::gone(message).to_status();
                    let _ = send(&mut tx, "ERROR", status).await;
                    return;
                }
                Start::Fresh(objects, rv, feed) => {
                    for object in objects {
                        if send(&mut tx, "ADDED", render(resource.plural, object, table))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    if initial_events && bookmarks {
                        let mut mark = bookmark(kind, &api_version, rv);
                        mark["metadata"]["annotations"] =
                            json!({"k8s.io/initial-events-end": "true"});
                        if send(&mut tx, "BOOKMARK", mark).await.is_err() {
                            return;
                        }
                    }
                    (feed, rv)
                }
                Start::Resume(from, past, feed) => {
                    let mut last = from;
                    for event in past {
                        last = event.resource_version;
                        if forward(&mut tx, &event, &wanted, &matches, table, resource.plural)
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    (feed, last)
                }
            };
            let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
            ticker.tick().await;
            loop {
                tokio::select! {
                    event = feed.recv() => match event {
                        Ok(event) => {
                            if event.resource_version <= last_rv {
                                continue;
                            }
                            last_rv = event.resource_version;
                            if forward(&mut tx, &event, &wanted, &matches, table, resource.plural).await.is_err() {
                                return;
                            }
                        }
                        // Too slow or store gone: end the watch; the client relists.
                        Err(RecvError::Lagged(_) | RecvError::Closed) => return,
                    },
                    _ = ticker.tick(), if bookmarks => {
                        let rv = sim2.store.resource_version().max(last_rv);
                        if send(&mut tx, "BOOKMARK", bookmark(kind, &api_version, rv)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let cut = async {
            match drop_after {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = run => {}
            _ = tokio::time::sleep(timeout) => {}
            _ = sim2.shutdown.cancelled() => {}
            _ = cut => {
                let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected watch drop"))).await;
            }
        }
    });

    let body = StreamBody::new(rx).boxed();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

enum Start {
    Gone(String),
    Fresh(
        Vec<Value>,
        u64,
        tokio::sync::broadcast::Receiver<WatchEvent>,
    ),
    Resume(
        u64,
        Vec<WatchEvent>,
        tokio::sync::broadcast::Receiver<WatchEvent>,
    ),
}

fn bookmark(kind: &str, api_version: &str, rv: u64) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null}})
}

fn render(resource: &str, object: Value, table: bool) -> Value {
    if table {
        let rv = crate::store::str_at(&object, "/metadata/resourceVersion").to_owned();
        table::table(resource, &[object], json!({"resourceVersion": rv}))
    } else {
        object
    }
}

/// Sends one store event if this watch wants it, turning selector exits and entries into
/// DELETED and ADDED.
async fn forward(
    tx: &mut Sender,
    event: &WatchEvent,
    wanted: &impl Fn(&crate::store::Key) -> bool,
    matches: &impl Fn(&Value) -> bool,
    table: bool,
    resource: &str,
) -> Result<(), ()> {
    if !wanted(&event.key) {
        return Ok(());
    }
    let now = matches(&event.object);
    let before = event.previous.as_deref().is_some_and(matches);
    let kind = match (event.kind, before, now) {
        (EventKind::Added, _, true) => "ADDED",
        (EventKind::Deleted, true, _) | (EventKind::Deleted, _, true) => "DELETED",
        (EventKind::Modified, true, true) => "MODIFIED",
        (EventKind::Modified, false, true) => "ADDED",
        (EventKind::Modified, true, false) => "DELETED",
        _ => return Ok(()),
    };
    send(tx, kind, render(resource, (*event.object).clone(), table)).await
}

async fn send(tx: &mut Sender, kind: &str, object: Value) -> Result<(), ()> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    tx.send(Ok(Frame::data(Bytes::from(line))))
        .await
        .map_err(|_| ())
}
