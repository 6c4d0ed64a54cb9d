//! Text to [`Node`] trees: JSON for Packer templates, YAML (anchors, aliases, merge keys) for
//! kiln's own. Both report duplicate keys, as Packer does for JSON.

mod json;
mod yaml;

use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::node::{Entry, Node};
use crate::source::{Format, SourceFile};

/// Parses a whole file into a value tree, in the syntax its [`Format`] says.
pub fn parse(source: &Arc<SourceFile>) -> Result<Node, Diagnostics> {
    match source.format() {
        Format::Json => json::parse(source),
        Format::Yaml => yaml::parse(source),
    }
}

/// An error for every key written twice in one object (Packer: "template has duplicate field").
fn check_duplicate_keys(source: &Arc<SourceFile>, entries: &[Entry], out: &mut Diagnostics) {
    for (i, entry) in entries.iter().enumerate() {
        if let Some(first) = entries[..i].iter().find(|e| e.key == entry.key) {
            let (line, col) = source.line_col(first.key_span.start);
            out.push(
                Diagnostic::error(format!("duplicate key {:?}", entry.key))
                    .at(source, entry.key_span)
                    .note(format!("first written at {}:{line}:{col}", source.name())),
            );
        }
    }
}

#[cfg(test)]
mod tests;
