//! Packer's Go-template interpolation: `{{user `x`}}`, `{{isotime "2006-01-02"}}`, pipes,
//! `{{- trimming -}}`.
//!
//! Rendering happens in two places. The host renders a template's strings once variables are
//! known ([`Phase::Variables`] for variable defaults, [`Phase::Template`] for component configs);
//! actions that need build-time data (`{{ .HTTPIP }}`, `{{ .Path }}`, `{{if .Sudo}}...{{end}}`,
//! `{{build `ID`}}`) are written back unchanged. The owner of that data later renders the result
//! again with [`BuildData`], and then a field nobody provides is an error.
//!
//! ```
//! use kiln_template::interpolate::{render, Context, Globals, Phase};
//! use std::collections::BTreeMap;
//!
//! let globals = Globals::fixed_for_tests();
//! let mut vars = BTreeMap::from([("name".to_owned(), "Web".to_owned())]);
//! let mut ctx = Context::new(&globals, &mut vars, Phase::Template);
//! let out = render("{{user `name` | lower}}-{{ .HTTPPort }}", &mut ctx).unwrap();
//! assert_eq!(out, "web-{{ .HTTPPort }}");
//! ```

mod functions;
pub mod go_time;
mod parse;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use parse::{Action, Block, Body, Node, Operand, Pipeline};

use crate::source::{SourceFile, Span};

pub use functions::FUNCTION_NAMES;

/// The Packer version kiln's template language is compatible with: `min_packer_version` is
/// checked against it and `{{packer_version}}` renders it.
pub const PACKER_COMPAT_VERSION: &str = "1.6.6";

/// An interpolation error and the byte offset in the string where its action starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InterpolateError {
    pub offset: usize,
    pub message: String,
}

impl InterpolateError {
    /// Where the failing action is written in a file: `value` is the interpolated string and
    /// `span` where it sits in `source`. When the string is written verbatim (no escapes to
    /// decode) this is the action itself, `{{ ... }}`; otherwise the whole string.
    pub fn span_in(&self, source: &SourceFile, span: Span, value: &str) -> Span {
        let rest = value.get(self.offset..).unwrap_or_default();
        let len = match rest.find("}}") {
            Some(end) if rest.starts_with("{{") => end + 2,
            _ => rest.chars().next().map_or(0, char::len_utf8),
        };
        let Some(action) = value
            .get(self.offset..self.offset + len)
            .filter(|a| !a.is_empty())
        else {
            return span;
        };
        let Some(written) = source.text().get(span.start..span.end) else {
            return span;
        };
        // The same action may appear more than once in the string: take the matching one.
        let nth = value[..self.offset].matches(action).count();
        written
            .match_indices(action)
            .nth(nth)
            .map_or(span, |(i, _)| {
                Span::new(span.start + i, span.start + i + len)
            })
    }

    pub(crate) fn at(offset: usize, message: impl Into<String>) -> Self {
        InterpolateError {
            offset,
            message: message.into(),
        }
    }
}

/// Values fixed for the whole run, as Packer fixes `{{timestamp}}` at process start.
#[derive(Clone, Debug)]
pub struct Globals {
    pub now: DateTime<Utc>,
    pub template_dir: String,
    pub pwd: String,
    /// The environment `{{env}}` reads.
    pub env: BTreeMap<String, String>,
}

impl Globals {
    /// The real clock, working directory and environment.
    pub fn capture(template_dir: String) -> Self {
        Globals {
            now: Utc::now(),
            template_dir,
            pwd: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            env: std::env::vars().collect(),
        }
    }

    /// A fixed instant and paths, for doc tests and unit tests.
    pub fn fixed_for_tests() -> Self {
        Globals {
            now: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            template_dir: "/templates".into(),
            pwd: "/work".into(),
            env: BTreeMap::new(),
        }
    }
}

/// Where a string is being rendered; decides which functions are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A variable's default: `{{env}}` is allowed (only here, as in Packer).
    Variables,
    /// A component's config, before the build runs.
    Template,
}

/// Supplies `{{user `name`}}`.
pub trait UserVariables {
    /// The value, or why there is none.
    fn user(&mut self, name: &str) -> Result<String, String>;
}

impl UserVariables for BTreeMap<String, String> {
    fn user(&mut self, name: &str) -> Result<String, String> {
        self.get(name)
            .cloned()
            .ok_or_else(|| format!("user variable {name:?} is not declared in \"variables\""))
    }
}

/// Build-time data (`.HTTPIP`, `.Path`, ...), supplied by whoever renders at build time.
pub trait BuildData {
    fn field(&self, name: &str) -> Option<String>;
    /// The names available, for the error when one is missing.
    fn names(&self) -> Vec<String>;
}

impl BuildData for BTreeMap<String, String> {
    fn field(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// Everything one render can see.
pub struct Context<'a> {
    pub globals: &'a Globals,
    pub users: &'a mut dyn UserVariables,
    pub phase: Phase,
    /// `(name, type)` of the build being rendered, for `{{build_name}}` and `{{build_type}}`.
    pub build: Option<(String, String)>,
    /// `None`: keep build-time actions verbatim for later.
    pub data: Option<&'a dyn BuildData>,
}

impl<'a> Context<'a> {
    pub fn new(globals: &'a Globals, users: &'a mut dyn UserVariables, phase: Phase) -> Self {
        Context {
            globals,
            users,
            phase,
            build: None,
            data: None,
        }
    }

    pub fn with_build(mut self, name: &str, kind: &str) -> Self {
        self.build = Some((name.to_owned(), kind.to_owned()));
        self
    }

    pub fn with_data(mut self, data: &'a dyn BuildData) -> Self {
        self.data = Some(data);
        self
    }
}

/// Renders `text`, evaluating what can be evaluated now (see the module docs).
pub fn render(text: &str, ctx: &mut Context<'_>) -> Result<String, InterpolateError> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let nodes = parse::parse(text)?;
    let mut out = Output::default();
    render_nodes(&nodes, ctx, &mut out)?;
    Ok(out.text)
}

#[derive(Default)]
struct Output {
    text: String,
    /// The previous action ended with `-}}`: strip the whitespace that follows.
    trim_next: bool,
}

impl Output {
    fn text(&mut self, s: &str) {
        let s = if std::mem::take(&mut self.trim_next) {
            s.trim_start()
        } else {
            s
        };
        self.text.push_str(s);
    }

    /// Writes an evaluated action's result, applying its trim markers.
    fn evaluated(&mut self, action: &Action, value: &str) {
        if action.trim_left {
            let kept = self.text.trim_end().len();
            self.text.truncate(kept);
        }
        self.trim_next = false;
        self.text.push_str(value);
        self.trim_next = action.trim_right;
    }

    /// Writes an action back unchanged; its trim markers apply when it is rendered later.
    fn verbatim(&mut self, action: &Action) {
        self.trim_next = false;
        self.text.push_str(&action.raw);
    }
}

fn render_nodes(
    nodes: &[Node],
    ctx: &mut Context<'_>,
    out: &mut Output,
) -> Result<(), InterpolateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.text(t),
            Node::Action(action) => match &action.body {
                Body::Comment => out.evaluated(action, ""),
                Body::Pipeline(p) if ctx.data.is_none() && p.needs_build_data() => {
                    out.verbatim(action)
                }
                Body::Pipeline(p) => {
                    let value = eval_pipeline(p, ctx, action)?;
                    out.evaluated(action, &value.to_text());
                }
                Body::Opaque if ctx.data.is_none() => out.verbatim(action),
                _ => {
                    return Err(InterpolateError::at(
                        action.offset,
                        format!("{} is not supported here", action.raw),
                    ));
                }
            },
            Node::Block(block) => render_block(block, ctx, out)?,
        }
    }
    Ok(())
}

fn render_block(
    block: &Block,
    ctx: &mut Context<'_>,
    out: &mut Output,
) -> Result<(), InterpolateError> {
    let Body::Open(_, condition) = &block.open.body else {
        return Ok(());
    };
    if ctx.data.is_none() {
        // Kept for the build-time renderer, with what can be rendered now rendered inside.
        out.verbatim(&block.open);
        render_nodes(&block.body, ctx, out)?;
        if let Some((otherwise, body)) = &block.otherwise {
            out.verbatim(otherwise);
            render_nodes(body, ctx, out)?;
        }
        out.verbatim(&block.end);
        return Ok(());
    }
    if block.keyword != "if" {
        return Err(InterpolateError::at(
            block.open.offset,
            format!("{{{{{} ...}}}} is not supported by kiln", block.keyword),
        ));
    }
    let truthy = eval_pipeline(condition, ctx, &block.open)?.is_truthy();
    out.evaluated(&block.open, "");
    if truthy {
        render_nodes(&block.body, ctx, out)?;
    }
    if let Some((otherwise, body)) = &block.otherwise {
        out.evaluated(otherwise, "");
        if !truthy {
            render_nodes(body, ctx, out)?;
        }
    }
    out.evaluated(&block.end, "");
    Ok(())
}

/// A value inside a pipeline. Go templates are typed; these are the types Packer's functions use.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Nil,
}

impl Val {
    fn to_text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Nil => "<no value>".to_owned(),
        }
    }

    fn is_truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Int(n) => *n != 0,
            Val::Bool(b) => *b,
            Val::Nil => false,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "int",
            Val::Bool(_) => "bool",
            Val::Nil => "nil",
        }
    }
}

fn eval_pipeline(
    p: &Pipeline,
    ctx: &mut Context<'_>,
    action: &Action,
) -> Result<Val, InterpolateError> {
    let mut piped: Option<Val> = None;
    for command in &p.commands {
        piped = Some(eval_command(command, piped, ctx, action)?);
    }
    Ok(piped.unwrap_or(Val::Nil))
}

fn eval_command(
    command: &[Operand],
    piped: Option<Val>,
    ctx: &mut Context<'_>,
    action: &Action,
) -> Result<Val, InterpolateError> {
    let err = |m: String| InterpolateError::at(action.offset, format!("in {}: {m}", action.raw));
    let Some((first, rest)) = command.split_first() else {
        return Ok(Val::Nil);
    };
    if let Operand::Function(name) = first {
        let mut args = Vec::with_capacity(rest.len() + 1);
        for operand in rest {
            args.push(eval_operand(operand, ctx, action)?);
        }
        args.extend(piped);
        return functions::call(name, args, ctx).map_err(err);
    }
    if !rest.is_empty() || piped.is_some() {
        return Err(err("only a function can take arguments".to_owned()));
    }
    eval_operand(first, ctx, action)
}

fn eval_operand(
    operand: &Operand,
    ctx: &mut Context<'_>,
    action: &Action,
) -> Result<Val, InterpolateError> {
    match operand {
        Operand::Str(s) => Ok(Val::Str(s.clone())),
        Operand::Int(n) => Ok(Val::Int(*n)),
        Operand::Bool(b) => Ok(Val::Bool(*b)),
        Operand::Nil => Ok(Val::Nil),
        Operand::Function(name) => {
            eval_command(&[Operand::Function(name.clone())], None, ctx, action)
        }
        Operand::Sub(p) => eval_pipeline(p, ctx, action),
        Operand::Field(parts) => {
            let name = parts.join(".");
            build_field(&name, ctx)
                .map(Val::Str)
                .map_err(|m| InterpolateError::at(action.offset, format!("in {}: {m}", action.raw)))
        }
        Operand::Variable(v) => Err(InterpolateError::at(
            action.offset,
            format!(
                "in {}: template variables ({v}) are not supported",
                action.raw
            ),
        )),
    }
}

/// Looks up build-time data for `.Name` and `{{build `Name`}}`.
pub(crate) fn build_field(name: &str, ctx: &Context<'_>) -> Result<String, String> {
    let Some(data) = ctx.data else {
        return Err(format!(".{name} is only known while the build runs"));
    };
    data.field(name).ok_or_else(|| {
        let mut names = data.names();
        names.sort();
        if names.is_empty() {
            format!("no build variable .{name} here; this option takes no build variables")
        } else {
            format!(
                "no build variable .{name} here; available: {}",
                names
                    .iter()
                    .map(|n| format!(".{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    })
}

#[cfg(test)]
mod tests;
