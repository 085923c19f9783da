//! Service port short syntax (`types.ParsePortConfig` over go-connections' `nat.ParsePortSpecs`):
//! `[[ip:]host[-end]:]container[-end][/proto]` → one canonical entry per container port.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::compose::error::LoadError;

/// Parses one short port spec into canonical entries (`{mode, host_ip?, target, published?,
/// protocol}`), ordered as compose orders them (by the string `"<target>/<proto>"`).
pub fn parse_spec(spec: &str) -> Result<Vec<Value>, LoadError> {
    let err = |m: String| LoadError::invalid(m);
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container, proto) = match container.split_once('/') {
        Some((port, proto)) if !proto.is_empty() => (port, proto),
        Some((port, _)) => (port, "tcp"),
        None => (container, "tcp"),
    };
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(err(format!("invalid IP address: {ip}")));
    }
    if container.is_empty() {
        return Err(err(format!("No port specified: {spec}<empty>")));
    }
    let (start, end) =
        port_range(container).ok_or_else(|| err(format!("invalid containerPort: {container}")))?;
    let (host_start, host_end) = if host.is_empty() {
        (0, 0)
    } else {
        port_range(host).ok_or_else(|| err(format!("invalid hostPort: {host}")))?
    };
    if !host.is_empty() && end - start != host_end - host_start && end != start {
        return Err(err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        )));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(format!("invalid proto: {proto}")));
    }
    let mut entries: Vec<(String, Value)> = (0..=end - start)
        .map(|i| {
            let target = start + i;
            let published = if host.is_empty() {
                String::new()
            } else if start == end && host_start != host_end {
                format!("{host_start}-{host_end}")
            } else {
                (host_start + i).to_string()
            };
            let mut m = Map::new();
            m.insert("mode".into(), json!("ingress"));
            if !ip.is_empty() {
                m.insert("host_ip".into(), json!(ip));
            }
            m.insert("target".into(), json!(target));
            if !published.is_empty() {
                m.insert("published".into(), json!(published));
            }
            m.insert("protocol".into(), json!(proto));
            (format!("{target}/{proto}"), Value::Object(m))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(_, v)| v).collect())
}

fn port_range(s: &str) -> Option<(u64, u64)> {
    let parse = |p: &str| p.parse::<u16>().ok().map(u64::from);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            (b >= a).then_some((a, b))
        }
        None => parse(s).map(|p| (p, p)),
    }
}

/// Canonicalises a long-syntax port: `published` becomes a string, `target` an int,
/// `protocol` defaults to `tcp` and `mode` to `ingress`.
pub fn canonical_long(mut m: Map<String, Value>) -> Value {
    if let Some(p) = m.get("published").cloned() {
        match p {
            Value::Number(n) => {
                m.insert("published".into(), json!(n.to_string()));
            }
            Value::Null => {
                m.remove("published");
            }
            _ => {}
        }
    }
    if let Some(Value::String(t)) = m.get("target")
        && let Ok(n) = t.parse::<u64>()
    {
        m.insert("target".into(), json!(n));
    }
    let mut out = Map::new();
    out.insert(
        "mode".into(),
        m.remove("mode").unwrap_or_else(|| json!("ingress")),
    );
    if let Some(ip) = m.remove("host_ip") {
        out.insert("host_ip".into(), ip);
    }
    if let Some(t) = m.remove("target") {
        out.insert("target".into(), t);
    }
    if let Some(p) = m.remove("published") {
        out.insert("published".into(), p);
    }
    out.insert(
        "protocol".into(),
        m.remove("protocol").unwrap_or_else(|| json!("tcp")),
    );
    out.extend(m);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_ip() {
        assert_eq!(
            parse_spec("80").expect("ok"),
            vec![json!({"mode": "ingress", "target": 80, "protocol": "tcp"})]
        );
        assert_eq!(
            parse_spec("127.0.0.1:8080:80/UDP").expect("ok"),
            vec![
                json!({"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080", "protocol": "udp"})
            ]
        );
        assert_eq!(
            parse_spec("[::1]:89:89").expect("ok")[0]["host_ip"],
            json!("::1")
        );
    }

    #[test]
    fn ranges() {
        let r = parse_spec("9998-10000:9998-10000").expect("ok");
        let targets: Vec<_> = r.iter().map(|p| p["target"].clone()).collect();
        assert_eq!(targets, vec![json!(10000), json!(9998), json!(9999)]);
        assert_eq!(
            parse_spec("80-90:8080").expect("ok")[0]["published"],
            json!("80-90")
        );
        assert!(
            parse_spec("80-81:90-92")
                .expect_err("e")
                .message
                .contains("invalid ranges specified")
        );
    }

    #[test]
    fn errors() {
        let cases = [
            ("80/xyz", "invalid proto: xyz"),
            ("tcp", "invalid containerPort: tcp"),
            ("", "No port specified: <empty>"),
            ("x:80", "invalid hostPort: x"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_spec(spec).expect_err(spec).message, want);
        }
    }

    #[test]
    fn long_syntax() {
        let m = json!({"target": 80, "published": 8080})
            .as_object()
            .cloned()
            .expect("map");
        assert_eq!(
            canonical_long(m),
            json!({"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"})
        );
    }
}
