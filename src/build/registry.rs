//! Where built images go so the cluster can pull them, first that applies: the registry named
//! by `--registry` / `KRUN_REGISTRY`; the one the cluster publishes (KEP-1755 ConfigMap
//! `kube-public/local-registry-hosting`, as kind, k3d and minikube do); the nodes of a kind or
//! minikube cluster directly; the compose file's `x-krun.registry`. Plus the one registry question krun asks: is this tag already there?

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BuildError;

/// Where images are shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A registry: images are pushed to `push` and pods pull them from `pull`.
    Registry {
        /// `host[:port][/prefix]` the builder pushes to.
        push: String,
        /// `host[:port][/prefix]` the nodes' container runtime pulls from.
        pull: String,
        /// Plain HTTP (only for loopback registries).
        insecure: bool,
        /// Where this came from, for progress and errors.
        source: String,
    },
    /// `kind load` into the nodes of kind cluster `cluster`.
    Kind {
        /// The cluster name (the context without `kind-`).
        cluster: String,
    },
    /// `minikube image load` into profile `profile`.
    Minikube {
        /// The minikube profile (the context's name).
        profile: String,
    },
}

impl Destination {
    /// A registry given as `host[:port][/prefix]`; loopback hosts are spoken to over HTTP.
    pub fn registry(value: &str, source: &str) -> Destination {
        let value = value
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Destination::Registry {
            insecure: is_loopback(&value),
            push: value.clone(),
            pull: value,
            source: source.to_string(),
        }
    }

    /// The compose file's `x-krun.registry`.
    pub fn from_compose(x_krun: Option<&serde_json::Value>) -> Option<Destination> {
        let value = x_krun?.get("registry")?.as_str()?;
        (!value.trim().is_empty()).then(|| Destination::registry(value, "x-krun.registry"))
    }

    /// kind and minikube, recognised by their context names.
    pub fn from_context(context: &str) -> Option<Destination> {
        if let Some(cluster) = context.strip_prefix("kind-") {
            return Some(Destination::Kind {
                cluster: cluster.to_string(),
            });
        }
        (context == "minikube").then(|| Destination::Minikube {
            profile: context.to_string(),
        })
    }

    /// The KEP-1755 ConfigMap's `localRegistryHosting.v1` document.
    pub fn from_hosting(document: &str) -> Result<Destination, BuildError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Hosting {
            host: Option<String>,
            host_from_container_runtime: Option<String>,
        }
        let hosting: Hosting = serde_saphyr::from_str(document).map_err(|e| {
            BuildError::Destination(format!(
                "kube-public/local-registry-hosting has no readable localRegistryHosting.v1 \
                 ({e}); fix the ConfigMap or name a registry with --registry"
            ))
        })?;
        let host = hosting.host.filter(|h| !h.is_empty()).ok_or_else(|| {
            BuildError::Destination(
                "kube-public/local-registry-hosting names no host; fix the ConfigMap or name a \
                 registry with --registry"
                    .into(),
            )
        })?;
        let pull = hosting
            .host_from_container_runtime
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| host.clone());
        Ok(Destination::Registry {
            insecure: is_loopback(&host),
            push: host,
            pull,
            source: "kube-public/local-registry-hosting".into(),
        })
    }

    /// What the builder tags and pushes, and what pods run, for `repository:tag`.
    pub fn references(&self, repository: &str, tag: &str) -> (String, String) {
        match self {
            Destination::Registry { push, pull, .. } => (
                format!("{push}/{repository}:{tag}"),
                format!("{pull}/{repository}:{tag}"),
            ),
            // Loaded images keep their local name; the runtime knows it as docker.io's.
            Destination::Kind { .. } | Destination::Minikube { .. } => {
                let local = format!("{repository}:{tag}");
                let full = if repository.contains('/') {
                    format!("docker.io/{local}")
                } else {
                    format!("docker.io/library/{local}")
                };
                (local, full)
            }
        }
    }

    /// One line for progress and `--dry-run`.
    pub fn describe(&self) -> String {
        match self {
            Destination::Registry { push, source, .. } => format!("push to {push} ({source})"),
            Destination::Kind { cluster } => format!("kind load into cluster {cluster}"),
            Destination::Minikube { profile } => format!("minikube image load into {profile}"),
        }
    }
}

/// Whether `host[:port][/…]` is this machine.
fn is_loopback(value: &str) -> bool {
    let host = value.split('/').next().unwrap_or(value);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

/// Whether the registry already has `repository:tag`: `Some(answer)` for a plain-HTTP
/// registry that answered, `None` when unknown (a TLS registry, or no answer): then krun
/// builds (the builder's cache makes that quick) and pushes.
pub async fn has_tag(destination: &Destination, repository: &str, tag: &str) -> Option<bool> {
    let Destination::Registry {
        push,
        insecure: true,
        ..
    } = destination
    else {
        return None;
    };
    let (authority, prefix) = match push.split_once('/') {
        Some((a, p)) => (a, format!("{p}/")),
        None => (push.as_str(), String::new()),
    };
    let request = format!(
        "HEAD /v2/{prefix}{repository}/manifests/{tag} HTTP/1.1\r\nHost: {authority}\r\n\
         Accept: application/vnd.oci.image.index.v1+json, \
         application/vnd.oci.image.manifest.v1+json, \
         application/vnd.docker.distribution.manifest.v2+json, \
         application/vnd.docker.distribution.manifest.list.v2+json\r\n\
         Connection: close\r\n\r\n"
    );
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.ok()?;
        let line = String::from_utf8_lossy(&head[..n]);
        match line.split_whitespace().nth(1)? {
            "200" => Some(true),
            "404" => Some(false),
            _ => None,
        }
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_images_go() {
        let kep = Destination::from_hosting(
            "host: \"localhost:5001\"\nhostFromContainerRuntime: \"kind-registry:5000\"\nhelp: x\n",
        )
        .unwrap();
        assert_eq!(
            kep.references("p-web", "krun-1"),
            (
                "localhost:5001/p-web:krun-1".into(),
                "kind-registry:5000/p-web:krun-1".into()
            )
        );
        assert!(matches!(kep, Destination::Registry { insecure: true, .. }));
        assert!(Destination::from_hosting("help: nothing\n").is_err());
        let remote = Destination::registry("https://ghcr.io/team/", "--registry");
        assert!(
            matches!(&remote, Destination::Registry { insecure: false, push, .. } if push == "ghcr.io/team")
        );
        assert_eq!(
            Destination::from_context("kind-dev"),
            Some(Destination::Kind {
                cluster: "dev".into()
            })
        );
        assert_eq!(
            Destination::from_context("minikube")
                .unwrap()
                .references("org/api", "t")
                .1,
            "docker.io/org/api:t"
        );
        assert_eq!(Destination::from_context("prod"), None);
        let x = serde_json::json!({"registry": "reg.example:5000"});
        assert!(Destination::from_compose(Some(&x)).is_some());
    }

    #[tokio::test]
    async fn asks_a_plain_http_registry_for_the_tag() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 1024];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let status = if req.starts_with("HEAD /v2/team/web/manifests/there ") {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let d = Destination::registry(&format!("127.0.0.1:{port}/team"), "test");
        assert_eq!(has_tag(&d, "web", "there").await, Some(true));
        assert_eq!(has_tag(&d, "web", "missing").await, Some(false));
        let tls = Destination::registry("ghcr.io/team", "test");
        assert_eq!(has_tag(&tls, "web", "x").await, None);
    }
}
