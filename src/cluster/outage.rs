//! Riding out an API server that goes away for a while (a control-plane restart, a rollout of
//! the API server, a laptop that slept): streams, cleanup and every request that is safe to
//! repeat retry transient failures with a growing pause until the outage has lasted longer than
//! the run's patience (`--wait-timeout`), then fail with the last error.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::client::Connection;

/// The first pause after a failure; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Whether `e` may go away by itself: the server unreachable, overloaded or failing (5xx,
/// 429, timeouts, dropped connections), as opposed to a refusal that a retry only repeats.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        // A failing admission webhook answers 500 too, and keeps failing until someone fixes
        // it: that is an error to report, not an outage to wait out.
        kube::Error::Api(s) if s.message.contains("webhook") => false,
        kube::Error::Api(s) => s.code >= 500 || s.code == 429 || s.code == 408,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// One run of consecutive failures.
#[derive(Debug)]
pub struct Outage {
    patience: Duration,
    since: Option<Instant>,
    pause: Duration,
}

impl Outage {
    /// Tolerates outages up to `patience` long.
    pub fn new(patience: Duration) -> Outage {
        Outage {
            patience,
            since: None,
            pause: FIRST_PAUSE,
        }
    }

    /// After a transient failure: pauses and returns true while the outage is within
    /// patience; false once it is not (the caller then fails).
    pub async fn pause(&mut self) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.patience {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        true
    }

    /// The server answered: the next failure starts a new outage.
    pub fn over(&mut self) {
        self.since = None;
        self.pause = FIRST_PAUSE;
    }
}

/// Sends a request that is safe to repeat (a read, a server-side apply, a delete), again
/// through an outage: once the API server has answered in this run, transient failures are
/// retried within the connection's patience. Before that, the first failure is final, so a
/// wrong kubeconfig or a server that is down fails at once.
pub async fn repeatable<T, Fut>(
    conn: &Connection,
    what: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<T, kube::Error>
where
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut outage = Outage::new(conn.patience);
    let mut told = false;
    loop {
        match call().await {
            Err(e) if is_transient(&e) && conn.has_answered() && outage.pause().await => {
                if !std::mem::replace(&mut told, true) {
                    eprintln!(
                        "krun: the API server does not answer ({e}); trying to {what} again for up to {}s",
                        conn.patience.as_secs()
                    );
                }
            }
            Err(e) if is_transient(&e) => return Err(e),
            answer => {
                conn.answered();
                return answer;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outage_lasts_until_patience_runs_out() {
        let patience = Duration::from_millis(300);
        let mut outage = Outage::new(patience);
        let start = Instant::now();
        assert!(outage.pause().await, "the first failure is within patience");
        while outage.pause().await {}
        assert!(start.elapsed() >= patience);
        // A success starts over: a new outage gets the whole patience again.
        outage.over();
        assert!(outage.pause().await);
    }

    #[test]
    fn refusals_are_not_retried() {
        let status =
            |code| kube::Error::Api(kube::core::Status::failure("", "").with_code(code).boxed());
        assert!(is_transient(&status(503)));
        assert!(is_transient(&status(429)));
        assert!(!is_transient(&status(403)));
        assert!(!is_transient(&status(404)));
        let webhook = kube::Error::Api(
            kube::core::Status::failure(
                "Internal error occurred: failed calling webhook \"v.example.com\": connection refused",
                "InternalError",
            )
            .with_code(500)
            .boxed(),
        );
        assert!(!is_transient(&webhook));
    }
}
