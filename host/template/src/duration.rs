//! Go's duration syntax (`10s`, `1m30s`, `300ms`, `1.5h`), which Packer templates use for
//! `pause_before`, `timeout`, `boot_wait` and friends.

use std::time::Duration;

pub use kiln_go_duration::GoDuration;

/// Parses `text` as Go's `time.ParseDuration` does (the parser is `kiln-go-duration`, shared
/// with the plugin SDK); the error names the text and shows what is expected.
pub fn parse_go_duration(text: &str) -> Result<GoDuration, String> {
    kiln_go_duration::parse(text).map_err(|_| {
        format!("invalid duration {text:?} (expected e.g. \"30s\", \"1m30s\", \"300ms\")")
    })
}

/// Packer's humanised durations, the two largest non-zero units as its `durafmt`
/// `LimitFirstN(2)` prints them: "4 seconds 521 milliseconds", "13 milliseconds 775
/// microseconds".
pub fn humanize(duration: Duration) -> String {
    let micros = duration.as_micros();
    let parts = [
        (micros / 3_600_000_000, "hour"),
        ((micros / 60_000_000) % 60, "minute"),
        ((micros / 1_000_000) % 60, "second"),
        ((micros / 1000) % 1000, "millisecond"),
        (micros % 1000, "microsecond"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if words.is_empty() {
        "0 seconds".to_owned()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_go_duration(s).map(|d| (d.negative, d.magnitude));
        assert_eq!(ok("10s"), Ok((false, Duration::from_secs(10))));
        assert_eq!(ok("1m30s"), Ok((false, Duration::from_secs(90))));
        assert_eq!(ok("300ms"), Ok((false, Duration::from_millis(300))));
        assert_eq!(ok("1.5h"), Ok((false, Duration::from_secs(5400))));
        assert_eq!(ok("-5s"), Ok((true, Duration::from_secs(5))));
        assert_eq!(ok("0"), Ok((false, Duration::ZERO)));
        for bad in ["", "10", "5 s", "s", "1x", "--1s"] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn humanized_like_packer() {
        assert_eq!(
            humanize(Duration::from_millis(4521)),
            "4 seconds 521 milliseconds"
        );
        assert_eq!(
            humanize(Duration::from_micros(13_775)),
            "13 milliseconds 775 microseconds"
        );
        assert_eq!(humanize(Duration::from_secs(61)), "1 minute 1 second");
        assert_eq!(
            humanize(Duration::from_millis(1005)),
            "1 second 5 milliseconds"
        );
        assert_eq!(humanize(Duration::from_secs(123)), "2 minutes 3 seconds");
        assert_eq!(humanize(Duration::from_micros(13)), "13 microseconds");
    }
}
