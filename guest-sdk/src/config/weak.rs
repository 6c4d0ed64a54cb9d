//! Packer's weak decoding, for `#[serde(deserialize_with = "...")]`.
//!
//! Packer decodes configs with mapstructure's `WeaklyTypedInput` and its string-to-slice and
//! string-to-duration hooks, and user variables are always strings, so templates say
//! `"ssh_port": "{{user `port`}}"` and `"headless": "true"`. These accept what Packer accepts:
//! `null` is the zero value, a number or bool where a string is meant is its text, `"22"` is a
//! number, `"true"`/`"1"` a bool, `"a,b"` a list, `"1m30s"` (or nanoseconds) a duration.
//! Fields using them need `#[serde(default)]` to be optional.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Value;

fn unexpected(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn as_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
            _ => Err(format!("cannot parse {s:?} as a boolean")),
        },
        other => Err(format!("expected a boolean, found {}", unexpected(other))),
    }
}

fn as_i64(value: &Value) -> Result<i64, String> {
    match value {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("number {n} is out of range")),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(0);
            }
            let (negative, digits) = match t.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            // Go's base 0, as mapstructure's weak decoding parses: 0x, 0o, 0b, and a leading 0
            // for octal (file modes: "0644").
            let (radix, digits) = match digits.get(..2) {
                Some("0x" | "0X") => (16, &digits[2..]),
                Some("0o" | "0O") => (8, &digits[2..]),
                Some("0b" | "0B") => (2, &digits[2..]),
                _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
                _ => (10, digits),
            };
            let parsed = i64::from_str_radix(&digits.replace('_', ""), radix);
            parsed
                .map(|n| if negative { -n } else { n })
                .map_err(|_| format!("cannot parse {s:?} as a number"))
        }
        other => Err(format!("expected a number, found {}", unexpected(other))),
    }
}

fn as_string(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, found {}", unexpected(other))),
    }
}

fn as_duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Null => Ok(Duration::ZERO),
        Value::String(s) if s.is_empty() => Ok(Duration::ZERO),
        Value::String(s) => crate::duration::parse(s),
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("invalid duration {n}")),
        other => Err(format!("expected a duration, found {}", unexpected(other))),
    }
}

fn list<T>(value: Value, item: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<T>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(item).collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => s
            .split(',')
            .map(|p| item(&Value::String(p.to_owned())))
            .collect(),
        other => Ok(vec![item(&other)?]),
    }
}

fn with<'de, D: Deserializer<'de>, T>(
    d: D,
    f: impl FnOnce(Value) -> Result<T, String>,
) -> Result<T, D::Error> {
    f(Value::deserialize(d)?).map_err(D::Error::custom)
}

fn in_range<T: TryFrom<i64>>(n: i64) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// A bool: `true`, `"true"`, `"1"`, `1`.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    with(d, |v| as_bool(&v))
}

/// An optional bool, `None` when absent or null.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    with(d, |v| {
        if v.is_null() {
            Ok(None)
        } else {
            as_bool(&v).map(Some)
        }
    })
}

/// Any integer type: `22`, `"22"`, `"0x16"`, `"0644"` (octal, as in Go).
pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    with(d, |v| in_range(as_i64(&v)?))
}

/// An optional integer, `None` when absent or null.
pub fn opt_int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    with(d, |v| {
        if v.is_null() {
            Ok(None)
        } else {
            in_range(as_i64(&v)?).map(Some)
        }
    })
}

/// A list of integers (`valid_exit_codes`): `[0, "2"]`, `"0,2"`, `0`.
pub fn ints<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Vec<T>, D::Error> {
    with(d, |v| list(v, |item| in_range(as_i64(item)?)))
}

/// A string; a number or bool is its text.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    with(d, |v| as_string(&v))
}

/// A list of strings; a single string is split at commas, as Packer's decoder does.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    with(d, |v| list(v, as_string))
}

/// A Go duration (`"1m30s"`) or integer nanoseconds.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    with(d, |v| as_duration(&v))
}

/// An optional duration, `None` when absent, null or empty.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    with(d, |v| match &v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        _ => as_duration(&v).map(Some),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use crate::config::decode;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct C {
        #[serde(default, deserialize_with = "super::bool")]
        flag: bool,
        #[serde(default, deserialize_with = "super::int")]
        port: u16,
        #[serde(default, deserialize_with = "super::strings")]
        names: Vec<String>,
        #[serde(default, deserialize_with = "super::ints")]
        codes: Vec<i32>,
        #[serde(default, deserialize_with = "super::opt_duration")]
        wait: Option<Duration>,
        #[serde(default, deserialize_with = "super::string")]
        text: String,
        #[serde(default, deserialize_with = "super::int")]
        mode: u32,
    }

    #[test]
    fn strings_from_user_variables_decode_as_packer_does() {
        let c: C = decode(
            r#"{"flag": "true", "port": "2222", "names": "a,b", "codes": ["0", 2],
                "wait": "1m30s", "text": 3, "mode": "0644"}"#,
        )
        .unwrap();
        assert!(c.flag);
        assert_eq!(c.port, 2222);
        assert_eq!(c.names, ["a", "b"]);
        assert_eq!(c.codes, [0, 2]);
        assert_eq!(c.wait, Some(Duration::from_secs(90)));
        assert_eq!(c.text, "3");
        assert_eq!(c.mode, 0o644);
        let c: C = decode(r#"{"flag": null, "port": "", "names": null}"#).unwrap();
        assert!(!c.flag && c.port == 0 && c.names.is_empty() && c.wait.is_none());
    }

    #[test]
    fn weak_errors_still_name_the_key() {
        let e = decode::<C>(r#"{"port": "x", "flag": "maybe", "wait": "3 days"}"#).unwrap_err();
        let keys: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("port", "cannot parse \"x\" as a number"),
                ("flag", "cannot parse \"maybe\" as a boolean"),
                ("wait", "unknown unit \" days\" in duration \"3 days\""),
            ]
        );
    }
}
