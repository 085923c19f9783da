//! One pod's worker: volumes, image pulls, init containers, containers with restarts and
//! back-off, probes, the active deadline, graceful stop on deletion, and the status and events
//! all of that produces.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::env;
use super::image::{ImageConfig, ImageRef};
use super::logs::{LogBuffer, Stream};
use super::probe::{Probe, Target};
use super::process::{self, Process};
use super::rootfs::{self, Mount, Sandbox};
use super::status::{self, ContainerState, PodFacts, State, Terminated};
use super::volumes;
use super::{ExecContext, Run};
use crate::sim::{EventType, Sim};
use crate::store::{str_at, timestamp};

/// First crash back-off (doubling up to [`MAX_BACKOFF`]), as the kubelet's.
const BASE_BACKOFF: Duration = Duration::from_secs(10);
/// Longest crash or image-pull back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a simulated pull takes.
const PULL_TIME: Duration = Duration::from_millis(80);
/// How often a pod whose volumes or config are missing retries.
const RETRY: Duration = Duration::from_secs(2);
/// How soon after start the OOM, eviction and deletion faults strike.
const FAULT_DELAY: Duration = Duration::from_millis(300);
/// The eviction manager's message for the eviction fault.
const EVICTED: &str =
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. ";
/// `startedAt` of a container that never started.
const NEVER: &str = "1970-01-01T00:00:00Z";

/// `n` random lowercase hex digits (container IDs, exec IDs).
pub(super) fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

/// Go's `time.Duration` text, rounded to milliseconds as the kubelet's messages are
/// (`80ms`, `1.5s`, `10s`, `1m20s`, `5m0s`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = |ms: u128| {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    if ms < 60_000 {
        format!("{}s", seconds(ms))
    } else {
        format!("{}m{}s", ms / 60_000, seconds(ms % 60_000))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Regular,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Init => "initContainers",
            Kind::Regular => "containers",
        }
    }
}

struct Model {
    facts: PodFacts,
    init: Vec<ContainerState>,
    containers: Vec<ContainerState>,
}

impl Model {
    fn slot(&mut self, kind: Kind, index: usize) -> &mut ContainerState {
        match kind {
            Kind::Init => &mut self.init[index],
            Kind::Regular => &mut self.containers[index],
        }
    }
}

struct Ctx {
    sim: Arc<Sim>,
    namespace: String,
    name: String,
    uid: String,
    pod: Mutex<Value>,
    model: Mutex<Model>,
    /// Cancelled when every container must stop (deletion, deadline, shut-down, pod gone).
    stop: CancellationToken,
    /// Grace period for that stop, in seconds; it may shrink while containers stop (a second
    /// delete with a shorter grace, or the pod vanishing).
    grace: watch::Sender<i64>,
    dir: PathBuf,
    pod_ip: String,
    hostname: String,
    volumes: Mutex<BTreeMap<String, PathBuf>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    fn pod(&self) -> Value {
        lock(&self.pod).clone()
    }

    fn spec(&self, kind: Kind, index: usize) -> Value {
        lock(&self.pod)["spec"][kind.field()][index].clone()
    }

    /// Changes the status model and writes the resulting pod status to the store.
    fn update(&self, change: impl FnOnce(&mut Model)) {
        let mut model = lock(&self.model);
        change(&mut model);
        let _ = self
            .sim
            .store
            .modify("pods", &self.namespace, &self.name, |pod| {
                if str_at(pod, "/metadata/uid") == self.uid {
                    pod["status"] = status::pod_status(
                        &pod["status"],
                        &model.facts,
                        &model.init,
                        &model.containers,
                    );
                }
            });
    }

    fn set_state(&self, kind: Kind, index: usize, state: State) {
        self.update(|m| m.slot(kind, index).state = state);
    }

    fn event(&self, kind: EventType, container: Option<(Kind, &str)>, reason: &str, message: &str) {
        let field_path = container.map(|(k, name)| format!("spec.{}{{{name}}}", k.field()));
        let pod = self.pod();
        self.sim.event(
            &pod,
            field_path.as_deref(),
            kind,
            reason,
            message,
            "kubelet",
        );
    }

    fn stop_with(&self, grace: i64) {
        let first = !self.stop.is_cancelled();
        self.grace.send_modify(|current| {
            *current = if first { grace } else { (*current).min(grace) };
        });
        self.stop.cancel();
    }

    /// Sleeps, or returns false early when the pod is stopping.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stop.cancelled() => false,
        }
    }

    fn format_pod(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }
}

/// Runs one pod until it is deleted (or the simulator shuts down).
pub(super) async fn run_pod(
    sim: Arc<Sim>,
    pod: Value,
    mut updates: watch::Receiver<Option<Value>>,
) {
    let namespace = str_at(&pod, "/metadata/namespace").to_owned();
    let name = str_at(&pod, "/metadata/name").to_owned();
    let uid = str_at(&pod, "/metadata/uid").to_owned();
    let hostname = match str_at(&pod, "/spec/hostname") {
        "" => name.clone(),
        h => h.to_owned(),
    };
    let containers = |field: &str, reason: &str| -> Vec<ContainerState> {
        pod["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| ContainerState::waiting(str_at(c, "/name"), str_at(c, "/image"), reason))
            .collect()
    };
    let has_init = pod["spec"]["initContainers"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let first_reason = if has_init {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };
    let model = Model {
        facts: PodFacts {
            start_time: timestamp(),
            initialized: !has_init,
            restart_policy: match str_at(&pod, "/spec/restartPolicy") {
                "" => "Always".to_owned(),
                p => p.to_owned(),
            },
            ..Default::default()
        },
        init: containers("initContainers", first_reason),
        containers: containers("containers", first_reason),
    };
    let ctx = Arc::new(Ctx {
        dir: sim.kubelet.dir.join("pods").join(&uid),
        pod_ip: sim.kubelet.allocate_ip(),
        sim: sim.clone(),
        namespace,
        name,
        uid,
        pod: Mutex::new(pod.clone()),
        model: Mutex::new(model),
        stop: CancellationToken::new(),
        grace: watch::channel(0).0,
        hostname,
        volumes: Mutex::new(BTreeMap::new()),
    });
    ctx.update(|_| {});
    let deadline = pod["spec"]["activeDeadlineSeconds"]
        .as_u64()
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let life = lifecycle(ctx.clone());
    tokio::pin!(life);
    let (mut life_done, mut deleting, mut gone) = (false, false, false);
    loop {
        tokio::select! {
            _ = &mut life, if !life_done => life_done = true,
            changed = updates.changed() => {
                let latest = if changed.is_ok() { updates.borrow_and_update().clone() } else { None };
                match latest {
                    None => {
                        gone = true;
                        ctx.stop_with(0);
                    }
                    Some(pod) => {
                        if pod["metadata"].get("deletionTimestamp").is_some() {
                            if !deleting {
                                deleting = true;
                                ctx.update(|m| m.facts.terminal = true);
                            }
                            // A repeated delete may shorten the grace period.
                            ctx.stop_with(pod["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap_or(30));
                        }
                        *lock(&ctx.pod) = pod;
                    }
                }
            }
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await },
                if deadline.is_some() && !ctx.stop.is_cancelled() => {
                let message = "Pod was active on the node longer than the specified deadline";
                ctx.event(EventType::Normal, None, "DeadlineExceeded", message);
                ctx.update(|m| {
                    m.facts.terminal = true;
                    m.facts.failure = Some(("DeadlineExceeded".to_owned(), message.to_owned()));
                });
                ctx.stop_with(termination_grace(&ctx.pod()));
            }
            _ = sim.shutdown.cancelled(), if !ctx.stop.is_cancelled() => ctx.stop_with(0),
        }
        if life_done && (deleting || gone || sim.shutdown.is_cancelled()) {
            break;
        }
    }
    if deleting && !gone {
        ctx.update(|m| m.facts.terminal = true);
        let _ = sim.store.finish_deletion("pods", &ctx.namespace, &ctx.name);
    }
    sim.kubelet.forget_pod(&ctx.namespace, &ctx.name, &ctx.uid);
    let _ = std::fs::remove_dir_all(&ctx.dir);
}

fn termination_grace(pod: &Value) -> i64 {
    pod["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30)
}

/// Volumes, sandbox, init containers in order, then every container; returns when nothing
/// runs any more.
async fn lifecycle(ctx: Arc<Ctx>) {
    loop {
        let claims = ctx.sim.kubelet.dir.join("claims");
        match volumes::prepare(&ctx.sim.store, &ctx.pod(), &ctx.dir, &claims) {
            Ok(paths) => {
                *lock(&ctx.volumes) = paths;
                break;
            }
            Err(e) => {
                ctx.event(EventType::Warning, None, "FailedMount", &e.to_string());
                if !ctx.pause(RETRY).await {
                    return;
                }
            }
        }
    }
    ctx.update(|m| m.facts.pod_ip = Some(ctx.pod_ip.clone()));
    let init_count = ctx.pod()["spec"]["initContainers"]
        .as_array()
        .map_or(0, Vec::len);
    for index in 0..init_count {
        if supervise(&ctx, Kind::Init, index).await != Some(0) {
            return;
        }
    }
    if init_count > 0 {
        ctx.update(|m| {
            m.facts.initialized = true;
            for c in &mut m.containers {
                c.state = State::Waiting {
                    reason: "ContainerCreating".to_owned(),
                    message: None,
                };
            }
        });
    }
    let count = ctx.pod()["spec"]["containers"]
        .as_array()
        .map_or(0, Vec::len);
    futures::future::join_all((0..count).map(|i| supervise(&ctx, Kind::Regular, i))).await;
}

/// Runs one container, restarting it per the restart policy; returns the last exit code, or
/// `None` when it never ran to an end before the pod stopped.
async fn supervise(ctx: &Arc<Ctx>, kind: Kind, index: usize) -> Option<i32> {
    let spec = ctx.spec(kind, index);
    let name = str_at(&spec, "/name").to_owned();
    let policy = lock(&ctx.model).facts.restart_policy.clone();
    let mut restarts = 0u32;
    let mut last = None;
    loop {
        if ctx.stop.is_cancelled() {
            return last;
        }
        let (image_ref, image) = ensure_image(ctx, kind, index, &spec).await?;
        let launch = match prepare(ctx, kind, &spec, &image, restarts) {
            Ok(launch) => launch,
            Err((reason, message)) => {
                ctx.event(
                    EventType::Warning,
                    Some((kind, &name)),
                    "Failed",
                    &format!("Error: {message}"),
                );
                ctx.set_state(
                    kind,
                    index,
                    State::Waiting {
                        reason: reason.to_owned(),
                        message: Some(message),
                    },
                );
                if !ctx.pause(RETRY).await {
                    return last;
                }
                continue;
            }
        };
        let code = run_once(
            ctx, kind, index, &spec, &image_ref, &image, launch, restarts,
        )
        .await;
        last = Some(code);
        if ctx.stop.is_cancelled() {
            return last;
        }
        let restart = match kind {
            Kind::Init => code != 0 && policy != "Never",
            Kind::Regular => policy == "Always" || (policy == "OnFailure" && code != 0),
        };
        if !restart {
            return last;
        }
        if restarts > 0 {
            let delay = BASE_BACKOFF
                .saturating_mul(1 << (restarts - 1).min(5))
                .min(MAX_BACKOFF);
            ctx.event(
                EventType::Warning,
                Some((kind, &name)),
                "BackOff",
                &format!(
                    "Back-off restarting failed container {name} in pod {}",
                    ctx.format_pod()
                ),
            );
            ctx.update(|m| {
                let slot = m.slot(kind, index);
                if let State::Terminated(t) = &slot.state {
                    slot.last = Some(t.clone());
                }
                slot.state = State::Waiting {
                    reason: "CrashLoopBackOff".to_owned(),
                    message: Some(format!(
                        "back-off {} restarting failed container={name} pod={}",
                        go_duration(delay),
                        ctx.format_pod()
                    )),
                };
            });
            if !ctx.pause(delay).await {
                return last;
            }
        }
        restarts += 1;
    }
}

/// Pulls the container's image per its pull policy (events, waiting reasons and back-off as
/// the kubelet's); `None` when the pod stopped first.
async fn ensure_image(
    ctx: &Arc<Ctx>,
    kind: Kind,
    index: usize,
    spec: &Value,
) -> Option<(ImageRef, ImageConfig)> {
    let name = str_at(spec, "/name").to_owned();
    let image = str_at(spec, "/image").to_owned();
    let which = Some((kind, name.as_str()));
    let images = &ctx.sim.kubelet.images;
    let Some(reference) = ImageRef::parse(&image) else {
        let message = format!(
            "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format"
        );
        ctx.event(EventType::Warning, which, "InspectFailed", &message);
        ctx.event(
            EventType::Warning,
            which,
            "Failed",
            "Error: InvalidImageName",
        );
        ctx.set_state(
            kind,
            index,
            State::Waiting {
                reason: "InvalidImageName".to_owned(),
                message: Some(message),
            },
        );
        ctx.stop.cancelled().await;
        return None;
    };
    let policy = match str_at(spec, "/imagePullPolicy") {
        "" => crate::api::defaults::pull_policy(&image),
        p => p,
    }
    .to_owned();
    let mut attempt = 0u32;
    loop {
        let config = images.lookup(&reference);
        let present = config.is_some() && images.is_present(&reference);
        if present && policy != "Always" {
            ctx.event(
                EventType::Normal,
                which,
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            );
            return config.map(|c| (reference, c));
        }
        let (reason, message, event_reason) = if policy == "Never" {
            let message =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            (
                "ErrImageNeverPull",
                message.clone(),
                Some(("ErrImageNeverPull", message)),
            )
        } else {
            ctx.event(
                EventType::Normal,
                which,
                "Pulling",
                &format!("Pulling image \"{image}\""),
            );
            let started = Instant::now();
            if ctx.sim.faults.slow_pull(&image) {
                ctx.stop.cancelled().await;
                return None;
            }
            if !ctx.pause(PULL_TIME).await {
                return None;
            }
            let full = reference.full();
            match config {
                Some(config) if !ctx.sim.faults.image_pull_error(&image) => {
                    images.mark_present(&reference);
                    let took = go_duration(started.elapsed());
                    ctx.event(
                        EventType::Normal,
                        which,
                        "Pulled",
                        &format!(
                            "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {} bytes.",
                            config.size
                        ),
                    );
                    return Some((reference, config));
                }
                Some(_) => (
                    "ErrImagePull",
                    format!(
                        "rpc error: code = Unknown desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": unexpected status from HEAD request: 503 Service Unavailable"
                    ),
                    None,
                ),
                None => (
                    "ErrImagePull",
                    format!(
                        "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                    ),
                    None,
                ),
            }
        };
        match &event_reason {
            Some((reason, message)) => ctx.event(EventType::Warning, which, reason, message),
            None => ctx.event(
                EventType::Warning,
                which,
                "Failed",
                &format!("Failed to pull image \"{image}\": {message}"),
            ),
        }
        ctx.event(
            EventType::Warning,
            which,
            "Failed",
            &format!("Error: {reason}"),
        );
        ctx.set_state(
            kind,
            index,
            State::Waiting {
                reason: reason.to_owned(),
                message: Some(message.clone()),
            },
        );
        let delay = BASE_BACKOFF
            .saturating_mul(1 << attempt.min(5))
            .min(MAX_BACKOFF);
        attempt += 1;
        if !ctx.pause(Duration::from_secs(1)).await {
            return None;
        }
        if reason == "ErrImagePull" {
            ctx.event(
                EventType::Normal,
                which,
                "BackOff",
                &format!("Back-off pulling image \"{image}\""),
            );
            ctx.event(
                EventType::Warning,
                which,
                "Failed",
                "Error: ImagePullBackOff",
            );
            ctx.set_state(
                kind,
                index,
                State::Waiting {
                    reason: "ImagePullBackOff".to_owned(),
                    message: Some(format!(
                        "Back-off pulling image \"{image}\": ErrImagePull: {message}"
                    )),
                },
            );
        }
        if !ctx.pause(delay).await {
            return None;
        }
    }
}

/// A container run ready to start.
struct Launch {
    spec: process::Spec,
    workdir: String,
    exec: ExecContext,
    termination_log: Option<PathBuf>,
}

/// Builds the run's environment, command line and sandbox; `Err((reason, message))` for a
/// `CreateContainerConfigError` / `CreateContainerError`.
fn prepare(
    ctx: &Ctx,
    kind: Kind,
    spec: &Value,
    image: &ImageConfig,
    restarts: u32,
) -> Result<Launch, (&'static str, String)> {
    let pod = ctx.pod();
    let config_error = |e: env::ConfigError| ("CreateContainerConfigError", e.to_string());
    let vars = env::container_env(&ctx.sim.store, &pod, spec).map_err(config_error)?;
    let argv = env::command_line(spec, image, &vars);
    if argv.is_empty() {
        return Err((
            "CreateContainerError",
            "failed to generate container spec: no command specified".to_owned(),
        ));
    }
    let tty = spec["tty"].as_bool() == Some(true);
    let user = run_as(ctx, &pod, spec)?;
    let home = rootfs::home_of(user.as_ref().map_or(0, |u| u.uid));
    let env = env::process_env(image, &vars, &ctx.hostname, tty, &home);
    let workdir = match str_at(spec, "/workingDir") {
        "" => image.working_dir.clone(),
        w => w.to_owned(),
    };
    let name = str_at(spec, "/name");
    let run_dir = ctx
        .dir
        .join("containers")
        .join(format!("{}-{name}-{restarts}", kind.field()));
    let create_error = |e: rootfs::RootfsError| ("CreateContainerError", e.to_string());
    let (sandbox, rootfs, termination_log, host_workdir) = if ctx.sim.kubelet.isolate {
        let image_dir = rootfs::busybox_image().map_err(create_error)?;
        let root = run_dir.join("rootfs");
        let etc = [
            (
                "hosts",
                volumes::hosts_file(&ctx.sim.store, &pod, &ctx.pod_ip, &ctx.hostname),
            ),
            ("resolv.conf", volumes::resolv_conf(&ctx.namespace)),
            ("hostname", format!("{}\n", ctx.hostname)),
        ];
        rootfs::create_rootfs(&image_dir, &root, &etc).map_err(create_error)?;
        let log = run_dir.join("termination-log");
        std::fs::write(&log, b"").map_err(|e| ("CreateContainerError", e.to_string()))?;
        let mut binds = rootfs::system_mounts(&root).map_err(create_error)?;
        let message_path = match str_at(spec, "/terminationMessagePath") {
            "" => "/dev/termination-log",
            p => p,
        };
        binds.push(Mount::bind(&log, &root, message_path, false).map_err(create_error)?);
        binds.extend(volume_binds(ctx, spec, &root).map_err(create_error)?);
        let sandbox =
            Sandbox::create(&root, binds, &ctx.hostname, &workdir).map_err(create_error)?;
        (sandbox, Some(root), Some(log), PathBuf::from("/"))
    } else {
        std::fs::create_dir_all(&ctx.dir).map_err(|e| ("CreateContainerError", e.to_string()))?;
        let host = if std::path::Path::new(&workdir).is_dir() {
            PathBuf::from(&workdir)
        } else {
            ctx.dir.clone()
        };
        let c = std::ffi::CString::new(host.as_os_str().as_encoded_bytes()).map_err(|_| {
            (
                "CreateContainerError",
                "working directory contains NUL".to_owned(),
            )
        })?;
        let sandbox = Sandbox::Host {
            workdir: c,
            pid: rootfs::HostPid::for_container(),
        };
        (sandbox, None, None, host)
    };
    let exec_workdir = if rootfs.is_some() {
        workdir.clone()
    } else {
        host_workdir.display().to_string()
    };
    Ok(Launch {
        spec: process::Spec {
            argv,
            env: env.clone(),
            stdin: spec["stdin"].as_bool() == Some(true),
            tty,
            sandbox,
            user: user.clone(),
        },
        workdir: exec_workdir.clone(),
        exec: ExecContext {
            rootfs,
            workdir: exec_workdir,
            host_workdir,
            env,
            user,
        },
        termination_log,
    })
}

/// The identity from the container's (else the pod's) `securityContext`, with the kubelet's
/// `runAsNonRoot` checks (the busybox image runs as root). Without root the kubelet cannot
/// switch users, so it ignores them (a documented gap of the fallback mode).
fn run_as(
    ctx: &Ctx,
    pod: &Value,
    spec: &Value,
) -> Result<Option<process::User>, (&'static str, String)> {
    let pod_context = &pod["spec"]["securityContext"];
    let context = &spec["securityContext"];
    let pick = |field: &str| {
        context[field]
            .as_u64()
            .or_else(|| pod_context[field].as_u64())
    };
    let uid = pick("runAsUser").and_then(|u| u32::try_from(u).ok());
    let gid = pick("runAsGroup").and_then(|g| u32::try_from(g).ok());
    let non_root = context["runAsNonRoot"]
        .as_bool()
        .or_else(|| pod_context["runAsNonRoot"].as_bool());
    let name = str_at(spec, "/name");
    if non_root == Some(true) {
        let why = match uid {
            Some(0) => "container's runAsUser breaks non-root policy",
            None => "container has runAsNonRoot and image will run as root",
            Some(_) => "",
        };
        if !why.is_empty() {
            return Err((
                "CreateContainerConfigError",
                format!("{why} (pod: \"{}\", container: {name})", ctx.format_pod()),
            ));
        }
    }
    let groups: Vec<u32> = pod_context["supplementalGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod_context.get("fsGroup"))
        .filter_map(|g| g.as_u64().and_then(|g| u32::try_from(g).ok()))
        .collect();
    if (uid.is_none() && gid.is_none() && groups.is_empty()) || !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    Ok(Some(process::User {
        uid: uid.unwrap_or(0),
        gid: gid.unwrap_or(0),
        groups,
    }))
}

/// The container's `volumeMounts` as binds, parents before children.
fn volume_binds(
    ctx: &Ctx,
    spec: &Value,
    root: &std::path::Path,
) -> Result<Vec<Mount>, rootfs::RootfsError> {
    let volumes = lock(&ctx.volumes).clone();
    let mut mounts: Vec<&Value> = spec["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    mounts.sort_by_key(|m| {
        str_at(m, "/mountPath")
            .trim_end_matches('/')
            .matches('/')
            .count()
    });
    let mut binds = Vec::new();
    for mount in mounts {
        let Some(source) = volumes.get(str_at(mount, "/name")) else {
            continue;
        };
        let source = match str_at(mount, "/subPath") {
            "" => source.clone(),
            sub => {
                let path = rootfs::join_inside(source, sub);
                if !path.exists() {
                    let _ = std::fs::create_dir_all(&path);
                }
                path
            }
        };
        let read_only = mount["readOnly"].as_bool() == Some(true);
        binds.push(Mount::bind(
            &source,
            root,
            str_at(mount, "/mountPath"),
            read_only,
        )?);
    }
    Ok(binds)
}

/// Starts one run, waits for its end (or stops it gracefully), and records its termination.
#[allow(clippy::too_many_arguments)]
async fn run_once(
    ctx: &Arc<Ctx>,
    kind: Kind,
    index: usize,
    spec: &Value,
    image_ref: &ImageRef,
    image: &ImageConfig,
    launch: Launch,
    restarts: u32,
) -> i32 {
    let name = str_at(spec, "/name").to_owned();
    let which = Some((kind, name.as_str()));
    let container_id = format!("containerd://{}", random_hex(64));
    let image_full = image_ref.full();
    let image_id = format!("{}@{}", image_ref.repository, image.digest);
    let crash = ctx.sim.faults.crash_loop(str_at(spec, "/image"));
    let (output_tx, mut output_rx) = mpsc::channel::<(Stream, Bytes)>(256);
    let started = if crash {
        drop(output_tx);
        Ok(None)
    } else {
        let workdir = launch.workdir.clone();
        process::spawn(launch.spec, &workdir, output_tx).map(Some)
    };
    let run = Arc::new(Run {
        log: LogBuffer::default(),
        process: started.as_ref().ok().cloned().flatten(),
        tty: spec["tty"].as_bool() == Some(true),
        stdin: spec["stdin"].as_bool() == Some(true),
        stdin_once: spec["stdinOnce"].as_bool() == Some(true),
        output: broadcast::channel(1024).0,
        stdin_closed: AtomicBool::new(false),
        exec: Some(launch.exec),
        execs: Mutex::new(Vec::new()),
    });
    ctx.sim
        .kubelet
        .set_run(&ctx.namespace, &ctx.name, &ctx.uid, &name, run.clone());
    ctx.event(
        EventType::Normal,
        which,
        "Created",
        &format!("Created container: {name}"),
    );
    let record = |t: Terminated| {
        let code = t.exit_code;
        ctx.update(|m| {
            let slot = m.slot(kind, index);
            if restarts > 0
                && let State::Terminated(previous) = &slot.state
            {
                slot.last = Some(previous.clone());
            }
            slot.state = State::Terminated(t);
            slot.ready = kind == Kind::Init && code == 0;
            slot.started = false;
            slot.restart_count = restarts;
            slot.image = image_full.clone();
            slot.image_id = image_id.clone();
            slot.container_id = Some(container_id.clone());
        });
        code
    };
    let process = match started {
        Err(error) => {
            let message = format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: {error}: unknown"
            );
            ctx.event(
                EventType::Warning,
                which,
                "Failed",
                &format!("Error: {message}"),
            );
            run.log.close();
            return record(Terminated {
                exit_code: 128,
                reason: "StartError".to_owned(),
                message: Some(message),
                started_at: NEVER.to_owned(),
                finished_at: timestamp(),
                container_id: container_id.clone(),
            });
        }
        Ok(process) => process,
    };
    let started_at = timestamp();
    ctx.event(
        EventType::Normal,
        which,
        "Started",
        &format!("Started container {name}"),
    );
    let readiness = (kind == Kind::Regular)
        .then(|| Probe::from_container(spec, "readinessProbe"))
        .flatten();
    let startup = (kind == Kind::Regular)
        .then(|| Probe::from_container(spec, "startupProbe"))
        .flatten();
    ctx.update(|m| {
        let slot = m.slot(kind, index);
        if restarts > 0
            && let State::Terminated(previous) = &slot.state
        {
            slot.last = Some(previous.clone());
        }
        slot.state = State::Running {
            started_at: started_at.clone(),
        };
        slot.started = kind == Kind::Regular && startup.is_none();
        slot.ready = kind == Kind::Regular && startup.is_none() && readiness.is_none();
        slot.restart_count = restarts;
        slot.image = image_full.clone();
        slot.image_id = image_id.clone();
        slot.container_id = Some(container_id.clone());
    });
    let consumer = {
        let run = run.clone();
        tokio::spawn(async move {
            while let Some((stream, chunk)) = output_rx.recv().await {
                run.log.append(stream, &chunk);
                let _ = run.output.send((stream, chunk));
            }
        })
    };
    let probes = CancellationToken::new();
    let oom = Arc::new(AtomicBool::new(false));
    let code = match &process {
        None => 1,
        Some(process) => {
            if kind == Kind::Regular {
                tokio::spawn(probe_loop(
                    ctx.clone(),
                    index,
                    spec.clone(),
                    process.clone(),
                    probes.clone(),
                ));
            }
            let image = str_at(spec, "/image");
            if ctx.sim.faults.oom_kill(image) {
                let (process, oom) = (process.clone(), oom.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(FAULT_DELAY).await;
                    if process.exit_code().is_none() {
                        oom.store(true, Ordering::SeqCst);
                        process.kill_all();
                    }
                });
            }
            if kind == Kind::Regular {
                let (evict, delete) = (
                    ctx.sim.faults.evict(image),
                    ctx.sim.faults.deleted_by_others(image),
                );
                if evict || delete {
                    tokio::spawn(strike(ctx.clone(), process.clone(), evict));
                }
            }
            tokio::select! {
                code = process.wait() => code,
                _ = ctx.stop.cancelled() => {
                    ctx.event(EventType::Normal, which, "Killing", &format!("Stopping container {name}"));
                    stop_gracefully(process, ctx.grace.subscribe()).await
                }
            }
        }
    };
    probes.cancel();
    let _ = consumer.await;
    run.log.close();
    run.kill_execs();
    let oom = oom.load(Ordering::SeqCst);
    let reason = if oom {
        "OOMKilled"
    } else if code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let message = termination_message(spec, launch.termination_log.as_deref(), &run.log, code);
    record(Terminated {
        exit_code: code,
        reason: reason.to_owned(),
        message,
        started_at,
        finished_at: timestamp(),
        container_id: container_id.clone(),
    })
}

/// The eviction or deletion fault: once the container has run a moment, the kubelet evicts
/// its pod (hard eviction: no grace) or someone deletes it as `kubectl delete pod` would.
async fn strike(ctx: Arc<Ctx>, process: Arc<Process>, evict: bool) {
    tokio::time::sleep(FAULT_DELAY).await;
    if process.exit_code().is_some() || ctx.stop.is_cancelled() {
        return;
    }
    if evict {
        ctx.event(EventType::Warning, None, "Evicted", EVICTED);
        ctx.update(|m| {
            m.facts.terminal = true;
            m.facts.failure = Some(("Evicted".to_owned(), EVICTED.to_owned()));
        });
        ctx.stop_with(0);
    } else {
        let grace = termination_grace(&ctx.pod());
        let _ = ctx
            .sim
            .store
            .mark_deleted("pods", &ctx.namespace, &ctx.name, grace);
    }
}

/// SIGTERM, then SIGKILL to everything once the grace period (seconds, which may shrink
/// meanwhile) has passed; returns the exit code.
async fn stop_gracefully(process: &Process, mut grace: watch::Receiver<i64>) -> i32 {
    process.signal(Signal::SIGTERM);
    let start = tokio::time::Instant::now();
    loop {
        let seconds = u64::try_from(*grace.borrow_and_update()).unwrap_or(0);
        let deadline = start + Duration::from_secs(seconds);
        tokio::select! {
            code = process.wait() => return code,
            _ = tokio::time::sleep_until(deadline) => break,
            changed = grace.changed() => if changed.is_err() { break },
        }
    }
    process.kill_all();
    process.wait().await
}

/// The termination message: the file at `terminationMessagePath`, else (with
/// `FallbackToLogsOnError` and a failure) the log's last 80 lines, at most 2048 bytes.
fn termination_message(
    spec: &Value,
    file: Option<&std::path::Path>,
    log: &LogBuffer,
    code: i32,
) -> Option<String> {
    let from_file = file
        .and_then(|f| std::fs::read(f).ok())
        .filter(|b| !b.is_empty())
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned());
    if from_file.is_some() {
        return from_file;
    }
    if code == 0 || str_at(spec, "/terminationMessagePolicy") != "FallbackToLogsOnError" {
        return None;
    }
    let contents = log.contents();
    let text = String::from_utf8_lossy(&contents);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(80)..].join("\n");
    let start = tail.len().saturating_sub(2048);
    let start = (start..=tail.len())
        .find(|&i| tail.is_char_boundary(i))
        .unwrap_or(tail.len());
    (!tail.is_empty()).then(|| tail[start..].to_owned())
}

/// Startup, then readiness and liveness probes for one run, until `done`.
async fn probe_loop(
    ctx: Arc<Ctx>,
    index: usize,
    spec: Value,
    process: Arc<Process>,
    done: CancellationToken,
) {
    let name = str_at(&spec, "/name").to_owned();
    if let Some(startup) = Probe::from_container(&spec, "startupProbe") {
        tokio::select! {
            _ = done.cancelled() => return,
            passed = probe_until(&ctx, &name, &startup, "Startup", true) => {
                if !passed {
                    restart_for_probe(&ctx, &name, &spec, &process, "startup").await;
                    return;
                }
            }
        }
        ctx.update(|m| {
            m.containers[index].started = true;
            m.containers[index].ready = Probe::from_container(&spec, "readinessProbe").is_none();
        });
    }
    let readiness = Probe::from_container(&spec, "readinessProbe").map(|probe| {
        let (ctx, name) = (ctx.clone(), name.clone());
        async move {
            let mut ready = false;
            let (mut successes, mut failures) = (0, 0);
            tokio::time::sleep(probe.initial_delay).await;
            loop {
                match probe.check(&ctx.sim.kubelet, target(&ctx, &name)).await {
                    Ok(()) => {
                        successes += 1;
                        failures = 0;
                    }
                    Err(output) => {
                        failures += 1;
                        successes = 0;
                        ctx.event(
                            EventType::Warning,
                            Some((Kind::Regular, &name)),
                            "Unhealthy",
                            &format!("Readiness probe failed: {output}"),
                        );
                    }
                }
                let now_ready = if successes >= probe.success_threshold {
                    true
                } else if failures >= probe.failure_threshold {
                    false
                } else {
                    ready
                };
                if now_ready != ready {
                    ready = now_ready;
                    ctx.update(|m| m.containers[index].ready = ready);
                }
                tokio::time::sleep(probe.period).await;
            }
        }
    });
    let liveness = Probe::from_container(&spec, "livenessProbe").map(|probe| {
        let (ctx, name, spec, process) = (ctx.clone(), name.clone(), spec.clone(), process.clone());
        async move {
            if !probe_until(&ctx, &name, &probe, "Liveness", false).await {
                restart_for_probe(&ctx, &name, &spec, &process, "liveness").await;
            }
        }
    });
    let readiness = async move {
        match readiness {
            Some(r) => r.await,
            None => std::future::pending().await,
        }
    };
    let liveness = async move {
        match liveness {
            Some(l) => l.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = done.cancelled() => {}
        _ = readiness => {}
        _ = liveness => {}
    }
}

fn target<'a>(ctx: &'a Ctx, container: &'a str) -> Target<'a> {
    Target {
        namespace: &ctx.namespace,
        pod: &ctx.name,
        container,
        pod_ip: &ctx.pod_ip,
    }
}

/// Probes until `until_success` is met (true) or the failure threshold is reached (false).
/// With `until_success` false, returns only on reaching the failure threshold.
async fn probe_until(
    ctx: &Ctx,
    name: &str,
    probe: &Probe,
    label: &str,
    until_success: bool,
) -> bool {
    tokio::time::sleep(probe.initial_delay).await;
    let (mut successes, mut failures) = (0, 0);
    loop {
        match probe.check(&ctx.sim.kubelet, target(ctx, name)).await {
            Ok(()) => {
                successes += 1;
                failures = 0;
                if until_success && successes >= probe.success_threshold {
                    return true;
                }
            }
            Err(output) => {
                failures += 1;
                successes = 0;
                ctx.event(
                    EventType::Warning,
                    Some((Kind::Regular, name)),
                    "Unhealthy",
                    &format!("{label} probe failed: {output}"),
                );
                if failures >= probe.failure_threshold {
                    return false;
                }
            }
        }
        tokio::time::sleep(probe.period).await;
    }
}

/// A failed liveness or startup probe: the kubelet kills the container (which then restarts
/// per the restart policy).
async fn restart_for_probe(ctx: &Ctx, name: &str, spec: &Value, process: &Process, which: &str) {
    ctx.event(
        EventType::Normal,
        Some((Kind::Regular, name)),
        "Killing",
        &format!("Container {name} failed {which} probe, will be restarted"),
    );
    let _ = spec;
    let (_fixed, grace) = watch::channel(termination_grace(&ctx.pod()));
    stop_gracefully(process, grace).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(80)), "80ms");
        assert_eq!(go_duration(Duration::from_millis(1661)), "1.661s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(random_hex(64).len(), 64);
    }

    #[test]
    fn fallback_to_logs_keeps_the_tail() {
        let log = LogBuffer::default();
        for i in 0..100 {
            log.append(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let spec = json!({"terminationMessagePolicy": "FallbackToLogsOnError"});
        let message = termination_message(&spec, None, &log, 1).unwrap();
        assert!(message.starts_with("line 20\n"));
        assert!(message.ends_with("line 99"));
        assert_eq!(termination_message(&spec, None, &log, 0), None);
    }
}
