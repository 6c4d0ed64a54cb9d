//! The template model: Packer's legacy schema (description, variables, builders, provisioners,
//! post-processor chains), decoded from a [`Node`] tree with every structural error at once.
//!
//! Component configs stay as positioned [`Node`]s minus the keys the core consumes (`type`,
//! `name`, `only`, `except`, `override`, ...), so later errors can still point into the file.

use std::sync::Arc;
use std::time::Duration;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::duration::parse_go_duration;
use crate::key_path::KeyPath;
use crate::node::{Entry, Node, Value};
use crate::source::{SourceFile, Span, Spanned};

/// The root keys Packer 1.6.6 accepts; any other key not starting with `_` is an error.
pub const ROOT_KEYS: &[&str] = &[
    "description",
    "min_packer_version",
    "variables",
    "sensitive-variables",
    "builders",
    "provisioners",
    "post-processors",
    "error-cleanup-provisioner",
    "push",
];

#[derive(Clone, Debug)]
pub struct Template {
    pub source: Arc<SourceFile>,
    pub description: Option<String>,
    pub min_packer_version: Option<Spanned<String>>,
    pub variables: Vec<Variable>,
    pub sensitive_variables: Vec<Spanned<String>>,
    pub builders: Vec<Builder>,
    pub provisioners: Vec<Provisioner>,
    pub error_cleanup_provisioner: Option<Provisioner>,
    /// Independent chains, each fed the builder's artifact.
    pub post_processors: Vec<Chain>,
}

/// A user variable. A `null` default makes it required.
#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub name_span: Span,
    pub default: Option<Spanned<String>>,
}

impl Variable {
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct Builder {
    /// `name`, or the type when no name is given (Packer's rule).
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub config: Node,
    pub path: KeyPath,
}

#[derive(Clone, Debug)]
pub struct Provisioner {
    pub kind: Spanned<String>,
    pub only: Vec<Spanned<String>>,
    pub except: Vec<Spanned<String>>,
    /// `override`: per-build partial configs merged over `config`.
    pub overrides: Vec<Override>,
    pub pause_before: Option<Duration>,
    pub max_retries: u32,
    pub timeout: Option<Duration>,
    pub config: Node,
    pub path: KeyPath,
}

#[derive(Clone, Debug)]
pub struct Override {
    pub build: Spanned<String>,
    pub config: Node,
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub steps: Vec<PostProcessor>,
    pub path: KeyPath,
}

#[derive(Clone, Debug)]
pub struct PostProcessor {
    pub kind: Spanned<String>,
    pub name: Option<Spanned<String>>,
    pub only: Vec<Spanned<String>>,
    pub except: Vec<Spanned<String>>,
    pub keep_input_artifact: Option<bool>,
    pub config: Node,
    pub path: KeyPath,
}

impl PostProcessor {
    /// The name `-except` matches: `name`, else the type.
    pub fn display_name(&self) -> &str {
        self.name.as_ref().map_or(&self.kind.value, |n| &n.value)
    }
}

impl Template {
    /// Decodes a parsed file into the model, collecting every structural error.
    pub fn from_node(
        source: &Arc<SourceFile>,
        root: &Node,
    ) -> Result<(Template, Diagnostics), Diagnostics> {
        let mut d = Decoder {
            source: Arc::clone(source),
            diagnostics: Diagnostics::new(),
        };
        let template = d.template(root);
        d.diagnostics.into_result(template)
    }

    /// The builds' names in template order.
    pub fn build_names(&self) -> impl Iterator<Item = &str> {
        self.builders.iter().map(|b| b.name.value.as_str())
    }
}

struct Decoder {
    source: Arc<SourceFile>,
    diagnostics: Diagnostics,
}

impl Decoder {
    fn error(&mut self, message: impl Into<String>, span: Span, path: &KeyPath) {
        self.diagnostics.push(
            Diagnostic::error(message)
                .at(&self.source, span)
                .with_path(path),
        );
    }

    fn expect_object<'n>(
        &mut self,
        node: &'n Node,
        path: &KeyPath,
        what: &str,
    ) -> Option<&'n [Entry]> {
        let found = node.kind_name();
        match node.entries() {
            Some(entries) => Some(entries),
            None => {
                self.error(
                    format!("{what} must be an object, found {found}"),
                    node.span,
                    path,
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, path: &KeyPath) -> Option<Spanned<String>> {
        match &node.value {
            Value::String(s) => Some(Spanned::new(s.clone(), node.span)),
            _ => {
                self.error(
                    format!("expected a string, found {}", node.kind_name()),
                    node.span,
                    path,
                );
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, path: &KeyPath) -> Vec<Spanned<String>> {
        match &node.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &path.index(i)))
                .collect(),
            _ => {
                let found = node.kind_name();
                self.error(
                    format!("expected a list of names, found {found}"),
                    node.span,
                    path,
                );
                Vec::new()
            }
        }
    }

    fn duration(&mut self, node: &Node, path: &KeyPath) -> Option<Duration> {
        let text = self.string(node, path)?;
        match parse_go_duration(&text.value) {
            Ok(d) if !d.negative => Some(d.magnitude),
            Ok(_) => {
                self.error("the duration must not be negative", node.span, path);
                None
            }
            Err(e) => {
                self.error(e, node.span, path);
                None
            }
        }
    }

    fn template(&mut self, root: &Node) -> Template {
        let path = KeyPath::root();
        let mut t = Template {
            source: Arc::clone(&self.source),
            description: None,
            min_packer_version: None,
            variables: Vec::new(),
            sensitive_variables: Vec::new(),
            builders: Vec::new(),
            provisioners: Vec::new(),
            error_cleanup_provisioner: None,
            post_processors: Vec::new(),
        };
        let Some(entries) = self.expect_object(root, &path, "a template") else {
            return t;
        };
        for entry in entries {
            let key_path = path.key(&entry.key);
            let node = &entry.value;
            match entry.key.as_str() {
                "description" => t.description = self.string(node, &key_path).map(|s| s.value),
                "min_packer_version" => t.min_packer_version = self.string(node, &key_path),
                "variables" => t.variables = self.variables(node, &key_path),
                "sensitive-variables" => t.sensitive_variables = self.string_list(node, &key_path),
                "builders" => t.builders = self.builders(node, &key_path),
                "provisioners" => {
                    t.provisioners = self
                        .array(node, &key_path)
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| self.provisioner(p, &key_path.index(i)))
                        .collect();
                }
                "error-cleanup-provisioner" => {
                    t.error_cleanup_provisioner = self.provisioner(node, &key_path)
                }
                "post-processors" => t.post_processors = self.post_processors(node, &key_path),
                "push" => {} // Atlas push: ignored, as Packer 1.6.6 does.
                key if key.starts_with('_') => {
                    if node.as_str().is_none() {
                        let found = node.kind_name();
                        self.error(
                            format!(
                                "comment keys (starting with _) must be strings, found {found}"
                            ),
                            node.span,
                            &key_path,
                        );
                    }
                }
                key => {
                    let mut d = Diagnostic::error(format!("unknown root key {key:?}"))
                        .at(&self.source, entry.key_span)
                        .note(format!(
                            "a template's root keys are: {}",
                            ROOT_KEYS.join(", ")
                        ))
                        .hint("keys starting with _ are comments");
                    if let Some(similar) = crate::suggest::closest(key, ROOT_KEYS.iter().copied()) {
                        d = d.hint(format!("did you mean {similar:?}?"));
                    }
                    self.diagnostics.push(d);
                }
            }
        }
        t
    }

    fn array<'n>(&mut self, node: &'n Node, path: &KeyPath) -> &'n [Node] {
        match &node.value {
            Value::Array(items) => items,
            _ => {
                self.error(
                    format!("expected an array, found {}", node.kind_name()),
                    node.span,
                    path,
                );
                &[]
            }
        }
    }

    fn variables(&mut self, node: &Node, path: &KeyPath) -> Vec<Variable> {
        let Some(entries) = self.expect_object(node, path, "variables") else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|e| {
                let default = match &e.value.value {
                    Value::Null => None,
                    _ => match e.value.scalar_text() {
                        Some(text) => Some(Spanned::new(text, e.value.span)),
                        None => {
                            let found = e.value.kind_name();
                            self.error(
                                format!("variable {:?}: a default must be a string (or null for a required variable), found {found}", e.key),
                                e.value.span,
                                &path.key(&e.key),
                            );
                            None
                        }
                    },
                };
                Variable { name: e.key.clone(), name_span: e.key_span, default }
            })
            .collect()
    }

    /// Splits the keys the core consumes off a component's object; the rest is its config.
    fn component<'n>(
        &mut self,
        node: &'n Node,
        path: &KeyPath,
        what: &str,
        control: &[&str],
    ) -> Option<(Spanned<String>, Vec<&'n Entry>, Node)> {
        let entries = self.expect_object(node, path, what)?;
        let kind = match entries.iter().find(|e| e.key == "type") {
            Some(e) => self.string(&e.value, &path.key("type"))?,
            None => {
                self.error(format!("{what} has no \"type\""), node.span, path);
                return None;
            }
        };
        if kind.value.is_empty() {
            self.error(
                format!("{what} has an empty \"type\""),
                kind.span,
                &path.key("type"),
            );
            return None;
        }
        let (taken, config): (Vec<&Entry>, Vec<&Entry>) = entries
            .iter()
            .partition(|e| e.key == "type" || control.contains(&e.key.as_str()));
        let config = Node::new(
            Value::Object(config.into_iter().cloned().collect()),
            node.span,
        );
        Some((kind, taken, config))
    }

    fn builders(&mut self, node: &Node, path: &KeyPath) -> Vec<Builder> {
        let mut builders: Vec<Builder> = Vec::new();
        for (i, item) in self.array(node, path).iter().enumerate() {
            let path = path.index(i);
            let Some((kind, taken, config)) = self.component(item, &path, "a builder", &["name"])
            else {
                continue;
            };
            let name = match taken.iter().find(|e| e.key == "name") {
                Some(e) => match self.string(&e.value, &path.key("name")) {
                    Some(name) => name,
                    None => continue,
                },
                None => kind.clone(),
            };
            if let Some(first) = builders.iter().find(|b| b.name.value == name.value) {
                let (line, col) = self.source.line_col(first.name.span.start);
                let d = Diagnostic::error(format!("a build named {:?} already exists", name.value))
                    .at(&self.source, name.span)
                    .with_path(&path)
                    .note(format!(
                        "first defined at {}:{line}:{col} ({})",
                        self.source.name(),
                        first.path
                    ))
                    .hint("give each builder a distinct \"name\"; it defaults to the type");
                self.diagnostics.push(d);
                continue;
            }
            builders.push(Builder {
                name,
                kind,
                config,
                path,
            });
        }
        builders
    }

    fn provisioner(&mut self, node: &Node, path: &KeyPath) -> Option<Provisioner> {
        const CONTROL: &[&str] = &[
            "only",
            "except",
            "override",
            "pause_before",
            "max_retries",
            "timeout",
        ];
        let (kind, taken, config) = self.component(node, path, "a provisioner", CONTROL)?;
        let mut p = Provisioner {
            kind,
            only: Vec::new(),
            except: Vec::new(),
            overrides: Vec::new(),
            pause_before: None,
            max_retries: 0,
            timeout: None,
            config,
            path: path.clone(),
        };
        for e in taken {
            let key_path = path.key(&e.key);
            match e.key.as_str() {
                "only" => p.only = self.string_list(&e.value, &key_path),
                "except" => p.except = self.string_list(&e.value, &key_path),
                "pause_before" => p.pause_before = self.duration(&e.value, &key_path),
                "timeout" => p.timeout = self.duration(&e.value, &key_path),
                "max_retries" => p.max_retries = self.count(&e.value, &key_path),
                "override" => {
                    if let Some(entries) = self.expect_object(&e.value, &key_path, "override") {
                        for o in entries {
                            if self
                                .expect_object(&o.value, &key_path.key(&o.key), "an override")
                                .is_some()
                            {
                                p.overrides.push(Override {
                                    build: Spanned::new(o.key.clone(), o.key_span),
                                    config: o.value.clone(),
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Some(p)
    }

    fn count(&mut self, node: &Node, path: &KeyPath) -> u32 {
        // Packer decodes weakly: "3" and 3 are both accepted.
        let parsed = node.scalar_text().and_then(|t| t.parse::<u32>().ok());
        parsed.unwrap_or_else(|| {
            self.error(
                format!(
                    "expected a non-negative integer, found {}",
                    node.kind_name()
                ),
                node.span,
                path,
            );
            0
        })
    }

    fn post_processors(&mut self, node: &Node, path: &KeyPath) -> Vec<Chain> {
        let mut chains = Vec::new();
        for (i, item) in self.array(node, path).iter().enumerate() {
            let chain_path = path.index(i);
            let steps = match &item.value {
                Value::Array(steps) => steps
                    .iter()
                    .enumerate()
                    .filter_map(|(j, step)| {
                        let step_path = chain_path.index(j);
                        if matches!(step.value, Value::Array(_)) {
                            self.error(
                                "a post-processor sequence cannot be nested in a sequence",
                                step.span,
                                &step_path,
                            );
                            return None;
                        }
                        self.post_processor(step, &step_path)
                    })
                    .collect(),
                _ => self.post_processor(item, &chain_path).into_iter().collect(),
            };
            chains.push(Chain {
                steps,
                path: chain_path,
            });
        }
        chains
    }

    fn post_processor(&mut self, node: &Node, path: &KeyPath) -> Option<PostProcessor> {
        if let Value::String(kind) = &node.value {
            // The simple form: "compress".
            return Some(PostProcessor {
                kind: Spanned::new(kind.clone(), node.span),
                name: None,
                only: Vec::new(),
                except: Vec::new(),
                keep_input_artifact: None,
                config: Node::new(Value::Object(Vec::new()), node.span),
                path: path.clone(),
            });
        }
        const CONTROL: &[&str] = &["name", "only", "except", "keep_input_artifact"];
        let (kind, taken, config) = self.component(node, path, "a post-processor", CONTROL)?;
        let mut pp = PostProcessor {
            kind,
            name: None,
            only: Vec::new(),
            except: Vec::new(),
            keep_input_artifact: None,
            config,
            path: path.clone(),
        };
        for e in taken {
            let key_path = path.key(&e.key);
            match e.key.as_str() {
                "name" => pp.name = self.string(&e.value, &key_path),
                "only" => pp.only = self.string_list(&e.value, &key_path),
                "except" => pp.except = self.string_list(&e.value, &key_path),
                "keep_input_artifact" => match e.value.value {
                    Value::Bool(b) => pp.keep_input_artifact = Some(b),
                    _ => {
                        let found = e.value.kind_name();
                        self.error(
                            format!("expected true or false, found {found}"),
                            e.value.span,
                            &key_path,
                        );
                    }
                },
                _ => {}
            }
        }
        Some(pp)
    }
}
