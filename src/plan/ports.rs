//! Ports: `ports`/`expose` → containerPorts (informational: the pod network reaches every
//! port), `-p`/`-P` → local port-forwards for the runtime.

use k8s_openapi::api::core::v1::ContainerPort;

use super::names::is_port_name;
use super::{Forward, PlanError, Planner, unsupported};
use crate::compose::model::{Port, Service};

fn protocol(p: Option<&str>) -> String {
    p.unwrap_or("tcp").to_ascii_uppercase()
}

/// Expands an `expose` entry (`80`, `8000-8010`, `53/udp`) into (port, protocol) pairs.
fn expose_entry(spec: &str) -> Option<Vec<(i32, String)>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (spec, None),
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<i32>().ok()?, b.parse::<i32>().ok()?),
        None => {
            let p = ports.parse::<i32>().ok()?;
            (p, p)
        }
    };
    Some((lo..=hi).map(|p| (p, protocol(proto))).collect())
}

impl Planner<'_> {
    /// The containerPorts of a service: `ports` targets and `expose`, deduplicated.
    pub(super) fn container_ports(
        &mut self,
        name: &str,
        svc: &Service,
    ) -> Option<Vec<ContainerPort>> {
        let mut out: Vec<ContainerPort> = Vec::new();
        let push =
            |out: &mut Vec<ContainerPort>, port: i32, proto: String, pname: Option<String>| {
                if (1..=65535).contains(&port)
                    && !out
                        .iter()
                        .any(|p| p.container_port == port && p.protocol.as_deref() == Some(&proto))
                {
                    out.push(ContainerPort {
                        container_port: port,
                        protocol: Some(proto),
                        name: pname,
                        ..ContainerPort::default()
                    });
                }
            };
        for (i, p) in svc.ports.iter().enumerate() {
            let pname = match &p.name {
                Some(n) if is_port_name(n) && !out.iter().any(|o| o.name.as_ref() == Some(n)) => {
                    Some(n.clone())
                }
                Some(n) => {
                    self.warn(
                        name,
                        &format!("ports[{i}].name"),
                        format!("\"{n}\" is not a valid, unique Kubernetes port name (at most 15 of [a-z0-9-] with a letter): left out"),
                    );
                    None
                }
                None => None,
            };
            if p.mode.as_deref() == Some("host") {
                self.warn(name, &format!("ports[{i}].mode"), "host mode would bind a port on the node; krun forwards published ports from this machine instead");
            }
            push(
                &mut out,
                p.target as i32,
                protocol(p.protocol.as_deref()),
                pname,
            );
        }
        for (i, spec) in svc.expose.iter().enumerate() {
            match expose_entry(spec) {
                Some(list) => list
                    .into_iter()
                    .for_each(|(port, proto)| push(&mut out, port, proto, None)),
                None => self.warn(
                    name,
                    &format!("expose[{i}]"),
                    format!("\"{spec}\" is not a port or port range: left out"),
                ),
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// The ports the one-off publishes: `-p` specs, or the service's with `-P`, else none.
    pub(super) fn published_ports(&self, svc: &Service) -> Result<Vec<Port>, PlanError> {
        let request = self.input.request;
        if request.service_ports {
            return Ok(svc.ports.clone());
        }
        let mut out = Vec::new();
        for spec in &request.publish {
            let invalid = |e: String| {
                unsupported(
                    &request.service,
                    "--publish",
                    format!("invalid -p \"{spec}\": {e}"),
                )
            };
            let parsed =
                crate::compose::ports::parse_spec(spec).map_err(|e| invalid(e.to_string()))?;
            for v in parsed {
                out.push(serde_json::from_value::<Port>(v).map_err(|e| invalid(e.to_string()))?);
            }
        }
        Ok(out)
    }

    /// Local listeners for the published ports; UDP/SCTP cannot be port-forwarded.
    pub(super) fn forwards(&mut self, name: &str, ports: &[Port]) -> Vec<Forward> {
        let mut out = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.as_deref().unwrap_or("tcp");
            if proto != "tcp" {
                self.warn(
                    name,
                    &format!("ports[{i}]"),
                    format!("{proto} port {} cannot be forwarded (Kubernetes port-forward carries TCP only): not published", p.target),
                );
                continue;
            }
            let Ok(container_port) = u16::try_from(p.target) else {
                continue;
            };
            out.push(Forward {
                host_ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "127.0.0.1".into()),
                host_port: p
                    .published
                    .as_deref()
                    .and_then(|s| s.parse::<u16>().ok())
                    .filter(|p| *p != 0),
                container_port,
                protocol: "tcp".into(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_ranges_expand() {
        assert_eq!(expose_entry("80"), Some(vec![(80, "TCP".into())]));
        assert_eq!(expose_entry("53/udp"), Some(vec![(53, "UDP".into())]));
        assert_eq!(expose_entry("8000-8002").map(|v| v.len()), Some(3));
        assert_eq!(expose_entry("x"), None);
    }
}
