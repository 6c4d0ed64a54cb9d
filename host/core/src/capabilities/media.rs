//! The qemu driver's `create-floppy` and `create-cd` actions (kiln-drivers' `media`): a
//! floppy or CD image made from the files a template names. Patterns are expanded here, from
//! the working directory as in Packer; every source must be readable under the grant, links
//! resolved, as `http_directory`'s tree must; the image's path must be writable. The image is
//! a temporary file of the build: the ledger removes it when the build ends, however it ends.

use std::path::PathBuf;

use kiln_drivers::media::{self, Medium, Source, cd::IsoTool, glob};
use serde::Deserialize;
use serde_json::json;

use super::machine::{Observer, driver_error};
use super::{Access, Capabilities, Use, check_tree};
use crate::plugin::PluginError;

/// The arguments of `create-floppy` (Packer's `floppy_files`, `floppy_dirs`, `floppy_label`)
/// and `create-cd` (`cd_files`, `cd_label`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaArgs {
    /// Where the image goes (the builder picks the build's temporary directory).
    path: PathBuf,
    /// Empty: Packer's `packer`.
    #[serde(default)]
    label: String,
    /// Paths and patterns.
    #[serde(default)]
    files: Vec<String>,
    /// Paths and patterns whose trees are kept (the floppy only).
    #[serde(default)]
    dirs: Vec<String>,
}

impl Capabilities {
    /// `create-floppy` or `create-cd`; the result is `{"files": [names on the medium]}`.
    pub(super) async fn create_medium(
        &self,
        action: &str,
        arguments: &str,
    ) -> Result<String, PluginError> {
        let args: MediaArgs = serde_json::from_str(arguments)
            .map_err(|e| PluginError::failed(format!("{action}: {e}")))?;
        let medium = if action == "create-floppy" {
            Medium::Floppy
        } else {
            Medium::Cd
        };
        if medium == Medium::Cd && !args.dirs.is_empty() {
            return Err(PluginError::failed(
                "create-cd: a CD keeps every directory's tree; name them in files",
            ));
        }
        let image = self.resolve_path(&args.path);
        self.allow(Use::Write(&image))?;
        let files_key = match medium {
            Medium::Floppy => "floppy_files",
            Medium::Cd => "cd_files",
        };
        let files = self.media_sources(files_key, &args.files).await?;
        let dirs = self.media_sources("floppy_dirs", &args.dirs).await?;
        let label = if args.label.is_empty() {
            "packer".to_owned()
        } else {
            args.label
        };
        let observer = Observer(self.log.clone());
        let names = match medium {
            Medium::Floppy => {
                self.ledger.record_temp_file(image.clone());
                tokio::task::spawn_blocking(move || {
                    let layout = media::floppy_layout(&files, &dirs, &observer)?;
                    media::floppy::write(&image, &label, &layout)?;
                    Ok::<_, media::Error>(layout.file_names())
                })
                .await
                .map_err(|e| PluginError::failed(format!("{action}: {e}")))?
                .map_err(driver_error)?
            }
            Medium::Cd => {
                let tool = IsoTool::find().map_err(driver_error)?;
                let layout = {
                    let observer = Observer(self.log.clone());
                    tokio::task::spawn_blocking(move || media::cd_layout(&files, &observer))
                        .await
                        .map_err(|e| PluginError::failed(format!("{action}: {e}")))?
                        .map_err(driver_error)?
                };
                self.ledger.record_temp_file(image.clone());
                tokio::select! {
                    made = tool.write(&image, &label, &layout, &observer) => {
                        made.map_err(driver_error)?;
                    }
                    () = self.cancel.cancelled() => return Err(PluginError::Cancelled),
                }
                layout.file_names()
            }
        };
        Ok(json!({ "files": names }).to_string())
    }

    /// The files and directories `patterns` name, each checked readable (a tree all through,
    /// links resolved). A pattern is read from its literal directory, which must be readable
    /// itself; one that matches nothing adds nothing, as in Packer, with a warning.
    async fn media_sources(
        &self,
        key: &str,
        patterns: &[String],
    ) -> Result<Vec<Source>, PluginError> {
        let mut sources = Vec::new();
        for pattern in patterns {
            if !glob::is_pattern(pattern) {
                sources.push(Source {
                    shown: pattern.clone(),
                    path: self.resolve(pattern),
                });
                continue;
            }
            let prefix = match glob::literal_prefix(pattern) {
                "" => ".",
                prefix => prefix,
            };
            self.allow(Use::Read(&self.resolve(prefix)))?;
            let matched = glob::glob(&self.build.output_dir, pattern)
                .map_err(|e| PluginError::failed(format!("{key}: '{pattern}': {e}")))?;
            if matched.is_empty() {
                self.log
                    .message(&format!("Warning: {key}: nothing matches '{pattern}'"));
            }
            sources.extend(matched);
        }
        for source in &sources {
            self.allow(Use::Read(&source.path))?;
            let grant = self.grant.clone();
            let root = source.path.clone();
            tokio::task::spawn_blocking(move || check_tree(&grant, &root, Access::Read))
                .await
                .map_err(|e| PluginError::failed(format!("{key}: {e}")))??;
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use kiln_policy::{Context, EffectivePolicy, PluginIdentity, PluginKind};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::ledger::{Ledger, Outcome};
    use crate::plugin::BuildInfo;
    use crate::ui::{BuildLog, Ui};

    /// What the build said.
    #[derive(Default)]
    struct Said(std::sync::Mutex<Vec<String>>);

    struct NoBar;

    impl crate::ui::Progress for NoBar {
        fn advance(&self, _: u64) {}
        fn finish(&self) {}
    }

    impl Ui for Said {
        fn say(&self, _: &str, text: &str) {
            self.0.lock().unwrap().push(text.to_owned());
        }
        fn message(&self, _: &str, text: &str) {
            self.0.lock().unwrap().push(text.to_owned());
        }
        fn error(&self, _: &str, text: &str) {
            self.0.lock().unwrap().push(text.to_owned());
        }
        fn machine(&self, _: &str, _: &str, _: &[&str]) {}
        fn progress(&self, _: &str, _: &str, _: u64) -> Box<dyn crate::ui::Progress> {
            Box::new(NoBar)
        }
        fn ask(&self, _: &str, _: &str) -> Option<String> {
            None
        }
    }

    /// kiln's own qemu builder's capabilities for a build in `dir` (templates/, work/, tmp/).
    fn caps(dir: &Path) -> (Capabilities, Arc<Ledger>, Arc<Said>) {
        let build = BuildInfo {
            name: "vm".into(),
            builder_type: "qemu".into(),
            run_id: "run".into(),
            template_dir: dir.join("templates"),
            output_dir: dir.join("work"),
            temp_dir: dir.join("tmp"),
            force: false,
            debug: false,
        };
        for d in [&build.template_dir, &build.output_dir, &build.temp_dir] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ctx = Context {
            template_dir: build.template_dir.clone(),
            output_dir: build.output_dir.clone(),
            temp_dir: build.temp_dir.clone(),
        };
        let identity = PluginIdentity {
            kind: PluginKind::Builder,
            type_name: "qemu".into(),
            origin: kiln_policy::Origin::FirstParty,
        };
        let grant = EffectivePolicy::default().grant_for(&identity, &ctx);
        let ledger = Arc::new(Ledger::new());
        let said = Arc::new(Said::default());
        let caps = Capabilities::new(
            build,
            BuildLog::new(Arc::clone(&said) as Arc<dyn Ui>, "vm"),
            Arc::clone(&ledger),
            grant,
            CancellationToken::new(),
            Arc::new(kiln_template::interpolate::Globals::capture(String::new())),
        );
        (caps, ledger, said)
    }

    #[tokio::test]
    async fn a_floppy_from_granted_files_lives_until_the_build_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, ledger, said) = caps(dir.path());
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("http")).unwrap();
        std::fs::write(work.join("http/preseed.cfg"), "d-i").unwrap();
        std::fs::write(work.join("http/ks.cfg"), "ks").unwrap();
        let image = dir.path().join("tmp/floppy.img");
        let args = json!({"path": image, "label": "answers", "files": ["http/*.cfg", "none/*"]});
        let out = caps
            .hypervisor_invoke("qemu", "create-floppy", &args.to_string())
            .await
            .unwrap();
        assert_eq!(out, r#"{"files":["ks.cfg","preseed.cfg"]}"#);
        let said = said.0.lock().unwrap().clone();
        assert_eq!(
            said[..4],
            [
                "Warning: floppy_files: nothing matches 'none/*'",
                "Copying files flatly from floppy_files",
                "Copying file: http/ks.cfg",
                "Copying file: http/preseed.cfg",
            ]
        );
        assert_eq!(
            std::fs::metadata(&image).unwrap().len(),
            media::floppy::FLOPPY_BYTES as u64
        );
        ledger.release(Outcome::Success).await;
        assert!(!image.exists(), "the image outlived its build");
    }

    #[tokio::test]
    async fn files_outside_the_grant_are_denied() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, _ledger, _said) = caps(dir.path());
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "no").unwrap();
        let image = dir.path().join("tmp/floppy.img");
        for files in [
            json!([outside.join("secret.txt")]),
            json!([format!("{}/*.txt", outside.display())]),
        ] {
            let args = json!({"path": image, "files": files});
            let denied = caps
                .hypervisor_invoke("qemu", "create-floppy", &args.to_string())
                .await;
            assert!(
                matches!(&denied, Err(PluginError::Denied(why)) if why.starts_with("read ") && why.contains("outside")),
                "{denied:?}"
            );
        }
        // A link in a granted directory does not carry a file out of the grant.
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("seed")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), work.join("seed/linked")).unwrap();
        let args = json!({"path": image, "files": ["seed"]});
        let denied = caps
            .hypervisor_invoke("qemu", "create-cd", &args.to_string())
            .await;
        assert!(
            matches!(&denied, Err(PluginError::Denied(why)) if why.contains("(through the link ")),
            "{denied:?}"
        );
        // Nor is the image written where the grant does not reach.
        let args = json!({"path": outside.join("floppy.img"), "files": []});
        let denied = caps
            .hypervisor_invoke("qemu", "create-floppy", &args.to_string())
            .await;
        assert!(
            matches!(&denied, Err(PluginError::Denied(why)) if why.starts_with("write ")),
            "{denied:?}"
        );
        assert!(!image.exists());
    }
}
