//! The container's output without a TTY: the log stream followed from the container's start,
//! so that no byte is lost even when the command exits before krun connects. A dropped stream
//! is reopened and the bytes already written are skipped, so nothing is printed twice.
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

/// Reconnections after a dropped stream before giving up.
const MAX_RECONNECTS: u32 = 10;
/// Pause between attempts while the container is still waiting to start.
const RETRY: Duration = Duration::from_millis(100);
/// Attempts while the server says the container is not ready for logs (30s).
const MAX_WAITING: u32 = 300;

/// Copies the whole output of `container` in `pod` to `out` until the container exits.
pub async fn follow<W: AsyncWrite + Unpin>(
    conn: &Connection,
    pod: &str,
    container: &str,
    out: &mut W,
) -> Result<(), ClusterError> {
    let api = conn.api::<Pod>();
    let params = LogParams {
        container: Some(container.to_string()),
        follow: true,
        ..LogParams::default()
    };
    let resource = format!("pods/{pod}/log");
    let mut written: u64 = 0;
    let mut reconnects = 0;
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
            Err(e) if reconnects < MAX_RECONNECTS && !is_final(&e) => {
                reconnects += 1;
                tokio::time::sleep(RETRY).await;
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
                    let start = written.saturating_sub(seen).min(n as u64) as usize;
                    seen += n as u64;
                    if start < n {
                        out.write_all(&buf[start..n])
                            .await
                            .map_err(|e| ClusterError::local("writing the output", e))?;
                        out.flush().await.ok();
                        written += (n - start) as u64;
                    }
                }
                Err(_) if reconnects < MAX_RECONNECTS => {
                    reconnects += 1;
                    break;
                }
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

fn is_final(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 401 | 403 | 404))
}
