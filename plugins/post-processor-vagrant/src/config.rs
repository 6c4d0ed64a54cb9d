//! The post-processor's options as Packer 1.6.6 reads them, and the settings one provider gets
//! once its `override` entry is applied.

use std::collections::BTreeMap;

use kiln_plugin_sdk::config::{Problems, weak};

use crate::provider;

pub const DEFAULT_OUTPUT: &str = "packer_{{ .BuildName }}_{{.Provider}}.box";
const INVALID_LEVEL: &str = "Invalid compression level. Expected an integer from -1 to 9.";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "weak::string")]
    pub output: String,
    /// Absent is gzip's default (6), as Packer's `flate.DefaultCompression`; 0 is a plain tar.
    #[serde(default, deserialize_with = "weak::opt_int")]
    pub compression_level: Option<i64>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub include: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub vagrantfile_template: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub vagrantfile_template_generated: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub provider_override: String,
    /// Per provider, options that replace the ones above for that provider's box.
    #[serde(default, rename = "override")]
    pub overrides: BTreeMap<String, Override>,
    /// Consumed by kiln's core; accepted here as Packer's decoder does.
    #[serde(default, deserialize_with = "weak::bool")]
    #[allow(dead_code)]
    pub keep_input_artifact: bool,
}

/// One provider's `override` entry. Packer decodes it onto the whole config and ignores keys
/// it does not know; kiln takes the options that change a box and names any other key.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default, deserialize_with = "some_string")]
    output: Option<String>,
    #[serde(default, deserialize_with = "weak::opt_int")]
    compression_level: Option<i64>,
    #[serde(default, deserialize_with = "some_strings")]
    include: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some_string")]
    vagrantfile_template: Option<String>,
    #[serde(default, deserialize_with = "weak::opt_bool")]
    vagrantfile_template_generated: Option<bool>,
}

fn some_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    weak::string(d).map(Some)
}

fn some_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    weak::strings(d).map(Some)
}

/// How the box's tar is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `compression_level: 0`: a plain tar, as Packer's `flate.NoCompression`.
    None,
    /// gzip at this level, or its default (6).
    Gzip(Option<u32>),
}

impl Compression {
    /// Packer's range, -1 (the default) to 9.
    pub fn from_level(level: Option<i64>) -> Result<Self, &'static str> {
        match level {
            None | Some(-1) => Ok(Compression::Gzip(None)),
            Some(0) => Ok(Compression::None),
            Some(l @ 1..=9) => Ok(Compression::Gzip(u32::try_from(l).ok())),
            Some(_) => Err(INVALID_LEVEL),
        }
    }

    /// The host's `archive.create` format and level.
    pub fn archive(self) -> (&'static str, Option<u32>) {
        match self {
            Compression::None => ("tar", None),
            Compression::Gzip(level) => ("tar.gz", level),
        }
    }
}

/// The options one provider's box is made with.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub output: String,
    pub compression: Compression,
    pub include: Vec<String>,
    pub vagrantfile_template: String,
    pub vagrantfile_template_generated: bool,
}

impl Config {
    /// Fills in Packer's default output.
    pub fn set_defaults(&mut self) {
        if self.output.is_empty() {
            self.output = DEFAULT_OUTPUT.to_owned();
        }
    }

    /// The options for `provider`, its `override` entry applied (Packer's `specificConfig`).
    pub fn settings(&self, provider: &str) -> Result<Settings, &'static str> {
        let o = self.overrides.get(provider);
        let pick = |get: fn(&Override) -> Option<String>, base: &str| {
            o.and_then(get).unwrap_or_else(|| base.to_owned())
        };
        let level = o
            .and_then(|o| o.compression_level)
            .or(self.compression_level);
        Ok(Settings {
            output: pick(|o| o.output.clone(), &self.output),
            compression: Compression::from_level(level)?,
            include: o
                .and_then(|o| o.include.clone())
                .unwrap_or_else(|| self.include.clone()),
            vagrantfile_template: pick(
                |o| o.vagrantfile_template.clone(),
                &self.vagrantfile_template,
            ),
            vagrantfile_template_generated: o
                .and_then(|o| o.vagrantfile_template_generated)
                .unwrap_or(self.vagrantfile_template_generated),
        })
    }

    /// The checks that need no host: levels and provider names. `exists` says whether a
    /// `vagrantfile_template` path is there (only asked when it is not generated). Returns the
    /// warnings.
    pub fn check(&self, problems: &mut Problems, exists: impl Fn(&str) -> bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Err(e) = Compression::from_level(self.compression_level) {
            problems.add("compression_level", e);
        }
        if !self.provider_override.is_empty()
            && let Err(e) = provider::check_override(&self.provider_override)
        {
            problems.add("provider_override", e);
        }
        check_template(
            problems,
            "vagrantfile_template",
            &self.vagrantfile_template,
            self.vagrantfile_template_generated,
            &exists,
        );
        let known = provider::known();
        for (name, o) in &self.overrides {
            if !known.contains(&name.as_str()) {
                warnings.push(format!(
                    "override.{name}: {name:?} is not a Vagrant provider Packer knows ({}): \
                     its options are never used",
                    known.join(", ")
                ));
            }
            if let Some(level) = o.compression_level
                && let Err(e) = Compression::from_level(Some(level))
            {
                problems.add(format!("override.{name}.compression_level"), e);
            }
            if let Some(path) = &o.vagrantfile_template {
                let generated = o
                    .vagrantfile_template_generated
                    .unwrap_or(self.vagrantfile_template_generated);
                check_template(
                    problems,
                    &format!("override.{name}.vagrantfile_template"),
                    path,
                    generated,
                    &exists,
                );
            }
        }
        warnings
    }
}

/// Packer's check: the template must exist unless a provisioner generates it during the build.
fn check_template(
    problems: &mut Problems,
    key: &str,
    path: &str,
    generated: bool,
    exists: &impl Fn(&str) -> bool,
) {
    if !path.is_empty() && !generated && !exists(path) {
        problems.add(key, format!("vagrantfile_template '{path}' does not exist"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        let mut c: Config = kiln_plugin_sdk::config::decode(json).unwrap();
        c.set_defaults();
        c
    }

    fn problems(c: &Config, exists: bool) -> (Vec<String>, Vec<String>) {
        let mut p = Problems::new();
        let warnings = c.check(&mut p, |_| exists);
        let errors = match p.finish() {
            Ok(()) => Vec::new(),
            Err(list) => list.iter().map(ToString::to_string).collect(),
        };
        (errors, warnings)
    }

    #[test]
    fn compression_levels_follow_packer() {
        assert_eq!(Compression::from_level(None), Ok(Compression::Gzip(None)));
        assert_eq!(
            Compression::from_level(Some(-1)),
            Ok(Compression::Gzip(None))
        );
        assert_eq!(Compression::from_level(Some(0)), Ok(Compression::None));
        assert_eq!(
            Compression::from_level(Some(9)),
            Ok(Compression::Gzip(Some(9)))
        );
        assert_eq!(Compression::None.archive(), ("tar", None));
        assert_eq!(Compression::Gzip(Some(1)).archive(), ("tar.gz", Some(1)));
        for bad in [-2, 10] {
            assert_eq!(Compression::from_level(Some(bad)), Err(INVALID_LEVEL));
        }
    }

    #[test]
    fn defaults_are_packers() {
        let c = config("{}");
        assert_eq!(
            c.settings("libvirt").unwrap(),
            Settings {
                output: "packer_{{ .BuildName }}_{{.Provider}}.box".into(),
                compression: Compression::Gzip(None),
                include: Vec::new(),
                vagrantfile_template: String::new(),
                vagrantfile_template_generated: false,
            }
        );
        assert_eq!(problems(&c, false), (Vec::new(), Vec::new()));
    }

    #[test]
    fn an_override_replaces_options_for_its_provider_only() {
        let c = config(
            r#"{"output": "a.box", "compression_level": "1", "include": "x,y",
                "override": {"libvirt": {"output": "l.box", "compression_level": 0,
                                         "include": ["z"]}}}"#,
        );
        let l = c.settings("libvirt").unwrap();
        assert_eq!(
            (l.output.as_str(), l.compression, l.include),
            ("l.box", Compression::None, vec!["z".to_owned()])
        );
        let v = c.settings("virtualbox").unwrap();
        assert_eq!(
            (v.output.as_str(), v.compression, v.include),
            (
                "a.box",
                Compression::Gzip(Some(1)),
                vec!["x".to_owned(), "y".to_owned()]
            )
        );
    }

    #[test]
    fn bad_options_are_reported_together_with_their_keys() {
        let c = config(
            r#"{"compression_level": 12, "provider_override": "virtualbox",
                "vagrantfile_template": "missing.rb",
                "override": {"libvirt": {"compression_level": -3,
                                         "vagrantfile_template": "other.rb"},
                             "libvrt": {}}}"#,
        );
        let (errors, warnings) = problems(&c, false);
        assert_eq!(
            errors,
            [
                "compression_level: Invalid compression level. Expected an integer from -1 to 9.",
                "provider_override: Vagrant boxes for the 'virtualbox' provider are not available \
                 in kiln yet: it makes 'libvirt' boxes (from qemu builds)",
                "vagrantfile_template: vagrantfile_template 'missing.rb' does not exist",
                "override.libvirt.compression_level: Invalid compression level. Expected an \
                 integer from -1 to 9.",
                "override.libvirt.vagrantfile_template: vagrantfile_template 'other.rb' does not \
                 exist",
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("override.libvrt: \"libvrt\" is not a Vagrant provider"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_generated_vagrantfile_template_need_not_exist_yet() {
        let c = config(
            r#"{"vagrantfile_template": "made-later.rb", "vagrantfile_template_generated": true}"#,
        );
        assert_eq!(problems(&c, false).0, Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_in_an_override_are_named() {
        let errors = kiln_plugin_sdk::config::decode::<Config>(
            r#"{"override": {"libvirt": {"outptu": "x.box"}}}"#,
        )
        .err()
        .unwrap();
        assert_eq!(
            errors[0].to_string(),
            "override.libvirt.outptu: unknown configuration key \"outptu\"; did you mean \"output\"?"
        );
    }
}
