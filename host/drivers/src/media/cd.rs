//! The CD image, made as Packer 1.6.6 makes it: the files are copied into one directory, which
//! the first of `xorriso`, `mkisofs`, `hdiutil` and `oscdimg` found on `PATH` turns into an
//! ISO with Packer's arguments (Rock Ridge and Joliet names, `cd_label` as the volume id).
//! QEMU attaches it as a CD-ROM drive after the installation ISO.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{Entry, Error, Layout, io_error};
use crate::qemu::{Observer, find_program};

/// Packer's ISO tools, in the order it looks for them.
pub const TOOLS: [&str; 4] = ["xorriso", "mkisofs", "hdiutil", "oscdimg"];

/// The longest ISO 9660 volume id.
pub const MAX_LABEL: usize = 32;

/// An ISO-making program found on `PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsoTool {
    name: &'static str,
    program: PathBuf,
}

impl IsoTool {
    /// The first of [`TOOLS`] on `PATH`.
    pub fn find() -> Result<IsoTool, Error> {
        IsoTool::find_in(None)
    }

    /// The first of [`TOOLS`] on `path_env` (a `PATH` value; the process's when `None`).
    pub fn find_in(path_env: Option<&OsStr>) -> Result<IsoTool, Error> {
        TOOLS
            .iter()
            .find_map(|name| find_program(name, path_env).map(|program| IsoTool { name, program }))
            .ok_or(Error::NoIsoTool)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Packer's command line for the tool: `root` (a directory) into `image`, labelled.
    pub fn args(&self, label: &str, root: &Path, image: &Path) -> Vec<OsString> {
        let s = |text: &str| OsString::from(text);
        let (root, image) = (root.as_os_str().to_owned(), image.as_os_str().to_owned());
        match self.name {
            "xorriso" => vec![
                s("-as"),
                s("genisoimage"),
                s("-rock"),
                s("-joliet"),
                s("-volid"),
                s(label),
                s("-output"),
                image,
                root,
            ],
            "mkisofs" => vec![s("-joliet"), s("-volid"), s(label), s("-o"), image, root],
            "hdiutil" => vec![
                s("makehybrid"),
                s("-o"),
                image,
                s("-hfs"),
                s("-joliet"),
                s("-iso"),
                s("-default-volume-name"),
                s(label),
                root,
            ],
            _ => vec![
                s("-j1"),
                s("-o"),
                s("-m"),
                s(&format!("-l{label}")),
                root,
                image,
            ],
        }
    }

    /// Writes `layout` to a new ISO at `image` (replacing what is there). The files are copied
    /// into a directory beside `image` first, removed when the tool is done (or dropped with
    /// this future: the tool is killed then too).
    pub async fn write(
        &self,
        image: &Path,
        label: &str,
        layout: &Layout,
        observer: &dyn Observer,
    ) -> Result<(), Error> {
        let parent = image
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let staging = tempfile::Builder::new()
            .prefix(".kiln-cd-files-")
            .tempdir_in(parent)
            .map_err(io_error(parent))?;
        let root = staging.path().to_path_buf();
        let entries = layout.entries().to_vec();
        tokio::task::spawn_blocking(move || stage(&root, &entries))
            .await
            .map_err(|e| Error::Io {
                path: staging.path().to_path_buf(),
                source: std::io::Error::other(e),
            })??;
        match std::fs::remove_file(image) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(image)(e)),
            _ => {}
        }
        let args = self.args(label, staging.path(), image);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        observer.debug(&format!(
            "Executing {}: {}",
            self.program.display(),
            shown.join(" ")
        ));
        let output = tokio::process::Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| Error::IsoSpawn {
                program: self.program.clone(),
                args: shown.clone(),
                source,
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            observer.debug(&format!("{}: {line}", self.name));
        }
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::IsoFailed {
                program: self.program.clone(),
                args: shown,
                status: output.status,
                output: text,
            })
        }
    }
}

/// The CD's tree under `root`: directories made, files copied (the tool reads only these).
fn stage(root: &Path, entries: &[Entry]) -> Result<(), Error> {
    for entry in entries {
        let target = root.join(&entry.name);
        if entry.is_dir {
            std::fs::create_dir_all(&target).map_err(io_error(&target))?;
        } else {
            std::fs::copy(&entry.source, &target).map_err(io_error(&entry.source))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::super::cd_layout;
    use super::super::tests::{Lines, source, tree};
    use super::*;

    #[test]
    fn the_tools_are_found_in_packers_order() {
        let bin = tempfile::tempdir().unwrap();
        let none = IsoTool::find_in(Some(bin.path().as_os_str())).unwrap_err();
        assert_eq!(
            none.to_string(),
            "could not find a supported CD ISO creation command (the supported commands are: \
             xorriso, mkisofs, hdiutil, oscdimg): install Debian's xorriso package"
        );
        let install = |name: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = bin.path().join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        install("oscdimg");
        install("mkisofs");
        let tool = IsoTool::find_in(Some(bin.path().as_os_str())).unwrap();
        assert_eq!(tool.name(), "mkisofs");
        assert_eq!(tool.program(), bin.path().join("mkisofs"));
        install("xorriso");
        let tool = IsoTool::find_in(Some(bin.path().as_os_str())).unwrap();
        assert_eq!(tool.name(), "xorriso");
        let args = |tool: &IsoTool| -> Vec<String> {
            tool.args("cidata", Path::new("/t/root"), Path::new("/t/cd.iso"))
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            args(&tool).join(" "),
            "-as genisoimage -rock -joliet -volid cidata -output /t/cd.iso /t/root"
        );
        let named = |name: &'static str| IsoTool {
            name,
            program: PathBuf::from(name),
        };
        assert_eq!(
            args(&named("mkisofs")).join(" "),
            "-joliet -volid cidata -o /t/cd.iso /t/root"
        );
        assert_eq!(
            args(&named("hdiutil")).join(" "),
            "makehybrid -o /t/cd.iso -hfs -joliet -iso -default-volume-name cidata /t/root"
        );
        assert_eq!(
            args(&named("oscdimg")).join(" "),
            "-j1 -o -m -lcidata /t/root /t/cd.iso"
        );
    }

    /// xorriso, when it is here (CI installs it; `KILN_REQUIRE_QEMU=1` makes it required).
    fn xorriso() -> Option<IsoTool> {
        match IsoTool::find() {
            Ok(tool) if tool.name() == "xorriso" => Some(tool),
            _ if std::env::var("KILN_REQUIRE_QEMU").is_ok_and(|v| v == "1") => {
                panic!("xorriso is not installed (KILN_REQUIRE_QEMU=1)")
            }
            _ => {
                eprintln!("skipping: xorriso is not installed");
                None
            }
        }
    }

    fn xorriso_says(args: &[&str]) -> String {
        let out = Command::new("xorriso").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[tokio::test]
    async fn an_iso_with_the_files_at_the_root_and_directories_as_trees() {
        let Some(tool) = xorriso() else { return };
        let dir = tree(&[
            ("seed/user-data", "#cloud-config\n"),
            ("seed/meta-data", "instance-id: kiln\n"),
            ("drivers/net/netkvm.inf", "[Version]\n"),
            ("Mixed Case Name.txt", "long names survive\n"),
        ]);
        let base = dir.path();
        let files = super::super::glob::glob(base, "seed/*").unwrap();
        let mut sources = files.clone();
        sources.push(source(base, "drivers"));
        sources.push(source(base, "Mixed Case Name.txt"));
        let layout = cd_layout(&sources, &Lines::default()).unwrap();
        let image = base.join("out/cd.iso");
        std::fs::create_dir_all(base.join("out")).unwrap();
        std::fs::write(&image, "an old image is replaced").unwrap();
        tool.write(&image, "cidata", &layout, &Lines::default())
            .await
            .unwrap();

        let pvd = xorriso_says(&["-indev", &image.display().to_string(), "-pvd_info"]);
        assert!(pvd.contains("Volume Id    : cidata"), "{pvd}");
        let listed = xorriso_says(&["-indev", &image.display().to_string(), "-find", "/"]);
        let listed: Vec<&str> = listed.lines().collect();
        assert_eq!(
            listed,
            [
                "'/'",
                "'/Mixed Case Name.txt'",
                "'/drivers'",
                "'/drivers/net'",
                "'/drivers/net/netkvm.inf'",
                "'/meta-data'",
                "'/user-data'",
            ]
        );
        let extracted = base.join("extracted");
        xorriso_says(&[
            "-osirrox",
            "on",
            "-indev",
            &image.display().to_string(),
            "-extract",
            "/",
            &extracted.display().to_string(),
        ]);
        let read = |p: &str| std::fs::read_to_string(extracted.join(p)).unwrap();
        assert_eq!(read("user-data"), "#cloud-config\n");
        assert_eq!(read("drivers/net/netkvm.inf"), "[Version]\n");
        assert_eq!(read("Mixed Case Name.txt"), "long names survive\n");
        // The staging copy is gone; only the image is left beside it.
        let left: Vec<_> = std::fs::read_dir(base.join("out"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["cd.iso"]);
    }

    #[tokio::test]
    async fn a_failing_tool_says_what_it_said() {
        let Some(tool) = xorriso() else { return };
        let dir = tree(&[("a.txt", "a")]);
        let layout = cd_layout(&[source(dir.path(), "a.txt")], &Lines::default()).unwrap();
        let image = dir.path().join("cd.iso");
        let failed = tool
            .write(
                &image,
                &"x".repeat(MAX_LABEL + 1),
                &layout,
                &Lines::default(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            failed.contains("-volid: Text too long (33 > 32)"),
            "{failed}"
        );
    }
}
