//! Which pods of an updated Deployment count for its `depends_on` edges: only those of the
//! current ReplicaSet (its `pod-template-hash`), never the old pods a rollout is replacing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::ListParams;

use super::client::Connection;
use super::error::ClusterError;
use super::labels;

/// The annotation the Deployment controller numbers ReplicaSets with.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label tying pods to their ReplicaSet's template.
const TEMPLATE_HASH: &str = "pod-template-hash";
/// Pause between looks at a Deployment the controller has not seen yet.
const POLL: Duration = Duration::from_millis(100);

/// Services whose Deployment this run updated, with the label selecting their new pods.
#[derive(Debug, Default)]
pub struct Rollouts(Mutex<BTreeMap<String, String>>);

impl Rollouts {
    /// The extra label selector for `service`'s pods, if its Deployment was updated.
    pub fn filter(&self, service: &str) -> Option<String> {
        self.0.lock().ok()?.get(service).cloned()
    }

    /// Finds the current ReplicaSet of the just-updated `deployment` and remembers it.
    pub async fn record(
        &self,
        conn: &Connection,
        project: &str,
        service: &str,
        deployment: &str,
    ) -> Result<(), ClusterError> {
        let api = conn.api::<Deployment>();
        let resource = format!("deployments/{deployment}");
        loop {
            let d = api
                .get(deployment)
                .await
                .map_err(|e| conn.fail("get", resource.clone(), e))?;
            let observed = d.status.as_ref().and_then(|s| s.observed_generation);
            if observed >= d.metadata.generation {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let sets = conn
            .api::<ReplicaSet>()
            .list(&ListParams::default().labels(&labels::service_pods(project, service)))
            .await
            .map_err(|e| conn.fail("list", "replicasets", e))?;
        let revision = |rs: &ReplicaSet| {
            rs.annotations()
                .get(REVISION)
                .and_then(|r| r.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let hash = sets
            .items
            .iter()
            .max_by_key(|rs| revision(rs))
            .and_then(|rs| rs.labels().get(TEMPLATE_HASH).cloned());
        if let (Some(hash), Ok(mut map)) = (hash, self.0.lock()) {
            map.insert(service.to_string(), format!("{TEMPLATE_HASH}={hash}"));
        }
        Ok(())
    }
}
