//! YAML → JSON-like tree, keeping what compose needs from the syntax: `!reset`/`!override` tags,
//! `<<` merge keys, line numbers for error messages, duplicate-key and non-string-key errors.
//!
//! Scalars resolve with the YAML 1.2 core schema (as go-yaml v4 does): `yes` stays a string.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};

use super::error::{ErrorKind, LoadError};

/// One YAML document of a compose file, with the syntax-level facts the loader needs later.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The document's content (null for an empty document).
    pub value: Value,
    /// Paths (key segments) tagged `!reset`: removed from what earlier files defined.
    pub resets: Vec<Vec<String>>,
    /// Paths tagged `!override`: replace, rather than merge with, what earlier files defined.
    pub overrides: Vec<Vec<String>>,
    /// Line of each key / item, by display path (`services.web.ports[0]`), for error messages.
    pub lines: HashMap<String, usize>,
}

impl Document {
    /// Every path tagged `!reset` or `!override`: both delete what earlier files defined there.
    pub fn reset_paths(&self) -> impl Iterator<Item = &Vec<String>> {
        self.resets.iter().chain(self.overrides.iter())
    }
}

/// Joins a display path and a key, the way compose prints paths (`a.b`, `a[0]`).
pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else if key.starts_with('[') {
        format!("{parent}{key}")
    } else {
        format!("{parent}.{key}")
    }
}

/// Parses every document of a YAML stream. Errors carry compose's wording (go-yaml's texts).
pub fn parse(text: &str) -> Result<Vec<Document>, LoadError> {
    refuse_what_go_yaml_refuses(text)?;
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        doc_line: 1,
    };
    let mut docs = Vec::new();
    loop {
        let (event, _) = builder.next()?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let mut doc = Document::default();
                let (event, span) = builder.next()?;
                doc.value = if matches!(event, Event::DocumentEnd) {
                    Value::Null
                } else {
                    builder.doc_line = span.start.line();
                    let v = builder.node(event, span, &mut doc, &mut Vec::new(), "")?;
                    builder.expect_document_end()?;
                    v
                };
                docs.push(doc);
            }
            _ => {}
        }
    }
    Ok(docs)
}

/// What go-yaml's reader refuses before parsing and saphyr accepts: control characters
/// (YAML's printable set excludes them, tab and line breaks aside), and a `%YAML` directive
/// for a version other than 1.x.
fn refuse_what_go_yaml_refuses(text: &str) -> Result<(), LoadError> {
    for (i, line) in text.lines().enumerate() {
        let printable = |c: char| matches!(c, '\t' | '\r' | '\u{85}') || !c.is_control();
        if let Some(c) = line.chars().find(|c| !printable(*c)) {
            return Err(LoadError::new(
                ErrorKind::Syntax,
                format!(
                    "yaml: line {}: control characters are not allowed (value: {})",
                    i + 1,
                    c as u32
                ),
            )
            .at_line(Some(i + 1)));
        }
        if let Some(version) = line.strip_prefix("%YAML ")
            && !version.trim().starts_with("1.")
        {
            return Err(LoadError::new(
                ErrorKind::Syntax,
                format!("yaml: line {}: found incompatible YAML document", i + 1),
            )
            .at_line(Some(i + 1)));
        }
    }
    Ok(())
}

/// Documents expanding (through aliases) to more nodes than this are rejected.
const MAX_NODES: usize = 5_000_000;

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored values with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes produced so far, aliases expanded: bounded against alias bombs.
    nodes: usize,
    /// The line the current document's content starts on.
    doc_line: usize,
}

fn scan_error(e: &ScanError) -> LoadError {
    let line = e.marker().line();
    let info = e.info();
    let message = if info.contains("tab") {
        format!("yaml: line {line}: found a tab character that violates indentation")
    } else {
        format!("yaml: line {line}: {info}")
    };
    LoadError::new(ErrorKind::Syntax, message).at_line(Some(line))
}

/// go-yaml's construct error, which names the line the document's content starts on first.
fn construct_error(doc_line: usize, line: usize, message: String) -> LoadError {
    LoadError::new(
        ErrorKind::Syntax,
        format!("yaml: construct errors: line {doc_line}: line {line}: {message}"),
    )
    .at_line(Some(line))
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), LoadError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn expect_document_end(&mut self) -> Result<(), LoadError> {
        loop {
            let (event, _) = self.next()?;
            if matches!(event, Event::DocumentEnd | Event::StreamEnd) {
                return Ok(());
            }
        }
    }

    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        doc: &mut Document,
        path: &mut Vec<String>,
        shown: &str,
    ) -> Result<Value, LoadError> {
        let nodes_before = self.nodes;
        self.nodes += 1;
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                note_tag(tag.as_deref(), doc, path);
                (resolve_scalar(&text, style, tag.as_deref()), anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                note_tag(tag.as_deref(), doc, path);
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::SequenceEnd | Event::StreamEnd) {
                        break;
                    }
                    let seg = format!("[{}]", items.len());
                    let child_shown = join_path(shown, &seg);
                    doc.lines.insert(child_shown.clone(), sp.start.line());
                    path.push(seg);
                    let item = self.node(ev, sp, doc, path, &child_shown);
                    path.pop();
                    items.push(item?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                note_tag(tag.as_deref(), doc, path);
                (Value::Object(self.mapping(doc, path, shown)?), anchor)
            }
            Event::Alias(id) => {
                // An anchor is recorded once its value is complete: one that is not yet
                // recorded is an alias inside the value it names.
                let Some((value, count)) = self.anchors.get(&id) else {
                    return Err(LoadError::new(
                        ErrorKind::Syntax,
                        format!(
                            "yaml: line {}: anchor value contains itself",
                            span.start.line()
                        ),
                    )
                    .at_line(Some(span.start.line())));
                };
                self.nodes += count;
                if self.nodes > MAX_NODES {
                    return Err(LoadError::new(
                        ErrorKind::Syntax,
                        format!(
                            "yaml: line {}: document contains excessive aliasing",
                            span.start.line()
                        ),
                    ));
                }
                return Ok(value.clone());
            }
            _ => (Value::Null, 0),
        };
        if anchor > 0 {
            self.anchors
                .insert(anchor, (value.clone(), self.nodes - nodes_before));
        }
        Ok(value)
    }

    fn mapping(
        &mut self,
        doc: &mut Document,
        path: &mut Vec<String>,
        shown: &str,
    ) -> Result<Map<String, Value>, LoadError> {
        let mut map = Map::new();
        let mut key_lines: HashMap<String, usize> = HashMap::new();
        let mut merges: Vec<(Value, usize)> = Vec::new();
        loop {
            let (ev, sp) = self.next()?;
            let key_line = sp.start.line();
            let key = match ev {
                Event::MappingEnd | Event::StreamEnd => break,
                Event::Scalar(text, style, _, tag) => {
                    let resolved = resolve_scalar(&text, style, tag.as_deref());
                    match resolved {
                        Value::String(s) => s,
                        _ => {
                            let (ev, sp) = self.next()?;
                            self.node(ev, sp, doc, path, shown)?;
                            let key_text = text.into_owned();
                            let message = if shown.is_empty() {
                                format!("non-string key at top level: {key_text}")
                            } else {
                                format!("non-string key in {shown}: {key_text}")
                            };
                            return Err(LoadError::invalid(message).at_line(Some(key_line)));
                        }
                    }
                }
                other => {
                    // complex keys: build and reject
                    self.node(other, sp, doc, path, shown)?;
                    let (ev, sp) = self.next()?;
                    self.node(ev, sp, doc, path, shown)?;
                    let message = if shown.is_empty() {
                        "non-string key at top level".to_string()
                    } else {
                        format!("non-string key in {shown}")
                    };
                    return Err(LoadError::invalid(message).at_line(Some(key_line)));
                }
            };
            let (ev, sp) = self.next()?;
            if key == "<<" {
                let v = self.node(ev, sp, doc, path, shown)?;
                match v {
                    Value::Array(items) => merges.extend(items.into_iter().map(|i| (i, key_line))),
                    other => merges.push((other, key_line)),
                }
                continue;
            }
            if let Some(first) = key_lines.get(&key) {
                return Err(construct_error(
                    self.doc_line,
                    key_line,
                    format!("mapping key {key:?} already defined at line {first}"),
                ));
            }
            key_lines.insert(key.clone(), key_line);
            let child_shown = join_path(shown, &key);
            doc.lines.insert(child_shown.clone(), key_line);
            path.push(key.clone());
            let reset_before = doc.resets.len();
            let value = self.node(ev, sp, doc, path, &child_shown);
            let is_reset = doc.resets[reset_before..].iter().any(|p| p == path);
            path.pop();
            let value = value?;
            if !is_reset {
                map.insert(key, value);
            }
        }
        for (source, line) in merges {
            let Value::Object(source) = source else {
                return Err(construct_error(
                    self.doc_line,
                    line,
                    "map merge requires map or sequence of maps as the value".into(),
                ));
            };
            for (k, v) in source {
                if !key_lines.contains_key(&k) && !map.contains_key(&k) {
                    map.insert(k, v);
                }
            }
        }
        Ok(map)
    }
}

fn note_tag(tag: Option<&Tag>, doc: &mut Document, path: &[String]) {
    match tag.map(|t| (t.handle.as_str(), t.suffix.as_str())) {
        Some(("!", "reset")) => doc.resets.push(path.to_vec()),
        Some(("!", "override")) => doc.overrides.push(path.to_vec()),
        _ => {}
    }
}

/// Resolves a scalar with the YAML 1.2 core schema; quoted scalars and `!!str` stay strings.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let core = tag
        .filter(|t| t.is_yaml_core_schema())
        .map(|t| t.suffix.as_str());
    match core {
        Some("str") => return Value::String(text.to_string()),
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain && core.is_none() {
        return Value::String(text.to_string());
    }
    let t = text;
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(t) {
        return Value::Number(n);
    }
    if is_float(t)
        && let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(t.to_string())
}

fn parse_int(t: &str) -> Option<Number> {
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let parsed = if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        // go-yaml resolves ints with Go's ParseInt(s, 0, 64): a leading 0 means octal, which
        // is how compose files write file modes (`mode: 0440`).
        i64::from_str_radix(digits, 8).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        None
    }?;
    Some(Number::from(if neg {
        parsed.checked_neg()?
    } else {
        parsed
    }))
}

fn is_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = {
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac)
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Document {
        parse(text).expect("parses").remove(0)
    }

    #[test]
    fn core_schema_scalars() {
        let d = one("a: yes\nb: 'true'\nc: true\nd: 12\ne: 1.5\nf: ~\ng: 8000:8000\nh: 0x1f\n");
        assert_eq!(
            d.value,
            json!({"a":"yes","b":"true","c":true,"d":12,"e":1.5,"f":null,"g":"8000:8000","h":31})
        );
    }

    #[test]
    fn leading_zero_ints_are_octal_as_in_go_yaml() {
        let d = one("a: 0400\nb: 0o17\nc: 0\nd: 089\ne: 10\n");
        // `089` is no octal: go-yaml falls back to the float 89.
        assert_eq!(d.value, json!({"a":256,"b":15,"c":0,"d":89,"e":10}));
    }

    #[test]
    fn odd_numbers_stay_safe() {
        let d = one("a: -0x-8000000000000000\nb: 99999999999999999999\nc: 1e400\n");
        assert_eq!(d.value["a"], json!("-0x-8000000000000000"));
        assert!(d.value["b"].is_number());
        assert_eq!(d.value["c"], json!("1e400"));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let d = one("x: &base {a: 1, b: 2}\ny:\n  <<: *base\n  b: 3\n");
        assert_eq!(d.value["y"], json!({"b":3,"a":1}));
    }

    #[test]
    fn tags_are_recorded_and_reset_keys_dropped() {
        let d = one("services:\n  a:\n    build: !reset\n    ports: !override [\"80\"]\n");
        assert_eq!(
            d.resets,
            vec![vec!["services".to_string(), "a".into(), "build".into()]]
        );
        assert_eq!(d.overrides.len(), 1);
        assert_eq!(d.value, json!({"services":{"a":{"ports":["80"]}}}));
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let err = parse("a:\n  b: 1\n  b: 2\n").expect_err("duplicate");
        assert!(
            err.message
                .contains("line 3: mapping key \"b\" already defined at line 2")
        );
    }

    #[test]
    fn non_string_keys_are_rejected_with_their_path() {
        let err = parse("services:\n  123:\n    image: x\n").expect_err("int key");
        assert_eq!(err.message, "non-string key in services: 123");
        let err = parse("1: x\n").expect_err("int key");
        assert_eq!(err.message, "non-string key at top level: 1");
    }

    #[test]
    fn hostile_inputs_are_errors_not_crashes() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        // saphyr bounds nesting itself, before our recursion could exhaust the stack
        assert!(
            parse(&deep)
                .expect_err("too deep")
                .message
                .contains("recursion limit")
        );
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                p = if i == 0 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        assert!(
            parse(&bomb)
                .expect_err("bomb")
                .message
                .contains("excessive aliasing")
        );
    }

    #[test]
    fn lines_and_documents() {
        let docs = parse("a: 1\n---\nb:\n  - x\n").expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].lines.get("b[0]"), Some(&4));
        assert!(
            parse("a:\n\tb: 1\n")
                .expect_err("tab")
                .message
                .contains("tab character")
        );
    }
}
