//! Service volume short syntax (`format/volume.go`): `[SOURCE:]TARGET[:OPTS]` → canonical mount.

use serde_json::{Map, Value, json};

use crate::compose::error::LoadError;

/// Parses a short volume spec (`./src:/app:ro`, `data:/var/lib`, `/anon`) into compose's
/// canonical long form (`{type, source?, target, read_only?, bind?, volume?}`). Relative bind
/// sources are kept as written: the caller resolves them against the right directory.
pub fn parse_short(spec: &str) -> Result<Value, LoadError> {
    if spec.is_empty() {
        return Err(LoadError::invalid("invalid empty volume spec"));
    }
    let parts = split_spec(spec);
    if parts.len() > 3 {
        return Err(LoadError::invalid(format!(
            "invalid spec: {spec}: too many colons"
        )));
    }
    if parts.iter().any(String::is_empty) {
        return Err(LoadError::invalid(format!(
            "invalid spec: {spec}: empty section between colons"
        )));
    }
    let mut v = Map::new();
    if parts.len() == 1 || spec.chars().count() <= 2 {
        v.insert("type".into(), json!("volume"));
        v.insert("target".into(), json!(clean_path(spec)));
        v.insert("volume".into(), json!({}));
        return Ok(Value::Object(v));
    }
    let source = &parts[0];
    let bind = is_bind_source(source);
    v.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
    v.insert("source".into(), json!(source));
    v.insert("target".into(), json!(clean_path(&parts[1])));
    let mut bind_opts = Map::new();
    let mut volume_opts = Map::new();
    if let Some(opts) = parts.get(2) {
        for opt in opts.split(',') {
            match opt {
                "ro" => {
                    v.insert("read_only".into(), json!(true));
                }
                "rw" => {}
                "nocopy" => {
                    volume_opts.insert("nocopy".into(), json!(true));
                }
                "z" | "Z" => {
                    bind_opts.insert("selinux".into(), json!(opt));
                }
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    bind_opts.insert("propagation".into(), json!(opt));
                }
                _ => {}
            }
        }
    }
    if bind {
        v.insert("bind".into(), Value::Object(bind_opts));
    } else {
        v.insert("volume".into(), Value::Object(volume_opts));
    }
    Ok(Value::Object(v))
}

/// Whether a volume source names a host path rather than a named volume.
pub fn is_bind_source(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || source.starts_with("\\\\") || is_windows_drive(source)
}

fn is_windows_drive(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Splits on `:`, except inside `${…}` and after a one-letter Windows drive.
fn split_spec(spec: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in spec.chars() {
        match c {
            '{' if prev == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ':' if depth == 0
                && !(current.len() == 1 && is_windows_drive(&format!("{current}:"))) =>
            {
                parts.push(std::mem::take(&mut current));
                prev = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        prev = c;
    }
    parts.push(current);
    parts
}

/// Go's `path.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        assert_eq!(
            parse_short("/data").expect("ok"),
            json!({"type": "volume", "target": "/data", "volume": {}})
        );
        assert_eq!(
            parse_short("./src:/app/:ro,z").expect("ok"),
            json!({"type": "bind", "source": "./src", "target": "/app", "read_only": true, "bind": {"selinux": "z"}})
        );
        assert_eq!(
            parse_short("data:/var/lib:nocopy").expect("ok"),
            json!({"type": "volume", "source": "data", "target": "/var/lib", "volume": {"nocopy": true}})
        );
        assert_eq!(
            parse_short("C:\\x:/y").expect("ok")["source"],
            json!("C:\\x")
        );
        assert_eq!(
            parse_short("${A:-/x}:/y").expect("ok")["source"],
            json!("${A:-/x}")
        );
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "/foo::rw",
                "invalid spec: /foo::rw: empty section between colons",
            ),
            ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
            ("", "invalid empty volume spec"),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_short(spec).expect_err(spec).message, want);
        }
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(clean_path("/.."), "/");
    }
}
