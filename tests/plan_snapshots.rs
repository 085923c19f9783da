//! Snapshot tests of planning: each `tests/data/plan/<case>/` holds a compose project and an
//! `args` file (krun's command line after `krun`, `--dry-run` implied; optional `env` file for
//! the process environment). The snapshot is the rendered `List`, the warnings and what the
//! runtime is told (waits, forwards, copies) — or the error. A second test checks every
//! rendered object against its k8s-openapi type and the API server's validation rules.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use krun::cli::args::OutputFormat;
use krun::plan::{self, Object, Plan};

#[path = "support/plan.rs"]
mod support;
use support::plan_argv;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plan");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/data/plan exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("args").exists())
        .collect();
    out.sort();
    out
}

/// Loads and plans one case: the plan and its `-o` format, or the error text (usage, loading
/// or planning).
fn plan_case(dir: &Path) -> Result<(Plan, OutputFormat), String> {
    let args = std::fs::read_to_string(dir.join("args")).map_err(|e| e.to_string())?;
    let mut argv = vec!["krun".to_string(), "--dry-run".to_string()];
    argv.extend(krun::compose::shellwords::split(args.trim()).map_err(|e| format!("{e:?}"))?);
    let mut env = IndexMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            env.insert(k.to_string(), v.to_string());
        }
    }
    plan_argv(dir, &argv, env)
}

/// What the runtime is told besides the objects.
fn runtime_summary(plan: &Plan) -> String {
    let mut out = String::new();
    let o = &plan.one_off;
    for d in &plan.dependencies {
        out.push_str(&format!("dependency {}: {:?}\n", d.service, d.workload));
        for w in &d.waits {
            out.push_str(&format!("  waits for {w:?}\n"));
        }
    }
    out.push_str(&format!(
        "one-off {} (container {}): io {:?}, rm {}, detach {}, grace {:?}, timeout {:?}\n",
        o.service, o.container, o.io, o.rm, o.detach, o.grace_period, o.timeout
    ));
    for w in &o.waits {
        out.push_str(&format!("  waits for {w:?}\n"));
    }
    for f in &o.forwards {
        out.push_str(&format!("  forward {f:?}\n"));
    }
    for c in &o.copies {
        out.push_str(&format!("  copy {c:?}\n"));
    }
    out
}

fn snapshot_text(dir: &Path) -> String {
    let text = match plan_case(dir) {
        Ok((plan, output)) => {
            let mut warnings: Vec<String> = plan
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect();
            if warnings.is_empty() {
                warnings.push("no warnings".into());
            }
            format!(
                "{}\n---\n{}---\n{}",
                warnings.join("\n"),
                runtime_summary(&plan),
                plan::render(&plan, output)
            )
        }
        Err(e) => format!("error: {e}\n"),
    };
    redact_hashes(&text.replace(&dir.display().to_string(), "/project"))
}

/// Config hashes cover host paths where objects hold them (hostPath mounts), so they differ
/// between checkouts; their behaviour is unit-tested in `plan::labels`.
fn redact_hashes(text: &str) -> String {
    const KEY: &str = "com.docker.compose.config-hash";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        let hex_at = tail
            .find(|c: char| c.is_ascii_hexdigit())
            .filter(|&i| tail[i..].len() >= 64 && tail[..i].len() <= 4);
        match hex_at {
            Some(i) => {
                out.push_str(&tail[..i]);
                out.push_str("<sha256>");
                rest = &tail[i + 64..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn plans_match_their_snapshots() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for dir in cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        insta::assert_snapshot!(name, snapshot_text(&dir));
    }
}

/// Deserialises a rendered item into its k8s-openapi type and serialises it back: any field
/// the type does not know (or a wrong shape) makes the round trip differ.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(
    item: &serde_json::Value,
) -> Result<(), String> {
    let typed: T = serde_json::from_value(item.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back == item {
        Ok(())
    } else {
        Err(format!("round trip changed the object:\n{item}\n{back}"))
    }
}

#[test]
fn every_rendered_object_is_valid() {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    let mut checked = 0;
    for dir in cases() {
        let Ok((plan, _)) = plan_case(&dir) else {
            continue;
        };
        let problems = plan::validate::check(&plan);
        assert!(problems.is_empty(), "{}: {problems:#?}", dir.display());
        let list: serde_json::Value =
            serde_json::from_str(&plan::render(&plan, OutputFormat::Json)).expect("JSON");
        assert_eq!(list["kind"], "List");
        for item in list["items"].as_array().expect("items") {
            let result = match item["kind"].as_str() {
                Some("Pod") => round_trips::<core::Pod>(item),
                Some("Service") => round_trips::<core::Service>(item),
                Some("Secret") => round_trips::<core::Secret>(item),
                Some("ConfigMap") => round_trips::<core::ConfigMap>(item),
                Some("PersistentVolumeClaim") => round_trips::<core::PersistentVolumeClaim>(item),
                Some("Deployment") => round_trips::<apps::Deployment>(item),
                Some("Job") => round_trips::<batch::Job>(item),
                other => Err(format!("unexpected kind {other:?}")),
            };
            assert!(result.is_ok(), "{}: {result:?}", dir.display());
            checked += 1;
        }
        let yaml = plan::render(&plan, OutputFormat::Yaml);
        let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).expect("the YAML parses");
        assert_eq!(from_yaml, list, "{}: YAML and JSON differ", dir.display());
    }
    assert!(checked > 100, "only {checked} objects checked");
}

#[test]
fn the_validator_catches_broken_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plan/minimal");
    let (mut plan, _) = plan_case(&dir).expect("minimal plans");
    assert!(plan::validate::check(&plan).is_empty());
    plan.one_off.pod.metadata.name = Some("Not_A_Name".into());
    if let Some(spec) = plan.one_off.pod.spec.as_mut() {
        spec.containers[0].env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
            name: "A=B".into(),
            ..Default::default()
        }]);
    }
    plan.one_off.owned.push(Object::Service(
        k8s_openapi::api::core::v1::Service::default(),
    ));
    let problems = plan::validate::check(&plan);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("invalid name \"Not_A_Name\"")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("environment variable name \"A=B\"")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("empty selector")),
        "{problems:#?}"
    );
}

/// Runs the `krun` binary in a case directory.
fn krun_in(case: &str, args: &[&str]) -> std::process::Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/plan")
        .join(case);
    assert_cmd::Command::cargo_bin("krun")
        .expect("the krun binary")
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent")
        .args(args)
        .output()
        .expect("krun runs")
}

#[test]
fn dry_run_prints_one_list_and_contacts_nothing() {
    let out = krun_in("stack-django", &["--dry-run", "-o", "json", "web", "true"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(list["kind"], "List");
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"Pod"));
    assert!(
        kinds.contains(&"Job") && kinds.contains(&"Deployment"),
        "{kinds:?}"
    );
}

#[test]
fn dry_run_on_bad_input_exits_1_without_a_partial_list() {
    let out = krun_in("network-mode-service", &["--dry-run", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("network_mode") && stderr.contains("service:vpn"),
        "{stderr}"
    );
}
