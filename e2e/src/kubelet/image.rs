//! The image table: which images this "node" can pull, with their entrypoint, cmd and env.
//!
//! There is no registry, so an image is known or it is not: known images "pull" (Pulling/Pulled
//! events, then present on the node), unknown ones fail like a registry that says `not found`.

use std::collections::HashSet;
use std::sync::Mutex;

/// What the runtime needs from an image config (`docker inspect`'s `Config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ENTRYPOINT`, empty when unset.
    pub entrypoint: Vec<String>,
    /// `CMD`.
    pub cmd: Vec<String>,
    /// `ENV`, `NAME=value` pairs.
    pub env: Vec<(String, String)>,
    /// `WORKDIR`, `/` when unset.
    pub working_dir: String,
    /// The image's size in bytes, as reported in the `Pulled` event.
    pub size: u64,
    /// The digest the runtime reports in `imageID`.
    pub digest: String,
}

/// A parsed image reference in the runtime's normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io/library/busybox`.
    pub repository: String,
    /// `1.36` (`latest` when the reference has no tag or digest).
    pub tag: String,
}

impl ImageRef {
    /// Normalises a reference the way containerd does (`busybox` →
    /// `docker.io/library/busybox:latest`); `None` for references it would call invalid.
    pub fn parse(image: &str) -> Option<Self> {
        if image.is_empty()
            || image != image.trim()
            || image
                .chars()
                .any(|c| c.is_ascii_uppercase() && !image.contains('/'))
        {
            return None;
        }
        let (name, tag) = match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag.split('@').next().unwrap_or(tag)),
            _ => (image.split('@').next().unwrap_or(image), "latest"),
        };
        let first = name.split('/').next().unwrap_or("");
        let has_registry = name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let repository = if has_registry {
            name.to_owned()
        } else if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        };
        Some(ImageRef {
            repository,
            tag: tag.to_owned(),
        })
    }

    /// The full normalised reference (`docker.io/library/busybox:1.36`): what the runtime
    /// reports in `containerStatuses[].image`.
    pub fn full(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// The image table plus the node's set of pulled images.
#[derive(Debug, Default)]
pub struct Images {
    present: Mutex<HashSet<String>>,
}

/// busybox's default `PATH` and nothing else, as in the Docker Hub image.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Images {
    /// The config of a known image, `None` when the "registry" does not have it.
    pub fn lookup(&self, image: &ImageRef) -> Option<ImageConfig> {
        match image.repository.as_str() {
            "docker.io/library/busybox" => Some(ImageConfig {
                entrypoint: Vec::new(),
                cmd: vec!["sh".to_owned()],
                env: vec![("PATH".to_owned(), DEFAULT_PATH.to_owned())],
                working_dir: "/".to_owned(),
                size: 2_160_406,
                digest: "sha256:768e5c6f5cb6db0794eec98dc7a967f40631746c32232b78a3105fb946f3ab83"
                    .to_owned(),
            }),
            _ => None,
        }
    }

    /// Whether the image was pulled already (for `IfNotPresent` and `Never`).
    pub fn is_present(&self, image: &ImageRef) -> bool {
        self.lock().contains(&image.full())
    }

    /// Records a successful pull.
    pub fn mark_present(&self, image: &ImageRef) {
        self.lock().insert(image.full());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.present.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_containerd() {
        let full = |s: &str| ImageRef::parse(s).map(|r| r.full());
        assert_eq!(
            full("busybox").as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            full("busybox:1.36").as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        assert_eq!(full("me/app:2").as_deref(), Some("docker.io/me/app:2"));
        assert_eq!(
            full("localhost:5000/app").as_deref(),
            Some("localhost:5000/app:latest")
        );
        assert_eq!(full("Busybox"), None);
    }

    #[test]
    fn busybox_is_known_under_every_spelling() {
        let images = Images::default();
        for name in [
            "busybox",
            "busybox:1.36",
            "busybox:latest",
            "docker.io/library/busybox:1.36",
        ] {
            let config = images.lookup(&ImageRef::parse(name).unwrap()).unwrap();
            assert_eq!(config.cmd, vec!["sh"]);
            assert!(config.entrypoint.is_empty());
        }
        assert!(images.lookup(&ImageRef::parse("nope:1").unwrap()).is_none());
    }
}
