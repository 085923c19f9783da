//! go-shellwords splitting, as compose applies it to string `command`/`entrypoint` (and as
//! `run --entrypoint` does): whitespace separates words, quotes group, backslash escapes.

/// An unterminated quote or trailing backslash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid command line string")]
pub struct SplitError;

/// Splits `s` into words, removing quotes (`'…'` literal, `"…"` with `\"`, `\\`, `\$` escapes).
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or(SplitError)?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or(SplitError)? {
                        '\'' => break,
                        ch => word.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or(SplitError)? {
                        '"' => break,
                        '\\' => {
                            let next = chars.next().ok_or(SplitError)?;
                            if !matches!(next, '"' | '\\' | '$' | '`') {
                                word.push('\\');
                            }
                            word.push(next);
                        }
                        ch => word.push(ch),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_go_shellwords() {
        assert_eq!(
            split("sh -c 'echo hi there'").expect("ok"),
            ["sh", "-c", "echo hi there"]
        );
        assert_eq!(
            split(r#"a "b \"c\" \n" d\ e ''"#).expect("ok"),
            ["a", "b \"c\" \\n", "d e", ""]
        );
        assert_eq!(split("  ").expect("ok"), Vec::<String>::new());
        assert_eq!(split("'open"), Err(SplitError));
    }
}
