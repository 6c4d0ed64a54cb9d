//! Packer-compatible templates for kiln.
//!
//! A template is read ([`load::read_source`]), parsed into a positioned [`node::Node`] tree
//! ([`parse::parse`], JSON or YAML), and decoded into the [`model::Template`] with every
//! structural error at once. [`variables::Variables::resolve`] then fixes the user variables, and
//! [`interpolate::render`] evaluates Go-template strings. Every problem is a
//! [`diagnostic::Diagnostic`] carrying the file, line, column and key path it concerns.
//!
//! ```
//! use kiln_template::{load, source::{SourceFile, Format}};
//!
//! let text = r#"{"builders": [{"type": "null", "name": "a", "communicator": "none"}]}"#;
//! let source = SourceFile::new("t.json", ".".into(), text.into(), Format::Json);
//! let (template, _warnings) = load::parse_template(&source).unwrap();
//! assert_eq!(template.build_names().collect::<Vec<_>>(), ["a"]);
//! ```

pub mod diagnostic;
pub mod duration;
pub mod interpolate;
pub mod key_path;
pub mod load;
pub mod model;
pub mod node;
pub mod parse;
pub mod source;
pub mod suggest;
pub mod variables;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::Template;
