//! `docker compose run`'s flags against compose-go: each combination of flags goes through
//! `compose-go-oracle run ... --dry-model` and through krun's own parsing, loading and planning
//! (`--dry-run`, in-process: the printed `List` does not show what the runtime is told, such as
//! the forwarded ports or `--rm` of an attached pod). Both sides are projected onto the same
//! fields (command, entrypoint, environment, labels, user, working directory, mount targets,
//! published ports, aliases, dependencies, name, `--rm`, TTY, stdin, detach), compared as JSON.

use std::collections::BTreeMap;
use std::process::Command;

use indexmap::IndexMap;
use krun::plan::{Object, Plan};
use serde_json::{Value, json};

use super::generated::Rng;
use super::oracle;
use super::support::{SLUG, plan_argv};

/// The project every combination runs against.
const COMPOSE: &str = r#"services:
  web:
    image: nginx
    command: ["echo", "from-compose"]
    entrypoint: ["/docker-entrypoint.sh"]
    environment:
      A: "1"
      SHARED: compose
    labels:
      com.example.svc: web
    user: "100"
    working_dir: /srv
    ports: ["8080:80", "127.0.0.1:9443:443", "5000"]
    volumes: ["./data:/data", "cache:/cache:ro"]
    networks:
      default:
        aliases: [www]
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
  plain:
    image: alpine
  db:
    image: postgres
    healthcheck: {test: ["CMD", "pg_isready"]}
    depends_on: [base]
  cache:
    image: redis
  base:
    image: busybox
  tool:
    image: busybox
    profiles: [tools]
volumes:
  cache: {}
"#;

/// Single flags (and flag pairs with their value), each alone and in random combinations.
const FLAGS: &[&[&str]] = &[
    &[],
    &["-e", "B=2"],
    &["-e", "A=override"],
    &["-e", "EMPTY="],
    &["-e", "HOST_VAR"],
    &["-e", "UNSET_VAR"],
    &["--env", "X=a=b"],
    &["-l", "x=y"],
    &["--label", "com.example.svc=override"],
    &["-u", "1000"],
    &["-u", "1000:1000"],
    &["--user", "0"],
    &["-w", "/tmp"],
    &["--workdir", "/"],
    &["-v", "/host:/data"],
    &["-v", "./local:/new:ro"],
    &["--volume", "/opt:/opt"],
    &["-p", "9000:80"],
    &["-p", "127.0.0.1:9001:81"],
    &["--publish", "9002:82"],
    &["--service-ports"],
    &["-P"],
    &["--use-aliases"],
    &["--no-deps"],
    &["--name", "custom"],
    &["--rm"],
    &["-T"],
    &["-d"],
    &["-i=false"],
    &["-t"],
    &["--entrypoint", "sh -c"],
    &["--env-from-file", "run.env"],
    &["--no-deps=false"],
];

/// Targets and commands the combinations pick from.
const SERVICES: &[&str] = &["web", "plain", "db"];
const COMMANDS: &[&[&str]] = &[&[], &["ls", "-l"], &["sh", "-c", "echo $HOME"]];

/// Random combinations beyond the single flags.
const COMBINATIONS: usize = 60;

/// The fields both sides are compared on.
fn projection(
    command: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    environment: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    rest: Value,
) -> Value {
    let non_empty = |v: Option<Vec<String>>| v.filter(|v| !v.is_empty());
    let mut out = json!({
        "command": non_empty(command),
        "entrypoint": non_empty(entrypoint),
        "environment": environment,
        "labels": labels,
    });
    if let (Some(out), Some(rest)) = (out.as_object_mut(), rest.as_object()) {
        out.extend(rest.clone());
    }
    out
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    })
}

/// Labels a user sets: compose's own (`com.docker.compose.*`) and krun's are left out.
fn user_labels<'a>(
    labels: impl Iterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, String> {
    labels
        .filter(|(k, _)| {
            !k.starts_with("com.docker.compose.")
                && !k.starts_with("krun.dev/")
                && !k.starts_with("app.kubernetes.io/")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The oracle's `--dry-model` document, projected. Ports: krun forwards TCP only and listens
/// on 127.0.0.1 unless the spec names an address (the machine running krun is not the
/// cluster's node), so compose's other ports are left out and its default address filled in.
fn from_oracle(model: &Value) -> Value {
    let service = &model["service"];
    let container = &model["container"];
    let environment = service["environment"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    let labels: BTreeMap<String, String> = container["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    // `-v` onto a target the service already mounts: compose appends it and the engine then
    // refuses the duplicate mount point; krun replaces the service's mount (its README says so).
    let mut by_target = BTreeMap::new();
    for v in service["volumes"].as_array().into_iter().flatten() {
        by_target.insert(
            v["target"].to_string(),
            json!([v["target"], v["read_only"].as_bool().unwrap_or(false)]),
        );
    }
    let mut mounts: Vec<Value> = by_target.into_values().collect();
    mounts.sort_by_key(Value::to_string);
    let mut ports: Vec<Value> = service["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["protocol"].as_str().unwrap_or("tcp") == "tcp")
        .map(|p| {
            let published = p["published"].as_str().and_then(|s| s.parse::<u16>().ok());
            let ip = p["host_ip"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("127.0.0.1");
            json!([ip, published, p["target"]])
        })
        .collect();
    ports.sort_by_key(Value::to_string);
    let mut deps = strings(&model["deps"]).unwrap_or_default();
    deps.sort();
    projection(
        strings(&service["command"]),
        strings(&service["entrypoint"]),
        environment,
        user_labels(labels.iter()),
        json!({
            "user": service["user"],
            "working_dir": service["working_dir"],
            "mounts": mounts,
            "ports": ports,
            "aliases": container["use_network_aliases"],
            "deps": deps,
            "name": container["name"],
            "rm": container["auto_remove"],
            "tty": service["tty"].as_bool().unwrap_or(false),
            "stdin": service["stdin_open"].as_bool().unwrap_or(false),
            "detach": container["detach"],
        }),
    )
}

/// A container string as the kubelet passes it on: `$$` stands for `$` (krun writes every `$`
/// so, since `$(NAME)` would be expanded).
fn expanded(s: &str) -> String {
    s.replace("$$", "$")
}

/// krun's plan, projected: the one-off pod's container and metadata, and what the runtime is
/// told (forwards, `--rm`, TTY, detach).
fn from_plan(plan: &Plan) -> Value {
    let one_off = &plan.one_off;
    let pod = &one_off.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let container = spec
        .containers
        .iter()
        .find(|c| c.name == one_off.container)
        .cloned()
        .unwrap_or_default();
    let environment = container
        .env
        .iter()
        .flatten()
        .map(|e| {
            (
                e.name.clone(),
                expanded(e.value.as_deref().unwrap_or_default()),
            )
        })
        .collect();
    let meta = &pod.metadata;
    let labels = user_labels(
        meta.labels
            .iter()
            .flatten()
            .chain(meta.annotations.iter().flatten()),
    );
    let security = container.security_context.clone().unwrap_or_default();
    let user = security.run_as_user.map(|u| match security.run_as_group {
        Some(g) => format!("{u}:{g}"),
        None => u.to_string(),
    });
    let mut mounts: Vec<Value> = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| json!([m.mount_path, m.read_only.unwrap_or(false)]))
        .collect();
    mounts.sort_by_key(Value::to_string);
    let mut ports: Vec<Value> = one_off
        .forwards
        .iter()
        .map(|f| json!([f.host_ip, f.host_port, f.container_port]))
        .collect();
    ports.sort_by_key(Value::to_string);
    let mut deps: Vec<String> = plan
        .dependencies
        .iter()
        .map(|d| d.service.clone())
        .collect();
    deps.sort();
    let aliases = one_off
        .owned
        .iter()
        .any(|o| matches!(o, Object::Service(_)));
    let expand_all = |v: Option<Vec<String>>| v.map(|v| v.iter().map(|s| expanded(s)).collect());
    projection(
        expand_all(container.args),
        expand_all(container.command),
        environment,
        labels,
        json!({
            "user": user,
            "working_dir": container.working_dir,
            "mounts": mounts,
            "ports": ports,
            "aliases": aliases,
            "deps": deps,
            "name": meta.name,
            "rm": one_off.rm,
            "tty": one_off.io.tty,
            "stdin": one_off.io.interactive,
            "detach": one_off.detach,
        }),
    )
}

/// The combinations: every flag alone against `web`, then random ones of 2–4 flags with a
/// random target and command.
fn combinations() -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&str>> = FLAGS.iter().map(|f| [*f, &["web"][..]].concat()).collect();
    let mut rng = Rng::new(11);
    for _ in 0..COMBINATIONS {
        let mut argv = Vec::new();
        for _ in 0..2 + rng.below(3) {
            argv.extend_from_slice(FLAGS[rng.below(FLAGS.len())]);
        }
        argv.push(SERVICES[rng.below(SERVICES.len())]);
        argv.extend_from_slice(COMMANDS[rng.below(COMMANDS.len())]);
        out.push(argv);
    }
    out
}

#[test]
fn run_flags_shape_the_one_off_as_compose_does() {
    let Some(oracle) = oracle() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp
        .path()
        .canonicalize()
        .expect("canonical temp dir")
        .join("proj");
    std::fs::create_dir_all(dir.join("data")).expect("project dir");
    std::fs::write(dir.join("compose.yaml"), COMPOSE).expect("compose file");
    std::fs::write(dir.join(".env"), "HOST_VAR=from-dotenv\n").expect(".env");
    std::fs::write(dir.join("run.env"), "FROM_FILE=1\nA=from-file\n").expect("run.env");
    let (mut differences, combos) = (Vec::new(), combinations());
    for args in &combos {
        let out = Command::new(&oracle)
            .env_clear()
            .envs([
                ("CONFORM_RUN_SLUG", SLUG),
                ("CONFORM_STDIN_TTY", "false"),
                ("CONFORM_STDOUT_TTY", "false"),
            ])
            .current_dir(&dir)
            .arg("run")
            .args(args)
            .arg("--dry-model")
            .output()
            .expect("the oracle runs");
        let want = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .filter(|m| out.status.success() && m["errors"].is_null())
            .map(|m| from_oracle(&m));
        let argv: Vec<String> = ["krun", "--dry-run", "run"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        // stdin is not a terminal here: a run that attaches it to a TTY fails, in krun as in
        // compose, but krun checks that when it runs, not under --dry-run (which attaches
        // nothing)
        let got = plan_argv(&dir, &argv, IndexMap::new()).and_then(|(plan, _)| {
            let io = plan.one_off.io;
            if io.tty && io.interactive {
                return Err("stdin is not a terminal".to_string());
            }
            Ok(from_plan(&plan))
        });
        let problem = match (&want, &got) {
            (Some(w), Ok(g)) if w == g => None,
            (None, Err(_)) => None,
            (Some(w), Ok(g)) => Some(format!("compose {w}\n   krun {g}")),
            (Some(_), Err(e)) => Some(format!("compose succeeds, krun fails: {e}")),
            (None, Ok(_)) => Some(format!(
                "compose fails, krun succeeds: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        };
        if let Some(p) = problem {
            differences.push(format!("run {}:\n  {p}", args.join(" ")));
        }
    }
    println!(
        "{} of {} run flag combinations identical to compose",
        combos.len() - differences.len(),
        combos.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {} differ:\n{}",
        differences.len(),
        combos.len(),
        differences.join("\n")
    );
}
