//! Host paths in policy files: absolute, or under `${TEMPLATE_DIR}` or `${OUTPUT_DIR}`, which
//! a build's [`Context`] fills in.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The directories of one build that policy paths refer to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// `${TEMPLATE_DIR}`: the directory of the template file.
    pub template_dir: PathBuf,
    /// `${OUTPUT_DIR}`: where the build writes its artifacts.
    pub output_dir: PathBuf,
    /// The build's own temporary directory, always readable and writable.
    pub temp_dir: PathBuf,
}

/// A path as a policy file writes it (`${TEMPLATE_DIR}/iso`, `/opt/images`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate(String);

const TEMPLATE_DIR: &str = "${TEMPLATE_DIR}";
const OUTPUT_DIR: &str = "${OUTPUT_DIR}";

impl PathTemplate {
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        let starts_with_var = [TEMPLATE_DIR, OUTPUT_DIR].iter().any(|var| {
            text.strip_prefix(var)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        let rest = if starts_with_var {
            &text[text.find('}').map_or(0, |i| i + 1)..]
        } else if text.starts_with('/') {
            text
        } else {
            return Err(format!(
                "{text:?}: a path must be absolute or start with {TEMPLATE_DIR} or {OUTPUT_DIR}"
            ));
        };
        if rest.contains("${") {
            return Err(format!(
                "{text:?}: only {TEMPLATE_DIR} and {OUTPUT_DIR} may be used, and only at the start"
            ));
        }
        Ok(PathTemplate(text.to_string()))
    }

    pub fn template_dir() -> PathTemplate {
        PathTemplate(TEMPLATE_DIR.into())
    }

    pub fn output_dir() -> PathTemplate {
        PathTemplate(OUTPUT_DIR.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host path for one build, `.` and `..` removed.
    pub fn resolve(&self, ctx: &Context) -> PathBuf {
        let (base, rest) = if let Some(rest) = self.0.strip_prefix(TEMPLATE_DIR) {
            (ctx.template_dir.as_path(), rest)
        } else if let Some(rest) = self.0.strip_prefix(OUTPUT_DIR) {
            (ctx.output_dir.as_path(), rest)
        } else {
            (Path::new("/"), self.0.as_str())
        };
        normalize(&base.join(rest.trim_start_matches('/')))
    }

    /// Whether every path under `other` is under this one, for any build (compared before
    /// substitution, so `/home/me/proj` is not known to be inside `${TEMPLATE_DIR}`).
    pub fn covers(&self, other: &PathTemplate) -> bool {
        normalize(Path::new(&other.0)).starts_with(normalize(Path::new(&self.0)))
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Removes `.` and `..` lexically, so `out/../../etc` cannot pass a prefix check.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ctx() -> Context {
        Context {
            template_dir: "/home/me/proj".into(),
            output_dir: "/home/me/proj/output-qemu".into(),
            temp_dir: "/tmp/kiln-1".into(),
        }
    }

    #[test]
    fn substitution() {
        let t = |s: &str| PathTemplate::parse(s).unwrap().resolve(&ctx());
        assert_eq!(t("${TEMPLATE_DIR}"), Path::new("/home/me/proj"));
        assert_eq!(
            t("${TEMPLATE_DIR}/iso/../http"),
            Path::new("/home/me/proj/http")
        );
        assert_eq!(t("${OUTPUT_DIR}/"), Path::new("/home/me/proj/output-qemu"));
        assert_eq!(t("/opt/images/./a"), Path::new("/opt/images/a"));
    }

    #[test]
    fn errors() {
        let err = |s: &str| PathTemplate::parse(s).unwrap_err();
        assert!(err("relative/dir").contains("must be absolute"));
        assert!(err("${HOME}/x").contains("must be absolute"));
        assert!(err("${TEMPLATE_DIRX}").contains("must be absolute"));
        assert!(err("/a/${OUTPUT_DIR}").contains("only at the start"));
        assert!(err("~/images").contains("must be absolute"));
    }

    #[test]
    fn covering() {
        let t = |s: &str| PathTemplate::parse(s).unwrap();
        assert!(t("${TEMPLATE_DIR}").covers(&t("${TEMPLATE_DIR}/iso")));
        assert!(!t("${TEMPLATE_DIR}/iso").covers(&t("${TEMPLATE_DIR}")));
        assert!(!t("${TEMPLATE_DIR}").covers(&t("${TEMPLATE_DIR}/../x")));
        assert!(t("/opt").covers(&t("/opt/images")));
        assert!(!t("/opt").covers(&t("/optimages")));
        assert!(!t("${TEMPLATE_DIR}").covers(&t("/home/me/proj")));
    }

    #[test]
    fn normalizes_traversal() {
        assert_eq!(
            normalize(Path::new("/out/../../etc/shadow")),
            Path::new("/etc/shadow")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
