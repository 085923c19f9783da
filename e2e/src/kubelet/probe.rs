//! Container probes (exec, tcpSocket, httpGet): one check at a time; the timing loop is the pod
//! worker's.
//!
//! Like the real kubelet, network probes target the pod IP (so a server bound to 127.0.0.1 only
//! fails them, as in a real pod), and an exec probe runs inside the container.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Kubelet;

/// A probe's action and timing, with the API defaults filled in.
#[derive(Debug, Clone)]
pub struct Probe {
    action: Action,
    /// `initialDelaySeconds` (default 0).
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

#[derive(Debug, Clone)]
enum Action {
    Exec(Vec<String>),
    Tcp(u16),
    Http {
        port: u16,
        path: String,
        scheme: String,
    },
    Unsupported,
}

/// Where a probe runs: the container and the pod's address.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's name.
    pub pod: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// The pod IP.
    pub pod_ip: &'a str,
}

fn seconds(probe: &Value, field: &str, default: u64) -> Duration {
    Duration::from_secs(probe[field].as_u64().unwrap_or(default))
}

/// A port given as a number or as the name of one of the container's ports.
fn port(value: &Value, container: &Value) -> u16 {
    if let Some(n) = value.as_u64() {
        return u16::try_from(n).unwrap_or(0);
    }
    let name = value.as_str().unwrap_or("");
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
        .or_else(|| name.parse().ok())
        .unwrap_or(0)
}

impl Probe {
    /// The probe at `container[field]` (`readinessProbe`, `livenessProbe`, `startupProbe`).
    pub fn from_container(container: &Value, field: &str) -> Option<Self> {
        let probe = container.get(field)?;
        let action = if let Some(exec) = probe.get("exec") {
            Action::Exec(
                exec["command"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c.as_str().unwrap_or("").to_owned())
                    .collect(),
            )
        } else if let Some(tcp) = probe.get("tcpSocket") {
            Action::Tcp(port(&tcp["port"], container))
        } else if let Some(http) = probe.get("httpGet") {
            Action::Http {
                port: port(&http["port"], container),
                path: http["path"].as_str().unwrap_or("/").to_owned(),
                scheme: http["scheme"].as_str().unwrap_or("HTTP").to_owned(),
            }
        } else {
            Action::Unsupported
        };
        Some(Probe {
            action,
            initial_delay: seconds(probe, "initialDelaySeconds", 0),
            period: seconds(probe, "periodSeconds", 10),
            timeout: seconds(probe, "timeoutSeconds", 1),
            success_threshold: probe["successThreshold"].as_u64().unwrap_or(1).max(1) as u32,
            failure_threshold: probe["failureThreshold"].as_u64().unwrap_or(3).max(1) as u32,
        })
    }

    /// Runs the probe once; `Err` carries the output the kubelet puts in the `Unhealthy` event.
    pub async fn check(&self, kubelet: &Kubelet, target: Target<'_>) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.attempt(kubelet, target)).await {
            Ok(result) => result,
            Err(_) => Err(match &self.action {
                Action::Exec(command) => format!(
                    "command timed out: \"{}\" timed out after {}s",
                    command.join(" "),
                    self.timeout.as_secs()
                ),
                _ => format!("probe timed out after {}s", self.timeout.as_secs()),
            }),
        }
    }

    async fn attempt(&self, kubelet: &Kubelet, target: Target<'_>) -> Result<(), String> {
        match &self.action {
            Action::Exec(command) => {
                let argv: Vec<OsString> = command.iter().map(OsString::from).collect();
                let (process, mut output) = kubelet
                    .exec(
                        target.namespace,
                        target.pod,
                        target.container,
                        argv,
                        false,
                        false,
                    )
                    .map_err(|e| e.to_string())?;
                let mut text = Vec::new();
                while let Some((_, chunk)) = output.recv().await {
                    text.extend_from_slice(&chunk);
                }
                match process.wait().await {
                    0 => Ok(()),
                    _ => Err(String::from_utf8_lossy(&text).into_owned()),
                }
            }
            Action::Tcp(port) => TcpStream::connect((target.pod_ip, *port))
                .await
                .map(drop)
                .map_err(|e| dial_error(target.pod_ip, *port, &e)),
            Action::Http { port, path, scheme } => {
                if scheme != "HTTP" {
                    return Err(format!("scheme {scheme} is not supported by kube-sim"));
                }
                let url = format!("http://{}:{port}{path}", target.pod_ip);
                let mut stream = TcpStream::connect((target.pod_ip, *port))
                    .await
                    .map_err(|e| {
                        format!("Get \"{url}\": {}", dial_error(target.pod_ip, *port, &e))
                    })?;
                let request = format!(
                    "GET {path} HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                    target.pod_ip
                );
                stream
                    .write_all(request.as_bytes())
                    .await
                    .map_err(|e| format!("Get \"{url}\": {e}"))?;
                let mut head = vec![0u8; 64];
                let n = stream
                    .read(&mut head)
                    .await
                    .map_err(|e| format!("Get \"{url}\": {e}"))?;
                let line = String::from_utf8_lossy(&head[..n]);
                let code: u16 = line
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                if (200..400).contains(&code) {
                    Ok(())
                } else {
                    Err(format!("HTTP probe failed with statuscode: {code}"))
                }
            }
            Action::Unsupported => Err("probe type not supported by kube-sim".to_owned()),
        }
    }
}

/// Go's dial error text (`dial tcp 127.0.0.5:80: connect: connection refused`).
fn dial_error(ip: &str, port: u16, error: &std::io::Error) -> String {
    let what = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        _ => error.to_string(),
    };
    format!("dial tcp {ip}:{port}: connect: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_named_ports() {
        let container = json!({"ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": "http"}}});
        let probe = Probe::from_container(&container, "readinessProbe").unwrap();
        assert!(matches!(probe.action, Action::Tcp(8080)));
        assert_eq!(probe.period, Duration::from_secs(10));
        assert_eq!(probe.failure_threshold, 3);
        assert!(Probe::from_container(&container, "livenessProbe").is_none());
    }
}
