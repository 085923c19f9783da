//! Fault injection and the request log: HTTP error bursts and slow responses, unschedulable
//! pods, image pull failures, dropped and expired watches; in-process, over the admin endpoint,
//! and from the binary's `--faults` file.

mod support;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use krun_e2e::faults::{FaultConfig, Forbidden, HttpFault, StreamDrop};
use krun_e2e::sim::SimOptions;
use kube::Api;
use kube::api::{ListParams, PostParams, WatchParams};
use serde_json::json;
use support::{Cluster, eventually, raw};

fn pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "60"]}]}})).expect("pod")
}

/// The first container's waiting reason, if it is waiting.
async fn waiting_reason(pods: &Api<Pod>, name: &str) -> Option<String> {
    let status = pods.get(name).await.ok()?.status?;
    status
        .container_statuses?
        .first()?
        .state
        .clone()?
        .waiting?
        .reason
}

#[tokio::test]
async fn http_faults_burst_then_recover_and_slow_responses_wait() {
    let cluster = Cluster::start().await;
    cluster.handle.sim().faults.update(|f| {
        f.http.push(HttpFault {
            method: "GET".into(),
            path: "/api/v1/namespaces/*/configmaps".into(),
            status: Some(500),
            count: Some(2),
            ..Default::default()
        });
        f.http.push(HttpFault {
            path: "/api/v1/namespaces/default/secrets".into(),
            delay_ms: 300,
            ..Default::default()
        });
    });
    let path = "/api/v1/namespaces/default/configmaps";
    assert_eq!(raw(&cluster.client, "GET", path, "", "").await.0, 500);
    assert_eq!(raw(&cluster.client, "GET", path, "", "").await.0, 500);
    assert_eq!(raw(&cluster.client, "GET", path, "", "").await.0, 200);
    let started = std::time::Instant::now();
    assert_eq!(
        raw(
            &cluster.client,
            "GET",
            "/api/v1/namespaces/default/secrets",
            "",
            ""
        )
        .await
        .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    let log = cluster.handle.sim().requests.entries();
    let statuses: Vec<Option<u16>> = log
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(200)]);
}

#[tokio::test]
async fn unschedulable_pods_stay_pending_with_a_failed_scheduling_event() {
    let cluster = Cluster::start_with(SimOptions {
        faults: FaultConfig {
            unschedulable: vec!["*/stuck*".into()],
            ..Default::default()
        },
        ..SimOptions::default()
    })
    .await;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    pods.create(&PostParams::default(), &pod("p", "example.com/stuck:1"))
        .await
        .unwrap();
    let condition = eventually(10, "PodScheduled=False", || async {
        let pod = pods.get("p").await.ok()?;
        pod.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    // The event is recorded after the condition (as the scheduler does): wait for it too.
    let events: Api<Event> = Api::default_namespaced(cluster.client.clone());
    let params = ListParams::default().fields("involvedObject.name=p,reason=FailedScheduling");
    let list = eventually(10, "a FailedScheduling event", || async {
        let list = events.list(&params).await.ok()?;
        (!list.items.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].type_.as_deref(), Some("Warning"));
    assert!(
        pods.get("p")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .is_none()
    );
}

#[tokio::test]
async fn image_pull_faults_surface_as_err_image_pull() {
    let cluster = Cluster::start().await;
    cluster
        .handle
        .sim()
        .faults
        .update(|f| f.image_pull_error.push("busybox:broken".into()));
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    pods.create(&PostParams::default(), &pod("p", "busybox:broken"))
        .await
        .unwrap();
    eventually(20, "ErrImagePull or ImagePullBackOff", || async {
        let reason = waiting_reason(&pods, "p").await?;
        matches!(reason.as_str(), "ErrImagePull" | "ImagePullBackOff").then_some(())
    })
    .await;
}

#[tokio::test]
async fn crash_loop_and_oom_faults_show_in_container_status() {
    let cluster = Cluster::start().await;
    cluster.handle.sim().faults.update(|f| {
        f.crash_loop.push("busybox:crash".into());
        f.oom_kill.push("busybox:oom".into());
    });
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    pods.create(&PostParams::default(), &pod("crash", "busybox:crash"))
        .await
        .unwrap();
    let mut oom = pod("oom", "busybox:oom");
    oom.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    pods.create(&PostParams::default(), &oom).await.unwrap();
    eventually(30, "CrashLoopBackOff", || async {
        (waiting_reason(&pods, "crash").await? == "CrashLoopBackOff").then_some(())
    })
    .await;
    let terminated = eventually(30, "OOMKilled", || async {
        let status = pods.get("oom").await.ok()?.status?;
        status
            .container_statuses?
            .first()?
            .state
            .clone()?
            .terminated
    })
    .await;
    assert_eq!(
        (terminated.reason.as_deref(), terminated.exit_code),
        (Some("OOMKilled"), 137)
    );
}

#[tokio::test]
async fn watches_can_be_dropped_or_expired() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    cluster.handle.sim().faults.update(|f| {
        // A drop scoped to another namespace leaves this watch alone.
        f.stream_drops.push(StreamDrop {
            kinds: vec!["watch".into()],
            namespace: "elsewhere".into(),
            after_ms: 100,
            count: None,
        });
        f.stream_drops.push(StreamDrop {
            kinds: vec!["watch".into()],
            namespace: "default".into(),
            after_ms: 200,
            count: Some(1),
        });
        f.watch_gone = 1;
    });
    let started = std::time::Instant::now();
    let mut dropped = cms
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = dropped.next().await {}
    })
    .await;
    assert!(
        ended.is_ok() && started.elapsed() < Duration::from_secs(5),
        "the watch was cut"
    );
    let rv = support::list_version(&cms).await;
    let mut expired = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), expired.next())
        .await
        .unwrap()
    {
        Some(Ok(kube::api::WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn the_admin_endpoint_sets_faults_and_serves_the_request_log() {
    let cluster = Cluster::start().await;
    let (code, _) = raw(
        &cluster.client,
        "PUT",
        "/kube-sim/faults",
        "application/yaml",
        "http:\n- path: /api/v1/namespaces/default/pods\n  status: 500\n  count: 1\n",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        raw(
            &cluster.client,
            "GET",
            "/api/v1/namespaces/default/pods",
            "",
            ""
        )
        .await
        .0,
        500
    );
    let (_, faults) = raw(&cluster.client, "GET", "/kube-sim/faults", "", "").await;
    assert_eq!(
        serde_json::from_str::<FaultConfig>(&faults).unwrap(),
        FaultConfig::default(),
        "the counted fault retired"
    );
    let (_, log) = raw(&cluster.client, "GET", "/kube-sim/requests", "", "").await;
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["method"].as_str(),
            last["path"].as_str(),
            last["status"].as_u64()
        ),
        (
            Some("GET"),
            Some("/api/v1/namespaces/default/pods"),
            Some(500)
        )
    );
    let (code, message) = raw(
        &cluster.client,
        "PUT",
        "/kube-sim/faults",
        "application/json",
        "{\"nope\": 1}",
    )
    .await;
    assert_eq!(code, 400, "{message}");
}

#[tokio::test]
async fn the_binary_serves_with_a_fault_file_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.yaml");
    std::fs::write(&faults, "oomKill: ['big:*']\n").unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--faults")
        .arg(&faults)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let text = eventually(20, "the kubeconfig", || async {
        std::fs::read_to_string(&kubeconfig).ok()
    })
    .await;
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(server.starts_with("http://127.0.0.1:"), "{server}");
    let client = kube::Client::try_from(kube::Config::new(server.parse().unwrap())).unwrap();
    let (_, body) = raw(&client, "GET", "/kube-sim/faults", "", "").await;
    assert_eq!(
        serde_json::from_str::<FaultConfig>(&body).unwrap().oom_kill,
        vec!["big:*".to_string()]
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn rbac_denials_and_missing_tokens_read_as_on_a_cluster() {
    let cluster = Cluster::start_with(SimOptions {
        faults: FaultConfig {
            forbidden: vec![Forbidden {
                verb: "create".into(),
                resource: "pods".into(),
                namespace: String::new(),
            }],
            ..Default::default()
        },
        auth_token: Some("kube-sim".into()),
        ..SimOptions::default()
    })
    .await;
    // The support client carries the token; one without it is refused.
    let anonymous =
        kube::Client::try_from(kube::Config::new(cluster.handle.url().parse().unwrap())).unwrap();
    let (code, message) = raw(&anonymous, "GET", "/api/v1/namespaces/default/pods", "", "").await;
    assert_eq!((code, message.as_str()), (401, "Unauthorized"));
    let client = cluster.client.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (code, reason, message) = support::status_of(
        pods.create(&PostParams::default(), &pod("p", "busybox:1.36"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "pods is forbidden: User \"kube-sim\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert!(
        pods.list(&ListParams::default()).await.is_ok(),
        "list is still allowed"
    );
    let review = |verb: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": "pods"}}})
    };
    for (verb, allowed) in [("create", false), ("get", true)] {
        let (code, body) = raw(
            &client,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "application/json",
            &review(verb).to_string(),
        )
        .await;
        assert_eq!(code, 200);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"]["allowed"], allowed, "{verb}");
    }
}
