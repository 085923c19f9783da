//! Server-side apply of planned objects (field manager `krun`): objects krun does not manage,
//! or that belong to another project, are refused; objects whose config-hash annotation is
//! unchanged are left alone.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::Connection;
use super::error::ClusterError;
use super::labels;
use super::outage::repeatable;
use super::status;
use crate::plan::Object;

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist.
    Created,
    /// It existed with another configuration.
    Updated,
    /// It existed with the same config-hash: untouched.
    Unchanged,
}

impl Outcome {
    /// compose's word for it in progress lines: an unchanged workload is "Running".
    pub fn word(self, kind: &str) -> &'static str {
        match (self, kind) {
            (Outcome::Created, _) => "Created",
            (Outcome::Updated, _) => "Recreated",
            (Outcome::Unchanged, "Deployment" | "Job") => "Running",
            (Outcome::Unchanged, _) => "Unchanged",
        }
    }
}

/// The project's objects of the kinds a run applies, from one list per kind: an unchanged
/// object then costs no request of its own. Objects not listed (absent, or someone else's)
/// are still looked up one by one, so foreign objects are refused as before.
#[derive(Debug, Default)]
pub struct Known(BTreeMap<(&'static str, String), ObjectMeta>);

impl Known {
    /// Lists the project's objects of every kind among `objects`, in parallel.
    pub async fn list<'a>(
        conn: &Connection,
        project: &str,
        objects: impl Iterator<Item = &'a Object>,
    ) -> Result<Known, ClusterError> {
        let kinds: BTreeSet<&'static str> = objects.map(|o| o.kind_and_name().0).collect();
        let lists = try_join_all(kinds.into_iter().map(|kind| async move {
            match kind {
                "Secret" => metas::<Secret>(conn, project, kind).await,
                "ConfigMap" => metas::<ConfigMap>(conn, project, kind).await,
                "PersistentVolumeClaim" => {
                    metas::<PersistentVolumeClaim>(conn, project, kind).await
                }
                "Service" => metas::<Service>(conn, project, kind).await,
                "Deployment" => metas::<Deployment>(conn, project, kind).await,
                "Job" => metas::<Job>(conn, project, kind).await,
                _ => metas::<Pod>(conn, project, kind).await,
            }
        }))
        .await?;
        Ok(Known(lists.into_iter().flatten().collect()))
    }
}

/// The metadata of the project's objects of kind `K`.
async fn metas<K>(
    conn: &Connection,
    project: &str,
    kind: &'static str,
) -> Result<Vec<((&'static str, String), ObjectMeta)>, ClusterError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    <K as Resource>::DynamicType: Default,
{
    let params = ListParams::default().labels(&labels::project(project));
    let plural = K::plural(&Default::default()).to_string();
    let api = conn.api::<K>();
    let list = repeatable(conn, &format!("list {plural}"), || api.list(&params))
        .await
        .map_err(|e| conn.fail("list", plural.clone(), e))?;
    Ok(list
        .items
        .into_iter()
        .map(|o| ((kind, o.name_any()), o.meta().clone()))
        .collect())
}

/// Applies `obj` for `project`; `owner` (for objects that live only as long as the one-off)
/// is added to its ownerReferences. `known` may already tell how it exists.
pub async fn apply(
    conn: &Connection,
    project: &str,
    obj: &Object,
    owner: Option<&OwnerReference>,
    known: &Known,
) -> Result<Outcome, ClusterError> {
    let (kind, name) = obj.kind_and_name();
    let known = known.0.get(&(kind, name));
    match obj {
        Object::Secret(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::ConfigMap(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::PersistentVolumeClaim(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::Service(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::Deployment(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::Job(o) => apply_typed(conn, project, kind, o, owner, known).await,
        Object::Pod(o) => apply_typed(conn, project, kind, o, owner, known).await,
    }
}

/// Refuses objects krun does not manage or that belong to another project.
pub fn check_ownership(
    kind: &'static str,
    existing: &kube::api::ObjectMeta,
    project: &str,
    namespace: &str,
) -> Result<(), ClusterError> {
    let labels = existing.labels.clone().unwrap_or_default();
    let name = existing.name.clone().unwrap_or_default();
    if labels.get(labels::MANAGED_BY).map(String::as_str) != Some(labels::KRUN) {
        return Err(ClusterError::NotManaged {
            kind,
            name,
            namespace: namespace.to_string(),
            owner: labels
                .get(labels::MANAGED_BY)
                .map(|m| format!("; it is managed by {m}"))
                .unwrap_or_default(),
        });
    }
    match labels.get(labels::PROJECT) {
        Some(p) if p == project => Ok(()),
        other => Err(ClusterError::OtherProject {
            kind,
            name,
            namespace: namespace.to_string(),
            owner: other.cloned().unwrap_or_else(|| "(none)".into()),
            project: project.to_string(),
        }),
    }
}

fn config_hash(meta: &kube::api::ObjectMeta) -> Option<&String> {
    meta.annotations.as_ref()?.get(labels::CONFIG_HASH)
}

async fn apply_typed<K>(
    conn: &Connection,
    project: &str,
    kind: &'static str,
    obj: &K,
    owner: Option<&OwnerReference>,
    known: Option<&ObjectMeta>,
) -> Result<Outcome, ClusterError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    <K as Resource>::DynamicType: Default,
{
    let api = conn.api::<K>();
    let name = obj.name_any();
    let resource = format!("{}/{name}", K::plural(&Default::default()));
    let existing = match known {
        Some(meta) => Some(meta.clone()),
        None => repeatable(conn, &format!("get {resource}"), || api.get_opt(&name))
            .await
            .map_err(|e| conn.fail("get", resource.clone(), e))?
            .map(|o| o.meta().clone()),
    };
    let outcome = match &existing {
        None => Outcome::Created,
        Some(e) => {
            check_ownership(kind, e, project, conn.namespace())?;
            let planned = config_hash(obj.meta());
            if planned.is_some() && planned == config_hash(e) {
                return Ok(Outcome::Unchanged);
            }
            if kind == "Job" {
                // A Job's pod template is immutable: replace the Job.
                let params = DeleteParams::background();
                repeatable(conn, &format!("delete {resource}"), || {
                    api.delete(&name, &params)
                })
                .await
                .map_err(|e| conn.fail("delete", resource.clone(), e))?;
            }
            Outcome::Updated
        }
    };
    let mut obj = obj.clone();
    if let Some(owner) = owner {
        set_owner(obj.meta_mut(), owner);
    }
    let (params, patch) = (PatchParams::apply(labels::KRUN).force(), Patch::Apply(&obj));
    repeatable(conn, &format!("apply {resource}"), || {
        api.patch(&name, &params, &patch)
    })
    .await
    .map_err(|e| conn.fail("patch", resource, e))?;
    Ok(outcome)
}

/// Points `meta` at `owner`: fills the uid of the planner's reference to it (the uid is only
/// known once the owner exists), or adds the reference.
fn set_owner(meta: &mut kube::api::ObjectMeta, owner: &OwnerReference) {
    let refs = meta.owner_references.get_or_insert_with(Vec::new);
    match refs
        .iter_mut()
        .find(|r| r.kind == owner.kind && r.name == owner.name)
    {
        Some(r) => r.uid = owner.uid.clone(),
        None => refs.push(owner.clone()),
    }
}

/// Deletes `service`'s finished one-shot Jobs from earlier runs (their pods go with them).
pub async fn delete_finished_jobs(
    conn: &Connection,
    project: &str,
    service: &str,
) -> Result<(), ClusterError> {
    let selector = labels::service_pods(project, service);
    let params = ListParams::default().labels(&selector);
    let (api, pods_api) = (conn.api::<Job>(), conn.api::<Pod>());
    let (jobs, pods) = futures::try_join!(
        async {
            repeatable(conn, "list jobs", || api.list(&params))
                .await
                .map_err(|e| conn.fail("list", "jobs", e))
        },
        async {
            repeatable(conn, "list pods", || pods_api.list(&params))
                .await
                .map_err(|e| conn.fail("list", "pods", e))
        },
    )?;
    let delete = DeleteParams::background();
    for job in jobs.items.iter().filter(|j| job_finished(j, &pods.items)) {
        let name = job.name_any();
        match repeatable(conn, &format!("delete jobs/{name}"), || {
            api.delete(&name, &delete)
        })
        .await
        {
            Ok(_) => {}
            Err(e) if super::client::is_not_found(&e) => {}
            Err(e) => return Err(conn.fail("delete", format!("jobs/{name}"), e)),
        }
    }
    Ok(())
}

/// Whether a Job has finished: it says so (`Complete`/`Failed`), or its pods have all exited.
/// The Job controller reports completion a moment after the pod's exit, which is what the
/// previous run waited for.
fn job_finished(job: &Job, pods: &[Pod]) -> bool {
    let said = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        });
    let name = job.name_any();
    let mut its_pods = pods
        .iter()
        .filter(|p| p.labels().get(labels::JOB_NAME) == Some(&name))
        .peekable();
    let has_pods = its_pods.peek().is_some();
    said || (has_pods && its_pods.all(status::ended))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn meta(labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("db".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn owner_uid_is_filled_in_not_duplicated() {
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: "p-web-run-1".into(),
            uid: "u-1".into(),
            ..OwnerReference::default()
        };
        let mut planned = ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: String::new(),
                ..owner.clone()
            }]),
            ..ObjectMeta::default()
        };
        set_owner(&mut planned, &owner);
        assert_eq!(planned.owner_references, Some(vec![owner.clone()]));
        let mut bare = ObjectMeta::default();
        set_owner(&mut bare, &owner);
        assert_eq!(bare.owner_references, Some(vec![owner]));
    }

    #[test]
    fn refuses_foreign_objects() {
        let ours = meta(&[(labels::MANAGED_BY, "krun"), (labels::PROJECT, "p")]);
        assert!(check_ownership("Deployment", &ours, "p", "ns").is_ok());
        let helm = meta(&[(labels::MANAGED_BY, "Helm")]);
        let err = check_ownership("Deployment", &helm, "p", "ns").unwrap_err();
        assert!(err.to_string().contains("managed by Helm"), "{err}");
        assert!(err.to_string().contains("-n"), "{err}");
        let other = meta(&[(labels::MANAGED_BY, "krun"), (labels::PROJECT, "q")]);
        let err = check_ownership("Service", &other, "p", "ns").unwrap_err();
        assert!(err.to_string().contains("project \"q\""), "{err}");
    }
}
