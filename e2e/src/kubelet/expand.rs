//! Kubernetes' `$(VAR)` expansion, byte for byte as `third_party/forked/golang/expansion` does it.
//!
//! `$(NAME)` becomes NAME's value when NAME is defined and stays verbatim otherwise; `$$` becomes
//! `$`; a `$` before anything else (or at the end) is kept. Works on bytes, like Go strings, so
//! the quirk of Go's `string(byte)` for a non-ASCII byte after `$` is reproduced too.

use std::collections::HashMap;

/// Expands `input` against `vars` (the values defined so far), returning raw bytes: the result
/// is what the container's argv or environment receives.
pub fn expand(input: &[u8], vars: &HashMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < input.len() {
        if input[cursor] == b'$' && cursor + 1 < input.len() {
            out.extend_from_slice(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|&b| b == b')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match vars.get(name) {
                            Some(value) => out.extend_from_slice(value),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(name);
                                out.push(b')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    // Go: string(operator) + string(input[0]) turns the byte into a rune.
                    out.push(b'$');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(char::from(other).encode_utf8(&mut buf).as_bytes());
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&input[checkpoint.min(input.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, vars: &[(&str, &str)]) -> String {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        String::from_utf8(expand(input.as_bytes(), &vars)).unwrap()
    }

    #[test]
    fn matches_the_upstream_cases() {
        let vars = [("VAR_A", "A"), ("VAR_B", "B"), ("VAR_EMPTY", "")];
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("$(VAR_EMPTY)", ""),
            ("$(UNDEFINED)", "$(UNDEFINED)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$$", "$"),
            ("$", "$"),
            ("foo$", "foo$"),
            ("$(VAR_A", "$(VAR_A"),
            ("$(", "$("),
            ("$VAR_A", "$VAR_A"),
            ("f00 $ bar", "f00 $ bar"),
            ("$()", "$()"),
            ("echo $$HOME", "echo $HOME"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input, &vars), want, "input {input:?}");
        }
    }

    #[test]
    fn non_ascii_after_dollar_follows_go() {
        // Go turns the lone byte 0xC3 into the rune U+00C3 and keeps the continuation byte.
        let out = expand("$é".as_bytes(), &HashMap::new());
        assert_eq!(out, vec![b'$', 0xC3, 0x83, 0xA9]);
    }
}
