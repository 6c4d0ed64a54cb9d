//! YAML with the template schema: anchors and aliases, merge keys (`<<`), comments. Scalars
//! follow the YAML 1.2 core schema, so `yes`/`no`/`on` stay strings (no "Norway problem").

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::node::{Entry, Node, Value};
use crate::source::{SourceFile, Span};

pub(super) fn parse(source: &Arc<SourceFile>) -> Result<Node, Diagnostics> {
    let mut builder = TreeBuilder {
        source: Arc::clone(source),
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    let mut parser = Parser::new_from_str(source.text());
    if let Err(e) = parser.load(&mut builder, true) {
        let offset = marker_offset(source, e.marker());
        builder.diagnostics.push(
            Diagnostic::error(format!("invalid YAML: {}", e.info()))
                .at(source, Span::new(offset, offset + 1)),
        );
    }
    let TreeBuilder {
        mut documents,
        mut diagnostics,
        ..
    } = builder;
    if documents.len() > 1 {
        diagnostics.push(
            Diagnostic::error("a template is one YAML document; this file has several")
                .at(source, documents[1].span),
        );
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    match documents.drain(..).next() {
        Some(node) => Ok(node),
        None => Err(
            Diagnostic::error("the file is empty: a template is a YAML mapping")
                .at(source, Span::new(0, 0))
                .into(),
        ),
    }
}

fn marker_offset(source: &SourceFile, marker: &Marker) -> usize {
    source.offset_of(marker.line(), marker.col())
}

enum Frame {
    Sequence {
        items: Vec<Node>,
        start: usize,
        anchor: usize,
    },
    Mapping {
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<Key>,
        start: usize,
        anchor: usize,
    },
}

struct Key {
    name: String,
    span: Span,
    /// A plain `<<`: the value is merged in rather than stored.
    merge: bool,
}

struct TreeBuilder {
    source: Arc<SourceFile>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
    diagnostics: Diagnostics,
}

impl TreeBuilder {
    fn error(&mut self, message: impl Into<String>, span: Span) {
        self.diagnostics
            .push(Diagnostic::error(message).at(&self.source, span));
    }

    /// Hands a finished value to whatever contains it.
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                Some(k) if k.merge => merges.push(node),
                Some(k) => entries.push(Entry {
                    key: k.name,
                    key_span: k.span,
                    value: node,
                }),
                None => {
                    let name = match node.scalar_text() {
                        Some(text) => text,
                        None if matches!(node.value, Value::Null) => "null".to_owned(),
                        None => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    "a mapping key must be a plain value, not a collection",
                                )
                                .at(&self.source, node.span),
                            );
                            String::new()
                        }
                    };
                    *key = Some(Key {
                        name,
                        span: node.span,
                        merge: false,
                    });
                }
            },
        }
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<Tag>,
        start: usize,
    ) -> Node {
        let quoted = matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        );
        let line_end = self.source.text()[start..]
            .find('\n')
            .map_or(self.source.text().len(), |i| start + i);
        let span = Span::new(
            start,
            (start + text.len() + if quoted { 2 } else { 0 })
                .min(line_end)
                .max(start + 1),
        );
        let tag = tag.map(|t| (t.handle, t.suffix));
        let value = match tag.as_ref().map(|(h, s)| (h.as_str(), s.as_str())) {
            Some(("tag:yaml.org,2002:", "str")) | Some(("!!", "str")) => Value::String(text),
            Some(("tag:yaml.org,2002:", kind)) | Some(("!!", kind))
                if matches!(kind, "int" | "float" | "bool" | "null") =>
            {
                match resolve_plain(&text) {
                    v @ Value::Number(_) if kind == "int" || kind == "float" => v,
                    v @ Value::Bool(_) if kind == "bool" => v,
                    v @ Value::Null if kind == "null" => v,
                    _ => {
                        self.error(format!("{text:?} is not a valid !!{kind}"), span);
                        Value::Null
                    }
                }
            }
            Some((handle, suffix)) => {
                self.error(format!("unsupported YAML tag {handle}{suffix}"), span);
                Value::String(text)
            }
            None if style == TScalarStyle::Plain => resolve_plain(&text),
            None => Value::String(text),
        };
        Node::new(value, span)
    }
}

/// The YAML 1.2 core schema for unquoted scalars.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let is_int = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let is_float = !is_int
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && !digits.starts_with(['e', 'E']);
    if is_int {
        let parsed = match text.strip_prefix('-') {
            Some(_) => text.parse::<i64>().ok().map(serde_json::Number::from),
            None => text
                .trim_start_matches('+')
                .parse::<u64>()
                .ok()
                .map(serde_json::Number::from),
        };
        if let Some(n) = parsed {
            return Value::Number(n);
        }
    }
    if is_int || is_float {
        if let Ok(n) = serde_json::from_str::<serde_json::Number>(text.trim_start_matches('+')) {
            return Value::Number(n);
        }
        if let Some(n) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_owned())
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let at = marker_offset(&self.source, &marker);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let is_merge_key = style == TScalarStyle::Plain
                    && text == "<<"
                    && matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }));
                if is_merge_key {
                    if let Some(Frame::Mapping { key, .. }) = self.stack.last_mut() {
                        *key = Some(Key {
                            name: text,
                            span: Span::new(at, at + 2),
                            merge: true,
                        });
                    }
                    return;
                }
                let node = self.scalar(text, style, tag, at);
                self.complete(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.span = Span::new(at, at + 1);
                    self.complete(node, 0);
                }
                None => {
                    self.error("alias to an unknown anchor", Span::new(at, at + 1));
                    self.complete(Node::new(Value::Null, Span::new(at, at + 1)), 0);
                }
            },
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    start: at,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Mapping {
                entries: Vec::new(),
                merges: Vec::new(),
                key: None,
                start: at,
                anchor,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Sequence {
                    items,
                    start,
                    anchor,
                }) = self.stack.pop()
                {
                    self.complete(
                        Node::new(Value::Array(items), Span::new(start, at.max(start + 1))),
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Mapping {
                    mut entries,
                    merges,
                    start,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    let source = Arc::clone(&self.source);
                    super::check_duplicate_keys(&source, &entries, &mut self.diagnostics);
                    self.merge_into(&mut entries, merges);
                    let span = Span::new(start, at.max(start + 1));
                    self.complete(Node::new(Value::Object(entries), span), anchor);
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

impl TreeBuilder {
    /// `<<: *base` or `<<: [*a, *b]`: keys written in the mapping win, then earlier merges win
    /// over later ones (the YAML merge-key rules).
    fn merge_into(&mut self, entries: &mut Vec<Entry>, merges: Vec<Node>) {
        for merge in merges {
            let sources = match merge.value {
                Value::Array(items) => items,
                _ => vec![merge],
            };
            for source in sources {
                match source.value {
                    Value::Object(merged) => {
                        for entry in merged {
                            if !entries.iter().any(|e| e.key == entry.key) {
                                entries.push(entry);
                            }
                        }
                    }
                    _ => self.error(
                        "a merge key (<<) takes a mapping or a list of mappings",
                        source.span,
                    ),
                }
            }
        }
    }
}
