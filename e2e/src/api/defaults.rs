//! Defaulting: the fields the API server (and its default admission plugins) fill in on
//! create and update, so objects read back as on a real cluster (`kubectl get -o yaml` shows the same
//! shape, and krun's readers meet the same optional fields set).

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::store::{Store, str_at};

/// A namespace object as the API server stores it.
pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// Fills defaults into a new object of `resource` (in place): the type defaults, what
/// admission adds on create (service account, tolerations, storage class, allocated IPs, the
/// Job selector), and the status a new object starts with.
pub fn on_create(resource: &str, object: &mut Value, store: &Store) {
    declared(resource, object);
    match resource {
        "pods" => {
            if let Some(spec) = object.get_mut("spec") {
                admission(spec);
            }
            let qos = qos_class(&object["spec"]);
            object["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "deployments" | "jobs" => {
            if resource == "jobs" {
                job_selector(object);
            }
            object["status"] = json!({});
        }
        "replicasets" => object["status"] = json!({"replicas": 0}),
        "services" => {
            let ip = match str_at(object, "/spec/clusterIP") {
                "" => allocate_ip(store),
                ip => ip.to_owned(),
            };
            let spec = object_at(object, &["spec"]);
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
            object["status"] = json!({"loadBalancer": {}});
        }
        "persistentvolumeclaims" => {
            set_default(
                object_at(object, &["spec"]),
                "storageClassName",
                json!("standard"),
            );
            object["status"] = json!({"phase": "Pending"});
        }
        "namespaces" => {
            let name = str_at(object, "/metadata/name").to_owned();
            let labels = object_at(object, &["metadata", "labels"]);
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            object_at(object, &["spec"]).insert("finalizers".into(), json!(["kubernetes"]));
            object["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
}

/// Fills the type defaults into a replacement of `old` (every write is defaulted, as the API
/// server decodes every body through its defaulting), keeping what the server allocated.
pub fn on_update(resource: &str, old: &Value, new: &mut Value) {
    declared(resource, new);
    if resource == "services" {
        let spec = object_at(new, &["spec"]);
        for allocated in ["clusterIP", "clusterIPs"] {
            if spec.get(allocated).is_none_or(|v| v.is_null() || v == "")
                && let Some(value) = old["spec"].get(allocated)
            {
                spec.insert(allocated.into(), value.clone());
            }
        }
    }
}

/// The defaults of the API types themselves (`SetDefaults_*`), for creates and updates alike.
fn declared(resource: &str, object: &mut Value) {
    match resource {
        "pods" => {
            if let Some(spec) = object.get_mut("spec") {
                pod_spec(spec);
            }
        }
        "deployments" => {
            let spec = object_at(object, &["spec"]);
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            template(object);
        }
        "replicasets" => {
            set_default(object_at(object, &["spec"]), "replicas", json!(1));
            template(object);
        }
        "jobs" => {
            job_spec(object_at(object, &["spec"]));
            template(object);
        }
        "services" => {
            let spec = object_at(object, &["spec"]);
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            for port in objects(spec.get_mut("ports")) {
                set_default(port, "protocol", json!("TCP"));
                let number = port.get("port").cloned().unwrap_or(Value::Null);
                set_default(port, "targetPort", number);
            }
        }
        "persistentvolumeclaims" => {
            set_default(
                object_at(object, &["spec"]),
                "volumeMode",
                json!("Filesystem"),
            );
        }
        "secrets" => secret(object),
        _ => {}
    }
}

/// Secrets: `type: Opaque` and `stringData` folded into base64 `data` (on create and update).
fn secret(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    map.entry("type").or_insert_with(|| json!("Opaque"));
    if let Some(Value::Object(strings)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| json!({}));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in strings {
                let text = v.as_str().unwrap_or_default();
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
}

/// The object at `path` under `value`, created (replacing non-objects) along the way.
fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = value;
    for key in path {
        if !current.is_object() {
            *current = json!({});
        }
        current = current
            .as_object_mut()
            .expect("just made an object")
            .entry(*key)
            .or_insert_with(|| json!({}));
    }
    if !current.is_object() {
        *current = json!({});
    }
    current.as_object_mut().expect("just made an object")
}

/// The object elements of a list field (nothing when absent or not a list).
fn objects(list: Option<&mut Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    list.and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

/// Defaults the pod template of a workload (`spec.template.spec`).
fn template(object: &mut Value) {
    if let Some(spec) = object.pointer_mut("/spec/template/spec") {
        pod_spec(spec);
    }
}

/// The pod spec defaults of the API types (for pods and workload templates alike).
fn pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    set_default(map, "restartPolicy", json!("Always"));
    set_default(map, "dnsPolicy", json!("ClusterFirst"));
    set_default(map, "schedulerName", json!("default-scheduler"));
    set_default(map, "securityContext", json!({}));
    set_default(map, "terminationGracePeriodSeconds", json!(30));
    set_default(map, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        for container in map
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            self::container(container);
        }
    }
    for volume in map
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for source in ["configMap", "secret"] {
            if let Some(Value::Object(s)) = volume.get_mut(source) {
                set_default(s, "defaultMode", json!(420));
            }
        }
    }
}

/// What the default admission plugins (ServiceAccount, Priority, DefaultTolerationSeconds) add
/// to pods, and only to pods (not to workload templates).
fn admission(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    set_default(map, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(map, "priority", json!(0));
    set_default(map, "serviceAccountName", json!("default"));
    let account = map["serviceAccountName"].clone();
    set_default(map, "serviceAccount", account);
    set_default(
        map,
        "tolerations",
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ]),
    );
}

fn container(container: &mut Value) {
    let Some(map) = container.as_object_mut() else {
        return;
    };
    set_default(map, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(map, "terminationMessagePolicy", json!("File"));
    set_default(map, "resources", json!({}));
    let image = map.get("image").and_then(Value::as_str).unwrap_or("");
    set_default(map, "imagePullPolicy", json!(pull_policy(image)));
    for port in objects(map.get_mut("ports")) {
        set_default(port, "protocol", json!("TCP"));
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = map.get_mut(probe) {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (the API server's rule).
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// The pod's QoS class from its containers' requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let has = |c: &Value, kind: &str| {
        c["resources"][kind]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    };
    if !containers
        .iter()
        .any(|c| has(c, "requests") || has(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = &c["resources"]["limits"];
        let requests = &c["resources"]["requests"];
        ["cpu", "memory"].iter().all(|r| {
            limits.get(r).is_some() && requests.get(r).is_none_or(|q| Some(q) == limits.get(r))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Jobs: counts, backoff, modes.
fn job_spec(spec: &mut Map<String, Value>) {
    let unset = |m: &Map<String, Value>, k: &str| m.get(k).is_none_or(Value::is_null);
    if unset(spec, "parallelism") && unset(spec, "completions") {
        spec.insert("parallelism".into(), json!(1));
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    set_default(spec, "manualSelector", json!(false));
}

/// A new Job's generated selector on its uid, and the labels the Job controller matches.
fn job_selector(object: &mut Value) {
    if object["spec"]["manualSelector"].as_bool() == Some(true) {
        return;
    }
    let uid = str_at(object, "/metadata/uid").to_owned();
    let name = str_at(object, "/metadata/name").to_owned();
    object["spec"]["selector"] =
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let labels = object_at(object, &["spec", "template", "metadata", "labels"]);
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels.insert(k.into(), json!(v));
    }
}

/// A free address in 10.96.0.0/16 (the `kubernetes` Service holds 10.96.0.1).
fn allocate_ip(store: &Store) -> String {
    let (services, _) = store.list("services", None, |_| true);
    let taken: Vec<&str> = services
        .iter()
        .map(|s| str_at(s, "/spec/clusterIP"))
        .collect();
    loop {
        let ip = format!("10.96.{}.{}", fastrand::u8(..), fastrand::u8(2..255));
        if !taken.contains(&ip.as_str()) {
            return ip;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
        assert_eq!(pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn jobs_get_a_selector_on_their_uid() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], "restartPolicy": "Never"}}}});
        on_create("jobs", &mut job, &Store::default());
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
        assert_eq!(job["spec"]["backoffLimit"], 6);
    }
}
