//! Strict JSON (no comments, no trailing commas: Packer's Go parser accepts neither) with byte
//! spans for every value and key.

use std::sync::Arc;

use jsonc_parser::ast::{self, ObjectPropName};
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::node::{Entry, Node, Value};
use crate::source::{SourceFile, Span};

pub(super) fn parse(source: &Arc<SourceFile>) -> Result<Node, Diagnostics> {
    let strict = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = parse_to_ast(source.text(), &CollectOptions::default(), &strict).map_err(|e| {
        let range = e.range();
        Diagnostics::from(Diagnostic::error(format!("invalid JSON: {}", e.kind())).at(
            source,
            Span::new(range.start, range.end.max(range.start + 1)),
        ))
    })?;
    let Some(value) = parsed.value else {
        return Err(
            Diagnostic::error("the file is empty: a template is a JSON object")
                .at(source, Span::new(0, 0))
                .into(),
        );
    };
    let mut diagnostics = Diagnostics::new();
    let node = convert(source, value, &mut diagnostics);
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(node)
    }
}

fn span(range: jsonc_parser::common::Range) -> Span {
    Span::new(range.start, range.end)
}

fn convert(source: &Arc<SourceFile>, value: ast::Value<'_>, out: &mut Diagnostics) -> Node {
    match value {
        ast::Value::NullKeyword(n) => Node::new(Value::Null, span(n.range)),
        ast::Value::BooleanLit(b) => Node::new(Value::Bool(b.value), span(b.range)),
        ast::Value::StringLit(s) => Node::new(Value::String(s.value.into_owned()), span(s.range)),
        ast::Value::NumberLit(n) => {
            let value = match serde_json::from_str::<serde_json::Number>(n.value) {
                Ok(number) => Value::Number(number),
                Err(_) => {
                    out.push(
                        Diagnostic::error(format!("number {} is out of range", n.value))
                            .at(source, span(n.range)),
                    );
                    Value::Null
                }
            };
            Node::new(value, span(n.range))
        }
        ast::Value::Array(a) => {
            let items = a
                .elements
                .into_iter()
                .map(|v| convert(source, v, out))
                .collect();
            Node::new(Value::Array(items), span(a.range))
        }
        ast::Value::Object(o) => {
            let range = o.range;
            let entries: Vec<Entry> = o
                .properties
                .into_iter()
                .map(|prop| {
                    let (key, key_span) = match prop.name {
                        ObjectPropName::String(s) => (s.value.into_owned(), span(s.range)),
                        ObjectPropName::Word(w) => (w.value.to_owned(), span(w.range)),
                    };
                    Entry {
                        key,
                        key_span,
                        value: convert(source, prop.value, out),
                    }
                })
                .collect();
            super::check_duplicate_keys(source, &entries, out);
            Node::new(Value::Object(entries), span(range))
        }
    }
}
