//! Config decoding whose errors name the key.

use serde::de::DeserializeOwned;

/// One problem with a config, with the key path it concerns (`boot_command[3]`); the host
/// prefixes the component's place in the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

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
pub fn decode<T: DeserializeOwned>(json: &str) -> Result<T, Vec<ConfigError>> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // The path already ends with the unknown key when there is one.
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let message = e.inner().to_string();
        // serde_json appends " at line L column C": the host already points at the template.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        let message = match unknown_field(&message) {
            Some(field) => format!(
                "unknown configuration key {field:?}{}",
                expected_suffix(&message)
            ),
            None => message,
        };
        vec![ConfigError { key, message }]
    })
}

/// `unknown field `x`, expected ...` → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

fn expected_suffix(message: &str) -> String {
    match message.find(", expected ") {
        Some(i) => format!("; {}", &message[i + 2..]),
        None => String::new(),
    }
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
        assert!(
            e.message
                .starts_with("unknown configuration key \"bogus_key\"; expected one of"),
            "{}",
            e.message
        );
        let e = first_error(r#"{"inline": [], "remote": {"fodler": "/tmp"}}"#);
        assert_eq!(e.key, "remote.fodler");
        assert_eq!(
            e.to_string(),
            "remote.fodler: unknown configuration key \"fodler\"; expected `folder`"
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
    fn own_checks_are_all_reported() {
        let mut p = Problems::new();
        p.check(false, "a", "first");
        p.check(true, "b", "fine");
        p.add("c", "second");
        assert_eq!(p.finish().unwrap_err().len(), 2);
    }
}
