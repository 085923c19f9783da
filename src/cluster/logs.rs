//! The container's output without a TTY: the log stream followed from the container's start,
//! so that no byte is lost even when the command exits before krun connects. A dropped stream
//! is reopened (through an API server outage, within the connection's patience) and the bytes
//! already written are skipped, so nothing is printed twice.
//!
//! Caveat: the log API merges stdout and stderr; everything arrives on krun's stdout, in the
//! container's order.

use std::time::Duration;

use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::client::Connection;
use super::error::ClusterError;
use super::outage::{Outage, is_transient};

/// Pause between attempts while the container is still waiting to start.
const RETRY: Duration = Duration::from_millis(100);
/// Attempts while the server says the container is not ready for logs (30s).
const MAX_WAITING: u32 = 300;

/// Copies the output of `container` in `pod` to `out` until the stream ends (normally: the
/// container exited), skipping the first `written` bytes and counting what it writes there.
pub async fn follow<W: AsyncWrite + Unpin>(
    conn: &Connection,
    pod: &str,
    container: &str,
    out: &mut W,
    written: &mut u64,
) -> Result<(), ClusterError> {
    let api = conn.api::<Pod>();
    let params = LogParams {
        container: Some(container.to_string()),
        follow: true,
        ..LogParams::default()
    };
    let resource = format!("pods/{pod}/log");
    let mut outage = Outage::new(conn.patience);
    let mut waiting = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let stream = match api.log_stream(pod, &params).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 400 && waiting < MAX_WAITING => {
                waiting += 1;
                // "container … is waiting to start": not running yet.
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(e) if is_transient(&e) && outage.pause().await => continue,
            // A kubelet that is stopping or starting does not know the pod yet or any more,
            // and the API server passes that on as 404: an outage while the pod exists.
            Err(kube::Error::Api(s))
                if s.code == 404
                    && matches!(api.get_opt(pod).await, Ok(Some(_)))
                    && outage.pause().await =>
            {
                continue;
            }
            Err(e) => return Err(conn.fail("get", resource, e)),
        };
        let mut stream = std::pin::pin!(stream);
        let mut seen: u64 = 0;
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => {
                    out.flush().await.ok();
                    return Ok(());
                }
                Ok(n) => {
                    outage.over();
                    let start = written.saturating_sub(seen).min(n as u64) as usize;
                    seen += n as u64;
                    if start < n {
                        out.write_all(&buf[start..n])
                            .await
                            .map_err(|e| ClusterError::local("writing the output", e))?;
                        out.flush().await.ok();
                        *written += (n - start) as u64;
                    }
                }
                // A dropped stream: reopen it (from the start, skipping what was written).
                Err(_) if outage.pause().await => break,
                Err(e) => {
                    return Err(ClusterError::local(
                        format!("reading the log of pod {pod}"),
                        e,
                    ));
                }
            }
        }
    }
}
