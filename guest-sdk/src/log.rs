//! The build's UI: step headings, detail lines, errors, debug lines, questions and progress
//! bars. The host prefixes each line with the build's name and colour.

use crate::bindings::kiln::plugin::log as host;

pub use host::Progress;

/// A step heading: `==> debian-qemu: Typing the boot command...`
pub fn say(text: impl AsRef<str>) {
    host::say(text.as_ref());
}

/// Detail under a step: `    debian-qemu: ...`
pub fn message(text: impl AsRef<str>) {
    host::message(text.as_ref());
}

/// A failure the build will report.
pub fn error(text: impl AsRef<str>) {
    host::error(text.as_ref());
}

/// Only in debug logs (`KILN_LOG`).
pub fn debug(text: impl AsRef<str>) {
    host::debug(text.as_ref());
}

/// Asks the user and returns the line typed, or `None` when there is no terminal (CI,
/// `-machine-readable`): the caller must have a default.
pub fn ask(question: impl AsRef<str>) -> Option<String> {
    host::ask(question.as_ref())
}

/// A progress bar; `total` is 0 when unknown. Finish it with [`Progress::finish`].
pub fn progress(label: impl AsRef<str>, total: u64) -> Progress {
    Progress::new(label.as_ref(), total)
}
