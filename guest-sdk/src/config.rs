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

/// The keys a struct's `Deserialize` knows (serde's field list, renames applied), for a
/// config decoded in flattened parts: a builder's own keys beside the shared communicator
/// ones, where `deny_unknown_fields` cannot be used.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Introspect<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("introspection")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for Introspect<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut found));
    found
}

/// How a plugin's config is decoded from the host's JSON: every `Deserialize` type through
/// [`decode`], and [`WithShared`] in its two parts.
pub trait Decode: Sized {
    fn decode(json: &str) -> Result<Self, Vec<ConfigError>>;
}

impl<T: DeserializeOwned> Decode for T {
    fn decode(json: &str) -> Result<Self, Vec<ConfigError>> {
        decode(json)
    }
}

/// A config whose keys are a plugin's own (`own`) plus a shared set (`shared`, such as the
/// communicator's `ssh_*` keys). Both types keep `#[serde(deny_unknown_fields)]` and their
/// errors keep their key paths: the keys `S` declares (see [`fields`]) go to it, the rest to
/// `O`, so an unknown key is reported by `O` with a did-you-mean among its keys.
#[derive(Debug, Default)]
pub struct WithShared<O, S> {
    pub own: O,
    pub shared: S,
}

impl<O: DeserializeOwned, S: DeserializeOwned> Decode for WithShared<O, S> {
    fn decode(json: &str) -> Result<Self, Vec<ConfigError>> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            vec![ConfigError {
                key: String::new(),
                message: format!("the config is not valid JSON: {e}"),
            }]
        })?;
        let serde_json::Value::Object(all) = value else {
            return Err(vec![ConfigError {
                key: String::new(),
                message: "the config is not an object".to_owned(),
            }]);
        };
        let shared_keys = fields::<S>();
        let (shared, own): (serde_json::Map<_, _>, serde_json::Map<_, _>) = all
            .into_iter()
            .partition(|(k, _)| shared_keys.contains(&k.as_str()));
        let own = decode::<O>(&serde_json::Value::Object(own).to_string());
        let shared = decode::<S>(&serde_json::Value::Object(shared).to_string());
        match (own, shared) {
            (Ok(own), Ok(shared)) => Ok(WithShared { own, shared }),
            (own, shared) => Err(own
                .err()
                .into_iter()
                .chain(shared.err())
                .flatten()
                .collect()),
        }
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
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Comm {
        #[serde(default)]
        ssh_port: u16,
        #[serde(default, rename = "ssh_username")]
        user: String,
    }

    #[test]
    fn fields_lists_what_a_struct_deserializes() {
        assert_eq!(fields::<Comm>(), ["ssh_port", "ssh_username"]);
    }

    #[test]
    fn a_config_with_a_shared_part_keeps_every_key_path() {
        let ok =
            WithShared::<Remote, Comm>::decode(r#"{"folder": "/x", "ssh_port": 2222}"#).unwrap();
        assert_eq!((ok.own.folder.as_str(), ok.shared.ssh_port), ("/x", 2222));
        let errors = WithShared::<Remote, Comm>::decode(r#"{"foldr": "/x", "ssh_port": "many"}"#)
            .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with(
                "foldr: unknown configuration key \"foldr\"; did you mean \"folder\"?"
            ),
            "{text:?}"
        );
        assert!(text[1].starts_with("ssh_port: invalid type"), "{text:?}");
    }
}
