//! Config decoding whose errors name the key.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

pub mod weak;

/// One problem with a config, with the key path it concerns (`boot_command[3]`); the host
/// prefixes the component's place in the template. This is the contract's `config-error`.
pub use crate::bindings::kiln::plugin::types::ConfigError;

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Decodes a config into `T`. A type error names the key it is at; an unknown key (with
/// `#[serde(deny_unknown_fields)]`) is named itself, as Packer's "unknown configuration key".
///
/// serde stops at the first error, so to report them all at once the key that failed is
/// dropped and the config decoded again, until it decodes or nothing more can be dropped (a
/// second error under the same top-level key is found once the first is fixed).
pub fn decode<T: DeserializeOwned>(json: &str) -> Result<T, Vec<ConfigError>> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        vec![ConfigError {
            key: String::new(),
            message: format!("the config is not valid JSON: {e}"),
        }]
    })?;
    let mut errors = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    loop {
        let e = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(config) if errors.is_empty() => return Ok(config),
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
        let message = e.inner().to_string();
        // A required key that was dropped to get here is not the user's problem.
        if missing_field(&message).is_some_and(|f| dropped.iter().any(|d| d == f)) {
            return Err(errors);
        }
        errors.push(config_error(&e.path().to_string(), message));
        let top = match e.path().iter().next() {
            Some(Segment::Map { key }) => key.clone(),
            _ => return Err(errors),
        };
        match value.as_object_mut().and_then(|o| o.shift_remove(&top)) {
            Some(_) => dropped.push(top),
            None => return Err(errors),
        }
    }
}

fn config_error(path: &str, message: String) -> ConfigError {
    // The path already ends with the unknown key when there is one.
    let key = if path == "." {
        String::new()
    } else {
        path.to_owned()
    };
    // serde_json appends " at line L column C": the host already points at the template.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    let message = match unknown_field(&message) {
        Some(field) => format!(
            "unknown configuration key {field:?}{}",
            suggestion(field, &message)
        ),
        None => message,
    };
    ConfigError { key, message }
}

/// `missing field `x`` → `x`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `unknown field `x`, expected ...` → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// `; did you mean "folder"?` when one of the keys serde expected is a likely typo of `field`.
/// The whole list is left out: a builder has dozens of keys.
fn suggestion(field: &str, message: &str) -> String {
    let Some(i) = message.find(", expected ") else {
        return String::new();
    };
    let best = message[i..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (edit_distance(field, candidate), candidate))
        .min();
    match best {
        Some((distance, candidate)) if distance <= (field.len() / 3).max(1) => {
            format!("; did you mean {candidate:?}?")
        }
        _ => String::new(),
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Collects a plugin's own checks so `prepare` reports them all at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigError>);

impl Problems {
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    /// Records a problem at `key`.
    pub fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records a problem at `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.add(key, message);
        }
    }

    pub fn finish(self) -> Result<(), Vec<ConfigError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shell {
        inline: Vec<String>,
        #[serde(default)]
        environment_vars: Vec<String>,
        #[serde(default)]
        valid_exit_codes: Vec<i32>,
        #[serde(default)]
        remote: Remote,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Remote {
        #[serde(default)]
        folder: String,
    }

    fn first_error(json: &str) -> ConfigError {
        decode::<Shell>(json).unwrap_err().remove(0)
    }

    #[test]
    fn type_errors_name_the_key() {
        let e = first_error(r#"{"inline": ["a", 3]}"#);
        assert_eq!(e.key, "inline[1]");
        assert_eq!(e.message, "invalid type: integer `3`, expected a string");
        let e = first_error(r#"{"inline": [], "valid_exit_codes": [0, "x"]}"#);
        assert_eq!(e.key, "valid_exit_codes[1]");
    }

    #[test]
    fn unknown_keys_are_named_like_packer() {
        let e = first_error(r#"{"inline": [], "bogus_key": 1}"#);
        assert_eq!(e.key, "bogus_key");
        assert_eq!(e.message, "unknown configuration key \"bogus_key\"");
        let e = first_error(r#"{"inline": [], "remote": {"fodler": "/tmp"}}"#);
        assert_eq!(e.key, "remote.fodler");
        assert_eq!(
            e.to_string(),
            "remote.fodler: unknown configuration key \"fodler\"; did you mean \"folder\"?"
        );
    }

    #[test]
    fn missing_required_keys_are_reported() {
        let e = first_error("{}");
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("", "missing field `inline`")
        );
    }

    #[test]
    fn every_top_level_error_is_reported_at_once() {
        let errors = decode::<Shell>(
            r#"{"inline": ["a"], "bogus": 1, "valid_exit_codes": ["x"], "other": 2}"#,
        )
        .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["bogus", "valid_exit_codes[0]", "other"]);
    }

    #[test]
    fn a_dropped_required_key_is_not_reported_as_missing() {
        let errors = decode::<Shell>(r#"{"inline": [1], "bogus": 1}"#).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["inline[0]", "bogus"]);
    }

    #[test]
    fn own_checks_are_all_reported() {
        let mut p = Problems::new();
        p.check(false, "a", "first");
        p.check(true, "b", "fine");
        p.add("c", "second");
        assert_eq!(p.finish().unwrap_err().len(), 2);
    }
}
