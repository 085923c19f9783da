//! `krun down`: removes the project's dependencies (Deployments, Services, Jobs, Secrets,
//! ConfigMaps); `-v` also its PersistentVolumeClaims; `--remove-orphans` also its one-offs.

use std::fmt::Debug;

use futures::future::try_join_all;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{DeleteParams, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::client::{Connection, is_not_found};
use super::error::ClusterError;
use super::labels;
use super::outage::repeatable;
use crate::progress::Progress;
use crate::request::DownRequest;

/// Removes the project's objects.
pub async fn down(
    conn: &Connection,
    project: &str,
    req: &DownRequest,
    progress: &Progress,
) -> Result<(), ClusterError> {
    let deps = format!("{},{}!=True", labels::project(project), labels::ONEOFF);
    let p = progress;
    try_join_all([
        Box::pin(remove::<Deployment>(conn, &deps, p)) as futures::future::BoxFuture<_>,
        Box::pin(remove::<Job>(conn, &deps, p)),
        Box::pin(remove::<Service>(conn, &deps, p)),
        Box::pin(remove::<Secret>(conn, &deps, p)),
        Box::pin(remove::<ConfigMap>(conn, &deps, p)),
    ])
    .await?;
    if req.remove_orphans {
        let one_offs = format!("{},{}=True", labels::project(project), labels::ONEOFF);
        remove::<Job>(conn, &one_offs, p).await?;
        remove::<Pod>(conn, &one_offs, p).await?;
    }
    if req.volumes {
        remove::<PersistentVolumeClaim>(conn, &labels::project(project), p).await?;
    }
    Ok(())
}

/// Deletes every `K` matching `selector` (background propagation, so a Job's or Deployment's
/// pods go too), reporting each; returns how many were removed.
pub async fn remove<K>(
    conn: &Connection,
    selector: &str,
    progress: &Progress,
) -> Result<usize, ClusterError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api = conn.api::<K>();
    let plural = K::plural(&());
    let params = ListParams::default().labels(selector);
    let items = repeatable(conn, &format!("list {plural}"), || api.list(&params))
        .await
        .map_err(|e| conn.fail("list", plural.to_string(), e))?;
    let delete = DeleteParams::background();
    for item in &items.items {
        let name = item.name_any();
        match repeatable(conn, &format!("delete {plural}/{name}"), || {
            api.delete(&name, &delete)
        })
        .await
        {
            Ok(_) => progress.done(&format!("{} {name}", K::kind(&())), "Removed"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(conn.fail("delete", format!("{plural}/{name}"), e)),
        }
    }
    Ok(items.items.len())
}
