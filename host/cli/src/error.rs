//! The CLI's one error type: what went wrong, as diagnostics with hints, and the exit code.

use kiln_template::{Diagnostic, Diagnostics};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line itself is wrong (exit 2).
    Usage,
    /// The template, a variable file or the variables are wrong (exit 1).
    Template,
    /// A build failed (exit 1).
    Build,
}

#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub diagnostics: Diagnostics,
}

impl CliError {
    pub fn template(diagnostics: impl Into<Diagnostics>) -> Self {
        CliError {
            kind: ErrorKind::Template,
            diagnostics: diagnostics.into(),
        }
    }

    pub fn usage(diagnostic: Diagnostic) -> Self {
        CliError {
            kind: ErrorKind::Usage,
            diagnostics: diagnostic.into(),
        }
    }

    pub fn build(diagnostic: Diagnostic) -> Self {
        CliError {
            kind: ErrorKind::Build,
            diagnostics: diagnostic.into(),
        }
    }

    /// A failed build whose errors were already shown: exit 1, print nothing more.
    pub fn build_reported() -> Self {
        CliError {
            kind: ErrorKind::Build,
            diagnostics: Diagnostics::new(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Usage => 2,
            ErrorKind::Template | ErrorKind::Build => 1,
        }
    }
}
