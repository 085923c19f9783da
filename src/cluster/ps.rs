//! `krun ps`: the project's pods. Dependencies that have not finished by default; with `-a`
//! also finished ones and one-off pods (compose hides one-offs unless `--all`).

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::ListParams;
use serde::Serialize;

use super::client::Connection;
use super::error::ClusterError;
use super::labels;
use super::status::{self, Phase};
use crate::request::PsFormat;
use crate::request::PsRequest;

/// One row of `ps`, named as in `docker compose ps --format json`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Row {
    name: String,
    image: String,
    project: String,
    service: String,
    state: String,
    status: String,
    health: String,
    exit_code: i32,
    one_off: bool,
}

/// Lists the project's pods as a table or a JSON array.
pub async fn ps(conn: &Connection, project: &str, req: &PsRequest) -> Result<String, ClusterError> {
    let pods = conn
        .api::<Pod>()
        .list(&ListParams::default().labels(&labels::project(project)))
        .await
        .map_err(|e| conn.fail("list", "pods", e))?;
    let mut rows: Vec<Row> = pods.items.iter().map(|p| row(p, project)).collect();
    rows.retain(|r| req.all || (!r.one_off && r.state != "exited"));
    rows.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
    Ok(match req.format {
        PsFormat::Json => serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into()) + "\n",
        PsFormat::Table => table(&rows),
    })
}

fn row(pod: &Pod, project: &str) -> Row {
    let labels = pod.labels();
    let service = labels.get(labels::SERVICE).cloned().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let name_of_container = status::main_container(pod, &service).to_string();
    let container = spec.and_then(|s| s.containers.iter().find(|c| c.name == name_of_container));
    let has_probe = container.is_some_and(|c| c.readiness_probe.is_some());
    let (state, status, health, exit_code) = match status::phase(pod, &name_of_container) {
        _ if status::terminating(pod) => ("removing", "Terminating".to_string(), "", 0),
        Phase::Unscheduled => ("created", "Pending".into(), "", 0),
        Phase::Waiting { reason } => ("created", reason.unwrap_or_else(|| "Pending".into()), "", 0),
        Phase::Stuck { reason, .. } => ("created", reason, "", 0),
        Phase::Running { ready } => {
            let health = match (has_probe, ready) {
                (false, _) => "",
                (true, true) => "healthy",
                (true, false) => "starting",
            };
            let status = if health.is_empty() {
                "Running".to_string()
            } else {
                format!("Running ({health})")
            };
            ("running", status, health, 0)
        }
        Phase::Exited(e) => ("exited", format!("Exited ({})", e.code), "", e.code),
        Phase::PodFailed { reason, .. } => ("exited", format!("Failed ({reason})"), "", 1),
    };
    Row {
        name: pod.name_any(),
        image: container.and_then(|c| c.image.clone()).unwrap_or_default(),
        project: project.to_string(),
        service,
        state: state.to_string(),
        status,
        health: health.to_string(),
        exit_code,
        one_off: labels.get(labels::ONEOFF).is_some_and(|v| v == "True"),
    }
}

fn table(rows: &[Row]) -> String {
    let header = ["NAME", "IMAGE", "SERVICE", "STATUS"];
    let cells: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.name.as_str(),
                r.image.as_str(),
                r.service.as_str(),
                r.status.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |c: [&str; 4]| {
        let text: Vec<String> = c
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.join("   ").trim_end().to_string() + "\n"
    };
    std::iter::once(header).chain(cells).map(line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(oneoff: &str, state: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p-db-1", "labels": {labels::SERVICE: "db", labels::ONEOFF: oneoff}},
            "spec": {"containers": [{"name": "db", "image": "busybox:1.36"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "db", "ready": true,
                "restartCount": 0, "image": "busybox:1.36", "imageID": "", "state": state}]}}))
        .unwrap()
    }

    #[test]
    fn rows_read_like_compose_ps() {
        let r = row(&pod("False", json!({"running": {}})), "p");
        assert_eq!(
            (r.state.as_str(), r.status.as_str(), r.one_off),
            ("running", "Running", false)
        );
        let r = row(&pod("True", json!({"terminated": {"exitCode": 3}})), "p");
        assert_eq!(
            (r.state.as_str(), r.exit_code, r.one_off),
            ("exited", 3, true)
        );
        let t = table(&[r]);
        assert!(t.starts_with("NAME"), "{t}");
        assert!(t.contains("Exited (3)"), "{t}");
    }
}
