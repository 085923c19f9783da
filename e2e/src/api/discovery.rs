//! Discovery: `/version`, `/api`, `/apis`, the per-group-version resource lists, and the
//! OpenAPI paths.
//!
//! kubectl 1.32 first asks `/api` and `/apis` for aggregated discovery
//! (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`).
//! kube-sim answers with the legacy `APIVersions`/`APIGroupList` as `application/json`, the last
//! type kubectl accepts, and kubectl then fetches each group-version's `APIResourceList`, as it
//! does against API servers without aggregated discovery. OpenAPI v3 is served without schemas
//! (see [`openapi_document`]); OpenAPI v2 is not (404), which kubectl tolerates.

use serde_json::{Value, json};

use super::resources::{GROUPS, RESOURCES};

/// The Kubernetes version kube-sim claims to be (what kubectl 1.32 expects to talk to).
pub const GIT_VERSION: &str = "v1.32.0";

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "kube-sim",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

fn group(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv], "preferredVersion": gv})
}

/// `GET /apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|(g, v)| group(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`, if served.
pub fn api_group(name: &str) -> Option<Value> {
    let (g, v) = GROUPS.iter().find(|(g, _)| *g == name)?;
    let mut value = group(g, v);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    Some(value)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
            "shortNames": r.short_names,
            "categories": r.categories,
            "storageVersionHash": "",
        }));
        for sub in r.subresources {
            let (kind, verbs): (&str, &[&str]) = match *sub {
                "status" => (r.kind, &["get", "patch", "update"]),
                "log" => ("Pod", &["get"]),
                "attach" | "exec" | "portforward" => ("PodAttachOptions", &["create", "get"]),
                _ => (r.kind, &["update"]),
            };
            resources.push(json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The `api/v1` / `apis/{g}/{v}` keys of the OpenAPI v3 index, with their served group-versions.
fn openapi_group_versions() -> Vec<(String, &'static str, &'static str)> {
    std::iter::once(("api/v1".to_owned(), "", "v1"))
        .chain(
            GROUPS
                .iter()
                .map(|(g, v)| (format!("apis/{g}/{v}"), *g, *v)),
        )
        .collect()
}

/// `GET /openapi/v3`: the index of per-group-version documents.
pub fn openapi_index() -> Value {
    let paths: serde_json::Map<String, Value> = openapi_group_versions()
        .into_iter()
        .map(|(key, _, _)| {
            let url = format!("/openapi/v3/{key}?hash=kube-sim");
            (key, json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

/// `GET /openapi/v3/{api/v1|apis/g/v}`: a document with each resource's item path and its
/// PATCH operation, which is what kubectl reads to learn that the server validates fields
/// (`fieldValidation`) and which patch types it takes. No schemas: kubectl then computes
/// client-side apply patches from its built-in types, as it does for servers without them.
pub fn openapi_document(path: &str) -> Option<Value> {
    let (_, group, version) = openapi_group_versions()
        .into_iter()
        .find(|(key, _, _)| key == path)?;
    let mut paths = serde_json::Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let prefix = if group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{group}/{version}")
        };
        let item = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let parameters: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
            .collect();
        paths.insert(item, json!({
            "patch": {
                "operationId": format!("patch{}", r.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
                "parameters": parameters,
                "requestBody": {"content": {
                    "application/json-patch+json": {"schema": {}},
                    "application/merge-patch+json": {"schema": {}},
                    "application/apply-patch+yaml": {"schema": {}},
                }},
                "responses": {"200": {"description": "OK"}},
            },
        }));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
