//! Everything that can go wrong while talking to the cluster, each with a message that says
//! what failed, where (context, server, namespace) and how to fix it. `crate::exit` maps these
//! to exit codes.

use std::time::Duration;

/// Which cluster a request went to: named in every API error so users know where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kubeconfig context (or `in-cluster`).
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// The namespace in use.
    pub namespace: String,
}

/// How an API request failed, which decides the advice in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFailure {
    /// No connection (refused, DNS, TLS, timeout).
    Unreachable,
    /// 401: the credentials were rejected.
    Unauthorized,
    /// 403: RBAC said no.
    Forbidden,
    /// Any other error status or protocol failure.
    Other,
}

/// A failure of the cluster side of a run, `ps` or `down`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("{0}")]
    Config(String),

    /// An API request failed.
    #[error("{}", api_message(.failure, .verb, .resource, .target, .detail))]
    Api {
        /// The kind of failure.
        failure: ApiFailure,
        /// The verb attempted (`create`, `get`, `watch`, …).
        verb: &'static str,
        /// The resource, e.g. `pods/web-run-1a2b` or `deployments`.
        resource: String,
        /// Where the request went.
        target: Box<Target>,
        /// The server's (or transport's) own words.
        detail: String,
    },

    /// A same-named object exists that krun did not create; krun never adopts it.
    #[error(
        "{kind} \"{name}\" already exists in namespace \"{namespace}\" and is not managed by krun \
         (no label app.kubernetes.io/managed-by=krun{owner}); krun will not take it over: delete \
         it, or run in another namespace with -n"
    )]
    NotManaged {
        /// Object kind.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Namespace.
        namespace: String,
        /// `; it is managed by X` when another manager label is present, else empty.
        owner: String,
    },

    /// A same-named object belongs to another compose project.
    #[error(
        "{kind} \"{name}\" in namespace \"{namespace}\" belongs to compose project \"{owner}\", not \
         \"{project}\"; run in another namespace with -n, or pick another project name with \
         --project-name"
    )]
    OtherProject {
        /// Object kind.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The project that owns it.
        owner: String,
        /// This run's project.
        project: String,
    },

    /// A required `depends_on` edge failed (compose's wording).
    #[error("{0}")]
    Dependency(String),

    /// A dependency or the one-off did not reach its condition within `--wait-timeout`.
    #[error(
        "{what} did not become {condition} within {timeout:?} (--wait-timeout){events}; raise \
         --wait-timeout or check the pod with kubectl describe"
    )]
    WaitTimeout {
        /// What was waited for, e.g. `service "db"` or `pod web-run-…`.
        what: String,
        /// `running`, `healthy`, `complete`.
        condition: &'static str,
        /// The budget.
        timeout: Duration,
        /// Recent events, preformatted (may be empty).
        events: String,
    },

    /// A pod cannot start: image pull error, unschedulable, crash loop, bad config.
    #[error("pod {pod} cannot start: {reason}: {message}{events}")]
    CannotStart {
        /// The pod.
        pod: String,
        /// The waiting reason or condition reason (`ErrImagePull`, `Unschedulable`, …).
        reason: String,
        /// The kubelet's or scheduler's message.
        message: String,
        /// Recent events, preformatted (may be empty).
        events: String,
    },

    /// SIGINT/SIGTERM/SIGHUP before the command started.
    #[error("interrupted (SIGINT, SIGTERM or SIGHUP); krun stopped and cleaned up")]
    Interrupted,

    /// `--timeout` expired (or the pod's activeDeadlineSeconds).
    #[error("the run exceeded --timeout {0:?}; the pod was stopped")]
    Timeout(Duration),

    /// The command does not exist in the image.
    #[error("command not found in the container ({pod}): {message}")]
    CommandNotFound {
        /// The pod.
        pod: String,
        /// The runtime's message.
        message: String,
    },

    /// The command exists but cannot be executed.
    #[error("command cannot be executed in the container ({pod}): {message}")]
    NotExecutable {
        /// The pod.
        pod: String,
        /// The runtime's message.
        message: String,
    },

    /// The pod failed without a container exit code (Evicted and the like).
    #[error("pod {pod} failed: {reason}: {message}")]
    PodFailed {
        /// The pod.
        pod: String,
        /// Pod status reason.
        reason: String,
        /// Pod status message.
        message: String,
    },

    /// The pod disappeared (deleted by someone else) before it reported an exit code.
    #[error("pod {0} was deleted before its command finished")]
    PodDeleted(String),

    /// A local resource failed: a terminal, a listener, a file to copy.
    #[error("{what}: {source}")]
    Local {
        /// What krun was doing.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn api_message(
    failure: &ApiFailure,
    verb: &str,
    resource: &str,
    t: &Target,
    detail: &str,
) -> String {
    let (ctx, server, ns) = (&t.context, &t.server, &t.namespace);
    match failure {
        ApiFailure::Unreachable => format!(
            "cannot reach the Kubernetes API server {server} (context \"{ctx}\") to {verb} \
             {resource}: {detail}; check that the cluster is running and that --context or \
             --kubeconfig point at it"
        ),
        ApiFailure::Unauthorized => format!(
            "the API server {server} (context \"{ctx}\") rejected krun's credentials when it tried \
             to {verb} {resource}: {detail}; log in again or pick another --context"
        ),
        ApiFailure::Forbidden => format!(
            "forbidden: krun may not {verb} {resource} in namespace \"{ns}\" (context \"{ctx}\", \
             server {server}): {detail}; ask for a Role granting it (manifests/ lists exactly what \
             krun needs) or use -n with a namespace you may use"
        ),
        ApiFailure::Other => format!(
            "could not {verb} {resource} in namespace \"{ns}\" (context \"{ctx}\", server \
             {server}): {detail}"
        ),
    }
}

impl ClusterError {
    /// A local I/O failure while doing `what`.
    pub fn local(what: impl Into<String>, source: std::io::Error) -> Self {
        ClusterError::Local {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_name_context_server_verb_and_resource() {
        let e = ClusterError::Api {
            failure: ApiFailure::Forbidden,
            verb: "create",
            resource: "pods".into(),
            target: Box::new(Target {
                context: "kind-dev".into(),
                server: "https://127.0.0.1:6443".into(),
                namespace: "ci".into(),
            }),
            detail: "denied".into(),
        };
        let msg = e.to_string();
        for part in [
            "create pods",
            "\"ci\"",
            "kind-dev",
            "https://127.0.0.1:6443",
            "-n",
        ] {
            assert!(msg.contains(part), "{msg} lacks {part}");
        }
    }
}
