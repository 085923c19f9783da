//! The local image builder krun drives: found in compose's spirit (`docker` — with buildx
//! when present — then `podman`, `buildah`, `nerdctl`; `KRUN_BUILDER` names one), and the
//! command lines that build, push or export an image with it. Command lines are pure
//! functions of the job, so each `build:` key's mapping is unit-tested per builder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::BuildError;
use super::spec::BuildSpec;

/// Which builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `docker build` (the daemon's builder).
    Docker,
    /// `docker buildx build --load` (BuildKit).
    Buildx,
    /// `podman build`.
    Podman,
    /// `buildah build`.
    Buildah,
    /// `nerdctl build` (BuildKit on containerd).
    Nerdctl,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        match name {
            "docker" => Some(Kind::Docker),
            "buildx" | "docker-buildx" => Some(Kind::Buildx),
            "podman" => Some(Kind::Podman),
            "buildah" => Some(Kind::Buildah),
            "nerdctl" => Some(Kind::Nerdctl),
            _ => None,
        }
    }

    /// How it is named in progress and errors.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Buildx => "docker buildx",
            Kind::Podman => "podman",
            Kind::Buildah => "buildah",
            Kind::Nerdctl => "nerdctl",
        }
    }
}

/// A builder found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    /// Which one.
    pub kind: Kind,
    /// Its executable.
    pub program: PathBuf,
}

/// What a build needs besides the `build:` section.
#[derive(Debug, Clone, Default)]
pub struct BuildInputs<'a> {
    /// The Dockerfile to pass with `-f` (a temporary file for `dockerfile_inline`).
    pub dockerfile: Option<&'a Path>,
    /// Every tag the image gets; the first is the one pushed.
    pub tags: Vec<String>,
    /// Build secrets: id and file.
    pub secrets: Vec<(String, PathBuf)>,
}

impl Builder {
    /// Finds the builder: `KRUN_BUILDER` (a name or a path) when set, else the first of
    /// docker (only when its daemon answers), podman, buildah, nerdctl on `PATH`.
    pub async fn detect(
        krun_builder: Option<&str>,
        path: Option<&str>,
    ) -> Result<Builder, BuildError> {
        if let Some(choice) = krun_builder.filter(|c| !c.is_empty()) {
            let file = Path::new(choice)
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or(choice);
            let kind = Kind::from_name(file).ok_or_else(|| BuildError::NoBuilder {
                detail: format!(
                    "KRUN_BUILDER={choice} is not one of docker, buildx, podman, buildah, nerdctl"
                ),
            })?;
            let program = if choice.contains('/') {
                PathBuf::from(choice)
            } else {
                let exe = if kind == Kind::Buildx {
                    "docker"
                } else {
                    choice
                };
                which(exe, path).ok_or_else(|| BuildError::NoBuilder {
                    detail: format!("KRUN_BUILDER={choice}, but {exe} is not on PATH"),
                })?
            };
            return Ok(Builder { kind, program });
        }
        if let Some(docker) = which("docker", path)
            && succeeds(&docker, &["version", "--format", "{{.Server.Version}}"]).await
        {
            let kind = if succeeds(&docker, &["buildx", "version"]).await {
                Kind::Buildx
            } else {
                Kind::Docker
            };
            return Ok(Builder {
                kind,
                program: docker,
            });
        }
        for kind in [Kind::Podman, Kind::Buildah, Kind::Nerdctl] {
            if let Some(program) = which(kind.name(), path) {
                return Ok(Builder { kind, program });
            }
        }
        Err(BuildError::NoBuilder {
            detail: "none of docker (with a running daemon), podman, buildah or nerdctl is on \
                     PATH"
                .into(),
        })
    }

    /// The build command for `spec`, and a warning for each key this builder cannot honour.
    pub fn build_command(
        &self,
        spec: &BuildSpec,
        inputs: &BuildInputs,
    ) -> (Vec<OsString>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut a: Vec<OsString> = Vec::new();
        let arg = |a: &mut Vec<OsString>, flag: &str, value: &str| {
            a.push(flag.into());
            a.push(value.into());
        };
        match self.kind {
            Kind::Buildx => a.extend(["buildx".into(), "build".into(), "--load".into()]),
            Kind::Buildah => a.extend(["build".into(), "--layers".into()]),
            _ => a.push("build".into()),
        }
        if let Some(f) = inputs.dockerfile {
            a.push("-f".into());
            a.push(f.into());
        }
        for t in &inputs.tags {
            arg(&mut a, "-t", t);
        }
        for (k, v) in &spec.args {
            if let Some(v) = v {
                arg(&mut a, "--build-arg", &format!("{k}={v}"));
            }
        }
        if let Some(t) = &spec.target {
            arg(&mut a, "--target", t);
        }
        for (k, v) in &spec.labels {
            arg(&mut a, "--label", &format!("{k}={v}"));
        }
        if let Some(n) = &spec.network {
            arg(&mut a, "--network", n);
        }
        for h in &spec.extra_hosts {
            // compose-go's canonical `host=ip`; builders take `host:ip`.
            arg(&mut a, "--add-host", &h.replacen('=', ":", 1));
        }
        if let Some(s) = spec.shm_bytes() {
            arg(&mut a, "--shm-size", &format!("{s}b"));
        }
        if spec.no_cache {
            a.push("--no-cache".into());
        }
        if spec.pull {
            a.push(match self.kind {
                Kind::Podman | Kind::Buildah => "--pull=always".into(),
                _ => "--pull".into(),
            });
        }
        for c in &spec.cache_from {
            arg(&mut a, "--cache-from", c);
        }
        match spec.platforms.as_slice() {
            [] => {}
            [one] => arg(&mut a, "--platform", one),
            [first, ..] => {
                warnings.push(format!(
                    "platforms: the cluster runs one image; only {first} is built"
                ));
                arg(&mut a, "--platform", first);
            }
        }
        for (id, src) in &inputs.secrets {
            arg(
                &mut a,
                "--secret",
                &format!("id={id},src={}", src.display()),
            );
        }
        for s in &spec.ssh {
            arg(&mut a, "--ssh", s);
        }
        for (name, location) in &spec.additional_contexts {
            if self.kind == Kind::Docker {
                warnings.push(format!(
                    "additional_contexts.{name}: docker's classic builder has no build contexts \
                     (install buildx): ignored"
                ));
                continue;
            }
            arg(&mut a, "--build-context", &format!("{name}={location}"));
        }
        for key in spec.other.keys() {
            warnings.push(format!(
                "{key}: not passed to {}: ignored",
                self.kind.name()
            ));
        }
        a.push(spec.context.clone().into());
        (a, warnings)
    }

    /// The command that pushes `reference` to its registry (`insecure`: plain HTTP).
    pub fn push_command(&self, reference: &str, insecure: bool) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["push".into()];
        match self.kind {
            Kind::Podman | Kind::Buildah if insecure => a.push("--tls-verify=false".into()),
            Kind::Nerdctl if insecure => a.push("--insecure-registry".into()),
            _ => {}
        }
        a.push(reference.into());
        if self.kind == Kind::Buildah {
            a.push(format!("docker://{reference}").into());
        }
        a
    }

    /// The command that writes `reference` to a docker-archive tarball (for `kind load
    /// image-archive` and `minikube image load`).
    pub fn save_command(&self, reference: &str, archive: &Path) -> Vec<OsString> {
        match self.kind {
            Kind::Buildah => vec![
                "push".into(),
                reference.into(),
                format!("docker-archive:{}:{reference}", archive.display()).into(),
            ],
            _ => vec!["save".into(), "-o".into(), archive.into(), reference.into()],
        }
    }

    /// Runs the builder with `args`; its output goes to stderr unless `quiet`, and the last
    /// lines are kept for the error when it fails.
    pub async fn run(&self, what: &str, args: &[OsString], quiet: bool) -> Result<(), BuildError> {
        run_program(&self.program, what, args, quiet).await
    }
}

/// Lines of a failed command's output kept for its error.
const TAIL: usize = 15;

/// Runs `program args`, streaming its output to stderr unless `quiet`; a failure carries the
/// last [`TAIL`] lines.
pub async fn run_program(
    program: &Path,
    what: &str,
    args: &[OsString],
    quiet: bool,
) -> Result<(), BuildError> {
    let command_line = std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BuildError::Failed {
            what: what.to_string(),
            command: command_line.clone(),
            tail: e.to_string(),
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for out in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail = std::collections::VecDeque::with_capacity(TAIL);
    while let Some(line) = rx.recv().await {
        if !quiet {
            eprintln!("{line}");
        }
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().await.map_err(|e| BuildError::Failed {
        what: what.to_string(),
        command: command_line.clone(),
        tail: e.to_string(),
    })?;
    if status.success() {
        return Ok(());
    }
    Err(BuildError::Failed {
        what: what.to_string(),
        command: command_line,
        tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
    })
}

/// Whether `program args` exits 0 (its output discarded).
async fn succeeds(program: &Path, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// `name`'s executable on `path` (a `PATH` value).
pub fn which(name: &str, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builder(kind: Kind) -> Builder {
        Builder {
            kind,
            program: PathBuf::from("/usr/bin/x"),
        }
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_build_key_reaches_the_builder() {
        let spec = BuildSpec::from_model(
            "web",
            &json!({"context": "/p", "args": {"A": "1", "UNSET": null}, "target": "dev",
                "labels": {"l": "v"}, "network": "host", "extra_hosts": ["h=1.2.3.4"],
                "shm_size": "67108864", "no_cache": true, "pull": true, "cache_from": ["c"],
                "platforms": ["linux/amd64", "linux/arm64"], "ssh": ["default"],
                "additional_contexts": {"x": "/other"}, "isolation": "hyperv"}),
        )
        .unwrap();
        let inputs = BuildInputs {
            dockerfile: Some(Path::new("/p/Dockerfile")),
            tags: vec!["r/web:krun-1".into(), "web:1.0".into()],
            secrets: vec![("s".into(), PathBuf::from("/p/s.txt"))],
        };
        let (args, warnings) = builder(Kind::Buildah).build_command(&spec, &inputs);
        assert_eq!(
            strings(&args).join(" "),
            "build --layers -f /p/Dockerfile -t r/web:krun-1 -t web:1.0 --build-arg A=1 \
             --target dev --label l=v --network host --add-host h:1.2.3.4 --shm-size 67108864b \
             --no-cache --pull=always --cache-from c --platform linux/amd64 \
             --secret id=s,src=/p/s.txt --ssh default --build-context x=/other /p"
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("platforms:"));
        assert!(warnings[1].starts_with("isolation:"));
        let (docker, warnings) = builder(Kind::Docker).build_command(&spec, &inputs);
        let docker = strings(&docker).join(" ");
        assert!(
            docker.starts_with("build -f") && docker.contains(" --pull "),
            "{docker}"
        );
        assert!(!docker.contains("--build-context"));
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("additional_contexts.x"))
        );
        let (buildx, _) = builder(Kind::Buildx).build_command(&spec, &inputs);
        assert!(
            strings(&buildx)
                .join(" ")
                .starts_with("buildx build --load -f")
        );
    }

    #[test]
    fn push_and_save_per_builder() {
        let r = "127.0.0.1:5000/p-web:krun-1";
        assert_eq!(
            strings(&builder(Kind::Buildah).push_command(r, true)),
            ["push", "--tls-verify=false", r, &format!("docker://{r}")]
        );
        assert_eq!(
            strings(&builder(Kind::Podman).push_command(r, false)),
            ["push", r]
        );
        assert_eq!(
            strings(&builder(Kind::Nerdctl).push_command(r, true)),
            ["push", "--insecure-registry", r]
        );
        assert_eq!(
            strings(&builder(Kind::Docker).push_command(r, true)),
            ["push", r]
        );
        let archive = Path::new("/tmp/i.tar");
        assert_eq!(
            strings(&builder(Kind::Buildah).save_command(r, archive)),
            ["push", r, &format!("docker-archive:/tmp/i.tar:{r}")]
        );
        assert_eq!(
            strings(&builder(Kind::Podman).save_command(r, archive)),
            ["save", "-o", "/tmp/i.tar", r]
        );
    }

    #[tokio::test]
    async fn krun_builder_names_or_paths_one() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("buildah");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = dir.path().display().to_string();
        let found = Builder::detect(Some("buildah"), Some(&path)).await.unwrap();
        assert_eq!((found.kind, found.program), (Kind::Buildah, fake.clone()));
        let by_path = Builder::detect(Some(fake.to_str().unwrap()), None)
            .await
            .unwrap();
        assert_eq!(by_path.kind, Kind::Buildah);
        assert!(Builder::detect(Some("kaniko"), Some(&path)).await.is_err());
        let none = Builder::detect(None, Some("/nonexistent"))
            .await
            .unwrap_err();
        assert!(none.to_string().contains("podman"), "{none}");
        assert_eq!(
            Builder::detect(None, Some(&path)).await.unwrap().kind,
            Kind::Buildah,
            "found on PATH"
        );
    }

    #[tokio::test]
    async fn a_failed_command_keeps_its_last_lines() {
        let err = run_program(
            Path::new("/bin/sh"),
            "building web",
            &[
                "-c".into(),
                "for i in $(seq 1 30); do echo line $i; done; exit 3".into(),
            ],
            true,
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 30") && !text.contains("line 15\n"),
            "{text}"
        );
        assert!(text.contains("building web"), "{text}");
    }
}
