//! go-yaml's block emitter, as `docker compose config` writes YAML: two-space indents,
//! sequences indented below their key, each string in the style go-yaml picks (plain, single-
//! or double-quoted, literal block) and long lines folded at spaces past column 80.

use serde_json::Value;

/// go-yaml's preferred line width: plain and quoted scalars fold at a space beyond it.
const BEST_WIDTH: usize = 80;

/// `v` as a YAML document.
pub fn document(v: &Value) -> String {
    let mut e = Emitter::default();
    match v {
        Value::Object(_) | Value::Array(_) if !is_empty(v) => e.node(v, 0),
        scalar => {
            e.value(scalar, 0);
            e.newline();
        }
    }
    e.out
}

#[derive(Default)]
struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
}

/// How go-yaml writes a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn pad(&mut self, indent: usize) {
        self.put(&" ".repeat(indent));
    }

    /// A non-empty mapping or sequence whose first line starts at the current position, every
    /// further line at `indent`.
    fn node(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Object(map) => {
                for (i, (k, child)) in map.iter().enumerate() {
                    if i > 0 {
                        self.pad(indent);
                    }
                    self.scalar(k, indent, false);
                    self.put(":");
                    if is_empty(child) || !matches!(child, Value::Object(_) | Value::Array(_)) {
                        self.put(" ");
                        self.value(child, indent + 2);
                        self.newline();
                    } else {
                        self.newline();
                        self.pad(indent + 2);
                        self.node(child, indent + 2);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    if i > 0 {
                        self.pad(indent);
                    }
                    self.put("- ");
                    if is_empty(child) || !matches!(child, Value::Object(_) | Value::Array(_)) {
                        self.value(child, indent + 2);
                        self.newline();
                    } else {
                        self.node(child, indent + 2);
                    }
                }
            }
            scalar => {
                self.value(scalar, indent);
                self.newline();
            }
        }
    }

    /// A scalar or an empty collection, continuing at `indent` if it spans lines.
    fn value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Number(n) => self.put(&n.to_string()),
            Value::String(s) => self.scalar(s, indent, true),
            Value::Array(_) => self.put("[]"),
            Value::Object(_) => self.put("{}"),
        }
    }

    /// A string; `in_value` is false for mapping keys, which never span lines.
    fn scalar(&mut self, s: &str, indent: usize, in_value: bool) {
        match style(s, in_value) {
            Style::Plain => self.folded(s, indent, in_value, None),
            Style::Single => {
                self.put("'");
                self.folded(s, indent, in_value, Some('\''));
                self.put("'");
            }
            Style::Double => self.double_quoted(s, indent, in_value),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Plain or single-quoted text (`quote` doubled inside), folded at a single space past
    /// the line width.
    fn folded(&mut self, s: &str, indent: usize, breaks: bool, quote: Option<char>) {
        let chars: Vec<char> = s.chars().collect();
        let mut after_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let inner = quote.is_none() || (i > 0 && i + 1 < chars.len());
                if breaks
                    && inner
                    && !after_space
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.newline();
                    self.pad(indent);
                } else {
                    self.put(" ");
                }
                after_space = true;
            } else {
                if Some(c) == quote {
                    self.put("'");
                }
                self.put(c.encode_utf8(&mut [0; 4]));
                after_space = false;
            }
        }
    }

    fn double_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut after_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if breaks
                    && !after_space
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                {
                    self.newline();
                    self.pad(indent);
                    if chars[i + 1] == ' ' {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                after_space = true;
                continue;
            }
            after_space = false;
            if printable(c) && c != '\n' && c != '"' && c != '\\' {
                self.put(c.encode_utf8(&mut [0; 4]));
                continue;
            }
            let escaped = match c {
                '\0' => "\\0".to_string(),
                '\u{7}' => "\\a".into(),
                '\u{8}' => "\\b".into(),
                '\t' => "\\t".into(),
                '\n' => "\\n".into(),
                '\u{b}' => "\\v".into(),
                '\u{c}' => "\\f".into(),
                '\r' => "\\r".into(),
                '\u{1b}' => "\\e".into(),
                '"' => "\\\"".into(),
                '\\' => "\\\\".into(),
                '\u{85}' => "\\N".into(),
                '\u{a0}' => "\\_".into(),
                '\u{2028}' => "\\L".into(),
                '\u{2029}' => "\\P".into(),
                c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                c => format!("\\U{:08X}", c as u32),
            };
            self.put(&escaped);
        }
        self.put("\"");
    }

    /// A literal block (`|`), its header saying how to read leading spaces and final breaks.
    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        if s.starts_with(' ') {
            self.put("2");
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match trailing {
            0 => self.put("-"),
            1 => {}
            _ => self.put("+"),
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.newline();
            if !line.is_empty() {
                self.pad(indent);
                self.put(line);
            }
        }
    }
}

/// libyaml's printable characters: anything else is escaped in double quotes.
fn printable(c: char) -> bool {
    matches!(c as u32, 0x0a | 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd) && c != '\u{feff}'
}

/// The style go-yaml gives `s`: a string that would read back as another type is
/// double-quoted, one a YAML 1.1 reader would take for a bool or a sexagesimal number is
/// single-quoted, multi-line text is a literal block when it can be, and anything plain text
/// cannot carry is quoted (single if it can be).
fn style(s: &str, in_value: bool) -> Style {
    let special = s.chars().any(|c| !printable(c) && c != '\t');
    if s.contains('\n') {
        let space_break = s.contains(" \n");
        return if in_value && !special && !space_break && !s.ends_with(' ') {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if resolves_to_other_type(s) {
        return Style::Double;
    }
    let single_ok = !special && !s.contains('\t');
    let plain_ok = single_ok && s != "<<" && !old_bool(s) && !sexagesimal(s) && plain_allowed(s);
    match (plain_ok, single_ok) {
        (true, _) => Style::Plain,
        (false, true) => Style::Single,
        (false, false) => Style::Double,
    }
}

/// Whether a block-context plain scalar may hold `s` (libyaml's indicator analysis).
fn plain_allowed(s: &str) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let blank_after = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ');
    chars.iter().enumerate().all(|(i, &c)| {
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => false,
                '?' | ':' | '-' => !blank_after(i),
                _ => true,
            }
        } else {
            match c {
                ':' => !blank_after(i),
                '#' => chars[i - 1] != ' ',
                _ => true,
            }
        }
    })
}

/// YAML 1.1 booleans go-yaml still quotes.
fn old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// YAML 1.1 base-60 floats (`1:20`, `190:20:30.5`): `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
fn sexagesimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (s, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = s.split(':');
    let head = parts.next().unwrap_or_default();
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit()) && digits(head);
    let rest: Vec<&str> = parts.collect();
    let sixty = |p: &&str| {
        matches!(p.len(), 1 | 2)
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5')
    };
    head_ok && !rest.is_empty() && rest.iter().all(sixty) && digits(frac)
}

/// Whether go-yaml would read `s`, written plain, as a null, bool, number or timestamp.
fn resolves_to_other_type(s: &str) -> bool {
    let special = matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ".nan"
            | ".NaN"
            | ".NAN"
    );
    let inf = s.strip_prefix(['-', '+']).unwrap_or(s);
    special
        || matches!(inf, ".inf" | ".Inf" | ".INF")
        || (s.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c))
            && (go_number(s) || timestamp(s)))
}

/// Go's `ParseInt(s, 0, 64)` / `ParseUint` after removing `_`, or a YAML-style float.
fn go_number(s: &str) -> bool {
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let body = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let radix = |p: &str, r: u32| {
        body.strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(r)))
    };
    let int = radix("0x", 16)
        || radix("0X", 16)
        || radix("0o", 8)
        || radix("0O", 8)
        || radix("0b", 2)
        || radix("0B", 2)
        || (!body.is_empty() && body.chars().all(|c| c.is_ascii_digit()));
    int || yaml_float(&plain)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && digits(frac),
        Some((int, frac)) => digits(int) && digits(frac),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// go-yaml's timestamps: `YYYY-M-D`, optionally followed by `[Tt ]h:m:s[.frac][zone]`.
fn timestamp(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < 8 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let split = rest.find(['T', 't', ' ']).unwrap_or(rest.len());
    let (date, time) = rest.split_at(split);
    let small = |p: &str| matches!(p.len(), 1 | 2) && p.bytes().all(|b| b.is_ascii_digit());
    let date_ok = date
        .split_once('-')
        .is_some_and(|(m, d)| small(m) && small(d));
    if !date_ok {
        return false;
    }
    let Some(time) = time.get(1..) else {
        return true;
    };
    let zone_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
    let fields: Vec<&str> = hms.split(':').collect();
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || zone[1..]
            .split_once(':')
            .is_some_and(|(h, m)| small(h) && m.len() == 2);
    fields.len() == 3
        && fields.iter().all(|f| small(f))
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
        && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What go-yaml prints for each string as a mapping value (checked against compose).
    #[test]
    fn strings_take_go_yaml_styles() {
        let cases = [
            ("on", "'on'"),
            ("No", "'No'"),
            ("yEs", "yEs"),
            ("1_1", "\"1_1\""),
            ("{{{ bar }}}", "'{{{ bar }}}'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("-a", "-a"),
            ("- a", "'- a'"),
            (":a", ":a"),
            ("a:", "'a:'"),
            ("'a", "'''a'"),
            (" a", "' a'"),
            ("1.5", "\"1.5\""),
            ("0x1F", "\"0x1F\""),
            ("017", "\"017\""),
            ("09", "\"09\""),
            ("1e3", "\"1e3\""),
            ("1e", "1e"),
            ("-.Inf", "\"-.Inf\""),
            ("Null", "\"Null\""),
            ("", "\"\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("2001-12-14 21:59:43.10", "\"2001-12-14 21:59:43.10\""),
            ("20011-1-1", "20011-1-1"),
            ("12:30", "'12:30'"),
            ("1:20.5", "'1:20.5'"),
            ("a'b", "a'b"),
            ("a,b", "a,b"),
            ("=", "="),
            ("<<", "'<<'"),
            ("tab\tx", "\"tab\\tx\""),
            ("-", "'-'"),
            ("---", "'---'"),
            ("nan", "nan"),
            ("http://x", "http://x"),
            ("bell\u{7}", "\"bell\\a\""),
            ("emoji😀", "\"emoji\\U0001F600\""),
            ("é", "é"),
        ];
        for (raw, shown) in cases {
            assert_eq!(
                document(&json!({ "k": raw })),
                format!("k: {shown}\n"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_when_they_can_be() {
        let doc = document(
            &json!({"a": "x\ny", "b": "x\ny\n", "c": "x\ny\n\n", "d": "  x\ny", "e": "x \ny", "f": "x\n\ny"}),
        );
        assert_eq!(
            doc,
            "a: |-\n  x\n  y\nb: |\n  x\n  y\nc: |+\n  x\n  y\n\nd: |2-\n    x\n  y\ne: \"x \\ny\"\nf: |-\n  x\n\n  y\n"
        );
    }

    #[test]
    fn long_lines_fold_past_column_80() {
        let words = vec!["word"; 30].join(" ");
        let doc = document(&json!({"k": {"cmd": [words.clone()], "v": words}}));
        let line = |n: usize| vec!["word"; n].join(" ");
        assert_eq!(
            doc,
            format!(
                "k:\n  cmd:\n    - {}\n      {}\n  v: {}\n    {}\n",
                line(16),
                line(14),
                line(16),
                line(14)
            )
        );
    }
}
