//! The API server's REST semantics through kube-rs (krun's client): validation texts, error
//! codes, apply ownership and conflicts, patches, optimistic concurrency, selectors, paging.

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Cluster, raw, status_of};

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

#[tokio::test]
async fn invalid_objects_get_422_with_the_api_servers_text() {
    let cluster = Cluster::start().await;
    let services: Api<Service> = Api::default_namespaced(cluster.client.clone());
    let err = services
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        status_of(err),
        (422, "Invalid".into(), "Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into())
    );
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "a b"}}, "spec": {
    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}],
    "containers": [
        {"name": "web", "image": "busybox:1.36", "env": [{"name": ""}], "ports": [{"containerPort": 0}]},
        {"name": "web", "image": "busybox:1.36", "volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]},
    ]}});
    let (code, reason, message) = status_of(
        pods.create(&PostParams::default(), &object(pod))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        "Pod \"p\" is invalid: [metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), spec.volumes[1].name: Duplicate value: \"data\", spec.containers[0].ports[0].containerPort: Required value, spec.containers[0].env[0].name: Required value, spec.containers[1].name: Duplicate value: \"web\", spec.containers[1].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique]"
    );
}

#[tokio::test]
async fn missing_duplicate_and_stale_objects_get_404_409() {
    let cluster = Cluster::start().await;
    let elsewhere: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "nowhere");
    let cm: ConfigMap = object(json!({"metadata": {"name": "c"}, "data": {"a": "1"}}));
    assert_eq!(
        status_of(
            elsewhere
                .create(&PostParams::default(), &cm)
                .await
                .unwrap_err()
        ),
        (
            404,
            "NotFound".into(),
            "namespaces \"nowhere\" not found".into()
        )
    );
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    let created = cms
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    assert_eq!(
        status_of(cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        (
            409,
            "AlreadyExists".into(),
            "configmaps \"c\" already exists".into()
        )
    );
    let mut newer = created.clone();
    newer.data = Some([("a".to_string(), "2".to_string())].into());
    cms.replace("c", &PostParams::default(), &newer)
        .await
        .expect("replace with current version");
    assert_eq!(
        status_of(cms.replace("c", &PostParams::default(), &newer).await.unwrap_err()),
        (409, "Conflict".into(), "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again".into())
    );
    assert_eq!(status_of(cms.get("nope").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn server_side_apply_owns_fields_and_refuses_to_steal_them() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let created = cms
        .patch("c", &PatchParams::apply("krun"), &Patch::Apply(&applied))
        .await
        .expect("create on apply");
    let again = cms
        .patch("c", &PatchParams::apply("krun"), &Patch::Apply(&applied))
        .await
        .expect("re-apply");
    assert_eq!(
        again.metadata.resource_version, created.metadata.resource_version,
        "an unchanged apply writes nothing"
    );
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["krun".to_string()]);

    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
    let (code, reason, message) = status_of(
        cms.patch("c", &PatchParams::apply("other"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"krun\": .data.a"
    );
    let forced = cms
        .patch(
            "c",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced");
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");

    // krun stops applying b: it goes; a now belongs to "other" and stays.
    let krun_only = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let pruned = cms
        .patch("c", &PatchParams::apply("krun"), &Patch::Apply(&krun_only))
        .await
        .expect("apply");
    assert_eq!(
        pruned.data,
        Some([("a".to_string(), "9".to_string())].into())
    );

    // YAML bodies, and the fieldManager requirement.
    let (code, _) = raw(
        &cluster.client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/from-yaml?fieldManager=krun",
        "application/apply-patch+yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        cms.get("from-yaml")
            .await
            .expect("created from YAML")
            .data
            .unwrap()["k"],
        "v"
    );
    let (code, message) = raw(
        &cluster.client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/from-yaml",
        "application/apply-patch+yaml",
        "{}",
    )
    .await;
    assert_eq!(
        (code, message.as_str()),
        (
            400,
            "PATCH, application/apply-patch+yaml requests must have a fieldManager parameter"
        )
    );
}

#[tokio::test]
async fn merge_strategic_and_json_patches_apply() {
    let cluster = Cluster::start().await;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    let pod = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "60"]}]}});
    pods.create(&PostParams::default(), &object(pod))
        .await
        .expect("create");
    let params = PatchParams::default();
    pods.patch(
        "p",
        &params,
        &Patch::Merge(json!({"metadata": {"labels": {"a": null, "b": "2"}}})),
    )
    .await
    .expect("merge");
    pods.patch(
        "p",
        &params,
        &Patch::Strategic(
            json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}),
        ),
    )
    .await
    .expect("strategic");
    let patched = pods
        .patch(
            "p",
            &params,
            &Patch::<()>::Json(
                serde_json::from_value(
                    json!([{"op": "add", "path": "/metadata/labels/c", "value": "3"}]),
                )
                .unwrap(),
            ),
        )
        .await
        .expect("json");
    assert_eq!(
        patched.metadata.labels.unwrap(),
        [
            ("b".to_string(), "2".to_string()),
            ("c".to_string(), "3".to_string())
        ]
        .into()
    );
    let containers = patched.spec.unwrap().containers;
    assert_eq!(
        (containers.len(), containers[0].image.as_deref()),
        (1, Some("busybox:1.37"))
    );
    let forbidden = pods
        .patch(
            "p",
            &params,
            &Patch::Strategic(json!({"spec": {"restartPolicy": "Never"}})),
        )
        .await
        .unwrap_err();
    let (code, _, message) = status_of(forbidden);
    assert_eq!(code, 422);
    assert!(
        message.starts_with(
            "Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn lists_filter_by_selectors_and_page() {
    let cluster = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    for (name, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
        cms.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": name, "labels": {"tier": tier}}})),
        )
        .await
        .expect("create");
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| {
        list.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier=front"))
                .await
                .unwrap()
        ),
        vec!["a", "c"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier in (back),tier!=front"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().expect("a continue token");
    assert_eq!(names(first), vec!["a", "b"]);
    assert_eq!(
        names(
            cms.list(&ListParams::default().limit(2).continue_token(&token))
                .await
                .unwrap()
        ),
        vec!["c"]
    );
    let (code, message) = raw(
        &cluster.client,
        "GET",
        "/api/v1/namespaces/default/configmaps?fieldSelector=status.phase%3DRunning",
        "",
        "",
    )
    .await;
    assert_eq!(
        (code, message.as_str()),
        (400, "field label not supported: status.phase")
    );
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    assert_eq!(
        namespaces
            .list(&ListParams::default().fields("status.phase=Active"))
            .await
            .unwrap()
            .items
            .len(),
        4
    );

    // A list at a version not reached yet waits for it (as the watch cache does).
    let current: u64 = support::list_version(&cms).await.parse().unwrap();
    let later = (current + 1).to_string();
    let at_later = ListParams::default()
        .at(&later)
        .matching(kube::api::VersionMatch::NotOlderThan);
    let ahead = cms.list(&at_later);
    let create = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        cms.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "d"}})),
        )
        .await
        .unwrap();
    };
    let (listed, ()) = tokio::join!(ahead, create);
    assert_eq!(names(listed.unwrap()), vec!["a", "b", "c", "d"]);
}
