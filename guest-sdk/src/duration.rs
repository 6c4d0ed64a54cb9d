//! Go durations (`1m30s`, `500ms`, `1.5h`), as Packer's `time.ParseDuration` reads them; the
//! parser is `kiln-go-duration`, shared with kiln's template language.

use std::time::Duration;

use kiln_go_duration::ParseError;

/// Parses a Go duration. Negative durations are refused: no option of a plugin means one.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.strip_prefix('+').unwrap_or(text).starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    match kiln_go_duration::parse(text) {
        Ok(d) => Ok(d.magnitude),
        Err(ParseError::MissingUnit) => Err(format!("missing unit in duration {text:?}")),
        Err(ParseError::UnknownUnit(unit)) => {
            Err(format!("unknown unit {unit:?} in duration {text:?}"))
        }
        Err(ParseError::Invalid) => Err(format!("invalid duration {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("2us"), Ok(Duration::from_micros(2)));
        assert!(parse("10").unwrap_err().contains("missing unit"));
        assert!(parse("1d").unwrap_err().contains("unknown unit \"d\""));
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("s").is_err());
    }
}
