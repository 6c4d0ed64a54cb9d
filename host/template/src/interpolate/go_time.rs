//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`), which `{{isotime "..."}}` takes.
//! Times here are always UTC, as Packer's are.

use chrono::{DateTime, Datelike, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats `t` with a Go layout string, as Go's `time.Time.Format` does for a UTC time.
pub fn format(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        let (token, len) = chunk(rest);
        match token {
            Some(tok) => {
                render(&mut out, t, tok, &rest[..len]);
                rest = &rest[len..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Token {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    ZoneName,
    /// `-07:00` and friends: the UTC offset, always zero here.
    NumZone(&'static str),
    /// `Z07:00` and friends: `Z` for UTC.
    IsoZone,
    /// `.000` (fixed width) or `.999` (trailing zeros trimmed), with the separator.
    Fraction {
        digits: usize,
        trim: bool,
    },
}

/// The layout token at the start of `s` and its length in bytes, as Go's `nextStdChunk` finds it.
fn chunk(s: &str) -> (Option<Token>, usize) {
    use Token::*;
    let starts = |p: &str| s.starts_with(p);
    let table: &[(&str, Token)] = &[
        ("January", LongMonth),
        ("Jan", Month),
        ("Monday", LongWeekDay),
        ("Mon", WeekDay),
        ("MST", ZoneName),
        ("002", ZeroYearDay),
        ("01", ZeroMonth),
        ("02", ZeroDay),
        ("03", ZeroHour12),
        ("04", ZeroMinute),
        ("05", ZeroSecond),
        ("06", Year),
        ("15", Hour),
        ("2006", LongYear),
        ("__2", UnderYearDay),
        ("_2", UnderDay),
        ("PM", PM),
        ("pm", Pm),
        ("-07:00:00", NumZone("+00:00:00")),
        ("-070000", NumZone("+000000")),
        ("-07:00", NumZone("+00:00")),
        ("-0700", NumZone("+0000")),
        ("-07", NumZone("+00")),
        ("Z07:00:00", IsoZone),
        ("Z070000", IsoZone),
        ("Z07:00", IsoZone),
        ("Z0700", IsoZone),
        ("Z07", IsoZone),
    ];
    for (pattern, token) in table {
        if starts(pattern) {
            // Go: "Jan"/"Mon" are not tokens when followed by a lower-case letter ("Janet").
            let next = s[pattern.len()..].chars().next();
            if matches!(token, Month | WeekDay) && next.is_some_and(|c| c.is_ascii_lowercase()) {
                continue;
            }
            return (Some(*token), pattern.len());
        }
    }
    let bytes = s.as_bytes();
    match bytes[0] {
        b'1' => return (Some(NumMonth), 1),
        b'2' => return (Some(Day), 1),
        b'3' => return (Some(Hour12), 1),
        b'4' => return (Some(Minute), 1),
        b'5' => return (Some(Second), 1),
        b'.' | b',' if bytes.len() > 1 && (bytes[1] == b'0' || bytes[1] == b'9') => {
            let digit = bytes[1];
            let run = bytes[1..].iter().take_while(|&&b| b == digit).count();
            let after = bytes.get(1 + run);
            if !after.is_some_and(u8::is_ascii_digit) {
                return (
                    Some(Fraction {
                        digits: run,
                        trim: digit == b'9',
                    }),
                    1 + run,
                );
            }
        }
        _ => {}
    }
    (None, 0)
}

fn render(out: &mut String, t: &DateTime<Utc>, token: Token, text: &str) {
    use Token::*;
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let piece = match token {
        LongMonth => MONTHS[t.month0() as usize].to_owned(),
        Month => MONTHS[t.month0() as usize][..3].to_owned(),
        NumMonth => t.month().to_string(),
        ZeroMonth => format!("{:02}", t.month()),
        LongWeekDay => WEEKDAYS[t.weekday().num_days_from_monday() as usize].to_owned(),
        WeekDay => WEEKDAYS[t.weekday().num_days_from_monday() as usize][..3].to_owned(),
        Day => t.day().to_string(),
        UnderDay => format!("{:>2}", t.day()),
        ZeroDay => format!("{:02}", t.day()),
        UnderYearDay => format!("{:>3}", t.ordinal()),
        ZeroYearDay => format!("{:03}", t.ordinal()),
        Hour => format!("{:02}", t.hour()),
        Hour12 => hour12.to_string(),
        ZeroHour12 => format!("{hour12:02}"),
        Minute => t.minute().to_string(),
        ZeroMinute => format!("{:02}", t.minute()),
        Second => t.second().to_string(),
        ZeroSecond => format!("{:02}", t.second()),
        LongYear => format!("{:04}", t.year()),
        Year => format!("{:02}", t.year().rem_euclid(100)),
        PM => (if t.hour() >= 12 { "PM" } else { "AM" }).to_owned(),
        Pm => (if t.hour() >= 12 { "pm" } else { "am" }).to_owned(),
        ZoneName => "UTC".to_owned(),
        NumZone(zero) => zero.to_owned(),
        IsoZone => "Z".to_owned(),
        Fraction { digits, trim } => {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut frac = nanos[..digits.min(9)].to_owned();
            if trim {
                frac = frac.trim_end_matches('0').to_owned();
                if frac.is_empty() {
                    return;
                }
            }
            format!("{}{frac}", &text[..1])
        }
    };
    out.push_str(&piece);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 7, 14, 5, 9).unwrap() + chrono::Duration::milliseconds(120)
    }

    #[test]
    fn go_layouts_table() {
        let cases = [
            ("2006-01-02", "2026-03-07"),
            ("2006-01-02T15:04:05Z07:00", "2026-03-07T14:05:09Z"),
            ("20060102150405", "20260307140509"),
            ("Jan 2, 2006 at 3:04pm (MST)", "Mar 7, 2026 at 2:05pm (UTC)"),
            ("Monday January _2 06", "Saturday March  7 26"),
            ("15:04:05.000", "14:05:09.120"),
            ("15:04:05.999", "14:05:09.12"),
            ("-07:00 -0700", "+00:00 +0000"),
            ("002", "066"),
            ("literal Janet", "literal Janet"),
        ];
        for (layout, want) in cases {
            assert_eq!(format(&at(), layout), want, "layout {layout:?}");
        }
    }
}
