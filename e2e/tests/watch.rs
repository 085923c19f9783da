//! Watch semantics: resuming from a resourceVersion, 410 Gone for compacted history, the
//! watch-list bookmark, selector exits as DELETED, and timeouts.

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use krun_e2e::sim::SimOptions;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use support::Cluster;

fn cm(name: &str, tier: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
        .expect("configmap")
}

/// The next event within 5 s.
async fn next<S>(stream: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5s")
        .expect("stream still open")
        .expect("event decodes")
}

fn name_of(event: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match event {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(e) => ("ERROR", e.message.clone()),
    }
}

#[tokio::test]
async fn a_watch_resumes_after_its_resource_version_and_follows_selectors() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    cms.create(&PostParams::default(), &cm("before", "front"))
        .await
        .unwrap();
    let rv = support::list_version(&cms).await;
    cms.create(&PostParams::default(), &cm("after", "front"))
        .await
        .unwrap();
    let mut all = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(name_of(&next(&mut all).await), ("ADDED", "after".into()));

    let mut front = cms
        .watch(&WatchParams::default().labels("tier=front"), "0")
        .await
        .unwrap()
        .boxed();
    let mut initial = vec![
        name_of(&next(&mut front).await).1,
        name_of(&next(&mut front).await).1,
    ];
    initial.sort();
    assert_eq!(initial, vec!["after".to_string(), "before".to_string()]);
    // Leaving the selector reads as DELETED; coming back as ADDED.
    let relabel = |tier: &str| json!({"metadata": {"labels": {"tier": tier}}});
    cms.patch(
        "after",
        &PatchParams::default(),
        &Patch::Merge(relabel("back")),
    )
    .await
    .unwrap();
    assert_eq!(
        name_of(&next(&mut front).await),
        ("DELETED", "after".into())
    );
    cms.patch(
        "after",
        &PatchParams::default(),
        &Patch::Merge(relabel("front")),
    )
    .await
    .unwrap();
    assert_eq!(name_of(&next(&mut front).await), ("ADDED", "after".into()));
    assert_eq!(name_of(&next(&mut all).await), ("MODIFIED", "after".into()));
}

#[tokio::test]
async fn a_compacted_resource_version_gets_410_gone() {
    let cluster = Cluster::start_with(SimOptions {
        watch_history: 3,
        ..SimOptions::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    for i in 0..6 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: 2 ("),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn watch_list_ends_initial_events_with_a_bookmark_and_timeouts_end_streams() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    cms.create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().initial_events(), "")
        .await
        .unwrap()
        .boxed();
    assert_eq!(name_of(&next(&mut stream).await), ("ADDED", "a".into()));
    match next(&mut stream).await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            );
        }
        other => panic!("expected the initial-events bookmark, got {other:?}"),
    }
    let started = tokio::time::Instant::now();
    let timed = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap();
    let events: Vec<_> =
        tokio::time::timeout(Duration::from_secs(5), timed.try_collect::<Vec<_>>())
            .await
            .expect("the watch ends by itself")
            .expect("clean end");
    assert_eq!(events.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
}
