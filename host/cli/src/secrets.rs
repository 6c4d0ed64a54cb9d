//! The process's one set of secret values. Every byte kiln writes (terminal and log file) goes
//! through [`redact`], so a value from `sensitive-variables` cannot reach either.

use std::borrow::Cow;
use std::sync::RwLock;

use kiln_core::Redactor;

static SECRETS: RwLock<Redactor> = RwLock::new(Redactor::empty());

/// Adds secret values; from then on they are replaced by `<sensitive>` everywhere.
pub fn add(values: impl IntoIterator<Item = String>) {
    if let Ok(mut redactor) = SECRETS.write() {
        redactor.add(values);
    }
}

pub fn redact(text: &str) -> Cow<'_, str> {
    match SECRETS.read() {
        Ok(r) if !r.is_empty() => Cow::Owned(r.redact(text).into_owned()),
        _ => Cow::Borrowed(text),
    }
}
