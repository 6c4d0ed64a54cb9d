//! The file provisioner's options with Packer's checks (1.6.6 `provisioner/file`, `Prepare`;
//! `content` as Packer 1.7.5 added it).

use kiln_plugin_sdk::Error;
use kiln_plugin_sdk::config::{Problems, weak};
use serde::Deserialize;

use crate::target;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "weak::string")]
    pub content: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub source: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub destination: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub direction: String,
    /// The sources are made during the build: they are looked for only when uploaded.
    #[serde(default, deserialize_with = "weak::bool")]
    pub generated: bool,
}

/// What a local source is, or why it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    File,
    Dir,
}

impl Config {
    pub fn downloads(&self) -> bool {
        self.direction == "download"
    }

    /// Packer's `Prepare`. `sources` becomes every source in Packer's order (`sources`, then
    /// `source`); `stat` says what a local source is.
    pub fn prepare(
        &mut self,
        stat: impl Fn(&str) -> Result<Local, String>,
    ) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        if self.direction.is_empty() {
            self.direction = "upload".to_owned();
        }
        let direction_ok = matches!(self.direction.as_str(), "upload" | "download");
        if !direction_ok {
            problems.add("direction", "Direction must be one of: download, upload.");
        }
        let mut keyed: Vec<(String, String)> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sources[{i}]"), s.clone()))
            .collect();
        if !self.source.is_empty() {
            keyed.push(("source".to_owned(), self.source.clone()));
        }
        self.sources = keyed.iter().map(|(_, s)| s.clone()).collect();

        let mut any_file = false;
        if self.direction == "upload" {
            for (key, source) in &keyed {
                match stat(source) {
                    Ok(kind) => any_file |= kind == Local::File,
                    Err(e) if !self.generated => {
                        problems.add(key, format!("Bad source '{source}': {e}"))
                    }
                    Err(_) => {}
                }
            }
        } else {
            any_file = self
                .sources
                .iter()
                .any(|s| !s.ends_with('/') && !target::is_glob(s));
        }
        if !self.sources.is_empty() && !self.content.is_empty() {
            problems.add("content", "source(s) conflicts with content.");
        }
        if self.sources.is_empty() && self.content.is_empty() {
            problems.add("source", "Source must be specified.");
        }
        if !self.content.is_empty() && self.downloads() {
            problems.add(
                "content",
                "content is written to the machine: it cannot be used with direction \"download\".",
            );
        }
        if self.destination.is_empty() {
            problems.add("destination", "Destination must be specified.");
        } else if direction_ok
            && let Some(message) =
                target::several_into_one(self.sources.len(), &self.destination, any_file)
        {
            problems.add("destination", message);
        }
        problems.finish()?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use kiln_plugin_sdk::config::decode;

    use super::*;

    /// Local paths: `dir*` are directories, `missing*` do not exist, the rest are files.
    fn stat(path: &str) -> Result<Local, String> {
        if path.starts_with("missing") {
            Err("No such file or directory".to_owned())
        } else if path.starts_with("dir") {
            Ok(Local::Dir)
        } else {
            Ok(Local::File)
        }
    }

    fn prepared(json: &str) -> Result<Config, Vec<(String, String)>> {
        let mut config: Config = decode(json).unwrap();
        match config.prepare(stat) {
            Ok(_) => Ok(config),
            Err(Error::InvalidConfig(errors)) => {
                Err(errors.into_iter().map(|e| (e.key, e.message)).collect())
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    fn pair(key: &str, message: &str) -> (String, String) {
        (key.to_owned(), message.to_owned())
    }

    #[test]
    fn upload_is_the_default_and_source_follows_sources() {
        let c =
            prepared(r#"{"sources": ["a", "b"], "source": "c", "destination": "/x/"}"#).unwrap();
        assert_eq!(c.direction, "upload");
        assert_eq!(c.sources, ["a", "b", "c"]);
        let c = prepared(r#"{"content": "hi", "destination": "/etc/motd"}"#).unwrap();
        assert!(c.sources.is_empty() && !c.downloads());
    }

    #[test]
    fn packers_messages_all_at_once() {
        assert_eq!(
            prepared(r#"{"direction": "sideways"}"#).unwrap_err(),
            [
                pair("direction", "Direction must be one of: download, upload."),
                pair("source", "Source must be specified."),
                pair("destination", "Destination must be specified."),
            ]
        );
        assert_eq!(
            prepared(
                r#"{"sources": ["ok", "missing.txt"], "source": "missing2", "destination": "/x/"}"#
            )
            .unwrap_err(),
            [
                pair(
                    "sources[1]",
                    "Bad source 'missing.txt': No such file or directory"
                ),
                pair("source", "Bad source 'missing2': No such file or directory"),
            ]
        );
        assert_eq!(
            prepared(r#"{"source": "a", "content": "x", "destination": "/x"}"#).unwrap_err(),
            [pair("content", "source(s) conflicts with content.")]
        );
    }

    #[test]
    fn generated_and_downloaded_sources_are_not_looked_for() {
        assert!(
            prepared(r#"{"source": "missing", "generated": true, "destination": "/x"}"#).is_ok()
        );
        assert!(
            prepared(r#"{"source": "missing", "direction": "download", "destination": "x"}"#)
                .is_ok()
        );
    }

    #[test]
    fn content_cannot_be_downloaded() {
        let e = prepared(r#"{"content": "x", "direction": "download", "destination": "x"}"#)
            .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "content");
    }

    #[test]
    fn several_files_need_a_directory_destination() {
        let e = prepared(r#"{"sources": ["a", "dir"], "destination": "/opt"}"#).unwrap_err();
        assert_eq!(e[0].0, "destination");
        assert!(prepared(r#"{"sources": ["dir1", "dir2"], "destination": "/opt"}"#).is_ok());
        assert!(prepared(r#"{"sources": ["a", "b"], "destination": "/opt/"}"#).is_ok());
        let download = r#"{"direction": "download", "sources": ["/etc/a/", "/var/log/*.log"],
                           "destination": "out"}"#;
        assert!(prepared(download).is_ok());
        let download = r#"{"direction": "download", "sources": ["/etc/a", "/etc/b"],
                           "destination": "out"}"#;
        assert_eq!(prepared(download).unwrap_err()[0].0, "destination");
    }
}
