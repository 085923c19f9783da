//! krun as a CI job inside the real cluster: its image assembled by `image/assemble.sh` from the
//! binary under test and pushed to the kit's registry, the example Jobs of `manifests/` run with
//! `manifests/rbac.yaml` (passing and failing commands, a git clone), RBAC rules removed one at a
//! time, and a Job deleted mid-run.
//!
//! Runs when `KRUN_E2E_KUBECONFIG` names the k8s-lab cluster (a registry on 127.0.0.1:5000 that
//! its nodes pull from) and an image builder (buildah, podman or docker) is installed; skips with
//! a note otherwise. Each test works in a namespace of its own, deleted afterwards.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::kit::{self, Namespace, ONEOFF};

/// The registry of the k8s-lab kit, as its nodes and this machine both reach it.
const REGISTRY: &str = "127.0.0.1:5000";

/// The kit's kubeconfig, or `None` (with a note) when these tests cannot run here.
fn kit(test: &str) -> Option<PathBuf> {
    let kubeconfig = kit::kubeconfig(test)?;
    let builder = ["buildah", "podman", "docker"].iter().any(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok()
    });
    if !builder {
        eprintln!("skipping {test}: no image builder (buildah, podman, docker) on PATH");
        return None;
    }
    Some(kubeconfig)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// krun's image of `variant`, assembled once per test process and pushed to the kit.
fn image(variant: &'static str) -> String {
    static MINIMAL: OnceLock<String> = OnceLock::new();
    static CI: OnceLock<String> = OnceLock::new();
    let cell = if variant == "ci" { &CI } else { &MINIMAL };
    cell.get_or_init(|| {
        let binary = support::krun_binary().expect("krun builds");
        let out = Command::new("bash")
            .arg(repo_root().join("image/assemble.sh"))
            .args(["--variant", variant, "--repo"])
            .arg(format!("{REGISTRY}/krun-e2e"))
            .arg("--binary")
            .arg(&binary)
            .arg("--push")
            .stderr(Stdio::inherit())
            .output()
            .expect("running image/assemble.sh");
        assert!(out.status.success(), "image/assemble.sh failed");
        let reference = String::from_utf8(out.stdout).expect("utf-8");
        let reference = reference.trim().to_string();
        assert!(
            reference.starts_with(&format!("{REGISTRY}/krun-e2e:")),
            "unexpected reference {reference:?}"
        );
        reference
    })
    .clone()
}

/// A helper process, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The objects of a file of `manifests/`.
fn manifest(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join("manifests").join(file)).expect("manifest");
    serde_saphyr::from_multiple::<Value>(&text).expect("manifest parses")
}

/// The object of `kind` in `objects`.
fn find<'a>(objects: &'a mut [Value], kind: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// The example Job (and its ConfigMap), running the image under test with `args`.
fn example_job(name: &str, args: &[&str]) -> Vec<Value> {
    let mut objects = manifest("job-example.yaml");
    let job = find(&mut objects, "Job");
    job["metadata"]["name"] = json!(name);
    let krun = &mut job["spec"]["template"]["spec"]["containers"][0];
    krun["image"] = json!(image("minimal"));
    krun["args"] = json!(args);
    objects
}

/// manifests/rbac.yaml without the rule that grants `resource`.
fn rbac_without(resource: &str) -> Vec<Value> {
    let mut objects = manifest("rbac.yaml");
    let role = find(&mut objects, "Role");
    let rules = role["rules"].as_array_mut().expect("rules");
    let before = rules.len();
    rules.retain(|r| {
        !r["resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|x| x == resource))
    });
    assert_eq!(
        rules.len() + 1,
        before,
        "exactly one rule grants {resource}"
    );
    objects
}

#[test]
fn the_example_job_passes_and_fails_with_its_command() {
    let Some(kubeconfig) = kit("the_example_job_passes_and_fails_with_its_command") else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "example");
    ns.apply(&manifest("rbac.yaml"));
    // Exactly as shipped, but for the image: a dependency waited for until healthy, a bind
    // mount copied from krun's own pod, `--rm` and `--down`.
    ns.apply(&example_job(
        "krun-example",
        &["--rm", "-T", "--down", "test"],
    ));
    let (passed, log) = ns.job_outcome("krun-example");
    assert!(passed, "the example Job failed; its log:\n{log}");
    assert!(
        log.contains("tests passed"),
        "the command's output is in the Job's log:\n{log}"
    );
    assert!(log.contains("Container db  Healthy"), "{log}");
    ns.nothing_left(30).unwrap();

    let failing = [
        "--rm",
        "-T",
        "--down",
        "test",
        "sh",
        "-c",
        "echo checking; exit 3",
    ];
    job_fails(&ns, "krun-example-fails", &failing, "checking", 3);
}

/// Runs the example Job as `name` with `args`: it must fail with krun exiting `code`, its log
/// must contain `message`, and nothing may be left behind. Returns the log.
fn job_fails(ns: &Namespace, name: &str, args: &[&str], message: &str, code: i64) -> String {
    ns.apply(&example_job(name, args));
    let (passed, log) = ns.job_outcome(name);
    assert!(!passed, "the Job {name} fails; its log:\n{log}");
    assert!(
        log.contains(message),
        "{message:?} in the log of {name}:\n{log}"
    );
    assert_eq!(ns.krun_exit_code(name), code, "{log}");
    ns.nothing_left(30).unwrap();
    log
}

#[test]
fn the_git_example_clones_the_project_then_runs_it() {
    let Some(kubeconfig) = kit("the_git_example_clones_the_project_then_runs_it") else {
        return;
    };
    // The repository: the example's project, served by `git daemon` on the node's address
    // (10.244.0.1, this machine), which the kit's pods reach.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut objects = manifest("job-example.yaml");
    let data = find(&mut objects, "ConfigMap")["data"]
        .as_object()
        .unwrap()
        .clone();
    for (file, text) in &data {
        std::fs::write(work.join(file), text.as_str().unwrap()).unwrap();
    }
    let git = |args: &[&str], cwd: &Path| {
        let ok = Command::new("git")
            .args(["-c", "user.name=e2e", "-c", "user.email=e2e@localhost"])
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"], &work);
    git(&["add", "."], &work);
    git(&["commit", "-q", "-m", "project"], &work);
    git(&["clone", "-q", "--bare", ".", "../app.git"], &work);
    let port = std::net::TcpListener::bind("10.244.0.1:0")
        .expect("the kit's node address is on this machine")
        .local_addr()
        .unwrap()
        .port();
    // git-daemon itself (not `git daemon`, which would leave it running when killed).
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap()
        .stdout;
    let exec_path = PathBuf::from(String::from_utf8(exec_path).unwrap().trim());
    let _daemon = KillOnDrop(
        Command::new(exec_path.join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=10.244.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.path().display()))
            .arg(dir.path())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts"),
    );

    let ns = Namespace::new(&kubeconfig, "git");
    ns.apply(&manifest("rbac.yaml"));
    let mut objects = manifest("job-git-example.yaml");
    let spec = &mut find(&mut objects, "Job")["spec"]["template"]["spec"];
    let clone = &mut spec["initContainers"][0];
    clone["image"] = json!(image("ci"));
    let url = format!("git://10.244.0.1:{port}/app.git");
    let command: Vec<String> = clone["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| match a.as_str().unwrap() {
            a if a.starts_with("https://") => url.clone(),
            a => a.to_string(),
        })
        .collect();
    clone["command"] = json!(command);
    spec["containers"][0]["image"] = json!(image("minimal"));
    ns.apply(&objects);
    let (passed, log) = ns.job_outcome("krun-git-example");
    assert!(passed, "the git example Job failed; its log:\n{log}");
    assert!(log.contains("Cloning into '/project'"), "{log}");
    assert!(log.contains("tests passed"), "{log}");
    ns.nothing_left(30).unwrap();
}

/// Each rule of manifests/rbac.yaml is needed: without it the Job fails with krun's own
/// message naming the verb and the resource, and nothing is left behind.
#[test]
fn each_removed_rbac_rule_fails_with_krun_words() {
    let Some(kubeconfig) = kit("each_removed_rbac_rule_fails_with_krun_words") else {
        return;
    };
    // (the namespace's purpose, the resource whose rule is removed, what krun must say)
    let cases = [
        ("pods", "pods", "krun may not create pods"),
        (
            "deployments",
            "deployments",
            "krun may not list deployments",
        ),
        ("logs", "pods/log", "krun may not get pods/"),
    ];
    std::thread::scope(|scope| {
        for (purpose, resource, message) in &cases {
            let kubeconfig = &kubeconfig;
            scope.spawn(move || {
                let ns = Namespace::new(kubeconfig, purpose);
                ns.apply(&rbac_without(resource));
                let args = ["--rm", "-T", "--down", "test"];
                let log = job_fails(&ns, "krun-example", &args, message, 125);
                assert!(
                    log.contains("manifests/ lists exactly what krun needs"),
                    "{log}"
                );
            });
        }
    });
}

/// A CI system that cancels the Job deletes krun's pod: krun gets SIGTERM, stops the command
/// (which here ignores SIGTERM, so after its grace period), removes the one-off and, with
/// `--down`, the dependencies.
#[test]
fn a_job_deleted_mid_run_leaves_nothing_behind() {
    let Some(kubeconfig) = kit("a_job_deleted_mid_run_leaves_nothing_behind") else {
        return;
    };
    let ns = Namespace::new(&kubeconfig, "cancel");
    ns.apply(&manifest("rbac.yaml"));
    let args = [
        "--rm",
        "-T",
        "--down",
        "test",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ];
    ns.apply(&example_job("krun-example", &args));
    let deadline = Instant::now() + Duration::from_secs(kit::JOB_SECS);
    while !ns.logs("krun-example").contains("started") {
        assert!(
            Instant::now() < deadline,
            "the one-off never started:\n{}",
            ns.logs("krun-example")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(ns.names("pods", ONEOFF).len(), 1);
    ns.kubectl_ok(&["delete", "job", "krun-example", "--wait=false"], None);
    // The one-off's stop_grace_period (10 s) plus the deletions, well within krun's 30 s.
    ns.nothing_left(60).unwrap();
}
