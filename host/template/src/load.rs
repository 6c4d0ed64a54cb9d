//! Reading templates and variable files from disk or stdin.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Template;
use crate::parse::parse;
use crate::source::{Format, SourceFile};
use crate::variables::VarFile;

/// Reads a template or variable file; `-` reads stdin (its format sniffed from the text).
pub fn read_source(path: &str) -> Result<Arc<SourceFile>, Diagnostics> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Diagnostic::error(format!("cannot read the template from stdin: {e}")))?;
        let dir = std::env::current_dir().unwrap_or_default();
        let format = Format::sniff(&text);
        return Ok(SourceFile::new("<stdin>", dir, text, format));
    }
    let p = Path::new(path);
    let lower = path.to_ascii_lowercase();
    if p.is_dir()
        || lower.ends_with(".pkr.hcl")
        || lower.ends_with(".pkr.json")
        || lower.ends_with(".hcl")
    {
        return Err(Diagnostic::error(format!("{path}: HCL2 templates are not supported"))
            .note("kiln reads Packer's JSON templates and the same schema in YAML")
            .hint("`packer hcl2_upgrade` goes the other way; keep the JSON template, or write it as YAML")
            .into());
    }
    let text = std::fs::read_to_string(p)
        .map_err(|e| Diagnostic::error(format!("cannot read {path}: {e}")))?;
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(SourceFile::new(path, dir, text, Format::from_path(p)))
}

/// Parses and decodes a template, returning its warnings beside it.
pub fn parse_template(source: &Arc<SourceFile>) -> Result<(Template, Diagnostics), Diagnostics> {
    let root = parse(source)?;
    Template::from_node(source, &root)
}

/// Reads and parses a `-var-file`.
pub fn load_var_file(path: &str) -> Result<VarFile, Diagnostics> {
    let source = read_source(path)?;
    let root = parse(&source)?;
    VarFile::from_node(&source, &root)
}
