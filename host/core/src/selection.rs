//! `-only` and `-except`: build names or globs. Unlike Packer, a name that matches nothing is an
//! error listing the builds that exist (Packer 1.6.6 silently builds nothing, exit 0).

use globset::{Glob, GlobMatcher};
use kiln_template::Diagnostic;

/// The user's `-only`/`-except` patterns.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub except: Vec<String>,
}

/// What a selection keeps: indices into the build list, and the post-processor names `-except`
/// removed (Packer's `-except` also skips post-processors by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub builds: Vec<usize>,
    pub skipped_post_processors: Vec<String>,
}

impl Selection {
    /// Applies the patterns to `builds` (names in template order).
    pub fn apply(
        &self,
        builds: &[&str],
        post_processors: &[&str],
    ) -> Result<Selected, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        if !self.only.is_empty() && !self.except.is_empty() {
            errors.push(Diagnostic::error(
                "-only and -except cannot be used together",
            ));
            return Err(errors);
        }
        let only = compile(&self.only, &mut errors);
        let except = compile(&self.except, &mut errors);
        let available = || builds.join(", ");
        for (pattern, matcher) in &only {
            if !builds.iter().any(|b| matcher.is_match(b)) {
                errors.push(
                    Diagnostic::error(format!("-only {pattern:?} matches no build"))
                        .hint(format!("builds are: {}", available()))
                        .hint(suggestion(pattern, builds)),
                );
            }
        }
        let mut skipped_post_processors = Vec::new();
        for (pattern, matcher) in &except {
            let pps: Vec<&str> = post_processors
                .iter()
                .copied()
                .filter(|p| matcher.is_match(p))
                .collect();
            if !builds.iter().any(|b| matcher.is_match(b)) && pps.is_empty() {
                let mut d = Diagnostic::error(format!(
                    "-except {pattern:?} matches no build or post-processor"
                ))
                .hint(format!("builds are: {}", available()));
                if !post_processors.is_empty() {
                    d = d.hint(format!(
                        "post-processors are: {}",
                        post_processors.join(", ")
                    ));
                }
                errors.push(d.hint(suggestion(pattern, builds)));
            }
            skipped_post_processors.extend(pps.into_iter().map(str::to_owned));
        }
        errors
            .iter_mut()
            .for_each(|d| d.hints.retain(|h| !h.is_empty()));
        if !errors.is_empty() {
            return Err(errors);
        }
        let selected = builds
            .iter()
            .enumerate()
            .filter(|(_, b)| only.is_empty() || only.iter().any(|(_, m)| m.is_match(b)))
            .filter(|(_, b)| !except.iter().any(|(_, m)| m.is_match(b)))
            .map(|(i, _)| i)
            .collect();
        skipped_post_processors.dedup();
        Ok(Selected {
            builds: selected,
            skipped_post_processors,
        })
    }
}

fn suggestion(pattern: &str, builds: &[&str]) -> String {
    match kiln_template::suggest::closest(pattern, builds.iter().copied()) {
        Some(similar) => format!("did you mean -only={similar}?"),
        None => String::new(),
    }
}

fn compile(patterns: &[String], errors: &mut Vec<Diagnostic>) -> Vec<(String, GlobMatcher)> {
    patterns
        .iter()
        .filter_map(|p| match Glob::new(p) {
            Ok(glob) => Some((p.clone(), glob.compile_matcher())),
            Err(e) => {
                errors.push(Diagnostic::error(format!(
                    "{p:?} is not a valid name or glob: {e}"
                )));
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILDS: &[&str] = &["jessie-qemu", "jessie-vbox", "stretch-qemu"];

    fn sel(only: &[&str], except: &[&str]) -> Selection {
        Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            except: except.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn names_and_globs_select_builds() {
        assert_eq!(sel(&[], &[]).apply(BUILDS, &[]).unwrap().builds, [0, 1, 2]);
        assert_eq!(
            sel(&["jessie-vbox"], &[])
                .apply(BUILDS, &[])
                .unwrap()
                .builds,
            [1]
        );
        assert_eq!(
            sel(&["*-qemu"], &[]).apply(BUILDS, &[]).unwrap().builds,
            [0, 2]
        );
        assert_eq!(
            sel(&[], &["jessie-*"]).apply(BUILDS, &[]).unwrap().builds,
            [2]
        );
    }

    #[test]
    fn unmatched_names_are_errors_listing_builds() {
        let errs = sel(&["jessie-qemu", "jesie-vbox"], &[])
            .apply(BUILDS, &[])
            .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].message, "-only \"jesie-vbox\" matches no build");
        assert_eq!(
            errs[0].hints,
            [
                "builds are: jessie-qemu, jessie-vbox, stretch-qemu",
                "did you mean -only=jessie-vbox?"
            ]
        );
        let errs = sel(&[], &["nope"])
            .apply(BUILDS, &["manifest"])
            .unwrap_err();
        assert!(
            errs[0]
                .hints
                .contains(&"post-processors are: manifest".to_owned())
        );
    }

    #[test]
    fn except_may_name_post_processors() {
        let s = sel(&[], &["manifest"])
            .apply(BUILDS, &["manifest", "compress"])
            .unwrap();
        assert_eq!(s.builds, [0, 1, 2]);
        assert_eq!(s.skipped_post_processors, ["manifest"]);
    }

    #[test]
    fn only_and_except_together_are_rejected() {
        assert!(sel(&["a"], &["b"]).apply(BUILDS, &[]).is_err());
    }
}
