//! The real kubectl (the oracle) against kube-sim: what kubectl users do must work, and read
//! as on a real cluster. Each test skips with a printed reason when kubectl is not installed.

mod support;

use support::{Cluster, kubectl_or_skip};

const MANIFEST: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "busybox:1.36", command: ["sleep", "300"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: test}
"#;

fn write_manifest(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("manifest.yaml");
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

#[tokio::test]
async fn get_and_describe_show_the_cluster() {
    if !kubectl_or_skip("get_and_describe_show_the_cluster") {
        return;
    }
    let cluster = Cluster::start().await;
    let nodes = cluster.kubectl_ok(&["get", "nodes"]).await;
    assert!(
        nodes.contains("kube-sim") && nodes.contains("Ready"),
        "{nodes}"
    );
    let namespaces = cluster.kubectl_ok(&["get", "namespaces"]).await;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(namespaces.contains(ns), "{namespaces}");
    }
    let describe = cluster.kubectl_ok(&["describe", "node", "kube-sim"]).await;
    assert!(
        describe.contains("Name:               kube-sim"),
        "{describe}"
    );
    let missing = cluster.kubectl(&["get", "pod", "nope"], "", 30).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): pods \"nope\" not found"
    );
}

#[tokio::test]
async fn apply_creates_then_reports_unchanged_and_configured() {
    if !kubectl_or_skip("apply_creates_then_reports_unchanged_and_configured") {
        return;
    }
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_manifest(&dir, MANIFEST);
    let first = cluster.kubectl_ok(&["apply", "-f", &path]).await;
    assert_eq!(
        first,
        "deployment.apps/web created\nservice/web created\nconfigmap/settings created\n"
    );
    let again = cluster.kubectl_ok(&["apply", "-f", &path]).await;
    assert_eq!(
        again,
        "deployment.apps/web unchanged\nservice/web unchanged\nconfigmap/settings unchanged\n"
    );
    let changed = write_manifest(&dir, &MANIFEST.replace("mode: test", "mode: prod"));
    let third = cluster.kubectl_ok(&["apply", "-f", &changed]).await;
    assert!(third.contains("configmap/settings configured"), "{third}");
    let mode = cluster
        .kubectl_ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .await;
    assert_eq!(mode, "prod");
    let ssa = cluster
        .kubectl_ok(&["apply", "--server-side", "-f", &changed])
        .await;
    assert!(
        ssa.contains("deployment.apps/web serverside-applied"),
        "{ssa}"
    );
    // The Deployment controller brings up both replicas.
    support::eventually(20, "2 ready replicas", || async {
        let out = cluster
            .kubectl(
                &[
                    "get",
                    "deployment",
                    "web",
                    "-o",
                    "jsonpath={.status.readyReplicas}",
                ],
                "",
                30,
            )
            .await;
        (out.stdout == "2").then_some(())
    })
    .await;
    let pods = cluster.kubectl_ok(&["get", "pods", "-l", "app=web"]).await;
    assert_eq!(
        pods.lines().filter(|l| l.contains("Running")).count(),
        2,
        "{pods}"
    );
    assert!(pods.starts_with("NAME"), "{pods}");
}

#[tokio::test]
async fn create_subcommands_and_validation_errors_read_as_on_a_cluster() {
    if !kubectl_or_skip("create_subcommands_and_validation_errors_read_as_on_a_cluster") {
        return;
    }
    let cluster = Cluster::start().await;
    // These go through kubectl's typed (protobuf) clients.
    assert_eq!(
        cluster.kubectl_ok(&["create", "namespace", "team"]).await,
        "namespace/team created\n"
    );
    assert_eq!(
        cluster
            .kubectl_ok(&["create", "configmap", "c", "--from-literal=a=b"])
            .await,
        "configmap/c created\n"
    );
    assert_eq!(
        cluster
            .kubectl_ok(&[
                "create",
                "deployment",
                "d",
                "--image=busybox:1.36",
                "--",
                "sleep",
                "60"
            ])
            .await,
        "deployment.apps/d created\n"
    );
    let again = cluster
        .kubectl(&["create", "namespace", "team"], "", 30)
        .await;
    assert_eq!(
        again.stderr.trim(),
        "Error from server (AlreadyExists): namespaces \"team\" already exists"
    );
    let bad = cluster
        .kubectl(&["create", "namespace", "Team"], "", 30)
        .await;
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr.trim(),
        "The Namespace \"Team\" is invalid: metadata.name: Invalid value: \"Team\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = write_manifest(
        &dir,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndatta: {a: b}\n",
    );
    let strict = cluster.kubectl(&["apply", "-f", &typo], "", 30).await;
    assert_eq!(
        strict.stderr.trim(),
        format!(
            "Error from server (BadRequest): error when creating \"{typo}\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"datta\""
        )
    );
    let path = write_manifest(
        &dir,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    volumeMounts: [{name: data, mountPath: /data}]\n",
    );
    let invalid = cluster.kubectl(&["create", "-f", &path], "", 30).await;
    assert_eq!(
        invalid.stderr.trim(),
        "The Pod \"p\" is invalid: \n* spec.containers[0].image: Required value\n* spec.containers[0].volumeMounts[0].name: Not found: \"data\""
    );
}

#[tokio::test]
async fn run_interactive_prints_output_and_returns_the_exit_code() {
    if !kubectl_or_skip("run_interactive_prints_output_and_returns_the_exit_code") {
        return;
    }
    let cluster = Cluster::start().await;
    // kubectl attaches after the container started: output written before that is lost on
    // any cluster (the kit's README shows it on a real one). What kubectl guarantees is the
    // exit code, the pod's removal, and output that arrives being the container's.
    let quick = cluster
        .kubectl(&run_args("x", "echo hi; exit 3"), "", 60)
        .await;
    assert_eq!(quick.code, 3, "{quick:?}");
    assert!(quick.stdout.contains("pod \"x\" deleted"), "{quick:?}");
    let before_deleted = quick.stdout.split("pod \"x\" deleted").next().unwrap_or("");
    assert!(
        ["", "hi\n"].contains(&before_deleted),
        "output other than the container's: {quick:?}"
    );
    // Output that the container writes only after reading stdin comes after the attach, so
    // kubectl must deliver it.
    let gated = cluster
        .kubectl(
            &run_args("y", "read name; echo hi $name; exit 4"),
            "there\n",
            60,
        )
        .await;
    assert_eq!(gated.code, 4, "{gated:?}");
    assert!(gated.stdout.starts_with("hi there\n"), "{gated:?}");
    support::eventually(20, "pods x and y gone", || async {
        let out = cluster
            .kubectl(&["get", "pods", "-o", "name"], "", 30)
            .await;
        out.stdout.is_empty().then_some(())
    })
    .await;
}

/// `kubectl run -i --rm` of a busybox pod running `script`.
fn run_args<'a>(name: &'a str, script: &'a str) -> [&'a str; 10] {
    [
        "run",
        "-i",
        "--rm",
        "--restart=Never",
        "--image=busybox:1.36",
        name,
        "--",
        "sh",
        "-c",
        script,
    ]
}

#[tokio::test]
async fn logs_follow_exec_and_attach_stream() {
    if !kubectl_or_skip("logs_follow_exec_and_attach_stream") {
        return;
    }
    let cluster = Cluster::start().await;
    cluster
        .kubectl_ok(&[
            "run",
            "counter",
            "--image=busybox:1.36",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3; do echo line $i; sleep 0.2; done",
        ])
        .await;
    cluster
        .kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            "pod/counter",
            "--timeout=20s",
        ])
        .await;
    let logs = cluster.kubectl(&["logs", "-f", "counter"], "", 30).await;
    assert_eq!(logs.stdout, "line 1\nline 2\nline 3\n", "{logs:?}");

    cluster
        .kubectl_ok(&[
            "run",
            "shell",
            "--image=busybox:1.36",
            "--restart=Never",
            "-i",
            "--attach=false",
            "--",
            "sh",
            "-c",
            "read line; echo got $line; sleep 300",
        ])
        .await;
    cluster
        .kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            "pod/shell",
            "--timeout=20s",
        ])
        .await;
    let exec = cluster
        .kubectl(
            &["exec", "-i", "shell", "--", "sh", "-c", "cat; exit 4"],
            "piped\n",
            30,
        )
        .await;
    assert_eq!(
        (exec.code, exec.stdout.as_str()),
        (4, "piped\n"),
        "{exec:?}"
    );

    // attach -i keeps running while the container does: it is dropped (killed) once the line
    // it sent has reached the container.
    let attach = cluster.kubectl(&["attach", "-i", "shell"], "hello\n", 30);
    let echoed = support::eventually(20, "the attached line in the logs", || async {
        let logs = cluster.kubectl(&["logs", "shell"], "", 30).await;
        logs.stdout.contains("got hello").then_some(())
    });
    tokio::select! {
        out = attach => panic!("attach ended before its input arrived: {out:?}"),
        () = echoed => {}
    }
}

#[tokio::test]
async fn delete_cascades_and_watch_reports_it() {
    if !kubectl_or_skip("delete_cascades_and_watch_reports_it") {
        return;
    }
    let cluster = Cluster::start().await;
    // A bare `sleep` would be its container's PID 1 and ignore SIGTERM, so deletion would wait
    // the whole 30 s grace period (as on a real cluster): trap TERM instead.
    cluster
        .kubectl_ok(&[
            "create",
            "deployment",
            "web",
            "--image=busybox:1.36",
            "--replicas=2",
            "--",
            "sh",
            "-c",
            "trap 'exit 0' TERM; sleep 300 & wait",
        ])
        .await;
    support::eventually(20, "2 running pods", || async {
        let out = cluster
            .kubectl(
                &[
                    "get",
                    "pods",
                    "-l",
                    "app=web",
                    "--field-selector=status.phase=Running",
                    "-o",
                    "name",
                ],
                "",
                30,
            )
            .await;
        (out.stdout.lines().count() == 2).then_some(())
    })
    .await;
    let watch = cluster.kubectl(&["get", "pods", "-w", "--request-timeout=4s"], "", 30);
    let delete = async {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        cluster.kubectl_ok(&["delete", "deployment", "web"]).await
    };
    let (watched, deleted) = tokio::join!(watch, delete);
    assert_eq!(deleted, "deployment.apps \"web\" deleted\n");
    assert!(watched.stdout.contains("Terminating"), "{watched:?}");
    support::eventually(20, "pods and replica sets gone", || async {
        let out = cluster
            .kubectl(&["get", "pods,replicasets", "-o", "name"], "", 30)
            .await;
        out.stdout.is_empty().then_some(())
    })
    .await;
    cluster
        .kubectl_ok(&["create", "namespace", "scratch"])
        .await;
    cluster
        .kubectl_ok(&["-n", "scratch", "create", "configmap", "c"])
        .await;
    cluster
        .kubectl_ok(&["delete", "namespace", "scratch"])
        .await;
    let gone = cluster
        .kubectl(&["get", "namespace", "scratch"], "", 30)
        .await;
    assert_eq!(
        gone.stderr.trim(),
        "Error from server (NotFound): namespaces \"scratch\" not found"
    );
}
