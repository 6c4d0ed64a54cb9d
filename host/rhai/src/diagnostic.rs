//! Script errors as users read them: `file:line:column: message`, then the line with a caret
//! under the column, the way rustc and the template diagnostics show theirs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use rhai::Position;

/// The text of every file a call has read (the script and the modules it imported), by the
/// name errors use, so an error inside a module can quote that module's line.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    files: Mutex<BTreeMap<String, Arc<str>>>,
}

impl Sources {
    pub(crate) fn new(name: &str, text: Arc<str>) -> Self {
        let sources = Sources::default();
        sources.insert(name, text);
        sources
    }

    pub(crate) fn insert(&self, name: &str, text: Arc<str>) {
        if let Ok(mut files) = self.files.lock() {
            files.insert(name.to_owned(), text);
        }
    }

    fn get(&self, name: &str) -> Option<Arc<str>> {
        self.files.lock().ok()?.get(name).cloned()
    }
}

/// A place in a script: the file's name as the user wrote it and Rhai's position.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    pub(crate) file: String,
    pub(crate) position: Position,
}

impl Location {
    pub(crate) fn new(file: impl Into<String>, position: Position) -> Self {
        Location {
            file: file.into(),
            position,
        }
    }

    /// `provision.rhai:7:13`, or just the file when Rhai knows no position.
    pub(crate) fn label(&self) -> String {
        match (self.position.line(), self.position.position()) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", self.file),
            (Some(line), None) => format!("{}:{line}", self.file),
            _ => self.file.clone(),
        }
    }
}

/// `file:line:col: message`, the quoted line and a caret, then `notes` (one per line).
pub(crate) fn render(at: &Location, message: &str, notes: &[String], sources: &Sources) -> String {
    let mut out = format!("{}: {message}", at.label());
    if let Some(snippet) = snippet(at, sources) {
        out.push('\n');
        out.push_str(&snippet);
    }
    for note in notes {
        out.push('\n');
        out.push_str(note);
    }
    out
}

fn snippet(at: &Location, sources: &Sources) -> Option<String> {
    let line_number = at.position.line()?;
    let text = sources.get(&at.file)?;
    let line = text.lines().nth(line_number.checked_sub(1)?)?;
    let gutter = " ".repeat(line_number.to_string().len());
    let mut out = String::new();
    let _ = writeln!(out, "{gutter} |");
    let _ = write!(out, "{line_number} | {line}");
    if let Some(column) = at.position.position() {
        // Keep tabs so the caret lines up under the same column as the text above it.
        let pad: String = line
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(out, "\n{gutter} | {pad}^");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_column_even_after_tabs() {
        let sources = Sources::new("a.rhai", Arc::from("let x = 1;\n\tfoo(x);\n"));
        let at = Location::new("a.rhai", Position::new(2, 2));
        assert_eq!(
            render(&at, "Function not found: foo (i64)", &[], &sources),
            "a.rhai:2:2: Function not found: foo (i64)\n  |\n2 | \tfoo(x);\n  | \t^"
        );
    }

    #[test]
    fn no_snippet_without_a_position() {
        let sources = Sources::new("a.rhai", Arc::from("x"));
        let at = Location::new("a.rhai", Position::NONE);
        assert_eq!(render(&at, "boom", &[], &sources), "a.rhai: boom");
    }
}
