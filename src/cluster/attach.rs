//! Attaching to a running container: input only (piped stdin without a TTY, or a tar into an
//! init container for bind-mount copies; ended with the v5 close signal), and the interactive
//! TTY session (raw mode, resize with kubectl's redraw nudge, ctrl-p ctrl-q to detach).

use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, AttachedProcess, TerminalSize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::Connection;
use super::error::ClusterError;
use super::outage::repeatable;
use super::stdin::{DetachKeys, Input};

/// Buffer for output frames (kube-rs' default of 1 KiB throttles throughput).
const OUT_BUF: usize = 64 * 1024;

/// How long output may still arrive once the attach has ended.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// How a TTY session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyEnd {
    /// The container closed the stream (it exited); `output` tells whether any byte arrived
    /// (a command that finished before the attach leaves only its log).
    Closed {
        /// Bytes were received.
        output: bool,
    },
    /// The connection broke without the server ending the session (an API server restart, a
    /// network blip): the command may still run.
    Cut,
    /// The user typed the detach keys: the pod keeps running.
    Detached,
}

async fn attach(
    conn: &Connection,
    pod: &str,
    params: &AttachParams,
) -> Result<AttachedProcess, ClusterError> {
    let api = conn.api::<Pod>();
    // Attaching again is harmless, so an API server outage is waited out.
    repeatable(conn, &format!("attach to {pod}"), || {
        api.attach(pod, params)
    })
    .await
    .map_err(|e| conn.fail("create", format!("pods/{pod}/attach"), e))
}

/// Sends everything `input` yields to `container`'s stdin, then closes it (EOF reaches the
/// process), and keeps the connection until the server ends it (the container exited).
pub async fn send_stdin(
    conn: &Connection,
    pod: &str,
    container: &str,
    mut input: Input,
) -> Result<(), ClusterError> {
    let params = AttachParams::default()
        .container(container)
        .stdin(true)
        .stdout(false)
        .stderr(false);
    let mut process = attach(conn, pod, &params).await?;
    let Some(mut writer) = process.stdin() else {
        return Ok(());
    };
    while let Some(chunk) = input.recv().await {
        if writer.write_all(&chunk).await.is_err() {
            break;
        }
    }
    // Shutting down the writer makes kube-rs send the v5 close frame: EOF for the process.
    let _ = writer.shutdown().await;
    let _ = process.join().await;
    Ok(())
}

/// The interactive session: the terminal must already be in raw mode. Ends when the container
/// closes the stream, the connection breaks, or the user detaches. `input` is only borrowed,
/// so that a broken session can be attached again with the same keyboard.
pub async fn tty(
    conn: &Connection,
    pod: &str,
    container: &str,
    input: Option<&mut Input>,
) -> Result<TtyEnd, ClusterError> {
    let params = AttachParams::interactive_tty()
        .container(container)
        .stdin(input.is_some())
        .max_stdout_buf_size(OUT_BUF);
    let mut process = attach(conn, pod, &params).await?;
    let mut output = process
        .stdout()
        .ok_or_else(|| ClusterError::Config(format!("attach to {pod} gave no output")))?;
    // The kubelet always ends an attach with a status (kubernetes#63694: `Success`); a
    // connection that breaks ends without one. kube-rs then leaves the output open, so the
    // status is what tells the two apart.
    let status = process.take_status();
    let mut status = std::pin::pin!(async {
        match status {
            Some(status) => status.await,
            None => std::future::pending().await,
        }
    });
    let writer = process.stdin();
    if let Some(sizes) = process.terminal_size() {
        tokio::spawn(resize(sizes));
    }
    let mut keys = std::pin::pin!(async {
        match input.zip(writer) {
            Some((input, writer)) => pump_keys(input, writer).await,
            None => std::future::pending().await,
        }
    });
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; OUT_BUF];
    let mut received = false;
    let mut ended: Option<bool> = None;
    let end = loop {
        let read = async {
            match ended {
                Some(_) => tokio::time::timeout(DRAIN, output.read(&mut buf))
                    .await
                    .unwrap_or(Ok(0)),
                None => output.read(&mut buf).await,
            }
        };
        tokio::select! {
            read = read => match read {
                Ok(0) | Err(_) => break match ended {
                    Some(false) => TtyEnd::Cut,
                    _ => TtyEnd::Closed { output: received },
                },
                Ok(n) => {
                    received = true;
                    if stdout.write_all(&buf[..n]).await.is_err() {
                        break TtyEnd::Closed { output: true };
                    }
                    let _ = stdout.flush().await;
                }
            },
            status = &mut status, if ended.is_none() => ended = Some(status.is_some()),
            () = &mut keys => break TtyEnd::Detached,
        }
    };
    process.abort();
    Ok(end)
}

/// Forwards typed bytes to the container; returns when the detach keys are typed (at EOF it
/// closes the container's stdin and waits for the session to end).
async fn pump_keys(input: &mut Input, mut writer: tokio::io::WriteHalf<tokio::io::SimplexStream>) {
    let mut keys = DetachKeys::default();
    while let Some(chunk) = input.recv().await {
        let (bytes, detach) = keys.feed(&chunk);
        if !bytes.is_empty() && writer.write_all(&bytes).await.is_err() {
            return std::future::pending().await;
        }
        if detach {
            return;
        }
    }
    let _ = writer.shutdown().await;
    std::future::pending().await
}

/// kubectl's redraw nudge (size+1, then the real size), then every SIGWINCH.
async fn resize(mut sizes: futures::channel::mpsc::Sender<TerminalSize>) {
    let Some((width, height)) = crate::term::size() else {
        return;
    };
    let nudge = TerminalSize {
        width: width.saturating_add(1),
        height: height.saturating_add(1),
    };
    if sizes.send(nudge).await.is_err() || sizes.send(TerminalSize { width, height }).await.is_err()
    {
        return;
    }
    let Ok(mut winch) = crate::term::resizes() else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some((width, height)) = crate::term::size()
            && sizes.send(TerminalSize { width, height }).await.is_err()
        {
            return;
        }
    }
}
