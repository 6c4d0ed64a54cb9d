//! The `compress` post-processor (Packer's, builder id `packer.post-processor.compress`): the
//! artifact's files as one archive or compressed file. The host writes it natively
//! (`archive.create`: streaming and multi-threaded); this plugin decides what to write.

mod format;

use std::path::Path;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::host::archive;
use kiln_plugin_sdk::{
    Artifact, BuildInfo, Context, Error, PluginInfo, PostProcessor, Processed, artifacts, template,
};

use format::Format;

const BUILDER_ID: &str = "packer.post-processor.compress";
const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::string")]
    output: String,
    #[serde(default, deserialize_with = "weak::string")]
    format: String,
    #[serde(default, deserialize_with = "weak::opt_int")]
    compression_level: Option<i64>,
    /// Consumed by kiln's core; accepted here as Packer's decoder does.
    #[serde(default, deserialize_with = "weak::bool")]
    #[allow(dead_code)]
    keep_input_artifact: bool,
    #[serde(skip)]
    detected: Option<Format>,
}

struct Compress;

impl PostProcessor for Compress {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "compress",
            env!("CARGO_PKG_VERSION"),
            "Archives and compresses the artifact's files.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        if config.output.is_empty() {
            config.output = DEFAULT_OUTPUT.to_owned();
        }
        match config.compression_level {
            Some(level) if level < -1 => problems.add(
                "compression_level",
                "Invalid compression level. Expected an integer from -1 to 9.",
            ),
            // As Packer: above 9 is 9, and 0 or -1 the default.
            Some(level) if level > 9 => config.compression_level = Some(9),
            Some(0 | -1) => config.compression_level = None,
            _ => {}
        }
        let data = [
            ("BuildName", build.name.as_str()),
            ("BuilderType", build.builder_type.as_str()),
        ];
        if let Err(e) = template::render(&config.output, &data) {
            problems.add(
                "output",
                format!("Error parsing target template: {}", e.message()),
            );
        }
        // Detected from the template, before rendering, as Packer does; `format` overrides.
        let (key, name) = if config.format.is_empty() {
            ("output", config.output.clone())
        } else {
            ("format", format!("{}.{}", config.output, config.format))
        };
        match Format::detect(&name) {
            Ok(format) => config.detected = Some(format),
            Err(e) => problems.add(key, e),
        }
        problems.finish()?;
        Ok(Vec::new())
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        let format = config
            .detected
            .ok_or_else(|| Error::failed("compress: the format was not detected"))?;
        let mut data: Vec<(&str, &str)> = input
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        data.extend([
            ("BuildName", build.name.as_str()),
            ("BuilderType", build.builder_type.as_str()),
        ]);
        let target =
            template::render(&config.output, &data).context("Error interpolating output value")?;
        let path = build.resolve(&target);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .context(format!("Unable to create dir for archive {target}"))?;
        }

        let entries: Vec<(String, String)> = input
            .files
            .iter()
            .map(|f| (build.resolve(f).display().to_string(), format.entry_name(f)))
            .collect();
        // The host says what it does ("Using pgzip compression with 2 cores for ...",
        // "Tarring ...", "Archive ... completed"), as Packer does.
        if !format.is_archive() && input.files.len() != 1 {
            return Err(Error::failed(format!(
                "Can only have 1 input file when not using tar/zip. Found {} files: [{}]",
                input.files.len(),
                input.files.join(" ")
            )));
        }
        artifacts::register(&path)?;
        archive::create(&archive::Request {
            entries,
            output: path.display().to_string(),
            format: format.name().to_owned(),
            level: config.compression_level.and_then(|l| u32::try_from(l).ok()),
        })
        .context(format!("Error creating {target}"))?;

        Ok(Processed::new(Artifact {
            builder_id: BUILDER_ID.to_owned(),
            id: target.clone(),
            description: format!("compressed artifacts in: {target}"),
            files: vec![target],
            data: Vec::new(),
        }))
    }
}

/// The name a file gets inside a tar (its base name, as Go's `tar.FileInfoHeader`).
fn base_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned())
}

kiln_plugin_sdk::export_post_processor!(Compress);
