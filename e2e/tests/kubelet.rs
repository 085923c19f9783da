//! The kubelet against kube-rs, as krun uses it: process lifecycle, status shapes, logs,
//! restarts, probes, faults, deletion.

mod kubelet_support;

use futures::{AsyncBufReadExt, TryStreamExt};
use krun_e2e::faults::FaultConfig;
use kube::api::{DeleteParams, LogParams};
use kubelet_support::{Cluster, bounded, container, phase, shell_pod, waiting_reason};
use serde_json::json;

fn terminated(
    pod: &k8s_openapi::api::core::v1::Pod,
    name: &str,
) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
    container(pod, name)?.state.as_ref()?.terminated.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_follow_keeps_every_line_of_a_command_that_exits_at_once() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create(shell_pod("quick", "echo one; echo two; echo three"))
            .await;
        // Open the log as soon as the container has started (krun's non-TTY path).
        cluster
            .wait("quick", 20, |p| {
                let c = container(p, "main");
                c.and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            })
            .await;
        let params = LogParams {
            follow: true,
            ..LogParams::default()
        };
        let lines: Vec<String> = cluster
            .pods
            .log_stream("quick", &params)
            .await
            .unwrap()
            .lines()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(lines, vec!["one", "two", "three"]);
        let pod = cluster.wait("quick", 20, |p| phase(p) == "Succeeded").await;
        let t = terminated(&pod, "main").unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        let status = container(&pod, "main").unwrap();
        assert_eq!(status.image, "docker.io/library/busybox:1.36");
        assert!(
            status
                .container_id
                .as_deref()
                .unwrap()
                .starts_with("containerd://")
        );
        let events = cluster.events("quick");
        for reason in ["Pulling", "Pulled", "Created", "Started"] {
            assert!(
                events.iter().any(|e| e.starts_with(reason)),
                "{reason} missing from {events:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_start_errors_and_expansion() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create(shell_pod("three", "echo bye >&2; exit 3"))
            .await;
        let mut missing = shell_pod("missing", "");
        missing["spec"]["containers"][0]["command"] = json!(["no-such-command"]);
        cluster.create(missing).await;
        let mut expand = shell_pod("expand", "");
        expand["spec"]["containers"][0]["env"] = json!([
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-$(UNDEFINED)-$$(A)"},
        ]);
        expand["spec"]["containers"][0]["command"] =
            json!(["sh", "-c", "echo \"$B\" $(A) $$HOSTNAME"]);
        cluster.create(expand).await;

        let pod = cluster.wait("three", 20, |p| phase(p) == "Failed").await;
        let t = terminated(&pod, "main").unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));

        let pod = cluster.wait("missing", 20, |p| phase(p) == "Failed").await;
        let t = terminated(&pod, "main").unwrap();
        assert_eq!(
            (t.exit_code, t.reason.as_deref()),
            (128, Some("StartError"))
        );
        let message = t.message.unwrap();
        assert!(
            message.contains("exec: \"no-such-command\": executable file not found in $PATH"),
            "{message}"
        );

        cluster
            .wait("expand", 20, |p| phase(p) == "Succeeded")
            .await;
        let out = cluster.logs("expand").await;
        assert_eq!(out, "a-$(UNDEFINED)-$(A) a expand\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_failures_look_like_a_kubelet() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let mut unknown = shell_pod("unknown", "true");
        unknown["spec"]["containers"][0]["image"] = json!("example.com/nope:1");
        cluster.create(unknown).await;
        let mut never = shell_pod("never", "true");
        never["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
        cluster.create(never).await;

        let pod = cluster.wait("unknown", 20, |p| waiting_reason(p, "main") == Some("ImagePullBackOff")).await;
        assert_eq!(phase(&pod), "Pending");
        let events = cluster.events("unknown");
        assert!(events.iter().any(|e| e.starts_with("Failed: Failed to pull image \"example.com/nope:1\"")), "{events:?}");
        assert!(events.iter().any(|e| e == "Failed: Error: ErrImagePull"), "{events:?}");
        let err = cluster.pods.logs("unknown", &LogParams::default()).await.unwrap_err();
        assert!(
            err.to_string().contains("container \"main\" in pod \"unknown\" is waiting to start: trying and failing to pull image"),
            "{err}"
        );

        let pod = cluster.wait("never", 20, |p| waiting_reason(p, "main") == Some("ErrImageNeverPull")).await;
        let waiting = container(&pod, "main").unwrap().state.clone().unwrap().waiting.unwrap();
        assert_eq!(
            waiting.message.as_deref(),
            Some("Container image \"busybox:1.36\" is not present with pull policy of Never")
        );

        cluster.handle.sim().faults.set(FaultConfig { image_pull_error: vec!["busybox:*".into()], ..Default::default() });
        cluster.create(shell_pod("faulty", "true")).await;
        cluster.wait("faulty", 20, |p| waiting_reason(p, "main") == Some("ErrImagePull")).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_back_off_and_keep_the_previous_log() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let mut pod = shell_pod("crash", "echo run; exit 1");
        pod["spec"]["restartPolicy"] = json!("Always");
        cluster.create(pod).await;
        let pod = cluster
            .wait("crash", 30, |p| {
                waiting_reason(p, "main") == Some("CrashLoopBackOff")
            })
            .await;
        let status = container(&pod, "main").unwrap();
        assert_eq!(status.restart_count, 1);
        let last = status
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(last.exit_code, 1);
        assert_eq!(phase(&pod), "Running");
        let message = status
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .message
            .clone()
            .unwrap();
        assert!(
            message.starts_with("back-off 10s restarting failed container=main pod=crash_default("),
            "{message}"
        );
        let previous = cluster
            .pods
            .logs(
                "crash",
                &LogParams {
                    previous: true,
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(previous, "run\n");
        assert!(
            cluster
                .events("crash")
                .iter()
                .any(|e| e.starts_with("BackOff: Back-off restarting failed container main"))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_fault_kills_with_137() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster.handle.sim().faults.set(FaultConfig {
            oom_kill: vec!["busybox:*".into()],
            ..Default::default()
        });
        cluster.create(shell_pod("hog", "sleep 30")).await;
        let pod = cluster.wait("hog", 20, |p| phase(p) == "Failed").await;
        let t = terminated(&pod, "main").unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probe_flips_ready() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let flag = format!("/tmp/kube-sim-ready-{}", std::process::id());
        let mut pod = shell_pod("probed", &format!("sleep 2; touch {flag}; sleep 30"));
        pod["spec"]["containers"][0]["readinessProbe"] = json!({
            "exec": {"command": ["cat", flag]}, "periodSeconds": 1, "failureThreshold": 1});
        cluster.create(pod).await;
        let ready = |p: &k8s_openapi::api::core::v1::Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.status.clone())
        };
        let pod = cluster
            .wait("probed", 20, |p| {
                container(p, "main").is_some_and(|c| c.started == Some(true))
            })
            .await;
        assert_eq!(ready(&pod).as_deref(), Some("False"));
        assert!(!container(&pod, "main").unwrap().ready);
        let pod = cluster
            .wait("probed", 20, |p| ready(p).as_deref() == Some("True"))
            .await;
        assert!(container(&pod, "main").unwrap().ready);
        assert!(
            cluster
                .events("probed")
                .iter()
                .any(|e| e.starts_with("Unhealthy: Readiness probe failed: "))
        );
        let _ = std::fs::remove_file(&flag);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_is_graceful_then_forced() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create({
                let mut pod = shell_pod(
                    "polite",
                    "trap 'echo term; exit 0' TERM; while true; do sleep 0.1; done",
                );
                // A long grace, so only the trap can make the deletion quick.
                pod["spec"]["terminationGracePeriodSeconds"] = json!(30);
                pod
            })
            .await;
        cluster
            .create(shell_pod(
                "stubborn",
                "trap '' TERM; while true; do sleep 0.1; done",
            ))
            .await;
        for name in ["polite", "stubborn"] {
            cluster.wait(name, 20, |p| phase(p) == "Running").await;
        }
        let started = std::time::Instant::now();
        cluster
            .pods
            .delete("polite", &DeleteParams::default())
            .await
            .unwrap();
        cluster.wait_gone("polite", 10).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );

        let started = std::time::Instant::now();
        cluster
            .pods
            .delete("stubborn", &DeleteParams::default().grace_period(1))
            .await
            .unwrap();
        cluster.wait_gone("stubborn", 10).await;
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert!(
            cluster
                .events("stubborn")
                .iter()
                .any(|e| e == "Killing: Stopping container main")
        );

        // krun's second Ctrl-C: a delete with a long grace, then one with grace 0, which must
        // not wait for the first one's grace period.
        cluster
            .create(shell_pod(
                "second",
                "trap '' TERM; while true; do sleep 0.1; done",
            ))
            .await;
        cluster.wait("second", 20, |p| phase(p) == "Running").await;
        let sim = cluster.handle.sim();
        let run = sim
            .kubelet
            .run_of("default", "second", "main", false)
            .unwrap();
        let proc_dir = format!("/proc/{}", run.process.as_ref().unwrap().pid);
        cluster
            .pods
            .delete("second", &DeleteParams::default().grace_period(30))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let _ = cluster
            .pods
            .delete("second", &DeleteParams::default().grace_period(0))
            .await;
        cluster.wait_gone("second", 10).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::path::Path::new(&proc_dir).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the process outlived a grace-0 delete"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_fails_the_pod() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let mut pod = shell_pod("late", "sleep 30");
        pod["spec"]["activeDeadlineSeconds"] = json!(1);
        cluster.create(pod).await;
        let pod = cluster.wait("late", 20, |p| phase(p) == "Failed").await;
        let status = pod.status.unwrap();
        assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(
            status.message.as_deref(),
            Some("Pod was active on the node longer than the specified deadline")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_isolated_with_their_volumes() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !cluster.isolated_or_skip("containers_are_isolated_with_their_volumes") {
            return;
        }
        let sim = cluster.handle.sim();
        sim.store
            .create("configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "namespace": "default"}, "data": {"greeting": "hello"}}))
            .unwrap();
        sim.store
            .create("services", json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"app": "db"}}}))
            .unwrap();
        let mut db = shell_pod("db", "sleep 30");
        db["metadata"]["labels"] = json!({"app": "db"});
        cluster.create(db).await;
        cluster.wait("db", 20, |p| phase(p) == "Running").await;
        let script = "set -e; cat /src/data; cat /cfg/greeting; echo; pwd; hostname; \
                      grep -w db /etc/hosts | cut -f1; test ! -e /work/main; \
                      if touch /cfg/x 2>/dev/null; then echo writable; fi; ls /sub; \
                      echo gone > /dev/null; test -c /dev/urandom; test -d /dev/shm; \
                      echo 'last words' > /dev/termination-log; test -e /proc/self/fd/1; \
                      test $$$$ = 1; test $(ls -d /proc/[0-9]* | wc -l) -le 5";
        cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "isolated"},
                "spec": {
                    "restartPolicy": "Never",
                    "volumes": [{"name": "src", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}],
                    "initContainers": [{"name": "seed", "image": "busybox:1.36",
                        "command": ["sh", "-c", "echo seeded > /dst/data; mkdir -p /dst/nested/inner"],
                        "volumeMounts": [{"name": "src", "mountPath": "/dst"}]}],
                    "containers": [{"name": "main", "image": "busybox:1.36", "workingDir": "/app/dir",
                        "command": ["sh", "-c", script],
                        "volumeMounts": [
                            {"name": "src", "mountPath": "/src"},
                            {"name": "cfg", "mountPath": "/cfg", "readOnly": true},
                            {"name": "src", "mountPath": "/sub", "subPath": "nested"}]}],
                },
            }))
            .await;
        let pod = cluster.wait("isolated", 30, |p| matches!(phase(p), "Succeeded" | "Failed")).await;
        let out = cluster.logs("isolated").await;
        assert_eq!(phase(&pod), "Succeeded", "{out}");
        let db_ip = cluster.pods.get("db").await.unwrap().status.unwrap().pod_ip.unwrap();
        assert_eq!(out, format!("seeded\nhello\n/app/dir\nisolated\n{db_ip}\ninner\n"));
        let main = terminated(&pod, "main").unwrap();
        assert_eq!(main.message.as_deref(), Some("last words\n"));
        let init = container(&pod, "seed").unwrap();
        assert_eq!(terminated(&pod, "seed").unwrap().reason.as_deref(), Some("Completed"));
        assert!(init.ready);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_liveness_probes_restart_the_container() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let mut pod = shell_pod("sick", "sleep 30");
        pod["spec"]["restartPolicy"] = json!("Always");
        pod["spec"]["containers"][0]["livenessProbe"] = json!({
            "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2});
        cluster.create(pod).await;
        let pod = cluster
            .wait("sick", 30, |p| {
                container(p, "main").is_some_and(|c| c.restart_count >= 1)
            })
            .await;
        let last = container(&pod, "main")
            .unwrap()
            .last_state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        // As PID 1 of its container, sleep ignores SIGTERM: SIGKILL after the grace period.
        // Only a kubelet without root has no PID namespace: there SIGTERM ends it.
        let expected = if nix::unistd::geteuid().is_root() {
            137
        } else {
            143
        };
        assert_eq!(last.exit_code, expected);
        let events = cluster.events("sick");
        assert!(
            events
                .iter()
                .any(|e| e == "Killing: Container main failed liveness probe, will be restarted"),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e.starts_with("Unhealthy: Liveness probe failed")),
            "{events:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_outlive_pods_and_secrets_and_host_paths_mount() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !cluster.isolated_or_skip("claims_outlive_pods_and_secrets_and_host_paths_mount") {
            return;
        }
        let sim = cluster.handle.sim();
        sim.store
            .create("persistentvolumeclaims", json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
            .unwrap();
        sim.store
            .create("secrets", json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "default"}, "data": {"password": "czNjcjN0"}}))
            .unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("from-host"), "host file\n").unwrap();
        let pod = |name: &str, script: &str| {
            json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {
                    "restartPolicy": "Never",
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                        {"name": "host", "hostPath": {"path": host.path().to_str().unwrap()}}],
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script],
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/data"},
                            {"name": "creds", "mountPath": "/creds"},
                            {"name": "host", "mountPath": "/host", "readOnly": true}]}],
                },
            })
        };
        cluster.create(pod("writer", "echo kept > /data/file")).await;
        cluster.wait("writer", 20, |p| phase(p) == "Succeeded").await;
        cluster
            .create(pod("reader", "cat /data/file /creds/password; echo; stat -c %a /creds/password; cat /host/from-host"))
            .await;
        let pod = cluster.wait("reader", 20, |p| matches!(phase(p), "Succeeded" | "Failed")).await;
        let out = cluster.logs("reader").await;
        assert_eq!(phase(&pod), "Succeeded", "{out}");
        assert_eq!(out, "kept\ns3cr3t\n400\nhost file\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_context_sets_the_user() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !nix::unistd::geteuid().is_root() {
            eprintln!(
                "skipping security_context_sets_the_user: the kubelet needs root to switch users"
            );
            return;
        }
        let mut pod = shell_pod(
            "user",
            "id; echo $$HOME; touch /scratch/mine && echo wrote; true",
        );
        pod["spec"]["securityContext"] =
            json!({"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000});
        pod["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
        pod["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "scratch", "mountPath": "/scratch"}]);
        cluster.create(pod).await;
        let mut root_only = shell_pod("nonroot", "true");
        root_only["spec"]["containers"][0]["securityContext"] = json!({"runAsNonRoot": true});
        cluster.create(root_only).await;

        let pod = cluster
            .wait("user", 20, |p| matches!(phase(p), "Succeeded" | "Failed"))
            .await;
        let out = cluster.logs("user").await;
        assert_eq!(phase(&pod), "Succeeded", "{out}");
        let lines: Vec<&str> = out.lines().collect();
        // (Without isolation, `id` reads the host's /etc/passwd and may add a name.)
        assert!(lines[0].starts_with("uid=1000"), "{out}");
        assert!(
            lines[0].contains(" gid=3000") && lines[0].contains("2000"),
            "{out}"
        );
        assert_eq!(lines[1], "/", "HOME of a uid without a passwd entry");
        if cluster.handle.sim().kubelet.isolated() {
            assert_eq!(lines[2], "wrote", "emptyDirs are writable by any user");
        }

        let pod = cluster
            .wait("nonroot", 20, |p| {
                waiting_reason(p, "main") == Some("CreateContainerConfigError")
            })
            .await;
        let message = container(&pod, "main")
            .unwrap()
            .state
            .clone()
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap();
        assert!(
            message.starts_with(
                "container has runAsNonRoot and image will run as root (pod: \"nonroot_default("
            ),
            "{message}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_image_has_printenv() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        let mut pod = shell_pod(
            "env",
            "printenv A; printenv NOPE; echo rc=$$?; nohup echo nohup-ok",
        );
        pod["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "x y"}]);
        cluster.create(pod).await;
        cluster.wait("env", 20, |p| phase(p) == "Succeeded").await;
        let out = cluster.logs("env").await;
        assert_eq!(out, "x y\nrc=1\nnohup-ok\n");
    })
    .await;
}
