//! compose's `.env` / `env_file` grammar (`dotenv/parser.go`): `KEY=value`, `KEY: value`,
//! `export KEY=…`, quotes spanning lines, `#` comments, bare `KEY` inherited from the lookup.

use indexmap::IndexMap;

use super::interpolate::{TemplateError, substitute};

/// A parse failure: compose prints it as `line N: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DotenvError {
    /// 1-based line of the offending statement.
    pub line: usize,
    /// compose's text.
    pub message: String,
}

/// Parses dotenv text. `${X}` and bare `KEY` lines look `X` up with `lookup` first, then among
/// the values parsed so far. A bare `KEY` unknown to both is omitted, as compose does.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    parse_layered(text, lookup, &|_| None)
}

/// [`parse`] with a last resort: `fallback` is consulted after the values parsed so far (for
/// the values of earlier env files, which a later file's own values shadow).
pub fn parse_layered(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    fallback: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut rest = text;
    let mut line = 1usize;
    loop {
        // skip blank space and comment lines
        let trimmed = rest.trim_start();
        line += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            rest = rest.find('\n').map_or("", |i| &rest[i..]);
            continue;
        }
        let statement_line = line;
        let err = |message: String| DotenvError {
            line: statement_line,
            message,
        };
        if let Some(after) = rest.strip_prefix("export")
            && after.starts_with([' ', '\t'])
        {
            rest = after.trim_start_matches([' ', '\t']);
        }
        let end = rest.find(['=', ':', '\n']).unwrap_or(rest.len());
        let key = rest[..end].trim();
        let terminator = rest[end..].chars().next();
        if key.contains(char::is_whitespace) {
            return Err(err("key cannot contain a space".into()));
        }
        if let Some(bad) = key.chars().find(|c| !is_key_char(*c)) {
            let shown = rest.lines().next().unwrap_or_default().trim_end();
            return Err(err(format!(
                "unexpected character {:?} in variable name {shown:?}",
                bad.to_string()
            )));
        }
        if key.is_empty() {
            return Err(err("zero length string".into()));
        }
        let key = key.to_string();
        if !matches!(terminator, Some('=' | ':')) {
            // bare KEY: inherited
            if let Some(v) = lookup(&key)
                .or_else(|| out.get(&key).cloned())
                .or_else(|| fallback(&key))
            {
                out.insert(key, v);
            }
            rest = &rest[end..];
            continue;
        }
        rest = rest[end + 1..].trim_start_matches([' ', '\t']);
        let resolve = |k: &str| {
            lookup(k)
                .or_else(|| out.get(k).cloned())
                .or_else(|| fallback(k))
        };
        let expand = |v: &str| {
            substitute(v, &resolve, &mut Vec::new()).map_err(|e| match e {
                TemplateError::Invalid => err(format!("invalid interpolation format: {v}")),
                TemplateError::Required(m) => err(m),
            })
        };
        let (value, consumed) = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let close = closing_quote(&rest[1..], q).ok_or_else(|| {
                    let first = rest.lines().next().unwrap_or_default();
                    // godotenv has read to the end of the file when it notices
                    DotenvError {
                        line: statement_line + rest.matches('\n').count(),
                        message: format!("unterminated quoted value {first}"),
                    }
                })?;
                let inner = &rest[1..1 + close];
                let value = if q == '"' {
                    expand(&unescape_double(inner))?
                } else {
                    inner.replace("\\'", "'")
                };
                let after = &rest[close + 2..];
                let line_end = after.find('\n').unwrap_or(after.len());
                (value, close + 2 + line_end)
            }
            _ => {
                let line_end = rest.find('\n').unwrap_or(rest.len());
                let raw = &rest[..line_end];
                let raw = raw.find(" #").map_or(raw, |i| &raw[..i]).trim_end();
                (expand(raw)?, line_end)
            }
        };
        line += rest[..consumed].matches('\n').count();
        rest = &rest[consumed..];
        out.insert(key, value);
    }
    Ok(out)
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

/// Index (in `s`) of the first `quote` not preceded by a backslash.
fn closing_quote(s: &str, quote: char) -> Option<usize> {
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        if c == quote && prev != '\\' {
            return Some(i);
        }
        prev = if prev == '\\' && c == '\\' { '\0' } else { c };
    }
    None
}

/// The `raw` env_file format: `KEY=VALUE` lines taken literally (no quotes, no interpolation);
/// blank lines and `#` comments are skipped, a line without `=` gives an empty value.
pub fn parse_raw(text: &str) -> IndexMap<String, String> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Expands the escapes compose knows inside double quotes; `\$` becomes `$$` so that the
/// interpolation that follows yields a literal `$`. Unknown escapes are kept verbatim.
fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(e @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '"' | '$')) => {
                chars.next();
                out.push_str(match e {
                    'a' => "\u{7}",
                    'b' => "\u{8}",
                    'f' => "\u{c}",
                    'n' => "\n",
                    'r' => "\r",
                    't' => "\t",
                    'v' => "\u{b}",
                    '\\' => "\\",
                    '"' => "\"",
                    _ => "$$",
                });
            }
            Some('0') => {
                chars.next();
                let digits: String =
                    std::iter::from_fn(|| chars.next_if(|d| ('0'..='7').contains(d)))
                        .take(3)
                        .collect();
                match u32::from_str_radix(&digits, 8)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(ch) if !digits.is_empty() => out.push(ch),
                    _ => {
                        out.push_str("\\0");
                        out.push_str(&digits);
                    }
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text, &none).expect("parses").into_iter().collect()
    }

    #[test]
    fn plain_forms() {
        let got = pairs(
            "A=1\nB = 2\nC: 3\nexport D=4\n456 = ABC\nE = \nF = my string # c\nG=a#b\n# x\n\n",
        );
        let want = [
            ("A", "1"),
            ("B", "2"),
            ("C", "3"),
            ("D", "4"),
            ("456", "ABC"),
            ("E", ""),
            ("F", "my string"),
            ("G", "a#b"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn quotes_and_escapes() {
        let got = pairs("A='\\n'\nB=\"x\\ny\\$z\"\nC=\"multi\nline\" # c\nD=after\n");
        assert_eq!(got[0].1, "\\n");
        assert_eq!(got[1].1, "x\ny$z");
        assert_eq!(got[2].1, "multi\nline");
        assert_eq!(got[3], ("D".to_string(), "after".to_string()));
    }

    #[test]
    fn substitution_and_inheritance() {
        let lookup = |k: &str| (k == "OUT").then(|| "o".to_string());
        let got = parse("A=1\nB=${A}_$OUT\nOUT\nNOPE\nC=${MISSING:-d}\n", &lookup).expect("parses");
        assert_eq!(got.get("B").map(String::as_str), Some("1_o"));
        assert_eq!(got.get("OUT").map(String::as_str), Some("o"));
        assert!(!got.contains_key("NOPE"));
        assert_eq!(got.get("C").map(String::as_str), Some("d"));
    }

    #[test]
    fn raw_format_is_literal() {
        let got: Vec<(String, String)> = parse_raw("# c\nA=\"q\" ${X}\nB\n").into_iter().collect();
        assert_eq!(
            got,
            [
                ("A".to_string(), "\"q\" ${X}".to_string()),
                ("B".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("# c\nfoo=\"\n a\n\"\nINVALID LINE\n", &none).expect_err("space");
        assert_eq!(e.to_string(), "line 5: key cannot contain a space");
        let e = parse("lol$wut", &none).expect_err("bad char");
        assert_eq!(
            e.to_string(),
            "line 1: unexpected character \"$\" in variable name \"lol$wut\""
        );
        let e = parse("\nKEY=\"value\nB=2\n", &none).expect_err("unterminated");
        assert!(
            e.to_string()
                .starts_with("line 4: unterminated quoted value")
        );
        assert_eq!(pairs("\u{feff}A=1").len(), 1);
    }
}
