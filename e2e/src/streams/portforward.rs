//! `portforward` over websocket (`v4.channel.k8s.io`, `portforward.k8s.io`), as kube-rs speaks
//! it: port i uses channel 2i for data and 2i+1 for errors, and the first frame on each is the
//! port as 2 bytes little-endian.
//!
//! The "pod network" is the host's (see `crate::kubelet`): port P of a pod is 127.0.0.1:P. A
//! refused connection is reported on the error channel with containerd's text, then the port's
//! streams end; the websocket closes when every port is done, as the kubelet's handler does.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{self, frame};
use super::{get_pod, require_host};
use crate::api::query::Query;
use crate::api::status::ApiError;
use crate::sim::{Body, Sim};
use crate::store::str_at;

/// The ports asked for: `ports=80&ports=81` or kube-rs's `ports=80,81`.
fn parse_ports(query: &Query) -> Result<Vec<u16>, ApiError> {
    let values = query.all("ports");
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    let mut ports = Vec::new();
    for value in values {
        for part in value.split(',') {
            match part.parse::<u16>() {
                Ok(p) if p > 0 => ports.push(p),
                Ok(_) => return Err(ApiError::bad_request(format!("port {value:?} must be > 0"))),
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "unable to parse {value:?} as a port: {e}"
                    )));
                }
            }
        }
    }
    Ok(ports)
}

/// containerd's refusal text, as the kubelet forwards it.
fn refused(port: u16, sandbox: &str, error: &std::io::Error) -> String {
    let what = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        _ => error.to_string(),
    };
    format!(
        "error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{}\": failed to connect to localhost:{port} inside namespace \"{sandbox}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: {what} IPv6 dial tcp6 [::1]:{port}: connect: {what} ",
        &sandbox[..36.min(sandbox.len())]
    )
}

/// Checks the request, upgrades, and forwards every port until the client or the servers close.
pub fn serve(
    sim: &Arc<Sim>,
    namespace: &str,
    name: &str,
    query: &Query,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = get_pod(sim, namespace, name)?;
    require_host(&pod)?;
    let ports = parse_ports(query)?;
    let accepted = ws::accept(&mut req, &["v4.channel.k8s.io", "portforward.k8s.io"])?;
    // The sandbox ID containerd reports: derived from the pod uid, stable per pod.
    let uid = str_at(&pod, "/metadata/uid").replace('-', "");
    let sandbox = format!("{uid}{uid}");
    let drop_after = sim.faults.stream_drop("portforward", namespace);
    tokio::spawn(async move {
        let Some(socket) = ws::open(accepted.upgrade).await else {
            return;
        };
        let session = forward(socket, ports, sandbox);
        match drop_after {
            Some(after) => {
                let _ = tokio::time::timeout(after, session).await;
            }
            None => session.await,
        }
    });
    Ok(accepted.response)
}

async fn forward(socket: ws::Socket, ports: Vec<u16>, sandbox: String) {
    let (mut sink, mut source) = socket.split();
    let (to_client, mut outgoing) = mpsc::channel::<Message>(64);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::new();
    let mut readers = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let data = (2 * i) as u8;
        for channel in [data, data + 1] {
            if sink
                .send(frame(channel, &port.to_le_bytes()))
                .await
                .is_err()
            {
                return;
            }
        }
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(tcp) => {
                let (mut read, write) = tcp.into_split();
                writers.push(Some(write));
                let to_client = to_client.clone();
                readers.spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = read.read(&mut buf).await {
                        if n == 0 || to_client.send(frame(data, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let _ = to_client
                    .send(frame(data + 1, refused(port, &sandbox, &e).as_bytes()))
                    .await;
            }
        }
    }
    drop(to_client);
    let mut pod_side_done = false;
    loop {
        tokio::select! {
            message = outgoing.recv() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                None => {
                    pod_side_done = true;
                    break;
                }
            },
            message = source.next() => match message {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    let index = usize::from(data[0] / 2);
                    if data[0] % 2 == 0
                        && let Some(Some(writer)) = writers.get_mut(index)
                        && writer.write_all(&data[1..]).await.is_err()
                    {
                        writers[index] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = readers.join_next(), if !readers.is_empty() => {}
        }
    }
    for writer in writers.iter_mut().flatten() {
        let _ = writer.shutdown().await;
    }
    readers.abort_all();
    let mut socket = match sink.reunite(source) {
        Ok(socket) => socket,
        Err(_) => return,
    };
    if pod_side_done {
        ws::finish(&mut socket).await;
    } else {
        // The client closed first: flush tungstenite's queued close reply.
        let _ = socket.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_in_both_spellings() {
        assert_eq!(
            parse_ports(&Query::parse("ports=80%2C1234")).unwrap(),
            vec![80, 1234]
        );
        assert_eq!(
            parse_ports(&Query::parse("ports=80&ports=81")).unwrap(),
            vec![80, 81]
        );
        assert!(parse_ports(&Query::parse("ports=0")).is_err());
        assert!(parse_ports(&Query::parse("")).is_err());
    }
}
