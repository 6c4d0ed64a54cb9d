//! What a build shows, without knowing the terminal: `kiln-cli` implements [`Ui`] (colours,
//! prefixes, machine-readable lines, redaction); tests implement it to record what was said.

use std::sync::Arc;

/// A progress bar (downloads, uploads, compression).
pub trait Progress: Send + Sync {
    fn advance(&self, amount: u64);
    fn finish(&self);
}

/// The run's output. `build` is empty for lines about the whole run.
pub trait Ui: Send + Sync {
    /// A step heading: `==> build: text`.
    fn say(&self, build: &str, text: &str);
    /// Detail under a step: `    build: text`.
    fn message(&self, build: &str, text: &str);
    /// A failure.
    fn error(&self, build: &str, text: &str);
    /// A machine-readable record (`artifact-count`, `artifact`, `error-count`); nothing in
    /// human mode.
    fn machine(&self, target: &str, kind: &str, data: &[&str]);
    fn progress(&self, build: &str, label: &str, total: u64) -> Box<dyn Progress>;
    /// Asks the user a question on the terminal; `None` when there is no terminal to ask.
    fn ask(&self, build: &str, question: &str) -> Option<String>;
}

/// One build's view of the [`Ui`].
#[derive(Clone)]
pub struct BuildLog {
    ui: Arc<dyn Ui>,
    build: String,
}

impl BuildLog {
    pub fn new(ui: Arc<dyn Ui>, build: impl Into<String>) -> Self {
        BuildLog {
            ui,
            build: build.into(),
        }
    }

    pub fn build(&self) -> &str {
        &self.build
    }

    pub fn ui(&self) -> &Arc<dyn Ui> {
        &self.ui
    }

    pub fn say(&self, text: &str) {
        self.ui.say(&self.build, text);
    }

    pub fn message(&self, text: &str) {
        self.ui.message(&self.build, text);
    }

    pub fn error(&self, text: &str) {
        self.ui.error(&self.build, text);
    }

    pub fn debug(&self, text: &str) {
        tracing::debug!(build = %self.build, "{text}");
    }

    pub fn progress(&self, label: &str, total: u64) -> Box<dyn Progress> {
        self.ui.progress(&self.build, label, total)
    }

    pub fn ask(&self, question: &str) -> Option<String> {
        self.ui.ask(&self.build, question)
    }
}
