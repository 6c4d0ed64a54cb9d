//! The `checksum` post-processor (Packer's, builder id `packer.post-processor.checksum`): a
//! checksum file per type, one `<hex>\t<basename>` line per artifact file, digests computed
//! natively by the host. The new artifact is the input's files plus the checksum files.

use std::io::Write as _;
use std::path::Path;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{
    Artifact, BuildInfo, Context, Error, PluginInfo, PostProcessor, Processed, artifacts, template,
};

const BUILDER_ID: &str = "packer.post-processor.checksum";
const TYPES: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];
const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::strings")]
    checksum_types: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    output: String,
    /// Consumed by kiln's core; accepted here as Packer's decoder does.
    #[serde(default, deserialize_with = "weak::bool")]
    #[allow(dead_code)]
    keep_input_artifact: bool,
}

struct Checksum;

/// What `output` may use: Packer's data for this post-processor, plus the artifact's.
fn render_data<'a>(
    build: &'a BuildInfo,
    artifact_data: &'a [(String, String)],
    checksum_type: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut data: Vec<(&str, &str)> = artifact_data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    data.extend([
        ("BuildName", build.name.as_str()),
        ("BuilderType", build.builder_type.as_str()),
        ("ChecksumType", checksum_type),
    ]);
    data
}

impl PostProcessor for Checksum {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "checksum",
            env!("CARGO_PKG_VERSION"),
            "Writes checksum files for the artifact's files.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        if config.checksum_types.is_empty() {
            config.checksum_types = vec!["md5".to_owned()];
        }
        for (i, t) in config.checksum_types.iter().enumerate() {
            problems.check(
                TYPES.contains(&t.as_str()),
                format!("checksum_types[{i}]"),
                format!("Unrecognized checksum type: {t}"),
            );
        }
        if config.output.is_empty() {
            config.output = DEFAULT_OUTPUT.to_owned();
        }
        if let Err(e) = template::render(&config.output, &render_data(build, &[], "md5")) {
            problems.add(
                "output",
                format!("Error parsing target template: {}", e.message()),
            );
        }
        problems.finish()?;
        Ok(Vec::new())
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        let mut files = input.files.clone();
        for checksum_type in &config.checksum_types {
            let data = render_data(build, &input.data, checksum_type);
            let output = template::render(&config.output, &data)?;
            let path = build.resolve(&output);
            let created = !path.exists();
            if created {
                files.push(output.clone());
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).context("unable to create dir")?;
            }
            let mut lines = String::new();
            for file in &input.files {
                let digest = artifacts::digest(build.resolve(file), checksum_type)
                    .context(format!("unable to compute {checksum_type} hash for {file}"))?;
                let base = Path::new(file)
                    .file_name()
                    .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
                lines.push_str(&format!("{digest}\t{base}\n"));
            }
            // Appended, as Packer does: two builds may share one checksum file.
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(lines.as_bytes()))
                .context(format!("unable to create file {output}"))?;
            if created {
                artifacts::register(&path)?;
            }
        }
        let description = format!("Created artifact from files: {}", files.join(", "));
        Ok(Processed {
            artifact: Artifact {
                builder_id: BUILDER_ID.to_owned(),
                id: String::new(),
                description,
                files,
                data: input.data.clone(),
            },
            // The files checksummed are the input's own: never delete them.
            keep_input: true,
            force_keep: true,
        })
    }
}

kiln_plugin_sdk::export_post_processor!(Checksum);
