//! kube-sim's fidelity, measured: one scripted API conversation (create/apply/get/list/watch/
//! patch/delete of the kinds krun uses; logs, exec, attach; invalid objects, conflicts, not
//! found, 410 Gone) is held with kube-sim and with the real cluster named by
//! `KRUN_E2E_KUBECONFIG`, and what each answered is compared: status codes, error texts,
//! defaulted fields, status transitions and event reasons. Uids, timestamps, resourceVersions
//! and other values that differ between any two clusters are left out.
//!
//! Every difference is either fixed in kube-sim or listed in [`KNOWN_LIMITS`] with its reason;
//! a listed difference that no longer shows fails the test too, so the list stays true.
//! Without `KRUN_E2E_KUBECONFIG` there is nothing to compare with, and the test says so.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, StreamExt};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, LogParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Steps whose answers differ between kube-sim and a real cluster, and why that is accepted.
const KNOWN_LIMITS: &[(&str, &str)] = &[];

/// What one step of the conversation observed.
type Observation = (String, Value);

/// One side of the conversation.
struct Side {
    client: Client,
    ns: String,
    seen: Vec<Observation>,
}

impl Side {
    /// A raw request; the answer's status code and JSON body (or text, when not JSON).
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        ctype: &str,
    ) -> (u16, Value) {
        let path = path.replace("$NS", &self.ns);
        let bytes = body
            .map(|b| serde_json::to_vec(&b).expect("json"))
            .unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(path.as_str())
            .header("content-type", ctype)
            .header("accept", "application/json")
            .body(kube::client::Body::from(bytes))
            .expect("request");
        let res = self.client.send(req).await.expect("the API server answers");
        let code = res.status().as_u16();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (code, value)
    }

    /// Records an observation, with this side's namespace name replaced by `$NS`.
    fn note(&mut self, step: &str, value: Value) {
        let text = serde_json::to_string(&value)
            .expect("json")
            .replace(&self.ns, "$NS");
        self.seen
            .push((step.to_string(), serde_json::from_str(&text).expect("json")));
    }

    /// A request whose code and chosen fields are the observation.
    async fn step(
        &mut self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        keep: &[&str],
    ) -> Value {
        let ctype = match method {
            "PATCH" if step.contains("apply") => "application/apply-patch+yaml",
            "PATCH" => "application/merge-patch+json",
            _ => "application/json",
        };
        let (code, answer) = self.call(method, path, body, ctype).await;
        let mut seen = json!({"code": code});
        for pointer in keep {
            seen[*pointer] = answer.pointer(pointer).cloned().unwrap_or(Value::Null);
        }
        self.note(step, seen);
        answer
    }

    /// Polls `path` until `done` holds for it (or 60 s pass): the object then, and the distinct
    /// values of `pointer` on the way (a status transition).
    async fn follow(
        &self,
        path: &str,
        pointer: &str,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut values: Vec<Value> = Vec::new();
        loop {
            let (_, obj) = self.call("GET", path, None, "application/json").await;
            let v = obj.pointer(pointer).cloned().unwrap_or(Value::Null);
            if values.last() != Some(&v) {
                values.push(v);
            }
            if done(&obj) || Instant::now() > deadline {
                return (obj, Value::Array(values));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// [`Side::follow`], recording the transition.
    async fn transitions(
        &mut self,
        step: &str,
        path: &str,
        pointer: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let (obj, values) = self.follow(path, pointer, done).await;
        self.note(step, values);
        obj
    }

    /// The reasons of the events about `name`, once `expected` are all there (or 20 s pass).
    async fn event_reasons(&mut self, step: &str, name: &str, expected: &[&str]) {
        let path =
            format!("/api/v1/namespaces/$NS/events?fieldSelector=involvedObject.name%3D{name}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, list) = self.call("GET", &path, None, "application/json").await;
            let mut reasons: BTreeSet<String> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["reason"].as_str().map(String::from))
                .collect();
            // `Pulling` shows only when the node did not have the image yet.
            reasons.remove("Pulling");
            if expected.iter().all(|r| reasons.contains(*r)) || Instant::now() > deadline {
                self.note(step, json!(reasons));
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "fid"}}, "data": {"k": "v"}})
}

fn busybox_pod(name: &str, script: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "fid"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script],
                "stdin": true, "stdinOnce": true}]}})
}

/// The defaulted fields of a pod that krun depends on or that users see.
const POD_DEFAULTS: &[&str] = &[
    "/spec/restartPolicy",
    "/spec/dnsPolicy",
    "/spec/schedulerName",
    "/spec/securityContext",
    "/spec/enableServiceLinks",
    "/spec/preemptionPolicy",
    "/spec/priority",
    "/spec/serviceAccountName",
    "/spec/containers/0/imagePullPolicy",
    "/spec/containers/0/terminationMessagePath",
    "/spec/containers/0/terminationMessagePolicy",
    "/spec/containers/0/resources",
    "/status/phase",
    "/status/qosClass",
];

/// The whole conversation, held with one side.
async fn converse(side: &mut Side) {
    let cms = "/api/v1/namespaces/$NS/configmaps";
    // Create, conflict, invalid, not found, stale update, patches, list, delete.
    side.step(
        "create configmap",
        "POST",
        cms,
        Some(configmap("cm1")),
        &["/data", "/metadata/labels"],
    )
    .await;
    side.step(
        "create existing configmap",
        "POST",
        cms,
        Some(configmap("cm1")),
        &["/reason", "/message", "/details/kind"],
    )
    .await;
    side.step(
        "create invalid name",
        "POST",
        cms,
        Some(configmap("Bad_Name")),
        &["/reason", "/message", "/details/causes"],
    )
    .await;
    side.step(
        "get missing",
        "GET",
        &format!("{cms}/nope"),
        None,
        &["/reason", "/message"],
    )
    .await;
    let mut stale = configmap("cm1");
    stale["metadata"]["resourceVersion"] = json!("1");
    side.step(
        "update stale resourceVersion",
        "PUT",
        &format!("{cms}/cm1"),
        Some(stale),
        &["/reason", "/message"],
    )
    .await;
    side.step(
        "merge patch",
        "PATCH",
        &format!("{cms}/cm1"),
        Some(json!({"data": {"k2": "v2"}})),
        &["/data"],
    )
    .await;
    side.step(
        "merge patch missing",
        "PATCH",
        &format!("{cms}/nope"),
        Some(json!({"data": {}})),
        &["/reason", "/message"],
    )
    .await;
    let apply = format!("{cms}/cm2?fieldManager=fid");
    side.step(
        "apply create",
        "PATCH",
        &apply,
        Some(configmap("cm2")),
        &["/data"],
    )
    .await;
    side.step(
        "apply again",
        "PATCH",
        &apply,
        Some(configmap("cm2")),
        &["/data"],
    )
    .await;
    let mut conflicting = configmap("cm2");
    conflicting["data"]["k"] = json!("other");
    side.step(
        "apply conflict",
        "PATCH",
        &format!("{cms}/cm2?fieldManager=someone-else"),
        Some(conflicting),
        &["/reason", "/message"],
    )
    .await;
    let list = side
        .step(
            "list by label",
            "GET",
            &format!("{cms}?labelSelector=app%3Dfid"),
            None,
            &["/kind"],
        )
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    side.note("list by label: names", json!(names));
    side.step(
        "delete",
        "DELETE",
        &format!("{cms}/cm2"),
        None,
        &["/kind", "/status", "/details/name"],
    )
    .await;
    side.step(
        "delete again",
        "DELETE",
        &format!("{cms}/cm2"),
        None,
        &["/reason", "/message"],
    )
    .await;
    // A watch from a resourceVersion long compacted away.
    let (code, gone) = side
        .call(
            "GET",
            &format!("{cms}?watch=true&resourceVersion=1&timeoutSeconds=2"),
            None,
            "application/json",
        )
        .await;
    let message = gone
        .pointer("/object/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = message.split(" (").next().unwrap_or("");
    side.note("watch too old", json!({"code": code, "type": gone["type"], "status": gone.pointer("/object/code"), "message": message}));

    // Secrets, Services, PVCs: defaults and validation.
    side.step("create secret", "POST", "/api/v1/namespaces/$NS/secrets",
        Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "stringData": {"pw": "hunter2"}})),
        &["/type", "/data", "/stringData"]).await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": true, "selector": {"app": "fid"},
            "ports": [{"name": "pg", "port": 5432}]}});
    side.step(
        "create headless service",
        "POST",
        "/api/v1/namespaces/$NS/services",
        Some(svc),
        &[
            "/spec/type",
            "/spec/sessionAffinity",
            "/spec/clusterIP",
            "/spec/ports",
            "/spec/internalTrafficPolicy",
            "/spec/ipFamilyPolicy",
        ],
    )
    .await;
    let bad_svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"},
        "spec": {"ports": [{"port": 0}]}});
    side.step(
        "create service with port 0",
        "POST",
        "/api/v1/namespaces/$NS/services",
        Some(bad_svc),
        &["/reason", "/message"],
    )
    .await;
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    side.step(
        "create pvc",
        "POST",
        "/api/v1/namespaces/$NS/persistentvolumeclaims",
        Some(pvc),
        &[
            "/spec/volumeMode",
            "/spec/accessModes",
            "/spec/storageClassName",
            "/status/phase",
        ],
    )
    .await;
    // How soon a provisioner binds is the cluster's business: only where the claim ends counts.
    let (bound, _) = side
        .follow(
            "/api/v1/namespaces/$NS/persistentvolumeclaims/data",
            "/status/phase",
            |o| o["status"]["phase"] == "Bound",
        )
        .await;
    side.note("pvc phase", bound["status"]["phase"].clone());

    // A pod's life: defaults, phases, logs, events.
    let pods = "/api/v1/namespaces/$NS/pods";
    side.step(
        "create pod",
        "POST",
        pods,
        Some(busybox_pod(
            "once",
            "sleep 2; echo out; sleep 0.2; echo err >&2; exit 3",
        )),
        POD_DEFAULTS,
    )
    .await;
    let pod = side
        .transitions(
            "pod phases",
            &format!("{pods}/once"),
            "/status/phase",
            |o| matches!(o["status"]["phase"].as_str(), Some("Succeeded" | "Failed")),
        )
        .await;
    let terminated = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    side.note(
        "pod termination",
        json!({"exitCode": terminated["exitCode"], "reason": terminated["reason"]}),
    );
    let (_, log) = side
        .call("GET", &format!("{pods}/once/log"), None, "application/json")
        .await;
    side.note("pod log", log);
    side.event_reasons("pod events", "once", &["Scheduled", "Started"])
        .await;
    side.step("create invalid pod", "POST", pods,
        Some(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {"containers": [{"name": "Main_1", "image": ""}]}})),
        &["/reason", "/message"]).await;
    side.step(
        "logs of missing pod",
        "GET",
        &format!("{pods}/nope/log"),
        None,
        &["/reason", "/message"],
    )
    .await;

    // exec and attach on a running pod.
    side.step(
        "create long pod",
        "POST",
        pods,
        Some(busybox_pod("long", "read line; echo got $line; sleep 30")),
        &["/status/phase"],
    )
    .await;
    side.transitions(
        "long pod phases",
        &format!("{pods}/long"),
        "/status/phase",
        |o| o["status"]["phase"] == "Running",
    )
    .await;
    let api: Api<Pod> = Api::namespaced(side.client.clone(), &side.ns);
    let exec = exec_output(&api, vec!["sh", "-c", "echo hi; exit 4"]).await;
    side.note("exec", exec);
    let attached = attach_roundtrip(&api).await;
    side.note("attach", attached);
    let follow = follow_log(&api).await;
    side.note("log follow", json!(follow));

    // Workloads: defaults, rollout, completion, events.
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"terminationGracePeriodSeconds": 1,
                "containers": [{"name": "web", "image": "busybox:1.36", "command": ["sleep", "600"]}]}}}});
    side.step(
        "create deployment",
        "POST",
        "/apis/apps/v1/namespaces/$NS/deployments",
        Some(deploy),
        &[
            "/spec/strategy",
            "/spec/revisionHistoryLimit",
            "/spec/progressDeadlineSeconds",
            "/spec/template/spec/restartPolicy",
            "/spec/template/spec/dnsPolicy",
        ],
    )
    .await;
    side.transitions(
        "deployment available",
        "/apis/apps/v1/namespaces/$NS/deployments/web",
        "/status/availableReplicas",
        |o| o["status"]["availableReplicas"] == 1,
    )
    .await;
    side.event_reasons("deployment events", "web", &["ScalingReplicaSet"])
        .await;
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "echo migrated"]}]}}}});
    side.step(
        "create job",
        "POST",
        "/apis/batch/v1/namespaces/$NS/jobs",
        Some(job),
        &[
            "/spec/completions",
            "/spec/parallelism",
            "/spec/completionMode",
            "/spec/suspend",
            "/spec/podReplacementPolicy",
            "/spec/manualSelector",
        ],
    )
    .await;
    let done = side
        .transitions(
            "job conditions",
            "/apis/batch/v1/namespaces/$NS/jobs/migrate",
            "/status/succeeded",
            |o| {
                o["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete"))
            },
        )
        .await;
    let conditions: Vec<&Value> = done["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| &c["type"])
        .collect();
    side.note("job condition types", json!(conditions));
    let job_pods = side
        .step(
            "job pods",
            "GET",
            &format!("{pods}?labelSelector=batch.kubernetes.io%2Fjob-name%3Dmigrate"),
            None,
            &[],
        )
        .await;
    let labels: Vec<Vec<&String>> = job_pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            p["metadata"]["labels"]
                .as_object()
                .map(|l| l.keys().collect())
        })
        .collect();
    side.note("job pod label keys", json!(labels));
    side.event_reasons("job events", "migrate", &["SuccessfulCreate", "Completed"])
        .await;
    side.step(
        "delete job background",
        "DELETE",
        "/apis/batch/v1/namespaces/$NS/jobs/migrate?propagationPolicy=Background",
        None,
        &["/kind"],
    )
    .await;
}

/// An exec's stdout and the status it ended with.
async fn exec_output(api: &Api<Pod>, command: Vec<&str>) -> Value {
    let mut p = api
        .exec("long", command, &AttachParams::default().stderr(false))
        .await
        .expect("exec");
    let mut out = String::new();
    p.stdout()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("read");
    let status = p.take_status().expect("status").await;
    let status =
        status.map(|s| json!({"status": s.status, "reason": s.reason, "message": s.message}));
    json!({"stdout": out, "status": status})
}

/// A line sent to the pod's stdin through attach, and its answer in the log.
async fn attach_roundtrip(api: &Api<Pod>) -> Value {
    let params = AttachParams::default()
        .stdin(true)
        .stdout(false)
        .stderr(false);
    let mut p = api.attach("long", &params).await.expect("attach");
    let mut stdin = p.stdin().expect("stdin");
    stdin.write_all(b"there\n").await.expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = api
            .logs("long", &LogParams::default())
            .await
            .unwrap_or_default();
        if log.contains("got") || Instant::now() > deadline {
            return json!(log);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first line of a followed log.
async fn follow_log(api: &Api<Pod>) -> Option<String> {
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let stream = api.log_stream("long", &params).await.ok()?;
    let mut lines = stream.lines();
    tokio::time::timeout(Duration::from_secs(10), lines.next())
        .await
        .ok()??
        .ok()
}

/// Creates a fresh namespace on `client` and waits for its default ServiceAccount.
async fn namespace(client: &Client) -> String {
    let ns = format!("fidelity-{:04x}", fastrand::u16(..));
    let side = Side {
        client: client.clone(),
        ns: ns.clone(),
        seen: vec![],
    };
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    let (code, _) = side
        .call("POST", "/api/v1/namespaces", Some(body), "application/json")
        .await;
    assert_eq!(code, 201, "creating namespace {ns}");
    support::eventually(30, "the default ServiceAccount", || async {
        let (code, _) = side
            .call(
                "GET",
                "/api/v1/namespaces/$NS/serviceaccounts/default",
                None,
                "application/json",
            )
            .await;
        (code == 200).then_some(())
    })
    .await;
    ns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kube_sim_answers_as_the_real_cluster_does() {
    let Ok(path) = std::env::var("KRUN_E2E_KUBECONFIG") else {
        eprintln!("fidelity: KRUN_E2E_KUBECONFIG is not set, no real cluster to compare with");
        return;
    };
    let kc = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let real = Client::try_from(config).expect("client");
    let sim = support::Cluster::start().await;
    let (real_ns, sim_ns) = (namespace(&real).await, namespace(&sim.client).await);
    let mut sides = [
        Side {
            client: real.clone(),
            ns: real_ns.clone(),
            seen: vec![],
        },
        Side {
            client: sim.client.clone(),
            ns: sim_ns,
            seen: vec![],
        },
    ];
    let [real_side, sim_side] = &mut sides;
    tokio::join!(converse(real_side), converse(sim_side));
    let _ = real_side
        .call("DELETE", "/api/v1/namespaces/$NS", None, "application/json")
        .await;

    let mut problems = Vec::new();
    let mut differing = BTreeSet::new();
    for ((step, on_real), (_, on_sim)) in real_side.seen.iter().zip(&sim_side.seen) {
        if on_real != on_sim {
            differing.insert(step.as_str());
            if !KNOWN_LIMITS.iter().any(|(s, _)| s == step) {
                problems.push(format!(
                    "{step}:\n    real cluster: {on_real}\n    kube-sim:     {on_sim}"
                ));
            }
        }
    }
    for (step, why) in KNOWN_LIMITS {
        if !differing.contains(step) {
            problems.push(format!("{step}: listed as a known limit ({why}) but kube-sim now answers as the cluster does; remove it from KNOWN_LIMITS"));
        }
    }
    let steps = real_side.seen.len();
    eprintln!(
        "fidelity: {steps} observations, {} differ, {} of them known limits",
        differing.len(),
        KNOWN_LIMITS.len()
    );
    assert_eq!(
        steps,
        sim_side.seen.len(),
        "both sides made the same observations"
    );
    assert!(
        problems.is_empty(),
        "kube-sim differs from the real cluster:\n{}",
        problems.join("\n")
    );
}
