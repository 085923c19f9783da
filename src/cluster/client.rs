//! The connection: kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`), `--context`,
//! in-cluster configuration, the namespace, and one access check so that an unreachable or
//! forbidden API server is a single clear error before anything is created.

use std::path::PathBuf;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use super::error::{ApiFailure, ClusterError, Target};
use crate::request::KubeArgs;

/// How long a connection rides out an API server outage unless told otherwise (the default
/// `--wait-timeout`).
const DEFAULT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The in-cluster service account's namespace file.
const INCLUSTER_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A client bound to one namespace, with the names every error message needs.
#[derive(Clone)]
pub struct Connection {
    /// The kube-rs client.
    pub client: Client,
    /// Context, server and namespace, for messages.
    pub target: Target,
    /// How long streams and cleanup ride out an unreachable or failing API server
    /// (`--wait-timeout`).
    pub patience: std::time::Duration,
    /// Set once the API server has answered in this run: from then on a failure to reach it
    /// is an outage to ride out, not a wrong kubeconfig to report at once.
    answered: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .finish()
    }
}

impl Connection {
    /// Rides out API server outages up to `patience` (`--wait-timeout`).
    pub fn with_patience(self, patience: std::time::Duration) -> Connection {
        Connection { patience, ..self }
    }

    /// Notes that the API server answered (see [`Connection::has_answered`]).
    pub fn answered(&self) {
        self.answered
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the API server has answered in this run.
    pub fn has_answered(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The namespace every object of the run lives in.
    pub fn namespace(&self) -> &str {
        &self.target.namespace
    }

    /// A namespaced API handle for `K`.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.target.namespace)
    }

    /// Turns a kube-rs error from `verb` on `resource` into a [`ClusterError`] that names the
    /// context and server and says how to fix it.
    pub fn fail(
        &self,
        verb: &'static str,
        resource: impl Into<String>,
        err: kube::Error,
    ) -> ClusterError {
        let (failure, detail) = classify(&err);
        ClusterError::Api {
            failure,
            verb,
            resource: resource.into(),
            target: Box::new(self.target.clone()),
            detail,
        }
    }
}

/// Whether `err` is the API server's 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

fn classify(err: &kube::Error) -> (ApiFailure, String) {
    match err {
        kube::Error::Api(status) => {
            let failure = match status.code {
                401 => ApiFailure::Unauthorized,
                403 => ApiFailure::Forbidden,
                _ => ApiFailure::Other,
            };
            let detail = if status.message.is_empty() {
                format!("{} ({})", status.reason, status.code)
            } else {
                status.message.clone()
            };
            (failure, detail)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            (ApiFailure::Unreachable, error_chain(err))
        }
        other => (ApiFailure::Other, error_chain(other)),
    }
}

/// An error and its sources on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Where the kubeconfig comes from, in kubectl's order.
enum KubeconfigSource {
    /// `--kubeconfig PATH`.
    Flag(PathBuf),
    /// `KUBECONFIG` (possibly several files, merged).
    Env,
    /// `~/.kube/config`, which exists.
    Home(PathBuf),
    /// None: use the in-cluster configuration.
    None,
}

fn kubeconfig_source(kube: &KubeArgs) -> KubeconfigSource {
    if let Some(p) = &kube.kubeconfig {
        return KubeconfigSource::Flag(p.clone());
    }
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return KubeconfigSource::Env;
    }
    match std::env::home_dir().map(|h| h.join(".kube").join("config")) {
        Some(p) if p.exists() => KubeconfigSource::Home(p),
        _ => KubeconfigSource::None,
    }
}

fn read_kubeconfig(kube: &KubeArgs) -> Result<Option<Kubeconfig>, ClusterError> {
    let read = |p: &PathBuf| {
        Kubeconfig::read_from(p).map_err(|e| {
            ClusterError::Config(format!(
                "cannot read kubeconfig {}: {}; fix the file or pass another with --kubeconfig",
                p.display(),
                error_chain(&e)
            ))
        })
    };
    match kubeconfig_source(kube) {
        KubeconfigSource::Flag(p) | KubeconfigSource::Home(p) => read(&p).map(Some),
        KubeconfigSource::Env => Kubeconfig::from_env().map_err(|e| {
            ClusterError::Config(format!(
                "cannot read the kubeconfig files in KUBECONFIG: {}",
                error_chain(&e)
            ))
        }),
        KubeconfigSource::None => Ok(None),
    }
}

/// The namespace for `--dry-run`: `-n`, else the context's, else the in-cluster service
/// account's, else `default`. Reads files only; contacts nothing.
pub fn namespace_offline(kube: &KubeArgs) -> String {
    if let Some(ns) = &kube.namespace {
        return ns.clone();
    }
    match read_kubeconfig(kube) {
        Ok(Some(kc)) => {
            let ctx = kube.context.clone().or(kc.current_context.clone());
            kc.contexts
                .iter()
                .find(|c| Some(&c.name) == ctx.as_ref())
                .and_then(|c| c.context.as_ref())
                .and_then(|c| c.namespace.clone())
                .unwrap_or_else(|| "default".into())
        }
        Ok(None) => std::fs::read_to_string(INCLUSTER_NAMESPACE)
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
        Err(_) => "default".into(),
    }
}

/// Builds a client for the current (or `--context`) context. Reads the kubeconfig (or the
/// in-cluster config) and sends nothing; [`Connection::preflight`] is the first request.
pub async fn connect(kube: &KubeArgs) -> Result<Connection, ClusterError> {
    let (config, context) = match read_kubeconfig(kube)? {
        Some(kc) => {
            let context = kube
                .context
                .clone()
                .or(kc.current_context.clone())
                .ok_or_else(|| {
                    ClusterError::Config(
                        "the kubeconfig has no current-context; pass --context NAME".into(),
                    )
                })?;
            if !kc.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(ClusterError::Config(format!(
                    "context \"{context}\" is not in the kubeconfig (known: {}); pass one of \
                     them with --context",
                    known.join(", ")
                )));
            }
            let opts = KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            };
            let config = Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| {
                    ClusterError::Config(format!(
                        "cannot use context \"{context}\" of the kubeconfig: {}",
                        error_chain(&e)
                    ))
                })?;
            (config, context)
        }
        None => {
            if kube.context.is_some() {
                return Err(ClusterError::Config(
                    "--context needs a kubeconfig, and none was found (--kubeconfig, \
                     KUBECONFIG, ~/.kube/config)"
                        .into(),
                ));
            }
            let config = Config::incluster().map_err(|e| {
                ClusterError::Config(format!(
                    "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config) and not \
                     running inside a cluster ({}); point krun at a cluster with --kubeconfig",
                    error_chain(&e)
                ))
            })?;
            (config, "in-cluster".to_string())
        }
    };
    let namespace = kube
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| {
        ClusterError::Config(format!(
            "cannot build a client for context \"{context}\" ({server}): {}",
            error_chain(&e)
        ))
    })?;
    let conn = Connection {
        client,
        target: Target {
            context,
            server: server.trim_end_matches('/').to_string(),
            namespace,
        },
        patience: DEFAULT_PATIENCE,
        answered: Default::default(),
    };
    Ok(conn)
}

impl Connection {
    /// Proves the server is reachable and that RBAC lets krun create pods in the namespace, so
    /// a bad setup fails before builds or dependencies are created (a run without them needs
    /// no check: its first creation is the pod). Called once the run is planned, so input
    /// errors are reported without any request.
    pub async fn preflight(&self) -> Result<(), ClusterError> {
        check_access(self, "create", "pods").await
    }
}

/// Asks the API server (SelfSubjectAccessReview) whether `verb` on `resource` is allowed in the
/// namespace. A server without the authorization API (404), or one that does not let us ask
/// (403), counts as allowed.
async fn check_access(
    conn: &Connection,
    verb: &'static str,
    resource: &str,
) -> Result<(), ClusterError> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(conn.namespace().to_string()),
                verb: Some(verb.to_string()),
                resource: Some(resource.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
    let answer = api.create(&Default::default(), &review).await;
    if !matches!(&answer, Err(e) if super::outage::is_transient(e)) {
        conn.answered();
    }
    match answer {
        Ok(r) => match r.status {
            Some(s) if !s.allowed => Err(ClusterError::Api {
                failure: ApiFailure::Forbidden,
                verb,
                resource: resource.to_string(),
                target: Box::new(conn.target.clone()),
                detail: s
                    .reason
                    .unwrap_or_else(|| "the access review denied it".into()),
            }),
            _ => Ok(()),
        },
        // No authorization API, or not allowed to ask: the requests themselves will tell.
        Err(kube::Error::Api(s)) if matches!(s.code, 403 | 404) => Ok(()),
        Err(e) => Err(conn.fail(verb, resource, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube_with(path: &std::path::Path, context: Option<&str>) -> KubeArgs {
        KubeArgs {
            kubeconfig: Some(path.to_path_buf()),
            context: context.map(String::from),
            namespace: None,
        }
    }

    const KUBECONFIG: &str = r#"{"apiVersion":"v1","kind":"Config",
      "clusters":[{"name":"c","cluster":{"server":"http://127.0.0.1:1"}}],
      "users":[{"name":"u","user":{"token":"t"}}],
      "contexts":[{"name":"a","context":{"cluster":"c","user":"u","namespace":"team-a"}},
                  {"name":"b","context":{"cluster":"c","user":"u"}}],
      "current-context":"a"}"#;

    /// [`KUBECONFIG`] in a file of its own (the directory lives as long as the guard).
    fn kubeconfig_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        (dir, path)
    }

    #[test]
    fn offline_namespace_follows_flag_then_context() {
        let (_dir, path) = kubeconfig_file();
        assert_eq!(namespace_offline(&kube_with(&path, None)), "team-a");
        assert_eq!(namespace_offline(&kube_with(&path, Some("b"))), "default");
        let mut k = kube_with(&path, None);
        k.namespace = Some("x".into());
        assert_eq!(namespace_offline(&k), "x");
    }

    #[tokio::test]
    async fn unreachable_server_is_one_clear_error() {
        let (_dir, path) = kubeconfig_file();
        let conn = connect(&kube_with(&path, None))
            .await
            .expect("connecting sends nothing");
        let err = tokio::time::timeout(std::time::Duration::from_secs(20), conn.preflight())
            .await
            .expect("the preflight gives up")
            .expect_err("nothing listens on port 1");
        let msg = err.to_string();
        assert!(msg.contains("cannot reach"), "{msg}");
        assert!(msg.contains("\"a\""), "{msg}");
        assert!(msg.contains("http://127.0.0.1:1"), "{msg}");
    }

    #[tokio::test]
    async fn outages_are_ridden_out_only_once_the_server_has_answered() {
        let (_dir, path) = kubeconfig_file();
        let conn = connect(&kube_with(&path, None))
            .await
            .unwrap()
            .with_patience(std::time::Duration::from_secs(5));
        let unavailable = || {
            kube::Error::Api(
                kube::core::Status::failure("down", "")
                    .with_code(503)
                    .boxed(),
            )
        };
        let calls = std::sync::atomic::AtomicU32::new(0);
        let flaky = || async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 | 1 => Err(unavailable()),
                n => Ok(n),
            }
        };
        // A server that never answered: the first failure is the answer.
        assert!(
            super::super::outage::repeatable(&conn, "list", flaky)
                .await
                .is_err()
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Once it has answered, failures are an outage: retried until it answers again.
        conn.answered();
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let answer = super::super::outage::repeatable(&conn, "list", flaky).await;
        assert_eq!(answer.unwrap(), 2);
        // Refusals are final, answered or not.
        let refused = || async {
            Err::<(), _>(kube::Error::Api(
                kube::core::Status::failure("no", "Forbidden")
                    .with_code(403)
                    .boxed(),
            ))
        };
        assert!(
            super::super::outage::repeatable(&conn, "list", refused)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn unknown_context_is_rejected_with_the_known_ones() {
        let (_dir, path) = kubeconfig_file();
        let err = connect(&kube_with(&path, Some("zzz"))).await.unwrap_err();
        assert!(err.to_string().contains("known: a, b"), "{err}");
    }
}
