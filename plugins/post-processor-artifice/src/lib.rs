//! The `artifice` post-processor (builder id `packer.post-processor.artifice`): replaces the
//! artifact's files with `files` (Go globs, relative to the working directory), so files a
//! provisioner downloaded can feed later post-processors.

mod glob;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{Artifact, BuildInfo, Error, PluginInfo, PostProcessor, Processed, log};

const BUILDER_ID: &str = "packer.post-processor.artifice";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::strings")]
    files: Vec<String>,
    /// Consumed by kiln's core; accepted here as Packer's decoder does.
    #[serde(default, deserialize_with = "weak::bool")]
    #[allow(dead_code)]
    keep_input_artifact: bool,
}

struct Artifice;

impl PostProcessor for Artifice {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "artifice",
            env!("CARGO_PKG_VERSION"),
            "Replaces the artifact's files with files of your choice.",
        )
    }

    fn prepare(config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        problems.check(
            !config.files.is_empty(),
            "files",
            "No files specified in artifice configuration",
        );
        for (i, pattern) in config.files.iter().enumerate() {
            if let Err(e) = glob::Pattern::parse(pattern) {
                problems.add(format!("files[{i}]"), e);
            }
        }
        problems.finish()?;
        Ok(Vec::new())
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        if !input.files.is_empty() {
            log::say(format!(
                "Discarding artifact files: {}",
                input.files.join(", ")
            ));
        }
        let mut files = Vec::new();
        for (i, pattern) in config.files.iter().enumerate() {
            let matched = glob::glob(build, pattern).map_err(Error::failed)?;
            // Packer drops a pattern that matches nothing without a word; a missing file is
            // more likely a mistake than a wish.
            if matched.is_empty() {
                return Err(Error::invalid_config(
                    format!("files[{i}]"),
                    format!("{pattern:?} matches no file"),
                ));
            }
            files.extend(matched);
        }
        log::say(format!("Using these artifact files: {}", files.join(", ")));
        Ok(Processed {
            artifact: Artifact {
                builder_id: BUILDER_ID.to_owned(),
                id: String::new(),
                description: format!("Created artifact from files: {}", files.join(", ")),
                files,
                data: input.data,
            },
            keep_input: true,
            force_keep: false,
        })
    }
}

kiln_plugin_sdk::export_post_processor!(Artifice);
