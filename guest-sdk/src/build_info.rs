//! The build a call is made for, and where its relative paths point.
//!
//! A component has no working directory: WASI resolves paths only against its preopens, which
//! the host grants at their host paths (the template directory read-only; the output
//! directory, the working directory of `kiln build`, and the temp dir read-write). So a
//! relative path from a config must be joined to one of them before it is opened.

use std::path::{Path, PathBuf};

pub use crate::bindings::kiln::plugin::types::BuildInfo;

impl BuildInfo {
    /// A path from a config as Packer reads it: relative to the working directory, which is
    /// the build's output directory. Absolute paths are kept.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        join(&self.output_dir, path.as_ref())
    }

    /// A path relative to the template's directory (read-only).
    pub fn resolve_in_template_dir(&self, path: impl AsRef<Path>) -> PathBuf {
        join(&self.template_dir, path.as_ref())
    }

    /// A path in the build's scratch directory, private to the build and removed when it ends.
    pub fn temp_path(&self, name: impl AsRef<Path>) -> PathBuf {
        join(&self.temp_dir, name.as_ref())
    }
}

fn join(base: &str, path: &Path) -> PathBuf {
    if path.is_absolute() || base.is_empty() {
        path.to_path_buf()
    } else {
        Path::new(base).join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> BuildInfo {
        BuildInfo {
            name: "b".into(),
            builder_type: "null".into(),
            run_id: "r".into(),
            template_dir: "/t".into(),
            output_dir: "/o".into(),
            temp_dir: "/tmp/x".into(),
            force: false,
            debug: false,
        }
    }

    #[test]
    fn relative_paths_join_the_output_dir_and_absolute_ones_stay() {
        let b = build();
        assert_eq!(b.resolve("out/a.box"), Path::new("/o/out/a.box"));
        assert_eq!(b.resolve("/abs/a"), Path::new("/abs/a"));
        assert_eq!(b.resolve_in_template_dir("s.sh"), Path::new("/t/s.sh"));
        assert_eq!(b.temp_path("script.sh"), Path::new("/tmp/x/script.sh"));
    }
}
