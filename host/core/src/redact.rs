//! Replaces secret values with `<sensitive>` in anything about to be shown.

use std::borrow::Cow;

/// The text secrets are replaced with, as Packer prints it.
pub const REDACTED: &str = "<sensitive>";

/// Knows the secret values of a run. Apply it to text *before* any escaping (machine-readable
/// comma escaping broke Packer's masking, #7953).
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Knows no secrets (usable in a `static`).
    pub const fn empty() -> Self {
        Redactor {
            secrets: Vec::new(),
        }
    }

    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Adds more secrets (values learnt later in the run).
    pub fn add(&mut self, secrets: impl IntoIterator<Item = String>) {
        let all = std::mem::take(&mut self.secrets).into_iter().chain(secrets);
        *self = Redactor::new(all);
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first() {
        let r = Redactor::new([
            "hunter2".to_owned(),
            "hunter2-extra".to_owned(),
            String::new(),
        ]);
        assert_eq!(
            r.redact("pw=hunter2-extra, again hunter2."),
            "pw=<sensitive>, again <sensitive>."
        );
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn redacts_values_with_commas_before_escaping() {
        let r = Redactor::new(["a,b".to_owned()]);
        assert_eq!(r.redact("secret a,b"), "secret <sensitive>");
    }
}
