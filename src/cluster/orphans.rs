//! compose's orphans (compose-run.md §6.6): finished one-offs, and pods of services no longer
//! in the compose files. Warned about unless `COMPOSE_IGNORE_ORPHANS`; removed with
//! `--remove-orphans`.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::ListParams;

use super::client::Connection;
use super::down::remove;
use super::error::ClusterError;
use super::labels;
use super::status;
use crate::progress::Progress;

/// Finds the project's orphans and warns about them or removes them.
pub async fn check(
    conn: &Connection,
    project: &str,
    services: &[String],
    remove_orphans: bool,
    ignore_orphans: bool,
    progress: &Progress,
) -> Result<(), ClusterError> {
    if ignore_orphans && !remove_orphans {
        return Ok(());
    }
    let pods = conn
        .api::<Pod>()
        .list(&ListParams::default().labels(&labels::project(project)))
        .await
        .map_err(|e| conn.fail("list", "pods", e))?;
    let (orphans, gone_services) = find(&pods.items, services);
    if orphans.is_empty() {
        return Ok(());
    }
    if !remove_orphans {
        progress.warn(&format!(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this \
             service in your compose file, you can run this command with the --remove-orphans \
             flag to clean it up.",
            orphans.join(" ")
        ));
        return Ok(());
    }
    for service in &gone_services {
        let selector = format!("{},{}={service}", labels::project(project), labels::SERVICE);
        remove::<Deployment>(conn, &selector, progress).await?;
        remove::<Job>(conn, &selector, progress).await?;
        remove::<Service>(conn, &selector, progress).await?;
        remove::<Pod>(conn, &selector, progress).await?;
    }
    let api = conn.api::<Pod>();
    for pod in pods.items.iter().filter(|p| is_finished_one_off(p)) {
        let name = pod.name_any();
        match api.delete(&name, &Default::default()).await {
            Ok(_) => progress.done(&format!("Pod {name}"), "Removed"),
            Err(e) if super::client::is_not_found(&e) => {}
            Err(e) => return Err(conn.fail("delete", format!("pods/{name}"), e)),
        }
    }
    Ok(())
}

/// A one-off whose command has ended.
fn is_finished_one_off(pod: &Pod) -> bool {
    let one_off = pod
        .labels()
        .get(labels::ONEOFF)
        .is_some_and(|v| v == "True");
    one_off && status::ended(pod)
}

/// The orphan pod names, and the services that no longer exist.
fn find(pods: &[Pod], services: &[String]) -> (Vec<String>, BTreeSet<String>) {
    let mut names = Vec::new();
    let mut gone = BTreeSet::new();
    for pod in pods {
        let service = pod
            .labels()
            .get(labels::SERVICE)
            .cloned()
            .unwrap_or_default();
        let unknown = !services.contains(&service);
        if unknown {
            gone.insert(service);
        }
        if unknown || is_finished_one_off(pod) {
            names.push(pod.name_any());
        }
    }
    (names, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, service: &str, oneoff: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {labels::SERVICE: service, labels::ONEOFF: oneoff}},
            "status": {"phase": phase}}))
        .unwrap()
    }

    /// A one-off whose container exited while the pod's phase still says Running.
    fn exited(name: &str, service: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {labels::SERVICE: service, labels::ONEOFF: "True"}},
            "spec": {"containers": [{"name": service}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": service, "ready": false,
                "restartCount": 0, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 0}}}]}}))
        .unwrap()
    }

    #[test]
    fn finished_one_offs_and_removed_services_are_orphans() {
        let pods = [
            pod("p-web-run-1", "web", "True", "Succeeded"),
            pod("p-web-run-2", "web", "True", "Running"),
            exited("p-web-run-3", "web"),
            pod("db-abc", "db", "False", "Running"),
            pod("old-abc", "old", "False", "Running"),
        ];
        let (names, gone) = find(&pods, &["web".into(), "db".into()]);
        assert_eq!(names, vec!["p-web-run-1", "p-web-run-3", "old-abc"]);
        assert_eq!(gone.into_iter().collect::<Vec<_>>(), vec!["old"]);
    }
}
