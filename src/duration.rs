//! Go-style durations (`90s`, `1m30s`, `1.5h`, `2d`, `1w`): the syntax compose users already
//! write for healthchecks and timeouts.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// Empty or otherwise not a duration.
    #[error("not a duration")]
    Invalid,
    /// A number without a unit (only `0` may omit it).
    #[error("missing unit in duration")]
    MissingUnit,
    /// A unit Go does not know.
    #[error("unknown unit \"{0}\" in duration")]
    UnknownUnit(String),
    /// Negative durations make no sense for timeouts.
    #[error("a negative duration is not allowed")]
    Negative,
}

/// Parses a Go duration (str2duration flavour: `ns us µs ms s m h d w`).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let body = match s.strip_prefix('-') {
        Some(rest) if rest.trim_start_matches(['0', '.']).is_empty() => rest,
        Some(_) => return Err(DurationError::Negative),
        None => s.strip_prefix('+').unwrap_or(s),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| DurationError::Invalid)?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "" => return Err(DurationError::MissingUnit),
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            other => return Err(DurationError::UnknownUnit(other.to_string())),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| DurationError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(parse("10"), Err(DurationError::MissingUnit));
        assert_eq!(parse("5x"), Err(DurationError::UnknownUnit("x".into())));
        assert_eq!(parse(""), Err(DurationError::Invalid));
        assert_eq!(parse("-5s"), Err(DurationError::Negative));
        assert_eq!(parse("s"), Err(DurationError::Invalid));
    }
}
