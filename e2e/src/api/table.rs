//! Server-side printing: `meta.k8s.io/v1 Table` responses, which kubectl asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`) on `get` and `get -w`, with the
//! API server's columns for each kind (pods' READY/STATUS/RESTARTS, deployments' UP-TO-DATE…).

use serde_json::{Value, json};

use crate::store::str_at;

/// Whether the client asked for Table output.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// A column: name, type, and priority (0 = always shown, 1 = `-o wide`).
type Column = (&'static str, &'static str, u8);

fn columns(resource: &str) -> &'static [Column] {
    match resource {
        "pods" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        "deployments" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "replicasets" => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "jobs" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "services" => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        "configmaps" => &[
            ("Name", "string", 0),
            ("Data", "string", 0),
            ("Age", "string", 0),
        ],
        "secrets" => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Data", "string", 0),
            ("Age", "string", 0),
        ],
        "persistentvolumeclaims" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Age", "string", 0),
            ("VolumeMode", "string", 1),
        ],
        "namespaces" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ],
        "nodes" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        "events" => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    }
}

/// A Table of `objects` with list metadata `metadata` (resourceVersion, continue).
pub fn table(resource: &str, objects: &[Value], metadata: Value) -> Value {
    let definitions: Vec<Value> = columns(resource)
        .iter()
        .map(|(name, kind, priority)| {
            json!({"name": name, "type": kind, "format": if *name == "Name" { "name" } else { "" },
                   "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects.iter().map(|o| row(resource, o)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// One row, carrying the object's metadata as kubectl expects (`PartialObjectMetadata`).
fn row(resource: &str, object: &Value) -> Value {
    let mut meta = object["metadata"].clone();
    if let Some(m) = meta.as_object_mut() {
        m.remove("managedFields");
    }
    json!({
        "cells": cells(resource, object),
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
    })
}

fn age(object: &Value) -> String {
    since(str_at(object, "/metadata/creationTimestamp"))
}

/// The time since an RFC 3339 timestamp, as kubectl prints it; `<unknown>` when unparsable.
fn since(time: &str) -> String {
    match time.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration(jiff::Timestamp::now().duration_since(t).as_secs()),
        Err(_) => "<unknown>".into(),
    }
}

/// apimachinery's `HumanDuration`: `5s`, `2m3s`, `10m`, `3h4m`, `5d`, `2y`…
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        s if s < 60 * 2 => format!("{s}s"),
        s if s < 60 * 10 => {
            let (m, rest) = (s / 60, s % 60);
            if rest == 0 {
                format!("{m}m")
            } else {
                format!("{m}m{rest}s")
            }
        }
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 3600 * 8 => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{m}m")
            }
        }
        s if s < 3600 * 48 => format!("{}h", s / 3600),
        s if s < 3600 * 24 * 8 => {
            let (d, h) = (s / 86400, (s % 86400) / 3600);
            if h == 0 {
                format!("{d}d")
            } else {
                format!("{d}d{h}h")
            }
        }
        s if s < 3600 * 24 * 365 * 2 => format!("{}d", s / 86400),
        s => format!("{}y", s / (86400 * 365)),
    }
}

fn count(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn join(values: impl Iterator<Item = String>) -> String {
    let list: Vec<String> = values.collect();
    if list.is_empty() {
        "<none>".into()
    } else {
        list.join(",")
    }
}

fn containers_images(template_spec: &Value) -> (String, String) {
    let containers = template_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (
        join(containers.iter().map(|c| str_at(c, "/name").to_owned())),
        join(containers.iter().map(|c| str_at(c, "/image").to_owned())),
    )
}

fn selector_text(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match str_at(e, "/operator") {
            "In" => format!("{} in ({})", str_at(e, "/key"), values.join(",")),
            "NotIn" => format!("{} notin ({})", str_at(e, "/key"), values.join(",")),
            "Exists" => str_at(e, "/key").to_owned(),
            _ => format!("!{}", str_at(e, "/key")),
        });
    }
    join(parts.into_iter())
}

fn cells(resource: &str, o: &Value) -> Vec<Value> {
    let name = json!(str_at(o, "/metadata/name"));
    match resource {
        "pods" => pod_cells(o),
        "deployments" => {
            let s = &o["status"];
            let (c, i) = containers_images(&o["spec"]["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    count(&s["readyReplicas"]),
                    count(&o["spec"]["replicas"])
                )),
                json!(count(&s["updatedReplicas"])),
                json!(count(&s["availableReplicas"])),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_text(&o["spec"]["selector"])),
            ]
        }
        "replicasets" => {
            let s = &o["status"];
            let (c, i) = containers_images(&o["spec"]["template"]["spec"]);
            vec![
                name,
                json!(count(&o["spec"]["replicas"])),
                json!(count(&s["replicas"])),
                json!(count(&s["readyReplicas"])),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_text(&o["spec"]["selector"])),
            ]
        }
        "jobs" => job_cells(o),
        "services" => {
            let spec = &o["spec"];
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let node = p["nodePort"]
                        .as_i64()
                        .map(|n| format!(":{n}"))
                        .unwrap_or_default();
                    format!(
                        "{}{node}/{}",
                        count(&p["port"]),
                        p["protocol"].as_str().unwrap_or("TCP")
                    )
                })
                .collect();
            let selector = spec["selector"]
                .as_object()
                .map(|m| {
                    join(
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())),
                    )
                })
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                json!(spec["type"].as_str().unwrap_or("ClusterIP")),
                json!(str_at(spec, "/clusterIP")),
                json!("<none>"),
                json!(join(ports.into_iter())),
                json!(age(o)),
                json!(selector),
            ]
        }
        "configmaps" => {
            let n = o["data"].as_object().map_or(0, |m| m.len())
                + o["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), json!(age(o))]
        }
        "secrets" => vec![
            name,
            json!(str_at(o, "/type")),
            json!(o["data"].as_object().map_or(0, |m| m.len())),
            json!(age(o)),
        ],
        "persistentvolumeclaims" => {
            let s = &o["status"];
            let modes = |v: &Value| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|m| match m {
                        "ReadWriteOnce" => "RWO",
                        "ReadOnlyMany" => "ROX",
                        "ReadWriteMany" => "RWX",
                        "ReadWriteOncePod" => "RWOP",
                        other => other,
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let bound = str_at(s, "/phase") == "Bound";
            vec![
                name,
                json!(str_at(s, "/phase")),
                json!(str_at(o, "/spec/volumeName")),
                json!(if bound {
                    str_at(s, "/capacity/storage")
                } else {
                    ""
                }),
                json!(if bound {
                    modes(&s["accessModes"])
                } else {
                    String::new()
                }),
                json!(str_at(o, "/spec/storageClassName")),
                json!("<unset>"),
                json!(age(o)),
                json!(str_at(o, "/spec/volumeMode")),
            ]
        }
        "namespaces" => vec![name, json!(str_at(o, "/status/phase")), json!(age(o))],
        "nodes" => vec![
            name,
            json!("Ready"),
            json!("control-plane"),
            json!(age(o)),
            json!(str_at(o, "/status/nodeInfo/kubeletVersion")),
            json!("127.0.0.1"),
            json!("<none>"),
            json!(str_at(o, "/status/nodeInfo/osImage")),
            json!(str_at(o, "/status/nodeInfo/kernelVersion")),
            json!(str_at(o, "/status/nodeInfo/containerRuntimeVersion")),
        ],
        "events" => {
            let last = match str_at(o, "/lastTimestamp") {
                "" => str_at(o, "/eventTime"),
                t => t,
            };
            let involved = &o["involvedObject"];
            vec![
                json!(since(last)),
                json!(str_at(o, "/type")),
                json!(str_at(o, "/reason")),
                json!(format!(
                    "{}/{}",
                    str_at(involved, "/kind").to_lowercase(),
                    str_at(involved, "/name")
                )),
                json!(str_at(involved, "/fieldPath")),
                json!(str_at(o, "/source/component")),
                json!(str_at(o, "/message")),
                json!(since(str_at(o, "/firstTimestamp"))),
                json!(count(&o["count"])),
                name,
            ]
        }
        _ => vec![name, json!(age(o))],
    }
}

/// `printPod`: the STATUS column's reason, READY, RESTARTS.
fn pod_cells(o: &Value) -> Vec<Value> {
    let status = &o["status"];
    let statuses = status["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| count(&c["restartCount"])).sum();
    let mut reason = match str_at(status, "/reason") {
        "" => str_at(status, "/phase").to_owned(),
        r => r.to_owned(),
    };
    let mut initializing = false;
    let inits = status["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init_total = o["spec"]["initContainers"].as_array().map_or(0, Vec::len);
    for (i, c) in inits.iter().enumerate() {
        let state = &c["state"];
        if state["terminated"].is_object() && count(&state["terminated"]["exitCode"]) == 0 {
            continue;
        }
        initializing = true;
        reason = if state["terminated"].is_object() {
            match str_at(state, "/terminated/reason") {
                "" => format!("Init:ExitCode:{}", count(&state["terminated"]["exitCode"])),
                r => format!("Init:{r}"),
            }
        } else if !str_at(state, "/waiting/reason").is_empty()
            && str_at(state, "/waiting/reason") != "PodInitializing"
        {
            format!("Init:{}", str_at(state, "/waiting/reason"))
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in statuses.iter().rev() {
            let state = &c["state"];
            if !str_at(state, "/waiting/reason").is_empty() {
                reason = str_at(state, "/waiting/reason").to_owned();
            } else if state["terminated"].is_object() {
                reason = match str_at(state, "/terminated/reason") {
                    "" if count(&state["terminated"]["signal"]) != 0 => {
                        format!("Signal:{}", count(&state["terminated"]["signal"]))
                    }
                    "" => format!("ExitCode:{}", count(&state["terminated"]["exitCode"])),
                    r => r.to_owned(),
                };
            } else if state["running"].is_object() && c["ready"].as_bool() == Some(true) {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if str_at(status, "/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let ip = match str_at(status, "/podIP") {
        "" => "<none>",
        ip => ip,
    };
    let node = match str_at(o, "/spec/nodeName") {
        "" => "<none>",
        n => n,
    };
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(o)),
        json!(ip),
        json!(node),
        json!("<none>"),
        json!("<none>"),
    ]
}

/// The Job columns: 1.32's STATUS (Complete/Failed/Suspended/Running), COMPLETIONS, DURATION.
fn job_cells(o: &Value) -> Vec<Value> {
    let status = &o["status"];
    let condition = |kind: &str| {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| str_at(c, "/type") == kind && str_at(c, "/status") == "True")
    };
    let state = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if condition("Suspended") {
        "Suspended"
    } else if condition("FailureTarget") {
        "FailureTarget"
    } else if condition("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let completions = match o["spec"]["completions"].as_i64() {
        Some(n) => format!("{}/{n}", count(&status["succeeded"])),
        None => format!(
            "{}/1 of {}",
            count(&status["succeeded"]),
            count(&o["spec"]["parallelism"])
        ),
    };
    let duration = match (
        str_at(status, "/startTime").parse::<jiff::Timestamp>(),
        str_at(status, "/completionTime").parse::<jiff::Timestamp>(),
    ) {
        (Ok(start), Ok(end)) => human_duration(end.duration_since(start).as_secs()),
        (Ok(start), Err(_)) => {
            human_duration(jiff::Timestamp::now().duration_since(start).as_secs())
        }
        _ => String::new(),
    };
    let (c, i) = containers_images(&o["spec"]["template"]["spec"]);
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(state),
        json!(completions),
        json!(duration),
        json!(age(o)),
        json!(c),
        json!(i),
        json!(selector_text(&o["spec"]["selector"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }

    #[test]
    fn pod_status_column_shows_the_waiting_reason() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        let cells = pod_cells(&pod);
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[2], "ErrImagePull");
    }
}
