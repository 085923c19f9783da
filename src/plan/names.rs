//! Object names and the API server's naming rules (DNS-1123 labels and subdomains, DNS-1035
//! labels, qualified names, label values, IANA service names): both the sanitising the planner
//! does and the checks `validate` applies to the result.

/// Longest DNS label (and label value).
pub const LABEL_MAX: usize = 63;
/// Longest DNS subdomain.
pub const SUBDOMAIN_MAX: usize = 253;

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
}

/// A DNS-1035 label (Service names): a DNS-1123 label starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= SUBDOMAIN_MAX && s.split('.').all(is_dns_label)
}

/// A label value: empty, or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` of at most 63.
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= LABEL_MAX
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name a non-empty label
/// value of at most 63 characters.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A container port name (IANA_SVC_NAME): at most 15 of `[a-z0-9-]`, a letter somewhere, no
/// leading, trailing or doubled `-`.
pub fn is_port_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !s.contains("--")
}

/// An environment variable name as the API server accepts it since 1.32
/// (`RelaxedEnvironmentVariableValidation`): printable ASCII except `=`.
pub fn is_env_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| (b' '..=b'~').contains(&c) && c != b'=')
}

/// A ConfigMap/Secret data key: `[-._a-zA-Z0-9]+`, at most 253, not `.` or `..`.
pub fn is_config_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SUBDOMAIN_MAX
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Lowercases and turns every character outside `[a-z0-9-]` into `-`, trims `-` at both ends
/// and cuts to `max` characters: the DNS form of a compose name (`my_db` → `my-db`).
pub fn sanitize(s: &str, max: usize) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let mut out = String::with_capacity(mapped.len());
    for c in mapped.trim_matches('-').chars() {
        if !(c == '-' && out.ends_with("--")) {
            out.push(c);
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_string()
}

/// The DNS-1035 name of a compose service (its Service, Deployment and container name).
pub fn service_dns_name(service: &str) -> String {
    let s = sanitize(service, LABEL_MAX);
    match s.as_bytes().first() {
        Some(c) if c.is_ascii_lowercase() => s,
        // Names starting with a digit (or made only of symbols) need a letter in front.
        _ => sanitize(&format!("svc-{s}"), LABEL_MAX),
    }
}

/// A DNS-1123 subdomain from any project-scoped name (`proj_data` → `proj-data`).
pub fn subdomain(s: &str) -> String {
    let parts: Vec<String> = s
        .split('.')
        .map(|p| sanitize(p, LABEL_MAX))
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = parts.join(".");
    out.truncate(SUBDOMAIN_MAX);
    out.trim_end_matches(['-', '.']).to_string()
}

/// `<prefix>-<suffix>` as a DNS label, cutting the prefix so the suffix always survives.
pub fn label_with_suffix(prefix: &str, suffix: &str) -> String {
    let keep = LABEL_MAX.saturating_sub(suffix.len() + 1);
    let head = sanitize(prefix, keep);
    if head.is_empty() {
        sanitize(suffix, LABEL_MAX)
    } else {
        format!("{head}-{suffix}")
    }
}

/// The short slug shown in names (compose uses the first 12 hex characters).
pub fn short_slug(slug: &str) -> &str {
    slug.get(..12).unwrap_or(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_rules() {
        assert!(is_dns_label("my-db"));
        assert!(!is_dns_label("my_db") && !is_dns_label("-a") && !is_dns_label("A"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns1035_label("db1") && !is_dns1035_label("1db"));
        assert!(is_dns_subdomain("a.b-c") && !is_dns_subdomain("a..b"));
        assert!(is_label_value("True") && is_label_value("") && !is_label_value("a/b"));
        assert!(is_qualified_name("com.docker.compose.project"));
        assert!(is_qualified_name("app.kubernetes.io/managed-by"));
        assert!(!is_qualified_name("a b") && !is_qualified_name("x/") && !is_qualified_name("/x"));
        assert!(is_port_name("http") && !is_port_name("8080") && !is_port_name("a--b"));
        assert!(!is_port_name("a-very-long-port-name"));
        assert!(is_env_name("A.B-c") && !is_env_name("A=B") && !is_env_name(""));
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize("My_DB.x", 63), "my-db-x");
        assert_eq!(sanitize("__a__b__", 63), "a--b");
        assert_eq!(service_dns_name("1db"), "svc-1db");
        assert_eq!(service_dns_name("web"), "web");
        assert_eq!(subdomain("Proj_Data"), "proj-data");
        let long = label_with_suffix(&"p".repeat(80), "run-0123456789ab");
        assert!(is_dns_label(&long) && long.ends_with("-run-0123456789ab"));
        assert_eq!(short_slug("0123456789abcdef"), "0123456789ab");
    }
}
