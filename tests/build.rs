//! Which images a run builds, by compose's rules, and the names its pods run them under:
//! `krun::build::jobs` and `images` on typed projects and real command lines.

use krun::build::registry::Destination;
use krun::build::{BuildError, When, images, jobs};
use krun::compose::model::Project;
use krun::request::RunRequest;
use serde_json::json;

fn request(args: &[&str]) -> RunRequest {
    let argv = std::iter::once("krun").chain(args.iter().copied());
    let terminals = krun::cli::Terminals {
        stdin: false,
        stdout: false,
        stdin_null: false,
    };
    match krun::cli::parse(argv, terminals).unwrap().request {
        krun::cli::Request::Run(r) => *r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn compose_decides_what_to_build() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM busybox:1.36\n").unwrap();
    std::fs::write(dir.path().join("s.txt"), "x").unwrap();
    let ctx = dir.path().display().to_string();
    let project = Project::from_canonical(&json!({"name": "p", "services": {
        "web": {"build": {"context": ctx}, "depends_on": {"db": {"condition": "service_started"}}},
        "db": {"build": {"context": ctx, "secrets": [{"source": "s"}]}, "image": "org/db:1", "pull_policy": "build"},
        "cache": {"image": "busybox:1.36"}},
        "secrets": {"s": {"file": format!("{ctx}/s.txt")}}}))
    .unwrap();
    let all = jobs(&project, &request(&["web"])).unwrap();
    let by = |repo: &str| all.iter().find(|j| j.repository == repo).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(by("p-web").when, When::IfMissing);
    assert_eq!(by("org/db").when, When::Always, "pull_policy: build");
    assert_eq!(by("org/db").extra_tags, vec!["org/db:1"]);
    assert_eq!(by("org/db").secrets[0].0, "s");
    assert!(
        jobs(&project, &request(&["--build", "web"]))
            .unwrap()
            .iter()
            .all(|j| j.when == When::Always)
    );
    let alone = jobs(&project, &request(&["--no-deps", "web"])).unwrap();
    assert_eq!(alone.len(), 1);
    let refs = images(&all, Some(&Destination::registry("127.0.0.1:5000", "t")));
    assert!(
        refs["web"].starts_with("127.0.0.1:5000/p-web:krun-"),
        "{refs:?}"
    );
    assert!(images(&all, None)["db"].starts_with("org/db:krun-"));
}

#[test]
fn identical_builds_are_built_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM busybox:1.36\n").unwrap();
    let ctx = dir.path().display().to_string();
    let project = Project::from_canonical(&json!({"name": "p", "services": {
        "a": {"build": {"context": ctx}, "image": "shared"},
        "b": {"build": {"context": ctx}, "image": "shared"}}}))
    .unwrap();
    let all = jobs(&project, &request(&["a"])).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].services, vec!["a", "b"]);
    let missing = Project::from_canonical(&json!({"name": "p", "services": {
        "a": {"build": {"context": ctx, "secrets": [{"source": "nope"}]}}}}))
    .unwrap();
    assert!(matches!(
        jobs(&missing, &request(&["a"])),
        Err(BuildError::Secret { .. })
    ));
}
