//! The `manifest` post-processor: appends a record of the build's artifact to a JSON file,
//! in Packer's schema, shared by every build of a run and across runs. `--force` starts the
//! file over when it was written by another run. The file is guarded by `<output>.lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_plugin_sdk::config::weak;
use kiln_plugin_sdk::{
    Artifact, BuildInfo, Context, Error, PluginInfo, PostProcessor, Processed, template,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::string")]
    output: String,
    #[serde(default, deserialize_with = "weak::bool")]
    strip_path: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    strip_time: bool,
    #[serde(default)]
    custom_data: Option<BTreeMap<String, String>>,
    /// Consumed by kiln's core; accepted here as Packer's decoder does.
    #[serde(default, deserialize_with = "weak::bool")]
    #[allow(dead_code)]
    keep_input_artifact: bool,
}

/// The file, as Packer writes it (field order included).
#[derive(Default, Deserialize, Serialize)]
struct Manifest {
    #[serde(default)]
    builds: Vec<Build>,
    #[serde(default)]
    last_run_uuid: String,
}

#[derive(Deserialize, Serialize)]
struct Build {
    name: String,
    builder_type: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    build_time: i64,
    files: Option<Vec<File>>,
    artifact_id: String,
    packer_run_uuid: String,
    custom_data: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Serialize)]
struct File {
    name: String,
    size: u64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

struct ManifestPostProcessor;

impl PostProcessor for ManifestPostProcessor {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "manifest",
            env!("CARGO_PKG_VERSION"),
            "Records each build's artifact in a JSON manifest.",
        )
    }

    fn prepare(config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        if config.output.is_empty() {
            config.output = "packer-manifest.json".to_owned();
        }
        Ok(Vec::new())
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        let data: Vec<(&str, &str)> = input
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let custom_data = match &config.custom_data {
            None => None,
            Some(map) => {
                let mut rendered = BTreeMap::new();
                for (k, v) in map {
                    let v = if v.contains("{{") {
                        template::render(v, &data).context(format!("custom_data.{k}"))?
                    } else {
                        v.clone()
                    };
                    rendered.insert(k.clone(), v);
                }
                Some(rendered)
            }
        };
        let files: Vec<File> = input
            .files
            .iter()
            .map(|name| File {
                size: std::fs::metadata(build.resolve(name)).map_or(0, |m| m.len()),
                name: if config.strip_path {
                    Path::new(name)
                        .file_name()
                        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned())
                } else {
                    name.clone()
                },
            })
            .collect();
        let build_time = if config.strip_time {
            0
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        let record = Build {
            name: build.name.clone(),
            builder_type: build.builder_type.clone(),
            build_time,
            files: if files.is_empty() { None } else { Some(files) },
            artifact_id: input.id.clone(),
            packer_run_uuid: build.run_id.clone(),
            custom_data,
        };

        let path = build.resolve(&config.output);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .context(format!("Unable to write {}", config.output))?;
        }
        let _lock = Lock::acquire(&path, &config.output)?;
        let mut manifest = match std::fs::read(&path) {
            Ok(bytes) if bytes.is_empty() => Manifest::default(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::failed(format!(
                    "Unable to parse content from {}: {e}",
                    config.output
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => {
                return Err(Error::failed(format!(
                    "Unable to open {} for reading: {e}",
                    config.output
                )));
            }
        };
        if build.force && manifest.last_run_uuid != build.run_id {
            manifest = Manifest::default();
        }
        manifest.builds.push(record);
        manifest.last_run_uuid = build.run_id.clone();
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| Error::failed(format!("Unable to marshal JSON {e}")))?;
        std::fs::write(&path, text).context(format!("Unable to write {}", config.output))?;

        Ok(Processed {
            artifact: input,
            keep_input: true,
            force_keep: true,
        })
    }
}

/// `<output>.lock`, created exclusively; removed when dropped. Builds of one run finish at
/// once, so another holder is waited for a little while.
struct Lock(PathBuf);

impl Lock {
    const ATTEMPTS: u32 = 20;

    fn acquire(output: &Path, shown: &str) -> Result<Lock, Error> {
        let mut path = output.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let mut last = None;
        for attempt in 0..Self::ATTEMPTS {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Lock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(Duration::from_millis(50 * u64::from(attempt + 1)));
                    last = Some(e);
                }
                Err(e) => {
                    return Err(Error::failed(format!(
                        "Unable to lock {shown} for reading and writing: {e}"
                    )));
                }
            }
        }
        Err(Error::failed(format!(
            "Unable to lock {shown} for reading and writing: {shown}.lock still exists ({}); \
             if no other build is writing the manifest, remove it",
            last.map_or_else(String::new, |e| e.to_string())
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

kiln_plugin_sdk::export_post_processor!(ManifestPostProcessor);
