//! Shared set-up for the kubelet and streams tests: a simulator, a kube-rs client pointed at it,
//! and bounded waits on pod status.

#![allow(dead_code)] // each test crate uses a different subset

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use krun_e2e::sim::{SimHandle, SimOptions, start};
use kube::Api;
use kube::api::PostParams;
use serde_json::Value;

/// A running simulator and a client for its `default` namespace.
pub struct Cluster {
    /// The simulator.
    pub handle: SimHandle,
    /// Pods in `default`.
    pub pods: Api<Pod>,
}

impl Cluster {
    /// Starts a simulator on an ephemeral port.
    pub async fn start() -> Self {
        let handle = start(SimOptions::default()).await.expect("kube-sim starts");
        let mut config = kube::Config::new(handle.url().parse().expect("url"));
        config.default_namespace = "default".into();
        let client = kube::Client::try_from(config).expect("client");
        Cluster {
            pods: Api::namespaced(client, "default"),
            handle,
        }
    }

    /// Whether containers run isolated (root + busybox-static); prints why a test skips if not.
    pub fn isolated_or_skip(&self, test: &str) -> bool {
        let isolated = self.handle.sim().kubelet.isolated();
        if !isolated {
            eprintln!(
                "skipping {test}: needs root and busybox-static (/bin/busybox) for container isolation"
            );
        }
        isolated
    }

    /// Creates a pod from JSON (name, containers…; `default` namespace).
    pub async fn create(&self, pod: Value) -> Pod {
        let pod: Pod = serde_json::from_value(pod).expect("pod json");
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod")
    }

    /// Polls the pod until `done` holds (panics with the last state after `secs`).
    pub async fn wait(&self, name: &str, secs: u64, done: impl Fn(&Pod) -> bool) -> Pod {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let pod = self.pods.get_opt(name).await.expect("get pod");
            if let Some(pod) = pod {
                if done(&pod) {
                    return pod;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!("timed out waiting on pod {name}: {:#?}", pod.status);
                }
            } else if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting on pod {name}: it does not exist");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the pod is gone.
    pub async fn wait_gone(&self, name: &str, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.pods.get_opt(name).await.expect("get pod").is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pod {name} still exists"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole log of the pod's (only) container.
    pub async fn logs(&self, name: &str) -> String {
        self.pods
            .logs(name, &kube::api::LogParams::default())
            .await
            .expect("pod log")
    }

    /// The events about `name`, as `reason: message` lines.
    pub fn events(&self, name: &str) -> Vec<String> {
        let (events, _) = self
            .handle
            .sim()
            .store
            .list("events", Some("default"), |e| {
                e["involvedObject"]["name"] == name
            });
        events
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["reason"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }
}

/// The status of container `name` (regular or init).
pub fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
}

/// The pod's phase.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The waiting reason of container `name`, if waiting.
pub fn waiting_reason<'a>(pod: &'a Pod, name: &str) -> Option<&'a str> {
    container(pod, name)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .as_deref()
}

/// A one-container busybox pod running `script` with `sh -c`.
pub fn shell_pod(name: &str, script: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}]},
    })
}

/// Bounds a whole test.
pub async fn bounded<F: std::future::Future>(secs: u64, test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("test timed out")
}
