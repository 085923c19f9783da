//! The plan: every Kubernetes object a run creates, in apply order, plus what the runtime must
//! do with them (waits, streams, port-forwards, file copies). This is the contract between the
//! pure planner and `cluster`, which executes it without making decisions of its own.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Everything one `krun run` does to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The compose project name (label `com.docker.compose.project`).
    pub project: String,
    /// Namespace every object goes to.
    pub namespace: String,
    /// Dependencies to bring up, in apply order (a dependency's own dependencies first).
    /// Empty with `--no-deps`.
    pub dependencies: Vec<Dependency>,
    /// The one-off itself.
    pub one_off: OneOff,
    /// Keys without a faithful mapping: printed on stderr, never silently dropped.
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// Whether anything is created before the one-off (dependencies, the objects it shares):
    /// only then is access checked first, so that a forbidden run leaves nothing behind.
    pub fn creates_before_the_one_off(&self) -> bool {
        !self.dependencies.is_empty() || !self.one_off.objects.is_empty()
    }
}

/// A compose service started as a long-lived (or one-shot) workload so the one-off can reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The compose service name.
    pub service: String,
    /// Objects in apply order: Secrets/ConfigMaps/PVCs, then the Service, then the workload.
    pub objects: Vec<Object>,
    /// How the workload runs, and so how to wait for it.
    pub workload: Workload,
    /// This service's own `depends_on` edges, satisfied before its objects are applied
    /// (compose starts a container only once its dependencies' conditions hold).
    pub waits: Vec<Wait>,
}

/// The workload kind of a dependency and its name in the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// A Deployment (long-running services).
    Deployment {
        /// Object name.
        name: String,
    },
    /// A Job (`service_completed_successfully` targets and `restart: "no"|on-failure`),
    /// named `<service>-<slug>` because compose reruns one-shots on every run.
    Job {
        /// Object name.
        name: String,
    },
}

/// One `depends_on` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The compose service waited for.
    pub service: String,
    /// Its workload (to find its pods: label selector of project + service + oneoff False).
    pub workload: Workload,
    /// What "ready" means for this edge.
    pub condition: Condition,
    /// `required: false` turns a failure into a warning.
    pub required: bool,
    /// Budget for a `service_healthy` edge before "container X is unhealthy":
    /// start_period + retries × interval + timeout (None when no healthcheck applies).
    pub health_budget: Option<Duration>,
}

/// compose's `depends_on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Container running.
    Started,
    /// Ready through the readinessProbe built from `healthcheck`.
    Healthy,
    /// Job Complete.
    CompletedSuccessfully,
}

/// Any object krun creates.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// compose `secrets` (and `environment`-sourced secrets).
    Secret(Secret),
    /// compose `configs`.
    ConfigMap(ConfigMap),
    /// A named volume.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// A dependency's headless Service (its DNS name).
    Service(Service),
    /// A long-running dependency.
    Deployment(Deployment),
    /// A one-shot dependency, or the one-off under `-d --rm`.
    Job(Job),
    /// The one-off pod.
    Pod(Pod),
}

impl Object {
    /// The object's kind and metadata, for messages and checks that treat every kind alike.
    pub fn kind_and_meta(&self) -> (&'static str, &ObjectMeta) {
        match self {
            Object::Secret(o) => ("Secret", &o.metadata),
            Object::ConfigMap(o) => ("ConfigMap", &o.metadata),
            Object::PersistentVolumeClaim(o) => ("PersistentVolumeClaim", &o.metadata),
            Object::Service(o) => ("Service", &o.metadata),
            Object::Deployment(o) => ("Deployment", &o.metadata),
            Object::Job(o) => ("Job", &o.metadata),
            Object::Pod(o) => ("Pod", &o.metadata),
        }
    }

    /// The object's kind and name, for messages.
    pub fn kind_and_name(&self) -> (&'static str, String) {
        let (kind, meta) = self.kind_and_meta();
        (kind, meta.name.clone().unwrap_or_default())
    }
}

/// The one-off: the pod (or a Job wrapping it for `-d --rm`) and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOff {
    /// The compose service.
    pub service: String,
    /// The pod to create (name set; `restartPolicy: Never`). Under `-d --rm` this is the pod
    /// template that [`OneOff::job`] wraps, for display and naming.
    pub pod: Pod,
    /// `-d --rm`: create this Job (backoffLimit 0, ttlSecondsAfterFinished) instead of the pod.
    pub job: Option<Job>,
    /// Shared objects the one-off needs that no dependency brought (PVCs of named volumes,
    /// project Secrets/ConfigMaps): applied before the pod, like a dependency's objects, and
    /// not owned by it (they outlive the run, as compose volumes do). Added by planning.
    pub objects: Vec<Object>,
    /// Objects that live only for this run (per-run Secrets/ConfigMaps, alias Services under
    /// `--use-aliases`): created after the pod, with an ownerReference to it set by the runtime
    /// (the pod's uid is only known then), so they vanish with it. The planner already puts an
    /// ownerReference naming the pod (or the Job under `-d --rm`) with an empty `uid`: the
    /// runtime fills in the uid.
    pub owned: Vec<Object>,
    /// The target's direct `depends_on` edges, awaited before the pod is created
    /// (empty with `--no-deps`).
    pub waits: Vec<Wait>,
    /// The name of the container running the command (the service name, sanitised).
    pub container: String,
    /// How to connect the terminal.
    pub io: Io,
    /// `-p` / `--service-ports`: local listeners for the run's lifetime.
    pub forwards: Vec<Forward>,
    /// Bind mounts to copy into the pod (`--mount-mode copy`) before the command starts.
    pub copies: Vec<Copy>,
    /// `--rm`: delete the pod when done (and on every error path).
    pub rm: bool,
    /// `-d`: print the pod (or Job) name and exit 0 without attaching.
    pub detach: bool,
    /// `stop_grace_period` (default 10s): graceful deletion and signal forwarding budget.
    pub grace_period: Duration,
    /// `--timeout`: the whole run (also the pod's activeDeadlineSeconds).
    pub timeout: Option<Duration>,
}

/// Terminal wiring, from compose's TTY decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    /// The container has a TTY: attach in raw mode, with resize.
    pub tty: bool,
    /// stdin is attached (pod `stdin` and `stdinOnce`).
    pub interactive: bool,
}

/// A published port: a local listener forwarding each connection to the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Address to listen on (127.0.0.1 unless the spec named one).
    pub host_ip: String,
    /// Local port; `None` picks a free one and prints it (`-p 80`).
    pub host_port: Option<u16>,
    /// The container port.
    pub container_port: u16,
    /// `tcp` (port-forward carries TCP only; `udp`/`sctp` are refused by the planner with a
    /// warning).
    pub protocol: String,
}

/// A bind mount copied into the pod: the runtime streams a tar of `source` into
/// `init_container` (which runs `tar -x` into the shared emptyDir), then the command starts.
/// A directory's tar holds its contents at the root; a file's holds one entry named after the
/// file (the main container mounts it with that `subPath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Absolute host path (file or directory).
    pub source: PathBuf,
    /// The init container (in the pod spec) that receives the tar on stdin.
    pub init_container: String,
    /// The emptyDir volume it fills.
    pub volume: String,
}

/// A compose key (or flag) that krun cannot map faithfully, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The compose service, when the key belongs to one.
    pub service: Option<String>,
    /// The key path, e.g. `cap_add`, `ports[0]`, `--pull`.
    pub key: String,
    /// Why, and what krun did instead.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.service {
            Some(s) => write!(f, "service \"{s}\": {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}
