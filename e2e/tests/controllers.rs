//! The controllers: Deployments and ReplicaSets, Jobs (completion, failure, deadlines, TTL),
//! PVC binding, the scheduler, graceful pod deletion, and garbage collection by ownerReference.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Cluster, eventually};

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

fn job(name: &str, script: &str, extra: Value) -> Job {
    let mut spec = json!({"template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", script]}]}}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

fn condition(job: &Job, kind: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test]
async fn deployments_roll_out_replica_sets_with_status() {
    let cluster = Cluster::start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(cluster.client.clone());
    let sets: Api<ReplicaSet> = Api::default_namespaced(cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    let spec = |image: &str| {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image, "command": ["sleep", "300"]}]}}}})
    };
    deployments
        .create(&PostParams::default(), &object(spec("busybox:1.36")))
        .await
        .unwrap();
    let done = eventually(20, "deployment available", || async {
        let d = deployments.get("web").await.ok()?;
        let s = d.status.clone()?;
        (s.available_replicas == Some(2) && s.updated_replicas == Some(2)).then_some(d)
    })
    .await;
    let status = done.status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    let conditions: Vec<(String, String, Option<String>)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status, c.reason))
        .collect();
    assert_eq!(
        conditions,
        vec![
            (
                "Available".into(),
                "True".into(),
                Some("MinimumReplicasAvailable".into())
            ),
            (
                "Progressing".into(),
                "True".into(),
                Some("NewReplicaSetAvailable".into())
            ),
        ]
    );
    let first = sets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(first.len(), 1);
    let hash = first[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        first[0].metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let pod_list = pods
        .list(&ListParams::default().labels(&format!("pod-template-hash={hash}")))
        .await
        .unwrap()
        .items;
    assert_eq!(pod_list.len(), 2);
    assert!(
        pod_list
            .iter()
            .all(|p| p.metadata.owner_references.as_ref().unwrap()[0].kind == "ReplicaSet")
    );

    // A new template makes a new ReplicaSet; the old one scales to 0.
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "busybox:1.37"}]}}}}))).await.unwrap();
    eventually(20, "rollout to the new replica set", || async {
        let sets = sets.list(&ListParams::default()).await.ok()?.items;
        let replicas: Vec<i32> = sets
            .iter()
            .map(|s| s.spec.as_ref().unwrap().replicas.unwrap())
            .collect();
        let d = deployments.get("web").await.ok()?;
        (sets.len() == 2
            && replicas.contains(&0)
            && replicas.contains(&2)
            && d.status?.observed_generation == Some(2))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn jobs_complete_fail_expire_and_label_their_pods() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::default_namespaced(cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    jobs.create(&PostParams::default(), &job("ok", "echo done", json!({})))
        .await
        .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("bad", "exit 2", json!({"backoffLimit": 0})),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("slow", "sleep 300", json!({"activeDeadlineSeconds": 1})),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("brief", "true", json!({"ttlSecondsAfterFinished": 0})),
    )
    .await
    .unwrap();
    let ok = eventually(20, "job ok complete", || async {
        let j = jobs.get("ok").await.ok()?;
        condition(&j, "Complete").map(|_| j)
    })
    .await;
    assert_eq!(ok.status.as_ref().unwrap().succeeded, Some(1));
    assert!(condition(&ok, "SuccessCriteriaMet").is_some());
    let bad = eventually(20, "job bad failed", || async {
        let j = jobs.get("bad").await.ok()?;
        condition(&j, "Failed").map(|_| j)
    })
    .await;
    assert_eq!(
        condition(&bad, "Failed").unwrap(),
        (
            "BackoffLimitExceeded".into(),
            "Job has reached the specified backoff limit".into()
        )
    );
    let slow = eventually(20, "job slow past its deadline", || async {
        let j = jobs.get("slow").await.ok()?;
        condition(&j, "Failed").map(|_| j)
    })
    .await;
    assert_eq!(condition(&slow, "Failed").unwrap().0, "DeadlineExceeded");
    eventually(20, "job brief deleted by its TTL", || async {
        jobs.get_opt("brief").await.ok()?.is_none().then_some(())
    })
    .await;

    let job_pods = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=ok"))
        .await
        .unwrap()
        .items;
    assert_eq!(job_pods.len(), 1);
    let labels = job_pods[0].metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels["batch.kubernetes.io/controller-uid"],
        ok.metadata.uid.clone().unwrap()
    );
    assert_eq!(labels["job-name"], "ok");
}

#[tokio::test]
async fn deleting_a_job_without_a_policy_orphans_its_pods() {
    let cluster = Cluster::start().await;
    let jobs: Api<Job> = Api::default_namespaced(cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    jobs.create(
        &PostParams::default(),
        &job("orphan", "sleep 300", json!({})),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("cascade", "sleep 300", json!({})),
    )
    .await
    .unwrap();
    let pod_of = |name: &'static str| {
        let pods = pods.clone();
        async move {
            eventually(20, "the job's pod", || async {
                pods.list(&ListParams::default().labels(&format!("job-name={name}")))
                    .await
                    .ok()?
                    .items
                    .into_iter()
                    .next()
            })
            .await
        }
    };
    let orphan = pod_of("orphan").await.metadata.name.unwrap();
    let cascaded = pod_of("cascade").await.metadata.name.unwrap();
    jobs.delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    jobs.delete("cascade", &DeleteParams::background())
        .await
        .unwrap();
    eventually(20, "the orphan loses its owner", || async {
        let pod = pods.get(&orphan).await.ok()?;
        pod.metadata
            .owner_references
            .is_none_or(|r| r.is_empty())
            .then_some(())
    })
    .await;
    eventually(20, "the cascaded pod goes", || async {
        pods.get_opt(&cascaded).await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(jobs.get_opt("orphan").await.unwrap().is_none());
    assert!(
        pods.get_opt(&orphan).await.unwrap().is_some(),
        "orphaned pods stay"
    );
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents_and_namespaces_empty_out() {
    let cluster = Cluster::start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    deployments.create(&PostParams::default(), &object(json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"terminationGracePeriodSeconds": 2,
            "containers": [{"name": "web", "image": "busybox:1.36", "command": ["sh", "-c", "trap '' TERM; sleep 300"]}]}}}}))).await.unwrap();
    eventually(20, "a running pod", || async {
        let list = pods
            .list(&ListParams::default().fields("status.phase=Running"))
            .await
            .ok()?;
        (!list.items.is_empty()).then_some(())
    })
    .await;
    deployments
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    let held = deployments
        .get("web")
        .await
        .expect("held by its dependents");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        held.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    eventually(20, "deployment gone after its pods", || async {
        let gone = deployments.get_opt("web").await.ok()?.is_none();
        let pods_left = pods.list(&ListParams::default()).await.ok()?.items.len();
        (gone && pods_left == 0).then_some(())
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "scratch"}})),
        )
        .await
        .unwrap();
    let scratch_pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "scratch");
    scratch_pods.create(&PostParams::default(), &object(json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "300"]}]}}))).await.unwrap();
    namespaces
        .delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("scratch").await;
    if let Ok(ns) = terminating {
        assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
        let refused = scratch_pods.create(&PostParams::default(), &object(json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}))).await.unwrap_err();
        assert_eq!(support::status_of(refused).0, 403);
    }
    eventually(30, "namespace gone", || async {
        namespaces
            .get_opt("scratch")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn claims_bind_and_pods_delete_gracefully() {
    let cluster = Cluster::start().await;
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(cluster.client.clone());
    claims.create(&PostParams::default(), &object(json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))).await.unwrap();
    let bound = eventually(20, "claim bound", || async {
        let c = claims.get("data").await.ok()?;
        (c.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(c)
    })
    .await;
    assert_eq!(
        bound.spec.unwrap().volume_name,
        Some(format!("pvc-{}", bound.metadata.uid.unwrap()))
    );

    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    // `sleep` is its container's PID 1 (the kubelet gives containers a PID namespace), so it
    // ignores SIGTERM and is SIGKILLed only when the grace period ends, as on a real cluster:
    // keep the grace short.
    pods.create(
        &PostParams::default(),
        &object(
            json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 3,
        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "300"]}]}}),
        ),
    )
    .await
    .unwrap();
    eventually(20, "pod running", || async {
        (pods.get("p").await.ok()?.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let scheduled = pods.get("p").await.unwrap();
    assert_eq!(
        scheduled.spec.unwrap().node_name.as_deref(),
        Some("kube-sim")
    );
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("p").await.expect("still there while it stops");
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(3));
    assert!(terminating.metadata.deletion_timestamp.is_some());
    eventually(20, "pod gone once stopped", || async {
        pods.get_opt("p").await.ok()?.is_none().then_some(())
    })
    .await;
    // Never scheduled: removed at once.
    cluster
        .handle
        .sim()
        .faults
        .update(|f| f.unschedulable.push("*".into()));
    pods.create(&PostParams::default(), &object(json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}))).await.unwrap();
    pods.delete("q", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("q").await.unwrap().is_none());
}
