//! `.dockerignore`: which files of a build context the builder sees, with Docker's rules
//! (moby/patternmatcher): patterns are cleaned paths relative to the context, `*` and `?`
//! stay within one path segment, `**` spans any number, `!` re-includes, the last matching
//! pattern wins, and a pattern that matches a directory covers everything below it.

/// One line of a `.dockerignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Path segments of the pattern.
    segments: Vec<String>,
    /// A `!` line: matching paths are included again.
    exclusion: bool,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the file's text: comments (`#`) and blank lines are skipped, leading `/` and
    /// `./` are dropped, as Docker's `ReadAll` does.
    pub fn parse(text: &str) -> DockerIgnore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let (exclusion, rest) = match line.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, line),
                };
                let segments: Vec<String> = rest
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(String::from)
                    .collect();
                (!segments.is_empty()).then_some(Pattern {
                    segments,
                    exclusion,
                })
            })
            .collect();
        DockerIgnore { patterns }
    }

    /// Whether the builder leaves out `path` (relative, `/`-separated): the last pattern that
    /// matches it or one of its parent directories decides.
    pub fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for p in &self.patterns {
            let hit = (1..=segments.len()).any(|n| matches(&p.segments, &segments[..n]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }
}

/// Whether pattern segments match path segments exactly (`**` spans zero or more segments).
fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, more)) => glob(first.as_bytes(), seg.as_bytes()) && matches(rest, more),
            None => false,
        },
    }
}

/// Go's `filepath.Match` within one segment: `*`, `?`, `[...]` classes (with `^`/`!` and
/// ranges) and `\` escapes.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, more)) = name.split_first() else {
                return false;
            };
            match class(rest, c) {
                Some((true, after)) => glob(after, more),
                _ => false,
            }
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && glob(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && glob(rest, &name[1..]),
    }
}

/// Matches `c` against the class starting after `[`: whether it matched, and the pattern
/// after the closing `]` (`None` for a class that never closes).
fn class(pattern: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negated, mut p) = match pattern.first() {
        Some(b'^' | b'!') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    let mut hit = false;
    let mut first = true;
    loop {
        match p {
            [b']', rest @ ..] if !first => return Some((hit != negated, rest)),
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                hit |= (*lo..=*hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                hit |= *x == c;
                p = rest;
            }
            [] => return None,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let ignore = DockerIgnore::parse(
            "# comment\n\nnode_modules\n*.log\n!keep.log\n/build/\n**/*.tmp\ndocs/[a-c]*.md\n",
        );
        assert!(ignore.excludes("node_modules"));
        assert!(ignore.excludes("node_modules/x/index.js"));
        assert!(
            !ignore.excludes("src/node_modules"),
            "patterns anchor at the context root"
        );
        assert!(ignore.excludes("debug.log"));
        assert!(!ignore.excludes("keep.log"), "a later ! re-includes");
        assert!(!ignore.excludes("logs/debug.log"), "* stays in one segment");
        assert!(ignore.excludes("build/out.bin"));
        assert!(ignore.excludes("a/b/c.tmp"));
        assert!(ignore.excludes("c.tmp"), "** spans zero segments too");
        assert!(ignore.excludes("docs/alpha.md"));
        assert!(!ignore.excludes("docs/zeta.md"));
        assert!(!ignore.excludes("src/main.rs"));
    }

    #[test]
    fn globs_like_go() {
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"[!x]y", b"ay"));
        assert!(!glob(b"[^a]y", b"ay"));
        assert!(glob(b"\\*", b"*"));
        assert!(!glob(b"\\*", b"x"));
        assert!(!glob(b"[ab", b"a"), "an unclosed class matches nothing");
    }
}
