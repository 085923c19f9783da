//! Fault injection: what kube-sim should get wrong on purpose, and when.
//!
//! One [`FaultConfig`] holds every setting; [`Faults`] shares it between the API server, the
//! scheduler, the kubelet and the streams. Tests set it in-process ([`Faults::set`],
//! [`Faults::update`]); the binary reads it from `--faults FILE` (JSON or YAML) and from
//! `PUT /kube-sim/faults` (same shape, JSON). Image patterns are globs where `*` matches any
//! run of characters (`"busybox:*"`, `"*/broken"`, `"*"`), matched against `spec.containers[].image`
//! as written in the pod.

use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every fault setting. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// Images whose pull fails: the kubelet reports `ErrImagePull`, then `ImagePullBackOff`.
    pub image_pull_error: Vec<String>,
    /// Pods with a container image matching one of these stay unscheduled
    /// (`PodScheduled=False`, reason `Unschedulable`, a `FailedScheduling` Event); `"*"` = all.
    pub unschedulable: Vec<String>,
    /// Containers of these images exit with code 1 at once, every time: restarts end in
    /// `CrashLoopBackOff` (for `restartPolicy: Always|OnFailure`).
    pub crash_loop: Vec<String>,
    /// Containers of these images are OOM-killed shortly after start: exit 137, reason `OOMKilled`.
    pub oom_kill: Vec<String>,
    /// Pulls of these images never finish: the pod stays `ContainerCreating` after `Pulling`.
    pub slow_pull: Vec<String>,
    /// Pods running a container of these images are evicted by the kubelet shortly after it
    /// starts, as under node memory pressure: containers killed, phase `Failed`, reason `Evicted`.
    pub evict: Vec<String>,
    /// Pods running a container of these images are deleted by someone else (as `kubectl delete
    /// pod`, with the pod's grace period) shortly after it starts.
    pub deleted_by_others: Vec<String>,
    /// Per-route HTTP faults (error bursts, slow responses), checked in order; first match wins.
    pub http: Vec<HttpFault>,
    /// Streams (watch, log, attach, exec, portforward) cut off after a while.
    pub stream_drops: Vec<StreamDrop>,
    /// How many of the next watches that resume from a resourceVersion get an immediate
    /// `ERROR` event with a 410 `Expired` Status, as after an etcd compaction.
    pub watch_gone: u32,
    /// RBAC denials: matching requests get the API server's 403 Forbidden, and
    /// SelfSubjectAccessReviews for them answer `allowed: false`.
    pub forbidden: Vec<Forbidden>,
    /// Serve attach and exec as an API server before 1.29 does: no `v5.channel.k8s.io`, so a
    /// client can end stdin only by closing the connection.
    pub without_v5_streams: bool,
}

impl FaultConfig {
    /// Adds `other`'s faults to these (lists appended, counts summed, flags or-ed), so that
    /// test cases sharing one simulator can each bring their own.
    pub fn add(&mut self, other: FaultConfig) {
        let FaultConfig {
            image_pull_error,
            unschedulable,
            crash_loop,
            oom_kill,
            slow_pull,
            evict,
            deleted_by_others,
            http,
            stream_drops,
            watch_gone,
            forbidden,
            without_v5_streams,
        } = other;
        self.image_pull_error.extend(image_pull_error);
        self.unschedulable.extend(unschedulable);
        self.crash_loop.extend(crash_loop);
        self.oom_kill.extend(oom_kill);
        self.slow_pull.extend(slow_pull);
        self.evict.extend(evict);
        self.deleted_by_others.extend(deleted_by_others);
        self.http.extend(http);
        self.stream_drops.extend(stream_drops);
        self.watch_gone += watch_gone;
        self.forbidden.extend(forbidden);
        self.without_v5_streams |= without_v5_streams;
    }
}

/// A denied verb on a resource, as a missing RBAC rule would deny it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Forbidden {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`; empty = all.
    pub verb: String,
    /// Resource plural, with `/subresource` for those (`pods`, `pods/exec`); empty = all.
    pub resource: String,
    /// Namespace; empty = all.
    pub namespace: String,
}

/// A fault on the requests whose method and path match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFault {
    /// HTTP method to match (`"GET"`, …); empty = any.
    pub method: String,
    /// Glob over the request path (`"/api/v1/namespaces/*/pods"`); empty = any.
    pub path: String,
    /// Answer with this status code (500, 503, 429…) and a matching Status body instead of
    /// serving the request; `None` = serve it (use with `delayMs` for slow responses).
    pub status: Option<u16>,
    /// Wait this long before answering.
    pub delay_ms: u64,
    /// Apply to this many matching requests, then retire; `None` = for ever.
    pub count: Option<u32>,
}

/// Cut matching streams after a delay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamDrop {
    /// Which streams: `"watch"`, `"log"`, `"attach"`, `"exec"`, `"portforward"`; empty = all.
    pub kinds: Vec<String>,
    /// Only streams of this namespace; empty = any (so that concurrent cases keep apart).
    pub namespace: String,
    /// How long after it opened the stream is cut (the connection closes without a clean end).
    pub after_ms: u64,
    /// Apply to this many streams, then retire; `None` = for ever.
    pub count: Option<u32>,
}

/// What [`Faults::http_fault`] tells the router to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAction {
    /// Answer with this status instead of serving (`None`: serve after the delay).
    pub status: Option<u16>,
    /// Delay before answering.
    pub delay: Duration,
}

/// Why a fault file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    /// The file could not be read.
    #[error("cannot read fault file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid fault configuration.
    #[error("invalid fault file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

/// The shared, mutable fault settings.
#[derive(Debug, Default)]
pub struct Faults {
    config: RwLock<FaultConfig>,
}

impl Faults {
    /// Faults starting from `config`.
    pub fn new(config: FaultConfig) -> Self {
        Faults {
            config: RwLock::new(config),
        }
    }

    /// Reads a JSON or YAML fault file (YAML is a superset, so one parser serves both).
    pub fn load(path: &std::path::Path) -> Result<FaultConfig, FaultsError> {
        let text = std::fs::read_to_string(path).map_err(|source| FaultsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| FaultsError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FaultConfig> {
        self.config.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FaultConfig> {
        self.config.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current settings.
    pub fn get(&self) -> FaultConfig {
        self.read().clone()
    }

    /// Replaces every setting.
    pub fn set(&self, config: FaultConfig) {
        *self.write() = config;
    }

    /// Changes some settings in place (`faults.update(|f| f.oom_kill.push("x*".into()))`).
    pub fn update(&self, change: impl FnOnce(&mut FaultConfig)) {
        change(&mut self.write());
    }

    /// Whether pulling `image` must fail.
    pub fn image_pull_error(&self, image: &str) -> bool {
        any_glob(&self.read().image_pull_error, image)
    }

    /// Whether a pod with these container images must stay unscheduled.
    pub fn unschedulable<'a>(&self, mut images: impl Iterator<Item = &'a str>) -> bool {
        let patterns = &self.read().unschedulable;
        !patterns.is_empty() && images.any(|i| any_glob(patterns, i))
    }

    /// Whether containers of `image` must crash at once on every start.
    pub fn crash_loop(&self, image: &str) -> bool {
        any_glob(&self.read().crash_loop, image)
    }

    /// Whether containers of `image` must be OOM-killed.
    pub fn oom_kill(&self, image: &str) -> bool {
        any_glob(&self.read().oom_kill, image)
    }

    /// Whether pulling `image` must never finish.
    pub fn slow_pull(&self, image: &str) -> bool {
        any_glob(&self.read().slow_pull, image)
    }

    /// Whether the pod of a container of `image` must be evicted once it runs.
    pub fn evict(&self, image: &str) -> bool {
        any_glob(&self.read().evict, image)
    }

    /// Whether the pod of a container of `image` must be deleted by someone else once it runs.
    pub fn deleted_by_others(&self, image: &str) -> bool {
        any_glob(&self.read().deleted_by_others, image)
    }

    /// The fault for one request, if any; consumes one use of a counted fault.
    pub fn http_fault(&self, method: &str, path: &str) -> Option<HttpAction> {
        let mut config = self.write();
        let index = config.http.iter().position(|f| {
            (f.method.is_empty() || f.method.eq_ignore_ascii_case(method))
                && (f.path.is_empty() || glob(&f.path, path))
        })?;
        let fault = &mut config.http[index];
        let action = HttpAction {
            status: fault.status,
            delay: Duration::from_millis(fault.delay_ms),
        };
        if take_one(&mut fault.count) {
            config.http.remove(index);
        }
        Some(action)
    }

    /// How long a new stream of `kind` (`"watch"`, `"log"`, `"attach"`, `"exec"`,
    /// `"portforward"`) in `namespace` (empty for a cluster-wide watch) may live before it is
    /// cut, if a drop applies; consumes one use.
    pub fn stream_drop(&self, kind: &str, namespace: &str) -> Option<Duration> {
        let mut config = self.write();
        let index = config.stream_drops.iter().position(|d| {
            (d.kinds.is_empty() || d.kinds.iter().any(|k| k == kind))
                && (d.namespace.is_empty() || d.namespace == namespace)
        })?;
        let drop = &mut config.stream_drops[index];
        let after = Duration::from_millis(drop.after_ms);
        if take_one(&mut drop.count) {
            config.stream_drops.remove(index);
        }
        Some(after)
    }

    /// Whether RBAC denies `verb` on `resource` (`pods`, `pods/exec`) in `namespace`.
    pub fn forbidden(&self, verb: &str, resource: &str, namespace: &str) -> bool {
        self.read().forbidden.iter().any(|f| {
            (f.verb.is_empty() || f.verb == verb)
                && (f.resource.is_empty() || f.resource == resource)
                && (f.namespace.is_empty() || f.namespace == namespace)
        })
    }

    /// Whether attach and exec offer only the protocols of servers before 1.29.
    pub fn without_v5_streams(&self) -> bool {
        self.read().without_v5_streams
    }

    /// Whether this resuming watch must get `410 Gone` at once; consumes one use.
    pub fn take_watch_gone(&self) -> bool {
        let mut config = self.write();
        if config.watch_gone == 0 {
            return false;
        }
        config.watch_gone -= 1;
        true
    }
}

/// Uses up one of a counted fault's uses; true when it is spent and should be removed.
fn take_one(count: &mut Option<u32>) -> bool {
    match count {
        None => false,
        Some(n) => {
            *n = n.saturating_sub(1);
            *n == 0
        }
    }
}

fn any_glob(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| glob(p, text))
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("*", "busybox:1.36"));
        assert!(glob("busybox:*", "busybox:1.36"));
        assert!(glob("*/broken", "example.com/broken"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("busybox", "busybox:1.36"));
        assert!(!glob("a*b*c", "axxc"));
    }

    #[test]
    fn counted_faults_retire() {
        let faults = Faults::new(FaultConfig {
            http: vec![HttpFault {
                status: Some(503),
                count: Some(2),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert!(faults.http_fault("GET", "/api").is_some());
        assert!(faults.http_fault("GET", "/api").is_some());
        assert!(faults.http_fault("GET", "/api").is_none());
    }

    #[test]
    fn yaml_fault_files_parse() {
        let config: FaultConfig =
            serde_saphyr::from_str("imagePullError: ['bad:*']\nhttp:\n- status: 500\n  count: 1\n")
                .unwrap();
        assert_eq!(config.image_pull_error, vec!["bad:*".to_string()]);
        assert_eq!(config.http[0].status, Some(500));
    }
}
