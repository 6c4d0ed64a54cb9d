//! Key paths such as `builders[1].boot_command[3]`, which name a value in diagnostics.

use std::fmt;

/// Where a value sits in a template, written as a user would point at it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(String);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(String::new())
    }

    /// The path of `key` inside this object. Keys that are not plain words are quoted.
    pub fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match (self.0.is_empty(), plain) {
            (true, true) => KeyPath(key.to_owned()),
            (false, true) => KeyPath(format!("{}.{key}", self.0)),
            (_, false) => KeyPath(format!("{}[{key:?}]", self.0)),
        }
    }

    /// The path of element `index` (0-based, as written in the brackets) of this array.
    pub fn index(&self, index: usize) -> Self {
        KeyPath(format!("{}[{index}]", self.0))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "(template root)"
        } else {
            &self.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_template() {
        let p = KeyPath::root()
            .key("builders")
            .index(1)
            .key("boot_command")
            .index(3);
        assert_eq!(p.to_string(), "builders[1].boot_command[3]");
        assert_eq!(
            KeyPath::root().key("variables").key("a.b").to_string(),
            r#"variables["a.b"]"#
        );
        assert_eq!(
            KeyPath::root().key("sensitive-variables").as_str(),
            "sensitive-variables"
        );
    }
}
