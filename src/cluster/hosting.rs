//! KEP-1755: the local registry a cluster publishes for images built on this machine (kind,
//! k3d, minikube and the k8s-lab kit write the ConfigMap `kube-public/local-registry-hosting`).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::client::Connection;
use super::error::ClusterError;

/// The ConfigMap's namespace and name, fixed by the KEP.
const NAMESPACE: &str = "kube-public";
const NAME: &str = "local-registry-hosting";
/// The key holding the document.
const KEY: &str = "localRegistryHosting.v1";

/// The cluster's `localRegistryHosting.v1` document, if it publishes one. A cluster without
/// it, or one that does not let krun read `kube-public`, publishes none.
pub async fn local_registry(conn: &Connection) -> Result<Option<String>, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), NAMESPACE);
    match api.get_opt(NAME).await {
        Ok(cm) => Ok(cm.and_then(|cm| cm.data?.remove(KEY))),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
        Err(e) => Err(conn.fail("get", format!("configmaps/{NAME} in {NAMESPACE}"), e)),
    }
}
