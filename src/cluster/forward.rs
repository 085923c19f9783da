//! `-p` / `--service-ports`: local listeners for the run's lifetime, one port-forward stream per
//! accepted connection (kube-rs cannot multiplex several onto one websocket); errors are
//! reported per connection and never end the run.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::client::Connection;
use super::error::ClusterError;
use crate::plan::Forward;
use crate::progress::Progress;

/// The running listeners; dropping this stops them and their connections.
pub struct Forwards {
    tasks: JoinSet<()>,
}

impl Forwards {
    /// Stops every listener and connection.
    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

/// Binds every listener (before returning, so a port in use fails the run early) and serves
/// connections to `pod` in the background.
pub async fn start(
    conn: &Connection,
    pod: &str,
    forwards: &[Forward],
    progress: &Arc<Progress>,
) -> Result<Forwards, ClusterError> {
    let mut tasks = JoinSet::new();
    for f in forwards {
        let addr = format!("{}:{}", f.host_ip, f.host_port.unwrap_or(0));
        let listener = TcpListener::bind(&addr).await.map_err(|e| {
            ClusterError::local(
                format!(
                    "listening on {addr} for -p {}:{}; pick another host port",
                    f.host_port.unwrap_or(0),
                    f.container_port
                ),
                e,
            )
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| ClusterError::local(format!("listening on {addr}"), e))?;
        if f.host_port.is_none() {
            progress.notice(&format!("Forwarding {local} -> {pod}:{}", f.container_port));
        }
        tasks.spawn(serve(
            conn.clone(),
            pod.to_string(),
            listener,
            f.container_port,
            progress.clone(),
        ));
    }
    Ok(Forwards { tasks })
}

async fn serve(
    conn: Connection,
    pod: String,
    listener: TcpListener,
    port: u16,
    progress: Arc<Progress>,
) {
    let mut connections = JoinSet::new();
    while let Ok((socket, _)) = listener.accept().await {
        connections.spawn(forward_one(
            conn.clone(),
            pod.clone(),
            socket,
            port,
            progress.clone(),
        ));
    }
}

async fn forward_one(
    conn: Connection,
    pod: String,
    mut socket: TcpStream,
    port: u16,
    progress: Arc<Progress>,
) {
    let report = |what: String| progress.warn(&format!("port-forward to {pod}:{port}: {what}"));
    let mut forwarder = match conn.api::<Pod>().portforward(&pod, &[port]).await {
        Ok(f) => f,
        Err(e) => {
            report(
                conn.fail("create", format!("pods/{pod}/portforward"), e)
                    .to_string(),
            );
            return;
        }
    };
    let Some(mut upstream) = forwarder.take_stream(port) else {
        report("the server opened no stream".into());
        return;
    };
    if let Some(errors) = forwarder.take_error(port) {
        let progress = progress.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            if let Some(e) = errors.await {
                progress.warn(&format!("port-forward to {pod}:{port}: {e}"));
            }
        });
    }
    if let Err(e) = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await {
        report(e.to_string());
    }
    drop(upstream);
    let _ = forwarder.join().await;
}
