//! Packer's `StepCreateFloppy` and `StepCreateCD`: the floppy (`floppy_files`, `floppy_dirs`,
//! `floppy_label`) and the CD (`cd_files`, `cd_label`) the machine gets beside its disks. The
//! host makes them (the qemu driver's `create-floppy` and `create-cd`: it expands the patterns,
//! checks every file against the policy and says what it copies), in the build's temporary
//! directory, which goes when the build ends.

use std::path::PathBuf;

use kiln_plugin_sdk::host::hypervisor;
use kiln_plugin_sdk::{BuildInfo, Error, log};
use serde_json::json;

use crate::config::Config;

/// The images made for a build, attached as Packer attaches them: the floppy as `-fda`, the
/// CD as the CD-ROM drive after the installation ISO.
#[derive(Debug, Default)]
pub struct Media {
    pub floppy: Option<PathBuf>,
    pub cd: Option<PathBuf>,
}

/// The floppy, then the CD, each only when the template names files for it.
pub fn create(config: &Config, build: &BuildInfo) -> Result<Media, Error> {
    let mut media = Media::default();
    if !config.floppy_files.is_empty() || !config.floppy_dirs.is_empty() {
        log::say("Creating floppy disk...");
        let path = build.temp_path("floppy.img");
        make(
            "create-floppy",
            json!({"path": path, "label": config.floppy_label,
                   "files": config.floppy_files, "dirs": config.floppy_dirs}),
        )?;
        media.floppy = Some(path);
    }
    if !config.cd_files.is_empty() {
        log::say("Creating CD disk...");
        let path = build.temp_path("cd.iso");
        make(
            "create-cd",
            json!({"path": path, "label": config.cd_label, "files": config.cd_files}),
        )?;
        log::message("Done copying paths from CD_dirs");
        media.cd = Some(path);
    }
    Ok(media)
}

fn make(action: &str, arguments: serde_json::Value) -> Result<(), Error> {
    let out = hypervisor::invoke("qemu", action, &arguments.to_string())?;
    log::debug(format!("{action}: {out}"));
    Ok(())
}
