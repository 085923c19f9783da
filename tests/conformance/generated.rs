//! Property-based differential test: compose projects generated from a seed (services with
//! image or build, environment and env files, ports, volumes, secrets and configs, networks,
//! depends_on, healthchecks, extends, include, profiles, `.env` and interpolation, merged `-f`
//! files) through `krun config` and the compose-go oracle, byte for byte.
//!
//! A generated project is a case in the layout of `tests/data/oracle-extra-cases.yaml`, so a
//! failing one is printed and written (`$CARGO_TARGET_TMPDIR/generated-failures/`) ready to be
//! added there. `KRUN_GEN_SEED` and `KRUN_GEN_COUNT` replay or widen a run.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::{compare, oracle, prepare};

/// Projects per run (CI budget: about a minute on two cores in debug).
const COUNT: usize = 2000;
/// The first seed; project `i` is generated from `SEED + i`.
const SEED: u64 = 0x6b72_756e_0011;

/// splitmix64-seeded xorshift64*: deterministic, no dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with `percent`% probability.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A YAML node written in block style; scalars are written as given (already quoted).
enum Y {
    S(String),
    L(Vec<Y>),
    M(Vec<(String, Y)>),
}

/// A double-quoted YAML scalar.
fn q(s: &str) -> Y {
    Y::S(serde_json::to_string(s).expect("a string serialises"))
}

fn raw(s: &str) -> Y {
    Y::S(s.to_string())
}

impl Y {
    fn write(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Y::S(s) => {
                out.push_str(&pad);
                out.push_str(s);
                out.push('\n');
            }
            Y::L(items) => {
                for item in items {
                    match item {
                        Y::S(s) => out.push_str(&format!("{pad}- {s}\n")),
                        Y::L(_) | Y::M(_) if item.is_empty() => {
                            out.push_str(&format!("{pad}- {}\n", item.flow_empty()))
                        }
                        _ => {
                            let mut nested = String::new();
                            item.write(indent + 2, &mut nested);
                            out.push_str(&pad);
                            out.push_str("- ");
                            out.push_str(&nested[indent + 2..]);
                        }
                    }
                }
            }
            Y::M(entries) => {
                for (k, v) in entries {
                    match v {
                        Y::S(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                        _ if v.is_empty() => {
                            out.push_str(&format!("{pad}{k}: {}\n", v.flow_empty()))
                        }
                        _ => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            v.write(indent + 2, out);
                        }
                    }
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Y::S(_) => false,
            Y::L(l) => l.is_empty(),
            Y::M(m) => m.is_empty(),
        }
    }

    fn flow_empty(&self) -> &'static str {
        match self {
            Y::L(_) => "[]",
            _ => "{}",
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.write(0, &mut out);
        out
    }
}

/// Variables the projects interpolate: set in `.env`, in the shell, empty, or never set.
const VARIABLES: &[&str] = &["TAG", "PORT", "EMPTY", "GREETING", "FROM_SHELL", "MISSING"];

/// Names of generated services, in dependency order (a service depends on earlier ones only).
const SERVICES: &[&str] = &["db", "cache", "api", "web", "worker"];

/// One project being generated: its files, environment and command-line arguments.
struct Gen {
    rng: Rng,
    files: Vec<(String, String)>,
    volumes: Vec<String>,
    networks: Vec<String>,
    secrets: bool,
    configs: bool,
    /// A service merges the `x-common` anchor (`<<: *common`).
    common: bool,
}

impl Gen {
    /// An interpolation of a variable: mostly with a default, rarely a required one (which
    /// fails when the variable is unset).
    fn var(&mut self) -> String {
        let v = self.rng.pick(VARIABLES);
        let form = self.rng.below(100);
        match form {
            0..=19 => format!("${{{v}:-d{}}}", self.rng.below(10)),
            20..=34 => format!("${{{v}-dash}}"),
            35..=44 => format!("${{{v}:+alt}}"),
            45..=49 => format!("${{{v}+plus}}"),
            50..=51 => format!("${{{v}:?{v} is required}}"),
            52 => format!("${{{v}?{v} is unset}}"),
            53..=64 => format!("$${{{v}}}"),
            65..=74 => format!("${v}"),
            _ => format!("${{{v}}}"),
        }
    }

    /// A string value, sometimes interpolated.
    fn text(&mut self) -> String {
        match self.rng.below(6) {
            0 => self.var(),
            1 => format!("pre-{}-post", self.var()),
            2 => "plain value".into(),
            3 => "with $$dollar".into(),
            4 => String::new(),
            _ => format!("v{}", self.rng.below(100)),
        }
    }

    fn image(&mut self) -> Y {
        match self.rng.below(5) {
            0 => q(&format!("nginx:{}", self.var())),
            1 => q("alpine:3.19"),
            2 => raw("redis"),
            3 => q("registry.example.com:5000/team/app:1.2"),
            _ => raw("postgres:16"),
        }
    }

    fn build(&mut self) -> Y {
        self.files
            .push(("app/Dockerfile".into(), "FROM scratch\n".into()));
        if self.rng.chance(40) {
            return raw(self.rng.pick(&["./app", "app", "./app/"]));
        }
        let mut m = vec![("context".into(), raw("./app"))];
        if self.rng.chance(50) {
            m.push(("dockerfile".into(), raw("Dockerfile")));
        }
        if self.rng.chance(50) {
            let arg = self.text();
            m.push((
                "args".into(),
                if self.rng.chance(50) {
                    Y::M(vec![("A".into(), q(&arg)), ("B".into(), raw("2"))])
                } else {
                    Y::L(vec![q(&format!("A={arg}")), q("UNSET_ARG")])
                },
            ));
        }
        if self.rng.chance(30) {
            m.push(("target".into(), raw("dev")));
        }
        Y::M(m)
    }

    fn environment(&mut self) -> Y {
        let n = 1 + self.rng.below(3);
        if self.rng.chance(50) {
            let mut m = Vec::new();
            for i in 0..n {
                let value = match self.rng.below(5) {
                    0 => raw("null"),
                    1 => raw(&self.rng.below(1000).to_string()),
                    2 => raw(self.rng.pick(&["true", "false", "1.5"])),
                    _ => q(&self.text()),
                };
                m.push((format!("E{i}"), value));
            }
            Y::M(m)
        } else {
            let mut l = Vec::new();
            for i in 0..n {
                l.push(match self.rng.below(4) {
                    0 => q(&format!("E{i}")),
                    1 => q(&format!("E{i}=")),
                    2 => q("FROM_SHELL"),
                    _ => q(&format!("E{i}={}", self.text())),
                });
            }
            Y::L(l)
        }
    }

    fn env_file(&mut self) -> Y {
        self.files.push((
            "common.env".into(),
            "COMMON=1\n# a comment\nQUOTED=\"a b\"\nREF=${TAG:-none}\n".into(),
        ));
        match self.rng.below(3) {
            0 => raw("./common.env"),
            1 => Y::L(vec![raw("common.env")]),
            _ => Y::L(vec![
                Y::M(vec![("path".into(), raw("./common.env"))]),
                Y::M(vec![
                    ("path".into(), raw("./missing.env")),
                    ("required".into(), raw("false")),
                ]),
            ]),
        }
    }

    fn ports(&mut self) -> Y {
        let mut l = Vec::new();
        for _ in 0..1 + self.rng.below(2) {
            l.push(match self.rng.below(7) {
                0 => raw("80"),
                1 => q("8080:80"),
                2 => q("127.0.0.1:8081:81/udp"),
                3 => q("9000-9001:9000-9001"),
                4 => q(&format!("${{PORT:-{}}}:80", 7000 + self.rng.below(100))),
                5 => Y::M(vec![
                    ("target".into(), raw("443")),
                    ("published".into(), q("8443")),
                    ("protocol".into(), raw("tcp")),
                    ("mode".into(), raw(self.rng.pick(&["host", "ingress"]))),
                ]),
                _ => Y::M(vec![("target".into(), raw("5000"))]),
            });
        }
        Y::L(l)
    }

    fn named_volume(&mut self) -> String {
        let name = self.rng.pick(&["data", "cache-vol"]).to_string();
        if !self.volumes.contains(&name) {
            self.volumes.push(name.clone());
        }
        name
    }

    fn volumes(&mut self) -> Y {
        let mut l = Vec::new();
        let mut targets = Vec::new();
        for i in 0..1 + self.rng.below(3) {
            let target = format!("/mnt/v{i}");
            targets.push(target.clone());
            l.push(match self.rng.below(8) {
                0 => q(&format!("./data:{target}")),
                1 => q(&format!("./data:{target}:ro")),
                2 => {
                    let name = self.named_volume();
                    q(&format!("{name}:{target}"))
                }
                3 => q(&format!("/tmp:{target}")),
                4 => q(&target),
                5 => Y::M(vec![
                    ("type".into(), raw("bind")),
                    ("source".into(), raw("./data")),
                    ("target".into(), raw(&target)),
                    ("read_only".into(), raw("true")),
                ]),
                6 => {
                    let name = self.named_volume();
                    Y::M(vec![
                        ("type".into(), raw("volume")),
                        ("source".into(), raw(&name)),
                        ("target".into(), raw(&target)),
                        ("volume".into(), Y::M(vec![("nocopy".into(), raw("true"))])),
                    ])
                }
                _ => Y::M(vec![
                    ("type".into(), raw("tmpfs")),
                    ("target".into(), raw(&target)),
                    ("tmpfs".into(), Y::M(vec![("size".into(), raw("1000"))])),
                ]),
            });
        }
        self.files.push(("data/keep".into(), "x\n".into()));
        Y::L(l)
    }

    fn secrets(&mut self, configs: bool) -> Y {
        let name = if configs { "conf" } else { "token" };
        if configs {
            self.configs = true;
        } else {
            self.secrets = true;
        }
        if self.rng.chance(50) {
            Y::L(vec![raw(name)])
        } else {
            let mut m = vec![("source".into(), raw(name))];
            if self.rng.chance(50) {
                m.push((
                    "target".into(),
                    raw(if configs { "/etc/conf" } else { "tok" }),
                ));
            }
            if self.rng.chance(40) {
                m.push(("mode".into(), raw(self.rng.pick(&["0400", "0644", "288"]))));
            }
            Y::L(vec![Y::M(m)])
        }
    }

    fn service_networks(&mut self) -> Y {
        let name = self.rng.pick(&["front", "back"]).to_string();
        if !self.networks.contains(&name) {
            self.networks.push(name.clone());
        }
        match self.rng.below(3) {
            0 => Y::L(vec![raw(&name)]),
            1 => Y::M(vec![(name, raw("null")), ("default".into(), raw("{}"))]),
            _ => Y::M(vec![(
                name,
                Y::M(vec![("aliases".into(), Y::L(vec![raw("alias-one")]))]),
            )]),
        }
    }

    fn depends_on(&mut self, earlier: &[String]) -> Y {
        let dep = earlier[self.rng.below(earlier.len())].clone();
        if self.rng.chance(40) {
            return Y::L(vec![raw(&dep)]);
        }
        let mut m = vec![(
            "condition".into(),
            raw(self.rng.pick(&[
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            ])),
        )];
        if self.rng.chance(30) {
            m.push(("restart".into(), raw("true")));
        }
        if self.rng.chance(30) {
            m.push(("required".into(), raw("false")));
        }
        Y::M(vec![(dep, Y::M(m))])
    }

    fn healthcheck(&mut self) -> Y {
        match self.rng.below(4) {
            0 => Y::M(vec![
                (
                    "test".into(),
                    Y::L(vec![
                        raw("CMD"),
                        raw("curl"),
                        raw("-f"),
                        q("http://localhost"),
                    ]),
                ),
                ("interval".into(), raw("10s")),
                ("timeout".into(), raw("5s")),
                ("retries".into(), raw("3")),
                ("start_period".into(), raw("1m30s")),
            ]),
            1 => Y::M(vec![("test".into(), q("pg_isready -U $$USER"))]),
            2 => Y::M(vec![("disable".into(), raw("true"))]),
            _ => Y::M(vec![("test".into(), Y::L(vec![raw("NONE")]))]),
        }
    }

    fn service(&mut self, earlier: &[String]) -> Vec<(String, Y)> {
        let mut m: Vec<(String, Y)> = Vec::new();
        if self.rng.chance(80) {
            let image = self.image();
            m.push(("image".into(), image));
        }
        if self.rng.chance(25) || m.is_empty() {
            let build = self.build();
            m.push(("build".into(), build));
        }
        if self.rng.chance(30) {
            let cmd = if self.rng.chance(50) {
                q(&format!("echo {}", self.text()))
            } else {
                Y::L(vec![q("sh"), q("-c"), q("echo $$HOME")])
            };
            m.push(("command".into(), cmd));
        }
        if self.rng.chance(50) {
            let env = self.environment();
            m.push(("environment".into(), env));
        }
        if self.rng.chance(20) {
            let f = self.env_file();
            m.push(("env_file".into(), f));
        }
        if self.rng.chance(35) {
            let p = self.ports();
            m.push(("ports".into(), p));
        }
        if self.rng.chance(10) {
            m.push(("expose".into(), Y::L(vec![q("3000"), raw("4000")])));
        }
        if self.rng.chance(35) {
            let v = self.volumes();
            m.push(("volumes".into(), v));
        }
        if self.rng.chance(15) {
            let s = self.secrets(false);
            m.push(("secrets".into(), s));
        }
        if self.rng.chance(15) {
            let c = self.secrets(true);
            m.push(("configs".into(), c));
        }
        if self.rng.chance(30) {
            let n = self.service_networks();
            m.push(("networks".into(), n));
        }
        if !earlier.is_empty() && self.rng.chance(50) {
            let d = self.depends_on(earlier);
            m.push(("depends_on".into(), d));
        }
        if !earlier.is_empty() && self.rng.chance(10) {
            let other = earlier[self.rng.below(earlier.len())].clone();
            m.push(match self.rng.below(3) {
                0 => ("links".into(), Y::L(vec![q(&format!("{other}:alias"))])),
                1 => ("volumes_from".into(), Y::L(vec![q(&format!("{other}:ro"))])),
                _ => ("network_mode".into(), q(&format!("service:{other}"))),
            });
        }
        if self.rng.chance(25) {
            let h = self.healthcheck();
            m.push(("healthcheck".into(), h));
        }
        if self.rng.chance(20) {
            let value = self.text();
            m.push((
                "labels".into(),
                if self.rng.chance(50) {
                    Y::M(vec![("com.example.x".into(), q(&value))])
                } else {
                    Y::L(vec![q(&format!("com.example.y={value}"))])
                },
            ));
        }
        if self.rng.chance(20) {
            m.push((
                "profiles".into(),
                Y::L(vec![raw(self.rng.pick(&["debug", "tools"]))]),
            ));
        }
        if self.rng.chance(30) {
            for _ in 0..1 + self.rng.below(3) {
                let (key, value) = self.misc();
                if !m.iter().any(|(k, _)| *k == key) {
                    m.push((key, value));
                }
            }
        }
        if self.rng.chance(15) {
            m.push((
                "restart".into(),
                raw(self
                    .rng
                    .pick(&["always", "\"no\"", "on-failure:3", "unless-stopped"])),
            ));
        }
        m
    }

    /// One of the other service keys, in one of its syntaxes.
    fn misc(&mut self) -> (String, Y) {
        let (key, value) = match self.rng.below(12) {
            0 => (
                "extra_hosts",
                if self.rng.chance(50) {
                    Y::L(vec![
                        q("host.docker.internal:host-gateway"),
                        q("db=10.0.0.1"),
                    ])
                } else {
                    Y::M(vec![("api.local".into(), q("10.0.0.2"))])
                },
            ),
            1 => (
                "tmpfs",
                if self.rng.chance(50) {
                    raw("/run")
                } else {
                    Y::L(vec![raw("/run"), q("/tmp:size=64m")])
                },
            ),
            2 => (
                "ulimits",
                Y::M(vec![
                    (
                        "nofile".into(),
                        Y::M(vec![
                            ("soft".into(), raw("1024")),
                            ("hard".into(), raw("2048")),
                        ]),
                    ),
                    ("nproc".into(), raw("65535")),
                ]),
            ),
            3 => (
                "deploy",
                Y::M(vec![
                    ("replicas".into(), raw("2")),
                    (
                        "resources".into(),
                        Y::M(vec![(
                            "limits".into(),
                            Y::M(vec![
                                ("cpus".into(), q("0.5")),
                                ("memory".into(), raw("512M")),
                            ]),
                        )]),
                    ),
                ]),
            ),
            4 => ("cap_add", Y::L(vec![raw("NET_ADMIN")])),
            5 => (
                "stop_grace_period",
                raw(self.rng.pick(&["1m30s", "10s", "500ms"])),
            ),
            6 => (
                "entrypoint",
                if self.rng.chance(50) {
                    q("/entry.sh --flag")
                } else {
                    Y::L(vec![q("/bin/sh"), q("-c")])
                },
            ),
            7 => ("working_dir", q(&format!("/srv/{}", self.var()))),
            8 => ("user", q("1000:1000")),
            9 => ("init", raw("true")),
            10 => (
                "mem_limit",
                raw(self.rng.pick(&["1g", "512m", "1073741824"])),
            ),
            _ => {
                self.common = true;
                ("<<", raw("*common"))
            }
        };
        (key.to_string(), value)
    }

    /// `extends`: of a `base` service in the same file, or of `lib/common.yaml`'s `shared`
    /// (whose relative paths are relative to `lib/`).
    fn extends(&mut self, service: &mut Vec<(String, Y)>, top: &mut Vec<(String, Y)>) {
        if self.rng.chance(50) {
            service.push((
                "extends".into(),
                Y::M(vec![("service".into(), raw("base"))]),
            ));
            if !top.iter().any(|(k, _)| k == "base") {
                let env = self.environment();
                top.push((
                    "base".into(),
                    Y::M(vec![
                        ("image".into(), raw("busybox")),
                        ("environment".into(), env),
                        ("labels".into(), Y::L(vec![q("from=base")])),
                    ]),
                ));
            }
        } else {
            service.push((
                "extends".into(),
                Y::M(vec![
                    ("file".into(), raw("lib/common.yaml")),
                    ("service".into(), raw("shared")),
                ]),
            ));
            self.files.push((
                "lib/common.yaml".into(),
                "services:\n  shared:\n    image: busybox\n    environment:\n      SHARED: \"1\"\n    volumes:\n      - ./conf:/conf\n    env_file: shared.env\n".into(),
            ));
            self.files
                .push(("lib/shared.env".into(), "FROM_LIB=yes\n".into()));
        }
    }

    /// `include`: another directory's compose file with one service, `included`.
    fn include(&mut self) -> Y {
        self.files.push((
            "inc/compose.yaml".into(),
            "services:\n  included:\n    image: busybox\n    volumes:\n      - ./incdata:/d\n    environment:\n      - INC=${TAG:-none}\n".into(),
        ));
        if self.rng.chance(50) {
            Y::L(vec![raw("inc/compose.yaml")])
        } else {
            Y::L(vec![Y::M(vec![("path".into(), raw("./inc/compose.yaml"))])])
        }
    }

    /// A later `-f` file: changes to some of `services`, sometimes a new one.
    fn override_file(&mut self, services: &[String]) -> String {
        let mut top = Vec::new();
        for name in services {
            if !self.rng.chance(60) {
                continue;
            }
            let mut m: Vec<(String, Y)> = Vec::new();
            match self.rng.below(8) {
                0 => m.push(("image".into(), self.image())),
                1 => m.push(("environment".into(), self.environment())),
                2 => m.push(("ports".into(), self.ports())),
                3 => m.push(("command".into(), q("echo overridden"))),
                4 => m.push(("volumes".into(), Y::L(vec![q("./other:/mnt/v0")]))),
                5 => m.push(("ports".into(), raw("!reset []"))),
                6 => m.push(("environment".into(), raw("!override {ONLY: \"1\"}"))),
                _ => m.push((
                    "labels".into(),
                    Y::M(vec![("com.example.x".into(), q("override"))]),
                )),
            }
            top.push((name.clone(), Y::M(m)));
        }
        if self.rng.chance(20) {
            top.push(("extra".into(), Y::M(vec![("image".into(), raw("busybox"))])));
        }
        Y::M(vec![("services".into(), Y::M(top))]).text()
    }

    /// `.env`: a random subset of the variables.
    fn dotenv(&mut self) -> String {
        let lines = [
            "TAG=1.25",
            "PORT=8080",
            "EMPTY=",
            "GREETING=\"hello world\"",
            "# a comment",
            "export DEBUG=1",
            "SINGLE='no $TAG here'",
            "REF=${TAG:-none}",
        ];
        let chosen: Vec<&str> = lines.into_iter().filter(|_| self.rng.chance(60)).collect();
        format!("{}\n", chosen.join("\n"))
    }

    fn top_level(&mut self) -> Vec<(String, Y)> {
        let mut top = Vec::new();
        if !self.volumes.is_empty() {
            let mut m = Vec::new();
            for v in self.volumes.clone() {
                m.push((
                    v,
                    match self.rng.below(4) {
                        0 => Y::M(vec![("name".into(), q(&format!("vol-{}", self.var())))]),
                        1 => Y::M(vec![("driver".into(), raw("local"))]),
                        2 => raw("null"),
                        _ => raw("{}"),
                    },
                ));
            }
            top.push(("volumes".into(), Y::M(m)));
        }
        if !self.networks.is_empty() {
            let mut m = Vec::new();
            for n in self.networks.clone() {
                m.push((
                    n,
                    if self.rng.chance(50) {
                        Y::M(vec![("driver".into(), raw("bridge"))])
                    } else {
                        raw("{}")
                    },
                ));
            }
            top.push(("networks".into(), Y::M(m)));
        }
        if self.secrets {
            self.files.push(("secret.txt".into(), "s3cret\n".into()));
            let source = match self.rng.below(4) {
                0 => ("environment", raw("FROM_SHELL")),
                1 => ("external", raw("true")),
                _ => ("file", raw("./secret.txt")),
            };
            top.push((
                "secrets".into(),
                Y::M(vec![(
                    "token".into(),
                    Y::M(vec![(source.0.into(), source.1)]),
                )]),
            ));
        }
        if self.configs {
            self.files.push(("conf.txt".into(), "conf\n".into()));
            let source = match self.rng.below(4) {
                0 => ("content", q(&format!("value {}", self.var()))),
                1 => ("environment", raw("FROM_SHELL")),
                _ => ("file", raw("conf.txt")),
            };
            top.push((
                "configs".into(),
                Y::M(vec![(
                    "conf".into(),
                    Y::M(vec![(source.0.into(), source.1)]),
                )]),
            ));
        }
        top
    }
}

/// The project of `seed`, as a case of `oracle-extra-cases.yaml` (id, files, env, args).
fn project(seed: u64) -> Value {
    let mut g = Gen {
        rng: Rng::new(seed),
        files: Vec::new(),
        volumes: Vec::new(),
        networks: Vec::new(),
        secrets: false,
        configs: false,
        common: false,
    };
    let mut root: Vec<(String, Y)> = Vec::new();
    if g.rng.chance(15) {
        root.push(("name".into(), q("gen${EMPTY:-x}")));
    }
    let mut earlier: Vec<String> = Vec::new();
    if g.rng.chance(15) {
        let include = g.include();
        root.push(("include".into(), include));
        earlier.push("included".into());
    }
    let mut services: Vec<(String, Y)> = Vec::new();
    let wanted = 1 + g.rng.below(4);
    for name in SERVICES {
        if services.len() >= wanted || !g.rng.chance(70) {
            continue;
        }
        let mut service = g.service(&earlier);
        if g.rng.chance(15) {
            g.extends(&mut service, &mut services);
        }
        services.push((name.to_string(), Y::M(service)));
        earlier.push(name.to_string());
    }
    if services.is_empty() {
        services.push(("web".into(), Y::M(vec![("image".into(), raw("nginx"))])));
    }
    let names: Vec<String> = services.iter().map(|(k, _)| k.clone()).collect();
    root.push(("services".into(), Y::M(services)));
    root.extend(g.top_level());
    if g.common || g.rng.chance(10) {
        let anchor =
            r#"&common {environment: {X_COMMON: "1"}, labels: {com.example.common: "yes"}}"#;
        root.insert(0, ("x-common".into(), raw(anchor)));
    }
    g.files
        .insert(0, ("compose.yaml".into(), Y::M(root).text()));
    let mut args = serde_json::Map::new();
    match g.rng.below(10) {
        0..=2 => {
            let text = g.override_file(&names);
            g.files.push(("compose.override.yaml".into(), text));
        }
        3..=4 => {
            let mut files = vec![json!("compose.yaml")];
            for extra in ["extra.yaml", "third.yaml"] {
                if files.len() == 1 || g.rng.chance(40) {
                    let text = g.override_file(&names);
                    g.files.push((extra.into(), text));
                    files.push(json!(extra));
                }
            }
            args.insert("files".into(), Value::Array(files));
        }
        _ => {}
    }
    if g.rng.chance(70) {
        let text = g.dotenv();
        g.files.push((".env".into(), text));
    }
    if g.rng.chance(20) {
        args.insert("profiles".into(), json!(["debug"]));
    }
    let mut env = serde_json::Map::new();
    if g.rng.chance(60) {
        env.insert("FROM_SHELL".into(), json!("shell"));
    }
    if g.rng.chance(20) {
        env.insert("PORT".into(), json!("9090"));
    }
    if g.rng.chance(10) {
        env.insert("COMPOSE_PROFILES".into(), json!("tools"));
    }
    let mut files = serde_json::Map::new();
    for (name, text) in g.files {
        files.entry(name).or_insert(Value::String(text));
    }
    json!({"id": format!("gen-{seed}"), "files": files, "env": env, "args": args})
}

/// `case` as an entry of `oracle-extra-cases.yaml`.
fn case_yaml(case: &Value) -> String {
    let mut out = format!(
        "- id: {}\n  files:\n",
        case["id"].as_str().unwrap_or_default()
    );
    for (name, text) in case["files"].as_object().into_iter().flatten() {
        let text = text.as_str().unwrap_or_default();
        if text.trim().is_empty() {
            out.push_str(&format!("    {name}: \"\"\n"));
            continue;
        }
        let chomp = if text.ends_with('\n') { "" } else { "-" };
        out.push_str(&format!("    {name}: |{chomp}\n"));
        for line in text.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    for key in ["env", "args"] {
        let map = case[key].as_object().filter(|m| !m.is_empty());
        if let Some(map) = map {
            out.push_str(&format!("  {key}:\n"));
            for (k, v) in map {
                out.push_str(&format!("    {k}: {v}\n"));
            }
        }
    }
    out
}

/// The `config` arguments a generated project goes through: always the JSON model, and one
/// more view chosen by the seed.
fn variants(seed: u64) -> [(&'static [&'static str], bool); 2] {
    const MORE: &[(&[&str], bool)] = &[
        (&[], false),
        (&["--services"], true),
        (&["--images"], true),
        (&["--hash=*"], false),
        (&["--profiles"], false),
        (&["--no-normalize"], false),
        (&["--output", "written.json", "--format", "json"], false),
        (&["--no-interpolate"], false),
        (&["--no-interpolate", "--format", "json"], false),
    ];
    [
        (&["--format", "json"], false),
        MORE[(seed % MORE.len() as u64) as usize],
    ]
}

fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_projects_are_identical_to_the_oracle() {
    let Some(oracle) = oracle() else {
        return;
    };
    let first = from_env("KRUN_GEN_SEED", SEED);
    let count = from_env("KRUN_GEN_COUNT", COUNT as u64) as usize;
    let (next, loaded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let failures = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let seed = first + i as u64;
                    let raw = project(seed);
                    let case = prepare(&raw);
                    for (args, unordered) in variants(seed) {
                        let (succeeded, problem) = compare(&case, &oracle, args, unordered);
                        if succeeded && args.first() == Some(&"--format") {
                            loaded.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(problem) = problem {
                            let report = format!("config {}: {problem}", args.join(" "));
                            failures
                                .lock()
                                .expect("no panics")
                                .push((seed, report, raw));
                            break;
                        }
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("no panics");
    failures.sort_by_key(|(seed, _, _)| *seed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated-failures");
    for (seed, report, raw) in &failures {
        let text = case_yaml(raw);
        std::fs::create_dir_all(&dir).expect("failure directory");
        let file = dir.join(format!("gen-{seed}.yaml"));
        std::fs::write(&file, &text).expect("failure file");
        println!(
            "seed {seed} (KRUN_GEN_SEED={seed} KRUN_GEN_COUNT=1), written to {}:\n{text}{report}\n",
            file.display()
        );
    }
    println!(
        "{} of {count} generated projects identical to compose ({} load, the rest fail in both)",
        count - failures.len(),
        loaded.into_inner()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} generated projects differ (first seeds: {:?})",
        failures.len(),
        failures.iter().take(20).map(|f| f.0).collect::<Vec<_>>()
    );
}
