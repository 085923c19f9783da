//! The command's session once it runs: streams (TTY attach, or logs plus stdin attach),
//! signal forwarding, and the exit code read from the pod status (attach carries none).
//!
//! Signals without a TTY: the first SIGINT/SIGTERM/SIGHUP is forwarded to the container's
//! PID 1 (`exec kill -s SIG 1`, falling back to a graceful delete with `stop_grace_period`);
//! the second deletes the pod at once and ends the run with 130. SIGTERM and SIGHUP have no
//! second one to wait for: the pod is deleted once `stop_grace_period` has passed after them.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, DeleteParams};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::attach::{self, TtyEnd};
use super::client::{Connection, is_not_found};
use super::error::ClusterError;
use super::logs;
use super::one_off::{Created, Started, the_pod};
use super::signals::{Sig, Signals};
use super::status::{self, Exit, Phase};
use super::stdin;
use crate::plan::OneOff;
use crate::progress::Progress;

/// How long a failed attach waits for the watch to show that the command already exited.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How long the watch may take to show the exit after the log stream ended, before the stream
/// is taken to have been cut and is reopened.
const EOF_GRACE: Duration = Duration::from_secs(3);

/// How long `kill` in the container may take before krun falls back to deleting the pod.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// How the session ended.
#[derive(Debug)]
pub enum Ending {
    /// The container exited.
    Exited(Exit),
    /// The user detached (TTY): the pod keeps running.
    Detached,
}

/// Forwards signals to the running container; the second one gives up on it.
struct Forwarder<'a> {
    conn: &'a Connection,
    pod: String,
    container: &'a str,
    grace: Duration,
    received: u32,
    escalate_at: Option<Instant>,
}

impl Forwarder<'_> {
    async fn handle(&mut self, sig: Sig) -> Result<(), ClusterError> {
        self.received += 1;
        if self.received > 1 {
            return self.give_up().await;
        }
        // Nobody sends a second SIGTERM (a CI runner, the kubelet stopping krun's own pod) or
        // SIGHUP (the terminal is gone): like `docker stop`, the command gets its grace period.
        if matches!(sig, Sig::Term | Sig::Hup) {
            self.escalate_at = Some(Instant::now() + self.grace);
        }
        let killed = tokio::time::timeout(KILL_TIMEOUT, self.kill(sig)).await;
        if !killed.unwrap_or(false) {
            let grace = self.grace.as_secs().min(u32::MAX as u64) as u32;
            let dp = DeleteParams::background().grace_period(grace);
            match self.conn.api::<Pod>().delete(&self.pod, &dp).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(self.conn.fail("delete", format!("pods/{}", self.pod), e)),
            }
        }
        Ok(())
    }

    /// Deletes the pod at once and ends the run as interrupted.
    async fn give_up<T>(&self) -> Result<T, ClusterError> {
        let dp = DeleteParams::background().grace_period(0);
        match self.conn.api::<Pod>().delete(&self.pod, &dp).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(self.conn.fail("delete", format!("pods/{}", self.pod), e)),
        }
        Err(ClusterError::Interrupted)
    }

    /// Resolves when a forwarded SIGTERM/SIGHUP's grace period is over; never otherwise.
    async fn grace_over(&self) {
        match self.escalate_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// `kill -s SIG 1` in the container; false when the image cannot do it.
    async fn kill(&self, sig: Sig) -> bool {
        let params = AttachParams::default()
            .container(self.container)
            .stdout(false)
            .stderr(true);
        let command = ["kill", "-s", sig.name(), "1"];
        let Ok(mut process) = self
            .conn
            .api::<Pod>()
            .exec(&self.pod, command, &params)
            .await
        else {
            return false;
        };
        let status = process.take_status();
        if let Some(mut err) = process.stderr() {
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink).await;
        }
        let ok = match status {
            Some(s) => s
                .await
                .is_some_and(|s| s.status.as_deref() == Some("Success")),
            None => false,
        };
        let _ = process.join().await;
        ok
    }
}

/// Runs `fut` while forwarding signals to the container.
async fn forwarding<T>(
    fut: impl Future<Output = Result<T, ClusterError>>,
    signals: &mut Signals,
    forwarder: &mut Forwarder<'_>,
) -> Result<T, ClusterError> {
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return r,
            sig = signals.recv() => forwarder.handle(sig).await?,
            () = forwarder.grace_over() => return forwarder.give_up().await,
        }
    }
}

/// Streams the running (or already finished) command and returns how it ended.
pub async fn run(
    conn: &Connection,
    one_off: &OneOff,
    created: &mut Created,
    started: Started,
    progress: &Progress,
    signals: &mut Signals,
) -> Result<Ending, ClusterError> {
    let pod = the_pod(&created.watch.current())
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| created.name.clone());
    let container = one_off.container.as_str();
    let mut forwarder = Forwarder {
        conn,
        pod: pod.clone(),
        container,
        grace: one_off.grace_period,
        received: 0,
        escalate_at: None,
    };
    let running = started == Started::Running;
    if one_off.io.tty && running {
        progress.clear();
        if !progress.is_quiet() {
            eprintln!("If you don't see a command prompt, try pressing enter.");
        }
        // Raw mode only matters when keys are forwarded (`-t -i=false` only shows output).
        let raw = match one_off.io.interactive {
            true => Some(
                crate::term::RawMode::enable()
                    .map_err(|e| ClusterError::local("putting the terminal in raw mode", e))?,
            ),
            false => None,
        };
        let mut input = one_off.io.interactive.then(stdin::spawn);
        // Once the terminal has shown the session, the log must not be printed over it again.
        let mut reattached = false;
        let end = loop {
            let session = attach::tty(conn, &pod, container, input.as_mut());
            match forwarding(session, signals, &mut forwarder).await {
                Ok(TtyEnd::Cut) if !finished(&created.watch.current(), container) => {
                    eprint!("\r\nkrun: the connection to {pod} broke; attaching again\r\n");
                    reattached = true;
                }
                other => break other,
            }
        };
        drop(raw);
        match end {
            Ok(TtyEnd::Detached) => {
                eprintln!(
                    "\r\nDetached from {pod}; it keeps running. Re-attach with: kubectl attach -it \
                     {pod} -c {container} -n {}",
                    conn.namespace()
                );
                return Ok(Ending::Detached);
            }
            // A cut with the command already ended: the watch has its exit.
            Ok(TtyEnd::Closed { output: true } | TtyEnd::Cut) => {}
            // Nothing came through the attach: the command ran before it connected.
            Ok(TtyEnd::Closed { output: false }) if !reattached => {
                print_logs(conn, created, container, signals, &mut forwarder).await?
            }
            Ok(TtyEnd::Closed { output: false }) => {}
            // The container may have exited before the attach (the kubelet then says it is
            // not found or not running, possibly before the watch shows the exit): show its
            // output instead, unless the terminal showed it already.
            Err(e) => {
                let seen_exit = created
                    .watch
                    .until(|pods| exited(pods, container).then_some(()));
                if tokio::time::timeout(EXIT_GRACE, seen_exit).await.is_err() {
                    return Err(e);
                }
                if !reattached {
                    print_logs(conn, created, container, signals, &mut forwarder).await?
                }
            }
        }
    } else {
        let stdin_task = (one_off.io.interactive && running).then(|| {
            let conn = conn.clone();
            let (pod, container) = (pod.clone(), container.to_string());
            tokio::spawn(async move {
                // Attach fails harmlessly if the command already exited.
                let _ = attach::send_stdin(&conn, &pod, &container, stdin::spawn()).await;
            })
        });
        let printed = print_logs(conn, created, container, signals, &mut forwarder).await;
        if let Some(t) = stdin_task {
            t.abort();
        }
        printed?;
    }
    let deleted = created.watch.deleted();
    // Deleted or being deleted, whoever did it.
    let gone = std::cell::Cell::new(false);
    let exit = forwarding(
        created.watch.until(|pods| match the_pod(pods) {
            // Gone: its final state tells whether the command had exited (krun's own
            // fallback for a signal deletes the pod gracefully, and the exit comes with it).
            None => {
                gone.set(true);
                Some(
                    match deleted.get(&pod).map(|p| status::phase(&p, container)) {
                        Some(Phase::Exited(e)) => Ok(e),
                        _ => Err(ClusterError::PodDeleted(pod.clone())),
                    },
                )
            }
            Some((_, p)) => {
                gone.set(status::terminating(p));
                match status::phase(p, container) {
                    Phase::Exited(e) => Some(Ok(e)),
                    Phase::PodFailed { reason, message } => Some(Err(ClusterError::PodFailed {
                        pod: pod.clone(),
                        reason,
                        message,
                    })),
                    _ => None,
                }
            }
        }),
        signals,
        &mut forwarder,
    )
    .await??;
    if gone.get() && forwarder.received == 0 {
        progress.warn(&format!(
            "{pod} was deleted by someone else while its command ran (kubectl delete, a \
             controller, the node draining)"
        ));
    }
    Ok(Ending::Exited(exit))
}

fn exited(pods: &super::watch::Pods, container: &str) -> bool {
    the_pod(pods).is_some_and(|(_, p)| matches!(status::phase(p, container), Phase::Exited(_)))
}

/// The command will print nothing more: it exited, its pod failed, or the pod is gone.
fn finished(pods: &super::watch::Pods, container: &str) -> bool {
    the_pod(pods).is_none_or(|(_, p)| {
        matches!(
            status::phase(p, container),
            Phase::Exited(_) | Phase::PodFailed { .. }
        )
    })
}

/// Prints the command's whole output. The log stream normally ends because the command
/// exited, which the watch shows moments later; one that an API server outage ended is reopened
/// instead, skipping what was already printed, so no line is lost or printed twice.
async fn print_logs(
    conn: &Connection,
    created: &mut Created,
    container: &str,
    signals: &mut Signals,
    forwarder: &mut Forwarder<'_>,
) -> Result<(), ClusterError> {
    let mut stdout = tokio::io::stdout();
    let mut written = 0;
    let pod = forwarder.pod.clone();
    loop {
        let follow = logs::follow(conn, &pod, container, &mut stdout, &mut written);
        forwarding(follow, signals, forwarder).await?;
        let ended = created
            .watch
            .until(|pods| finished(pods, container).then_some(()));
        if tokio::time::timeout(EOF_GRACE, ended).await.is_ok() {
            return Ok(());
        }
    }
}
