//! Removable media made from host files, as Packer's qemu builder attaches them: a floppy
//! (`floppy_files`, `floppy_dirs`, `floppy_label`; a 1.44 MB FAT12 image written natively, see
//! [`floppy`]) and a CD (`cd_files`, `cd_label`; an ISO made by the first of Packer's external
//! tools found on `PATH`, see [`cd`]).
//!
//! A [`Layout`] is what goes on the medium: directories and files by their path there, each
//! from a host path. [`floppy_layout`] and [`cd_layout`] apply Packer's rules to the
//! [`Source`]s a template names (after [`glob::glob`] expanded its patterns): a file lands at
//! the root under its own name; a directory keeps its tree under its own name, except in
//! `floppy_files`, where every file under it lands at the root ("copying files flatly").
//! Unlike Packer, two sources that would put the same name on the medium are an error rather
//! than one silently replacing the other. Links are followed.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use kiln_drivers::LogObserver;
//! use kiln_drivers::media::{self, glob};
//!
//! let files = glob::glob(Path::new("."), "http/*.cfg")?;
//! let layout = media::floppy_layout(&files, &[], &LogObserver)?;
//! media::floppy::write(Path::new("/tmp/floppy.img"), "packer", &layout)?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::qemu::Observer;

pub mod cd;
pub mod floppy;
pub mod glob;

/// A file or directory a template names for a medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// As the template spells it (or as a pattern matched it), for messages.
    pub shown: String,
    /// Where it is on the host.
    pub path: PathBuf,
}

/// Which medium, for messages and for how names compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    Floppy,
    Cd,
}

impl std::fmt::Display for Medium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Medium::Floppy => "floppy",
            Medium::Cd => "CD",
        })
    }
}

/// Why a medium could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{first} and {second} both put {name:?} on the {medium}")]
    Twice {
        medium: Medium,
        name: String,
        first: String,
        second: String,
    },
    #[error("{0}: no name to give it on the {1}")]
    NoName(String, Medium),
    #[error("{}: the name is not UTF-8, which the {medium} cannot hold", .0.display(), medium = .1)]
    NotUnicode(PathBuf, Medium),
    #[error("{}: a link loop (the directory contains itself)", .0.display())]
    LinkLoop(PathBuf),
    #[error(
        "floppy_label {0:?}: a FAT volume label is 1 to 11 ASCII letters, digits, spaces or \
         !#$%&'()-@^_`{{}}~"
    )]
    FloppyLabel(String),
    #[error(
        "{shown}: the floppy is full (it holds 1.44 MB); put large files on the CD (cd_files) \
         or serve them (http_directory)"
    )]
    FloppyFull { shown: String },
    #[error("formatting the floppy image: {0}")]
    FatFormat(std::io::Error),
    #[error("writing {name:?} on the floppy (from {shown}): {source}")]
    Fat {
        name: String,
        shown: String,
        source: std::io::Error,
    },
    #[error(
        "could not find a supported CD ISO creation command (the supported commands are: \
         xorriso, mkisofs, hdiutil, oscdimg): install Debian's xorriso package"
    )]
    NoIsoTool,
    #[error("{program} {args}: {source}", program = .program.display(), args = .args.join(" "))]
    IsoSpawn {
        program: PathBuf,
        args: Vec<String>,
        source: std::io::Error,
    },
    #[error("{program} {args} failed ({status}): {output}", program = .program.display(), args = .args.join(" "), output = .output.trim_end())]
    IsoFailed {
        program: PathBuf,
        args: Vec<String>,
        status: std::process::ExitStatus,
        output: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One thing on a medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its path on the medium, `/`-separated, without a leading `/`.
    pub name: String,
    /// Where its bytes come from (for a directory, the host directory it stands for).
    pub source: PathBuf,
    /// The source as the template spelled it.
    pub shown: String,
    pub is_dir: bool,
}

/// What goes on a medium, parents before their contents, in the order added.
#[derive(Clone, Debug)]
pub struct Layout {
    medium: Medium,
    entries: Vec<Entry>,
    /// Name (folded on FAT, which ignores case) → index in `entries`.
    index: HashMap<String, usize>,
}

impl Layout {
    pub fn new(medium: Medium) -> Layout {
        Layout {
            medium,
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn medium(&self) -> Medium {
        self.medium
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The files' names on the medium.
    pub fn file_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.name.clone())
            .collect()
    }

    fn key(&self, name: &str) -> String {
        match self.medium {
            Medium::Floppy => name.to_lowercase(),
            Medium::Cd => name.to_owned(),
        }
    }

    /// Adds an entry; a directory already there is merged with, anything else is an error.
    fn add(&mut self, entry: Entry) -> Result<(), Error> {
        let key = self.key(&entry.name);
        if let Some(&i) = self.index.get(&key) {
            let old = &self.entries[i];
            if old.is_dir && entry.is_dir {
                return Ok(());
            }
            return Err(Error::Twice {
                medium: self.medium,
                name: entry.name,
                first: old.shown.clone(),
                second: entry.shown,
            });
        }
        self.index.insert(key, self.entries.len());
        self.entries.push(entry);
        Ok(())
    }

    fn add_file(&mut self, name: String, source: &Source) -> Result<(), Error> {
        self.add(Entry {
            name,
            source: source.path.clone(),
            shown: source.shown.clone(),
            is_dir: false,
        })
    }

    /// A file at the root under its own name, or a directory's tree under its own name.
    fn add_path(&mut self, source: &Source) -> Result<(), Error> {
        let name = name_of(source, self.medium)?;
        let meta = std::fs::metadata(&source.path).map_err(io_error(&source.path))?;
        if !meta.is_dir() {
            return self.add_file(name, source);
        }
        self.add(Entry {
            name: name.clone(),
            source: source.path.clone(),
            shown: source.shown.clone(),
            is_dir: true,
        })?;
        let medium = self.medium;
        walk(
            &source.path,
            &mut Vec::new(),
            medium,
            &mut |relative, path, is_dir| {
                self.add(Entry {
                    name: format!("{name}/{relative}"),
                    source: path.to_path_buf(),
                    shown: shown_under(source, relative),
                    is_dir,
                })
            },
        )
    }
}

/// `<source as shown>/<relative>`.
fn shown_under(source: &Source, relative: &str) -> String {
    format!("{}/{relative}", source.shown.trim_end_matches('/'))
}

/// The name a source gets on the medium: its last component (of its real path for `.`/`..`).
fn name_of(source: &Source, medium: Medium) -> Result<String, Error> {
    let real;
    let name = match source.path.file_name() {
        Some(name) => name,
        None => {
            real = std::fs::canonicalize(&source.path).map_err(io_error(&source.path))?;
            real.file_name()
                .ok_or_else(|| Error::NoName(source.shown.clone(), medium))?
        }
    };
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::NotUnicode(source.path.clone(), medium))
}

/// Every entry under `dir`, depth first in name order (Go's `filepath.Walk`), as its path
/// relative to `dir`; links followed, a link back to a directory being walked an error.
fn walk(
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    medium: Medium,
    visit: &mut dyn FnMut(&str, &Path, bool) -> Result<(), Error>,
) -> Result<(), Error> {
    fn inner(
        dir: &Path,
        prefix: &str,
        ancestors: &mut Vec<PathBuf>,
        medium: Medium,
        visit: &mut dyn FnMut(&str, &Path, bool) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let real = std::fs::canonicalize(dir).map_err(io_error(dir))?;
        if ancestors.contains(&real) {
            return Err(Error::LinkLoop(dir.to_path_buf()));
        }
        ancestors.push(real);
        let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_error(dir))?
            .map(|e| e.map(|e| e.path()).map_err(io_error(dir)))
            .collect::<Result<_, _>>()?;
        children.sort();
        for child in children {
            let name = child
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::NotUnicode(child.clone(), medium))?;
            let relative = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let is_dir = std::fs::metadata(&child)
                .map_err(io_error(&child))?
                .is_dir();
            visit(&relative, &child, is_dir)?;
            if is_dir {
                inner(&child, &relative, ancestors, medium, visit)?;
            }
        }
        ancestors.pop();
        Ok(())
    }
    inner(dir, "", ancestors, medium, visit)
}

/// Packer's `StepCreateFloppy`: each of `files` at the root, a directory's files (at any
/// depth) each at the root by its own name; then each of `dirs` as a tree under its name (a
/// file at the root). Says what it copies in Packer's words.
pub fn floppy_layout(
    files: &[Source],
    dirs: &[Source],
    observer: &dyn Observer,
) -> Result<Layout, Error> {
    let mut layout = Layout::new(Medium::Floppy);
    observer.message("Copying files flatly from floppy_files");
    for source in files {
        let meta = std::fs::metadata(&source.path).map_err(io_error(&source.path))?;
        if !meta.is_dir() {
            observer.message(&format!("Copying file: {}", source.shown));
            layout.add_file(name_of(source, Medium::Floppy)?, source)?;
            continue;
        }
        observer.message(&format!("Copying directory: {}", source.shown));
        let mut found = Vec::new();
        walk(
            &source.path,
            &mut Vec::new(),
            Medium::Floppy,
            &mut |relative, path, is_dir| {
                if !is_dir {
                    found.push(Source {
                        shown: shown_under(source, relative),
                        path: path.to_path_buf(),
                    });
                }
                Ok(())
            },
        )?;
        for file in &found {
            observer.message(&format!("Adding file: {}", file.shown));
            layout.add_file(name_of(file, Medium::Floppy)?, file)?;
        }
    }
    observer.message("Done copying files from floppy_files");
    observer.message("Collecting paths from floppy_dirs");
    let shown: Vec<&str> = dirs.iter().map(|d| d.shown.as_str()).collect();
    observer.message(&format!(
        "Resulting paths from floppy_dirs : [{}]",
        shown.join(" ")
    ));
    for source in dirs {
        observer.message(&format!("Recursively copying : {}", source.shown));
        layout.add_path(source)?;
    }
    observer.message("Done copying paths from floppy_dirs");
    Ok(layout)
}

/// Packer's `StepCreateCD`: each of `files` at the root, a directory as a tree under its name.
pub fn cd_layout(files: &[Source], observer: &dyn Observer) -> Result<Layout, Error> {
    let mut layout = Layout::new(Medium::Cd);
    for source in files {
        observer.debug(&format!("Adding to the CD: {}", source.shown));
        layout.add_path(source)?;
    }
    Ok(layout)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Collects what a layout says.
    #[derive(Default)]
    pub(crate) struct Lines(pub Mutex<Vec<String>>);

    impl Observer for Lines {
        fn say(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_owned());
        }
        fn message(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_owned());
        }
        fn debug(&self, _line: &str) {}
    }

    /// A tree of files under a new temporary directory.
    pub(crate) fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    pub(crate) fn source(base: &Path, shown: &str) -> Source {
        Source {
            shown: shown.to_owned(),
            path: base.join(shown),
        }
    }

    fn names(layout: &Layout) -> Vec<(String, bool)> {
        layout
            .entries()
            .iter()
            .map(|e| (e.name.clone(), e.is_dir))
            .collect()
    }

    #[test]
    fn floppy_files_go_flat_and_floppy_dirs_keep_their_tree() {
        let dir = tree(&[
            ("answers/Autounattend.xml", "<unattend/>"),
            ("scripts/a.ps1", "a"),
            ("scripts/deep/b.ps1", "b"),
            ("drivers/net/netkvm.inf", "inf"),
            ("drivers/readme.txt", "r"),
            ("one.cfg", "1"),
        ]);
        std::fs::create_dir_all(dir.path().join("drivers/empty")).unwrap();
        let base = dir.path();
        let lines = Lines::default();
        let layout = floppy_layout(
            &[
                source(base, "./answers/Autounattend.xml"),
                source(base, "scripts"),
            ],
            &[source(base, "drivers"), source(base, "one.cfg")],
            &lines,
        )
        .unwrap();
        let d = |n: &str| (n.to_owned(), true);
        let f = |n: &str| (n.to_owned(), false);
        assert_eq!(
            names(&layout),
            [
                f("Autounattend.xml"),
                f("a.ps1"),
                f("b.ps1"),
                d("drivers"),
                d("drivers/empty"),
                d("drivers/net"),
                f("drivers/net/netkvm.inf"),
                f("drivers/readme.txt"),
                f("one.cfg"),
            ]
        );
        assert_eq!(
            layout.entries()[2].source,
            base.join("scripts/deep/b.ps1"),
            "flattened from its directory"
        );
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                "Copying files flatly from floppy_files",
                "Copying file: ./answers/Autounattend.xml",
                "Copying directory: scripts",
                "Adding file: scripts/a.ps1",
                "Adding file: scripts/deep/b.ps1",
                "Done copying files from floppy_files",
                "Collecting paths from floppy_dirs",
                "Resulting paths from floppy_dirs : [drivers one.cfg]",
                "Recursively copying : drivers",
                "Recursively copying : one.cfg",
                "Done copying paths from floppy_dirs",
            ]
        );
    }

    #[test]
    fn one_name_twice_is_an_error_and_fat_ignores_case() {
        let dir = tree(&[("a/x.cfg", "1"), ("b/X.CFG", "2"), ("c/x.cfg", "3")]);
        let base = dir.path();
        let twice = floppy_layout(
            &[source(base, "a/x.cfg"), source(base, "b/X.CFG")],
            &[],
            &Lines::default(),
        )
        .unwrap_err();
        assert_eq!(
            twice.to_string(),
            "a/x.cfg and b/X.CFG both put \"X.CFG\" on the floppy"
        );
        // An ISO's names keep their case; the same name is still an error.
        let cd = cd_layout(
            &[source(base, "a/x.cfg"), source(base, "b/X.CFG")],
            &Lines::default(),
        )
        .unwrap();
        assert_eq!(cd.file_names(), ["x.cfg", "X.CFG"]);
        let twice = cd_layout(
            &[source(base, "a/x.cfg"), source(base, "c/x.cfg")],
            &Lines::default(),
        )
        .unwrap_err();
        assert!(matches!(twice, Error::Twice { .. }), "{twice}");
    }

    #[test]
    fn two_directories_of_one_name_merge() {
        let dir = tree(&[("one/http/a.cfg", "a"), ("two/http/b.cfg", "b")]);
        let base = dir.path();
        let layout = cd_layout(
            &[source(base, "one/http"), source(base, "two/http/")],
            &Lines::default(),
        )
        .unwrap();
        assert_eq!(layout.file_names(), ["http/a.cfg", "http/b.cfg"]);
    }

    #[test]
    fn links_are_followed_and_loops_refused() {
        let dir = tree(&[("data/real.txt", "real"), ("elsewhere/far.txt", "far")]);
        let base = dir.path();
        std::os::unix::fs::symlink(base.join("elsewhere"), base.join("data/linked")).unwrap();
        let layout = cd_layout(&[source(base, "data")], &Lines::default()).unwrap();
        assert_eq!(
            layout.file_names(),
            ["data/linked/far.txt", "data/real.txt"]
        );
        std::os::unix::fs::symlink(base.join("data"), base.join("data/loop")).unwrap();
        let looped = cd_layout(&[source(base, "data")], &Lines::default()).unwrap_err();
        assert!(matches!(looped, Error::LinkLoop(_)), "{looped}");
    }

    #[test]
    fn a_missing_source_names_itself() {
        let dir = tree(&[]);
        let missing = cd_layout(&[source(dir.path(), "meta-data")], &Lines::default())
            .unwrap_err()
            .to_string();
        assert!(
            missing.ends_with("meta-data: No such file or directory (os error 2)"),
            "{missing}"
        );
    }
}
