//! A service's `build:` section, read from compose-go's canonical model (long syntax, paths
//! already absolute), and the image it produces.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::BuildError;

/// The `build:` keys krun hands to a builder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BuildSpec {
    /// The context: an absolute directory, or a remote URL (git, https).
    pub context: String,
    /// The Dockerfile, relative to the context (or absolute).
    pub dockerfile: Option<String>,
    /// The Dockerfile's text instead of a file.
    pub dockerfile_inline: Option<String>,
    /// `ARG`s; `None` values are unset and not passed.
    pub args: BTreeMap<String, Option<String>>,
    /// The stage to build.
    pub target: Option<String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// The build's network (`host`, `none`, `default`).
    pub network: Option<String>,
    /// `host=ip` entries (compose-go's canonical form).
    pub extra_hosts: Vec<String>,
    /// Bytes of `/dev/shm` (a number, possibly as a string).
    pub shm_size: Option<Value>,
    /// Build without the layer cache.
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// Cache sources.
    pub cache_from: Vec<String>,
    /// Target platforms.
    pub platforms: Vec<String>,
    /// More tags for the image.
    pub tags: Vec<String>,
    /// Build secrets, by top-level secret name.
    pub secrets: Vec<SecretRef>,
    /// SSH agent sockets or keys (`default`, `id=path`).
    pub ssh: Vec<String>,
    /// Named extra contexts.
    pub additional_contexts: BTreeMap<String, String>,
    /// Keys krun does not map (reported as warnings).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// One `build.secrets` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SecretRef {
    /// The top-level secret.
    pub source: String,
    /// The id the Dockerfile mounts it by (default: the source).
    pub target: Option<String>,
}

impl BuildSpec {
    /// Reads `services.<service>.build` of the canonical model.
    pub fn from_model(service: &str, build: &Value) -> Result<BuildSpec, BuildError> {
        BuildSpec::deserialize(build).map_err(|e| BuildError::Spec {
            service: service.to_string(),
            message: e.to_string(),
        })
    }

    /// Whether the context is a URL the builder fetches itself (no local files to hash).
    pub fn is_remote(&self) -> bool {
        ["http://", "https://", "git://", "git@", "ssh://"]
            .iter()
            .any(|p| self.context.starts_with(p))
    }

    /// The Dockerfile's path (the context's `Dockerfile` by default); `None` for an inline
    /// one or a remote context.
    pub fn dockerfile_path(&self) -> Option<PathBuf> {
        if self.dockerfile_inline.is_some() || self.is_remote() {
            return None;
        }
        let name = self.dockerfile.as_deref().unwrap_or("Dockerfile");
        Some(PathBuf::from(&self.context).join(name))
    }

    /// `shm_size` in bytes, as builders take it.
    pub fn shm_bytes(&self) -> Option<String> {
        match self.shm_size.as_ref()? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// The repository part of an image reference: no registry host, no tag, no digest
/// (`ghcr.io/org/api:1.0` → `org/api`, `web` → `web`).
pub fn repository(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let rest = match without_digest.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => without_digest,
    };
    let name = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => rest,
    };
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_canonical_model() {
        let spec = BuildSpec::from_model(
            "web",
            &json!({"context": "/p", "dockerfile": "Containerfile", "args": {"A": "1", "B": null},
                "shm_size": "67108864", "secrets": [{"source": "s"}], "isolation": "x"}),
        )
        .unwrap();
        assert_eq!(
            spec.dockerfile_path(),
            Some(PathBuf::from("/p/Containerfile"))
        );
        assert_eq!(spec.args.get("B"), Some(&None));
        assert_eq!(spec.shm_bytes().as_deref(), Some("67108864"));
        assert_eq!(spec.secrets[0].source, "s");
        assert!(spec.other.contains_key("isolation"));
        assert!(BuildSpec::from_model("web", &json!({"context": 3})).is_err());
    }

    #[test]
    fn repositories_drop_host_and_tag() {
        assert_eq!(repository("web"), "web");
        assert_eq!(repository("myorg/api:1.0"), "myorg/api");
        assert_eq!(repository("ghcr.io/org/api:1.0"), "org/api");
        assert_eq!(repository("localhost:5000/app@sha256:abc"), "app");
        assert_eq!(repository("Proj-Web"), "proj-web");
    }
}
