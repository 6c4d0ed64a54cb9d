//! Errors and warnings about templates, with the file, line, column and key path they concern,
//! rendered as a source snippet.

use std::fmt;
use std::sync::Arc;

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;

use crate::key_path::KeyPath;
use crate::source::{SourceFile, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a file.
#[derive(Clone, Debug)]
pub struct Location {
    pub source: Arc<SourceFile>,
    pub span: Span,
}

impl Location {
    pub fn new(source: &Arc<SourceFile>, span: Span) -> Self {
        Location {
            source: Arc::clone(source),
            span,
        }
    }
}

/// One problem found in a template, a variable file or a command line.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    pub path: Option<KeyPath>,
    pub notes: Vec<String>,
    /// Actionable next steps, printed as `hint: ...`.
    pub hints: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            location: None,
            path: None,
            notes: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, source: &Arc<SourceFile>, span: Span) -> Self {
        self.location = Some(Location::new(source, span));
        self
    }

    pub fn with_path(mut self, path: &KeyPath) -> Self {
        if !path.is_root() {
            self.path = Some(path.clone());
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, when the diagnostic has a place.
    pub fn position(&self) -> Option<String> {
        let loc = self.location.as_ref()?;
        let (line, col) = loc.source.line_col(loc.span.start);
        Some(format!("{}:{line}:{col}", loc.source.name()))
    }

    /// A one-line form: `file:line:col: builders[1].type: message`, for machine-readable output.
    pub fn one_line(&self) -> String {
        let mut out = String::new();
        if let Some(pos) = self.position() {
            out.push_str(&pos);
            out.push_str(": ");
        }
        if let Some(path) = &self.path {
            out.push_str(path.as_str());
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }

    /// The full report: message, `file:line:col`, a snippet of the source with the key path
    /// under the offending value, notes and hints.
    pub fn render(&self, color: bool) -> String {
        let mut report = match self.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        }
        .with_message(&self.message);
        let mut notes: Vec<String> = Vec::new();
        let file = match &self.location {
            Some(loc) => {
                let label = Label::primary((), loc.span.start..loc.span.end);
                let label = match &self.path {
                    Some(p) => label.with_message(p.as_str()),
                    None => label,
                };
                report = report.with_labels(vec![label]);
                SimpleFile::new(loc.source.name().to_owned(), loc.source.text().to_owned())
            }
            None => {
                if let Some(path) = &self.path {
                    notes.push(format!("at {path}"));
                }
                SimpleFile::new(String::new(), String::new())
            }
        };
        notes.extend(self.notes.iter().cloned());
        notes.extend(self.hints.iter().map(|h| format!("hint: {h}")));
        let report = report.with_notes(notes);
        let config = term::Config::default();
        if color {
            let styles = term::Styles::default();
            let mut buffer = term::termcolor::Buffer::ansi();
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            if term::emit_to_write_style(&mut writer, &config, &file, &report).is_ok() {
                return String::from_utf8_lossy(buffer.as_slice()).into_owned();
            }
        }
        term::emit_into_string(&config, &file, &report).unwrap_or_else(|_| self.one_line() + "\n")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

/// Everything found in one pass: a validation reports all its errors at once.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// `Ok(value)` with the warnings when nothing is an error, else every diagnostic.
    pub fn into_result<T>(self, value: T) -> Result<(T, Diagnostics), Diagnostics> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok((value, self))
        }
    }

    /// Drops repeats of the same message at the same place: a provisioner interpolated once per
    /// build would otherwise report one mistake once per build.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.0.retain(|d| {
            seen.insert((
                d.message.clone(),
                d.position(),
                d.path.clone().map(|p| p.as_str().to_owned()),
            ))
        });
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
