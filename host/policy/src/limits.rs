//! Resource limits: memory per plugin instance, wall time per call, fuel, UI output per call.
//!
//! Builders run a whole build in one call (an OS install can take hours), so they have a wall
//! time of their own; every other limit is the same for all kinds.

use std::fmt;
use std::time::Duration;

use crate::size::ByteSize;
use crate::source::Sourced;

/// The limits for one plugin, each with the layer it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory (components) or the engine's allocation budget (Rhai), per instance.
    pub memory: Sourced<ByteSize>,
    /// Per plugin call.
    pub wall_time: Sourced<Duration>,
    /// Wasm fuel per call; `None` is no fuel metering.
    pub fuel: Sourced<Option<u64>>,
    /// Output lines sent to the UI per call, in bytes.
    pub output_bytes: Sourced<ByteSize>,
}

/// Kiln's defaults.
pub(crate) const DEFAULT_MEMORY: ByteSize = ByteSize(ByteSize::GIB);
pub(crate) const DEFAULT_WALL_TIME: Duration = Duration::from_secs(4 * 3600);
pub(crate) const DEFAULT_BUILDER_WALL_TIME: Duration = Duration::from_secs(24 * 3600);
pub(crate) const DEFAULT_OUTPUT: ByteSize = ByteSize(64 * ByteSize::MIB);

/// A positive Go duration (`30m`, `4h`, `1h30m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    use kiln_go_duration::ParseError;
    match kiln_go_duration::parse(text) {
        Ok(d) if d.negative => Err(format!("{text:?}: a time limit cannot be negative")),
        Ok(d) if d.magnitude.is_zero() => {
            Err(format!("{text:?}: a time limit must be more than zero"))
        }
        Ok(d) => Ok(d.magnitude),
        Err(ParseError::MissingUnit) => {
            Err(format!("{text:?} needs a unit (like \"30m\" or \"4h\")"))
        }
        Err(ParseError::UnknownUnit(unit)) => Err(format!(
            "{text:?}: unknown unit {unit:?} (use h, m, s, ms, us or ns)"
        )),
        Err(ParseError::Invalid) => Err(format!(
            "{text:?} is not a duration (like \"30m\", \"4h\" or \"1h30m\")"
        )),
    }
}

/// A duration in Go's syntax, shortest form (`4h`, `1h30m`, `1.5s`).
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        if secs == 0 && nanos == 0 {
            return f.write_str("0s");
        }
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, "{s}.{}s", fraction.trim_end_matches('0'))?;
        } else if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("0").unwrap_err().contains("more than zero"));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("1d")
                .unwrap_err()
                .contains("unknown unit \"d\"")
        );
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    #[test]
    fn go_display() {
        let show = |secs: u64| GoDuration(Duration::from_secs(secs)).to_string();
        assert_eq!(show(4 * 3600), "4h");
        assert_eq!(show(5400), "1h30m");
        assert_eq!(show(3601), "1h1s");
        assert_eq!(show(0), "0s");
        assert_eq!(GoDuration(Duration::from_millis(1500)).to_string(), "1.5s");
        for text in ["4h", "1h30m", "1h1s", "1.5s", "24h", "90s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&GoDuration(d).to_string()).unwrap(), d);
        }
    }
}
