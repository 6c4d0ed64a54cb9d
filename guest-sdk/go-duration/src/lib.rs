//! Go's duration syntax (`10s`, `1m30s`, `300ms`, `1.5h`), which Packer templates use for
//! `pause_before`, `timeout`, `boot_wait`, `ssh_timeout` and friends.
//!
//! One parser serves the host (`kiln-template`) and plugins (`kiln-plugin-sdk`, built for
//! wasm32-wasip2), so it depends on nothing but `std`. Each caller words its own errors from
//! [`ParseError`] and decides what a negative duration means.
//!
//! ```
//! use std::time::Duration;
//! let d = kiln_go_duration::parse("1m30s").unwrap();
//! assert_eq!((d.negative, d.magnitude), (false, Duration::from_secs(90)));
//! ```

use std::time::Duration;

/// A parsed Go duration, its sign apart: Packer gives negative values meaning
/// (`boot_wait: "-1s"` is no wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration {
    pub negative: bool,
    pub magnitude: Duration,
}

/// Why a text is not a Go duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Empty, a bad number, or too large.
    Invalid,
    /// A number with no unit after it (`"10"`).
    MissingUnit,
    /// A unit Go does not know (`"1d"`).
    UnknownUnit(String),
}

/// Parses `text` as Go's `time.ParseDuration` does.
pub fn parse(text: &str) -> Result<GoDuration, ParseError> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(GoDuration {
            negative,
            magnitude: Duration::ZERO,
        });
    }
    if rest.is_empty() {
        return Err(ParseError::Invalid);
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if number_len == 0 {
            return Err(ParseError::Invalid);
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| ParseError::Invalid)?;
        rest = &rest[number_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| !b.is_ascii_digit() && *b != b'.')
            .count();
        let unit = match &rest[..unit_len] {
            "" => return Err(ParseError::MissingUnit),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(ParseError::UnknownUnit(other.to_owned())),
        };
        rest = &rest[unit_len..];
        nanos += number * unit;
    }
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(ParseError::Invalid);
    }
    Ok(GoDuration {
        negative,
        magnitude: Duration::from_nanos(nanos.round() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Result<(bool, Duration), ParseError> {
        parse(s).map(|d| (d.negative, d.magnitude))
    }

    #[test]
    fn go_durations() {
        assert_eq!(ok("10s"), Ok((false, Duration::from_secs(10))));
        assert_eq!(ok("1m30s"), Ok((false, Duration::from_secs(90))));
        assert_eq!(ok("300ms"), Ok((false, Duration::from_millis(300))));
        assert_eq!(ok("1.5h"), Ok((false, Duration::from_secs(5400))));
        assert_eq!(ok("2us"), Ok((false, Duration::from_micros(2))));
        assert_eq!(ok("+0"), Ok((false, Duration::ZERO)));
        assert_eq!(ok("-5s"), Ok((true, Duration::from_secs(5))));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(ok("10"), Err(ParseError::MissingUnit));
        assert_eq!(ok("1d"), Err(ParseError::UnknownUnit("d".into())));
        assert_eq!(ok("5 s"), Err(ParseError::UnknownUnit(" s".into())));
        for bad in ["", "s", "--1s", ".s", "1.2.3s"] {
            assert_eq!(ok(bad), Err(ParseError::Invalid), "{bad:?}");
        }
    }
}
