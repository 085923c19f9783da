//! Many krun runs at once on the real cluster, as ten developers' CI jobs make them: 20 parallel
//! runs of one project with two dependencies (20 right outputs, each dependency created once),
//! 5 projects in one namespace (each keeps to its own objects, and one that reuses another's
//! service name is refused with the owner named), and two `krun down` at once.
//! Runs when `KRUN_E2E_KUBECONFIG` names the kit's cluster.

mod support;

use std::path::Path;

use serde_json::Value;
use support::kit::{self, Namespace, text};

/// A project of `app` depending on `db<suffix>` and `cache<suffix>`, written to `dir`.
/// Dependencies are Services named after their service (so that the name resolves, as in
/// compose): projects that share a namespace need distinct service names.
fn project(dir: &Path, suffix: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let compose = format!(
        "services:\n  db{suffix}:\n    image: busybox:1.36\n    command: sleep 3600\n  \
         cache{suffix}:\n    image: busybox:1.36\n    command: sleep 3600\n  \
         app:\n    image: busybox:1.36\n    depends_on: [db{suffix}, cache{suffix}]\n"
    );
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
}

/// The project's Deployments: (name, metadata.generation).
fn deployments(ns: &Namespace, project: &str) -> Vec<(String, i64)> {
    let selector = format!("com.docker.compose.project={project}");
    let out = ns.kubectl_ok(&["get", "deployments", "-l", &selector, "-o", "json"], None);
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut found: Vec<(String, i64)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            (name, d["metadata"]["generation"].as_i64().unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn twenty_parallel_runs_share_dependencies_created_once() {
    let Some(kubeconfig) = kit::kubeconfig("twenty_parallel_runs_share_dependencies_created_once")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "parallel");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("shop");
    project(&app, "");
    let runs: Vec<(usize, std::process::Child)> = (0..20)
        .map(|i| {
            (
                i,
                ns.krun(&app, &["--rm", "-T", "app", "echo", &format!("run {i}")]),
            )
        })
        .collect();
    for (i, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("run {i}\n"),
            "run {i}: {}",
            text(&out)
        );
    }
    // Created once: one object each, never updated after its creation.
    assert_eq!(
        deployments(&ns, "shop"),
        vec![("cache".to_string(), 1), ("db".to_string(), 1)]
    );
    assert!(
        ns.names("pods", kit::ONEOFF).is_empty(),
        "--rm removed every one-off"
    );
}

#[test]
fn projects_in_one_namespace_keep_to_their_own_and_downs_may_overlap() {
    let Some(kubeconfig) =
        kit::kubeconfig("projects_in_one_namespace_keep_to_their_own_and_downs_may_overlap")
    else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "projects");
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..5).map(|i| format!("team{i}")).collect();
    let runs: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let path = dir.path().join(name);
            project(&path, &i.to_string());
            ns.krun(&path, &["--rm", "-T", "app", "echo", name])
        })
        .collect();
    for (name, child) in names.iter().zip(runs) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name}\n"));
    }
    for (i, name) in names.iter().enumerate() {
        let found: Vec<String> = deployments(&ns, name).into_iter().map(|d| d.0).collect();
        assert_eq!(found, vec![format!("cache{i}"), format!("db{i}")], "{name}");
    }
    // A sixth project whose service is named like team1's: refused, team1's objects untouched.
    let intruder = dir.path().join("intruder");
    project(&intruder, "1");
    let out = ns
        .krun(&intruder, &["--rm", "-T", "app", "true"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        text(&out).contains("team1"),
        "names the owner: {}",
        text(&out)
    );
    assert_eq!(deployments(&ns, "team1").len(), 2);
    assert!(deployments(&ns, "intruder").is_empty());
    // Two downs of team0 at once: both succeed, team0 is gone, the others are untouched.
    let team0 = dir.path().join("team0");
    let downs = [ns.krun(&team0, &["down"]), ns.krun(&team0, &["down"])];
    for child in downs {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert!(deployments(&ns, "team0").is_empty());
    for name in &names[1..] {
        assert_eq!(deployments(&ns, name).len(), 2, "{name} is untouched");
    }
}
