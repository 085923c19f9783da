//! The only code that talks to the API server: it executes a [`Plan`] (dependencies, the
//! one-off, its streams and port-forwards, cleanup) and serves `ps` and `down`.
//!
//! Entry points for `app.rs`: [`connect`] (or [`namespace_offline`] for `--dry-run`), then
//! [`execute`], [`ps`] or [`down`]. Errors are [`ClusterError`]s; `crate::exit` maps them to
//! exit codes.

mod apply;
mod attach;
mod client;
mod copy;
mod deps;
mod down;
mod error;
mod events;
mod forward;
mod hosting;
mod labels;
mod logs;
mod one_off;
mod orphans;
mod outage;
mod ps;
mod rollout;
mod session;
mod signals;
mod status;
mod stdin;
mod wait;
mod watch;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use client::{Connection, connect, namespace_offline};
pub use error::{ApiFailure, ClusterError, Target};
pub use hosting::local_registry;
pub use ps::ps;

use crate::plan::Plan;
use crate::progress::{self, Progress};
use crate::request::DownRequest;
use crate::timing;
use one_off::{Created, Started};
use session::Ending;
use signals::Signals;
use status::Exit;

/// How to run a plan: the settings that are not part of the plan itself.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Progress rendering (`progress::Mode::decide`).
    pub progress: progress::Mode,
    /// `--quiet-pull`.
    pub quiet_pull: bool,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
    /// `COMPOSE_IGNORE_ORPHANS` is true.
    pub ignore_orphans: bool,
    /// Every service of the project, enabled or not (anything else is an orphan).
    pub services: Vec<String>,
    /// `--wait-timeout`: dependencies and the pod's start.
    pub wait_timeout: Duration,
}

/// `krun down` with progress lines (`-q` silences them).
pub async fn down(
    conn: &Connection,
    project: &str,
    req: &DownRequest,
    mode: progress::Mode,
) -> Result<(), ClusterError> {
    let progress = Progress::new(mode, false);
    down::down(conn, project, req, &progress).await
}

/// Runs `plan` and returns the exit code of the command (0 for `-d` and detach). Every path
/// cleans up: the terminal is restored, forwards stop, the pod is deleted for `--rm`, and no
/// pod is left behind when the command never ran.
pub async fn execute(
    conn: &Connection,
    plan: &Plan,
    opts: &ExecOptions,
) -> Result<i32, ClusterError> {
    let progress = Progress::new(opts.progress, opts.quiet_pull);
    let mut signals = Signals::install()?;
    let deadline = plan.one_off.timeout.map(|t| (Instant::now() + t, t));
    let prepare = async {
        orphans::check(
            conn,
            &plan.project,
            &opts.services,
            opts.remove_orphans,
            opts.ignore_orphans,
            &progress,
        )
        .await?;
        deps::bring_up(conn, plan, opts.wait_timeout, &progress).await
    };
    bounded(deadline, interruptible(prepare, &mut signals)).await?;
    timing::mark("orphans checked, dependencies ready");

    bounded(
        deadline,
        interruptible(one_off::prepare(conn, plan, &progress), &mut signals),
    )
    .await?;
    let mut created = one_off::create(conn, plan).await?;
    timing::mark("one-off created");
    let mut started = false;
    let result = bounded(
        deadline,
        drive(
            conn,
            plan,
            opts,
            &mut created,
            &progress,
            &mut signals,
            &mut started,
        ),
    )
    .await;
    progress.clear();
    let result = match result {
        Ok(Ending::Exited(exit)) => exit_code(&created.name, exit, &progress).map(Some),
        Ok(Ending::Detached) => Ok(None),
        Err(e) => Err(e),
    };
    let never_ran = !started
        || matches!(
            result,
            Err(ClusterError::CommandNotFound { .. } | ClusterError::NotExecutable { .. })
        );
    let rm = plan.one_off.rm;
    let removal = match &result {
        Ok(None) => None,
        // The command never ran: leave nothing behind, --rm or not.
        Err(_) if never_ran => Some(Duration::ZERO),
        Ok(Some(_)) | Err(ClusterError::Timeout(_)) => rm.then_some(Duration::ZERO),
        Err(_) => rm.then_some(plan.one_off.grace_period),
    };
    if let Some(grace) = removal {
        one_off::remove(conn, &created, grace).await;
        timing::mark("one-off removed");
    }
    Ok(result?.unwrap_or(0))
}

/// From creation to the command's end: start (with copies), `-d`, forwards, session.
async fn drive(
    conn: &Connection,
    plan: &Plan,
    opts: &ExecOptions,
    created: &mut Created,
    progress: &std::sync::Arc<Progress>,
    signals: &mut Signals,
    started: &mut bool,
) -> Result<Ending, ClusterError> {
    let one_off = &plan.one_off;
    let name = created.name.clone();
    let start = one_off::wait_started(conn, one_off, created, progress);
    let start = async {
        match tokio::time::timeout(opts.wait_timeout, start).await {
            Ok(r) => r,
            Err(_) => Err(ClusterError::WaitTimeout {
                what: format!("pod {name}"),
                condition: "running",
                timeout: opts.wait_timeout,
                events: events::recent(conn, &name).await,
            }),
        }
    };
    let state = interruptible(start, signals).await?;
    timing::mark("command started");
    *started = true;
    if one_off.detach {
        println!("{}", created.name);
        return Ok(Ending::Detached);
    }
    let forwards = match (&state, one_off.forwards.is_empty()) {
        (Started::Running, false) => {
            let pod = one_off::the_pod(&created.watch.current())
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| created.name.clone());
            Some(forward::start(conn, &pod, &one_off.forwards, progress).await?)
        }
        _ => None,
    };
    let ending = session::run(conn, one_off, created, state, progress, signals).await;
    timing::mark("command ended");
    if let Some(f) = forwards {
        f.stop();
    }
    match ending {
        Err(ClusterError::PodFailed { reason, .. }) if reason == "DeadlineExceeded" => {
            Err(ClusterError::Timeout(one_off.timeout.unwrap_or_default()))
        }
        other => other,
    }
}

/// Runs `fut` unless a signal arrives first (then: interrupted, exit 130).
async fn interruptible<T>(
    fut: impl Future<Output = Result<T, ClusterError>>,
    signals: &mut Signals,
) -> Result<T, ClusterError> {
    tokio::select! {
        r = fut => r,
        _ = signals.recv() => Err(ClusterError::Interrupted),
    }
}

/// Runs `fut` within the `--timeout` deadline, if any.
async fn bounded<T>(
    deadline: Option<(Instant, Duration)>,
    fut: impl Future<Output = Result<T, ClusterError>>,
) -> Result<T, ClusterError> {
    match deadline {
        Some((at, budget)) => tokio::time::timeout_at(at, fut)
            .await
            .unwrap_or(Err(ClusterError::Timeout(budget))),
        None => fut.await,
    }
}

/// The process exit code for the container's termination (docker's conventions: 127 for a
/// missing command, 126 for one that cannot be executed).
fn exit_code(pod: &str, exit: Exit, progress: &Progress) -> Result<i32, ClusterError> {
    let message = exit.message.clone().unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    let start_failure = matches!(
        exit.reason.as_deref(),
        Some("StartError" | "ContainerCannotRun" | "CreateContainerError")
    );
    if start_failure && lower.contains("permission denied") {
        return Err(ClusterError::NotExecutable {
            pod: pod.to_string(),
            message,
        });
    }
    if start_failure && (lower.contains("not found") || lower.contains("no such file")) {
        return Err(ClusterError::CommandNotFound {
            pod: pod.to_string(),
            message,
        });
    }
    if exit.reason.as_deref() == Some("OOMKilled") {
        progress.warn(&format!(
            "the container of {pod} was killed for exceeding its memory limit (OOMKilled)"
        ));
    }
    Ok(exit.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32, reason: &str, message: &str) -> Exit {
        Exit {
            code,
            reason: Some(reason.into()),
            message: Some(message.into()),
        }
    }

    #[test]
    fn start_errors_map_to_docker_codes() {
        let p = Progress::new(progress::Mode::Quiet, false);
        let nf = exit(
            128,
            "StartError",
            "exec: \"nope\": executable file not found in $PATH",
        );
        assert!(matches!(
            exit_code("p", nf, &p),
            Err(ClusterError::CommandNotFound { .. })
        ));
        let pd = exit(128, "StartError", "exec: \"/x\": permission denied");
        assert!(matches!(
            exit_code("p", pd, &p),
            Err(ClusterError::NotExecutable { .. })
        ));
        assert_eq!(exit_code("p", exit(3, "Error", ""), &p).unwrap(), 3);
        assert_eq!(exit_code("p", exit(137, "OOMKilled", ""), &p).unwrap(), 137);
    }
}
