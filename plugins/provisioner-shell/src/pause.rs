//! `pause_after`: the wait after the scripts, announced as Packer does with Go's duration text.

use std::time::Duration;

use kiln_plugin_sdk::log;

/// Says `Pausing 1m30s after this provisioner...` and waits (a WASI clock wait, which the host
/// can still cancel or end at its deadline).
pub fn after(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    log::say(format!(
        "Pausing {} after this provisioner...",
        go_text(duration)
    ));
    std::thread::sleep(duration);
}

/// Go's `time.Duration.String`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `2µs`, `0s`.
pub fn go_text(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 6));
    }
    let seconds = fraction(nanos % 60_000_000_000, 9);
    let minutes = nanos / 60_000_000_000;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / 10^digits` in decimal, trailing zeros (and a bare point) dropped.
fn fraction(value: u128, digits: u32) -> String {
    let unit = 10u128.pow(digits);
    let (whole, part) = (value / unit, value % unit);
    if part == 0 {
        return whole.to_string();
    }
    let part = format!("{part:0width$}", width = digits as usize);
    format!("{whole}.{}", part.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(500), "500ns"),
            (Duration::from_micros(2), "2µs"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(3_723_250), "1h2m3.25s"),
        ];
        for (duration, text) in cases {
            assert_eq!(go_text(duration), text, "{duration:?}");
        }
    }
}
