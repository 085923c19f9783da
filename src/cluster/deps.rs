//! Bringing dependencies up: each dependency's own `depends_on` edges are awaited, then its
//! objects are applied; dependencies that do not depend on each other go in parallel (one
//! level of the dependency graph at a time). Dependencies stay up after the run, as in compose.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::try_join_all;

use super::apply::{self, Known, Outcome};
use super::client::Connection;
use super::error::ClusterError;
use super::rollout::Rollouts;
use super::wait;
use super::watch::PodWatch;
use crate::plan::{Dependency, Object, Plan, Wait, Workload};
use crate::progress::Progress;

/// Applies and waits for every dependency of `plan`, then for the one-off's own edges.
pub async fn bring_up(
    conn: &Connection,
    plan: &Plan,
    wait_timeout: Duration,
    progress: &Progress,
) -> Result<(), ClusterError> {
    let rollouts = Rollouts::default();
    if plan.dependencies.is_empty() && plan.one_off.waits.is_empty() {
        return Ok(());
    }
    // One watch serves every edge, and one list per kind tells which objects are up to date.
    let pods = wait::dependency_pods(conn, &plan.project);
    let objects = plan.dependencies.iter().flat_map(|d| &d.objects);
    let known = Known::list(conn, &plan.project, objects).await?;
    let ctx = Ctx {
        conn,
        plan,
        timeout: wait_timeout,
        progress,
        rollouts: &rollouts,
        pods: &pods,
        known: &known,
    };
    for level in levels(&plan.dependencies) {
        try_join_all(level.into_iter().map(|dep| start_dependency(&ctx, dep))).await?;
    }
    wait_all(&ctx, &plan.one_off.waits).await
}

/// What every step of bringing dependencies up shares.
struct Ctx<'a> {
    conn: &'a Connection,
    plan: &'a Plan,
    timeout: Duration,
    progress: &'a Progress,
    rollouts: &'a Rollouts,
    pods: &'a PodWatch,
    known: &'a Known,
}

/// Waits for `waits` in parallel; optional failures become warnings.
async fn wait_all(ctx: &Ctx<'_>, waits: &[Wait]) -> Result<(), ClusterError> {
    let warnings = try_join_all(waits.iter().map(|w| {
        let only = ctx.rollouts.filter(&w.service);
        wait::edge(ctx.conn, ctx.pods, w, only, ctx.timeout, ctx.progress)
    }))
    .await?;
    for w in warnings.into_iter().flatten() {
        ctx.progress.warn(&w);
    }
    Ok(())
}

async fn start_dependency(ctx: &Ctx<'_>, dep: &Dependency) -> Result<(), ClusterError> {
    let (conn, project, progress) = (ctx.conn, ctx.plan.project.as_str(), ctx.progress);
    wait_all(ctx, &dep.waits).await?;
    if let Workload::Job { .. } = dep.workload {
        apply::delete_finished_jobs(conn, project, &dep.service).await?;
    }
    for obj in &dep.objects {
        let outcome = apply::apply(conn, project, obj, None, ctx.known).await?;
        let (kind, name) = obj.kind_and_name();
        progress.done(&format!("{kind} {name}"), outcome.word(kind));
        if let (Object::Deployment(_), Outcome::Updated) = (obj, outcome) {
            let record = ctx.rollouts.record(conn, project, &dep.service, &name);
            tokio::time::timeout(ctx.timeout, record)
                .await
                .map_err(|_| ClusterError::WaitTimeout {
                    what: format!("Deployment {name}"),
                    condition: "rolled out",
                    timeout: ctx.timeout,
                    events: String::new(),
                })??;
        }
    }
    Ok(())
}

/// Groups dependencies so that each one comes after every dependency it waits for.
fn levels(deps: &[Dependency]) -> Vec<Vec<&Dependency>> {
    let mut level_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut levels: Vec<Vec<&Dependency>> = Vec::new();
    // The plan lists dependencies in apply order (a dependency's own dependencies first).
    for dep in deps {
        let level = dep
            .waits
            .iter()
            .filter_map(|w| level_of.get(w.service.as_str()))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        level_of.insert(dep.service.as_str(), level);
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(dep);
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Condition;

    fn dep(service: &str, waits_on: &[&str]) -> Dependency {
        Dependency {
            service: service.into(),
            objects: vec![],
            workload: Workload::Deployment {
                name: service.into(),
            },
            waits: waits_on
                .iter()
                .map(|s| Wait {
                    service: s.to_string(),
                    workload: Workload::Deployment {
                        name: s.to_string(),
                    },
                    condition: Condition::Started,
                    required: true,
                    health_budget: None,
                })
                .collect(),
        }
    }

    #[test]
    fn independent_dependencies_share_a_level() {
        let deps = vec![
            dep("db", &[]),
            dep("cache", &[]),
            dep("api", &["db"]),
            dep("x", &["api", "cache"]),
        ];
        let names: Vec<Vec<&str>> = levels(&deps)
            .iter()
            .map(|l| l.iter().map(|d| d.service.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["db", "cache"], vec!["api"], vec!["x"]]);
    }
}
