//! A parser for the part of Go's text/template syntax Packer templates use: text, actions with
//! pipelines (`{{ "a" | upper }}`), function calls, string/raw-string/number/bool literals,
//! fields (`.HTTPIP`), parenthesised sub-pipelines, `{{- -}}` trimming, comments, and
//! `if`/`else`/`end` blocks. Every action keeps its exact source text, so an action the host
//! cannot evaluate yet (it needs build-time data) can be written back unchanged.

use super::InterpolateError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Action),
    /// `{{if p}} ... {{else}} ... {{end}}` and the other block keywords (`range`, `with`), which
    /// only build-time renderers evaluate.
    Block(Box<Block>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Block {
    pub keyword: String,
    pub open: Action,
    pub body: Vec<Node>,
    pub otherwise: Option<(Action, Vec<Node>)>,
    pub end: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Action {
    /// The source text from `{{` to `}}`, inclusive.
    pub raw: String,
    /// Byte offset of `{{` in the interpolated string.
    pub offset: usize,
    pub trim_left: bool,
    pub trim_right: bool,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Body {
    Comment,
    Pipeline(Pipeline),
    /// `if`, `range`, `with`: opens a block.
    Open(String, Pipeline),
    Else,
    End,
    /// Syntax only a later renderer may give meaning to (`$x := ...`, `template`, ...): kept as is.
    Opaque,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pipeline {
    pub commands: Vec<Vec<Operand>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Function(String),
    /// `.A.B` as its parts; empty for `.` itself.
    Field(Vec<String>),
    Variable(String),
    Str(String),
    Int(i64),
    Bool(bool),
    Nil,
    Sub(Pipeline),
}

impl Pipeline {
    /// Whether evaluating this needs build-time data (fields, `$` variables, `build`).
    pub fn needs_build_data(&self) -> bool {
        self.commands.iter().flatten().any(|op| match op {
            Operand::Field(_) | Operand::Variable(_) => true,
            Operand::Function(name) => name == "build",
            Operand::Sub(p) => p.needs_build_data(),
            _ => false,
        })
    }
}

/// Parses a whole string into text and actions, with blocks matched up.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, InterpolateError> {
    let flat = lex(text)?;
    let mut iter = flat.into_iter().peekable();
    let nodes = nest(&mut iter, None)?;
    Ok(nodes)
}

enum Flat {
    Text(String),
    Action(Action),
}

fn nest(
    iter: &mut std::iter::Peekable<std::vec::IntoIter<Flat>>,
    open: Option<&Action>,
) -> Result<Vec<Node>, InterpolateError> {
    let mut nodes = Vec::new();
    while let Some(item) = iter.next() {
        match item {
            Flat::Text(t) => nodes.push(Node::Text(t)),
            Flat::Action(action) => match &action.body {
                Body::Open(keyword, _) => {
                    let keyword = keyword.clone();
                    let body = nest(iter, Some(&action))?;
                    let (otherwise, end) = finish_block(iter, &action)?;
                    nodes.push(Node::Block(Box::new(Block {
                        keyword,
                        open: action,
                        body,
                        otherwise,
                        end,
                    })));
                }
                Body::Else | Body::End if open.is_some() => {
                    // Hand the closing action back to the caller.
                    let mut rest: Vec<Flat> = vec![Flat::Action(action)];
                    rest.extend(iter.by_ref());
                    *iter = rest.into_iter().peekable();
                    return Ok(nodes);
                }
                Body::Else | Body::End => {
                    return Err(InterpolateError::at(
                        action.offset,
                        format!("unexpected {} without a matching if", action.raw),
                    ));
                }
                _ => nodes.push(Node::Action(action)),
            },
        }
    }
    match open {
        Some(action) => Err(InterpolateError::at(
            action.offset,
            format!("{} has no matching {{{{end}}}}", action.raw),
        )),
        None => Ok(nodes),
    }
}

type Otherwise = Option<(Action, Vec<Node>)>;

fn finish_block(
    iter: &mut std::iter::Peekable<std::vec::IntoIter<Flat>>,
    open: &Action,
) -> Result<(Otherwise, Action), InterpolateError> {
    let unclosed = || {
        InterpolateError::at(
            open.offset,
            format!("{} has no matching {{{{end}}}}", open.raw),
        )
    };
    match iter.next() {
        Some(Flat::Action(a)) if a.body == Body::End => Ok((None, a)),
        Some(Flat::Action(a)) if a.body == Body::Else => {
            let body = nest(iter, Some(open))?;
            match iter.next() {
                Some(Flat::Action(end)) if end.body == Body::End => Ok((Some((a, body)), end)),
                _ => Err(unclosed()),
            }
        }
        _ => Err(unclosed()),
    }
}

fn lex(text: &str) -> Result<Vec<Flat>, InterpolateError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = text[pos..].find("{{") {
        let start = pos + found;
        if start > pos {
            out.push(Flat::Text(text[pos..start].to_owned()));
        }
        let action = lex_action(text, start)?;
        pos = start + action.raw.len();
        out.push(Flat::Action(action));
    }
    if pos < text.len() {
        out.push(Flat::Text(text[pos..].to_owned()));
    }
    Ok(out)
}

/// Reads one action starting at `{{` at `start`.
fn lex_action(text: &str, start: usize) -> Result<Action, InterpolateError> {
    let after = &text[start + 2..];
    let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
    let mut cursor = start + 2 + if trim_left { 1 } else { 0 };
    // Comments: {{/* ... */}}
    let trimmed = text[cursor..].trim_start();
    if trimmed.starts_with("/*") {
        let comment_at = text.len() - trimmed.len();
        let close = text[comment_at..]
            .find("*/")
            .ok_or_else(|| InterpolateError::at(start, "unclosed comment"))?;
        let after_comment = comment_at + close + 2;
        let (end, trim_right) = close_delimiter(text, after_comment)
            .ok_or_else(|| InterpolateError::at(start, "comment must end with */}}"))?;
        return Ok(Action {
            raw: text[start..end].to_owned(),
            offset: start,
            trim_left,
            trim_right,
            body: Body::Comment,
        });
    }
    let mut tokens = Vec::new();
    let (end, trim_right) = loop {
        if let Some(close) = close_delimiter(text, cursor) {
            break close;
        }
        let rest = &text[cursor..];
        let Some(c) = rest.chars().next() else {
            return Err(InterpolateError::at(start, "unclosed action: missing }}"));
        };
        if c.is_whitespace() {
            cursor += c.len_utf8();
            continue;
        }
        let (token, len) = lex_token(rest).map_err(|m| InterpolateError::at(cursor, m))?;
        tokens.push(token);
        cursor += len;
    };
    let raw = text[start..end].to_owned();
    let body =
        parse_body(tokens).map_err(|m| InterpolateError::at(start, format!("in {raw}: {m}")))?;
    Ok(Action {
        raw,
        offset: start,
        trim_left,
        trim_right,
        body,
    })
}

/// If the action closes at `at` (after optional whitespace), the end offset and whether it trims.
fn close_delimiter(text: &str, at: usize) -> Option<(usize, bool)> {
    let rest = &text[at..];
    if rest.starts_with("}}") {
        return Some((at + 2, false));
    }
    let ws = rest.len() - rest.trim_start().len();
    let after_ws = &rest[ws..];
    if ws > 0 && after_ws.starts_with("-}}") {
        return Some((at + ws + 3, true));
    }
    if ws > 0 && after_ws.starts_with("}}") {
        return Some((at + ws + 2, false));
    }
    None
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Field(Vec<String>),
    Variable(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close,
    Assign,
}

fn lex_token(s: &str) -> Result<(Token, usize), String> {
    let bytes = s.as_bytes();
    let word_len = |from: usize| {
        s[from..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    match bytes[0] {
        b'|' => Ok((Token::Pipe, 1)),
        b'(' => Ok((Token::Open, 1)),
        b')' => Ok((Token::Close, 1)),
        b':' if s.starts_with(":=") => Ok((Token::Assign, 2)),
        b'=' => Ok((Token::Assign, 1)),
        b'`' => {
            let end = s[1..].find('`').ok_or("unterminated raw string")?;
            Ok((Token::Str(s[1..1 + end].to_owned()), end + 2))
        }
        b'"' => lex_quoted(s),
        b'.' => {
            let mut parts = Vec::new();
            let mut len = 0;
            while s[len..].starts_with('.') {
                let n = word_len(len + 1);
                if n == 0 {
                    break;
                }
                parts.push(s[len + 1..len + 1 + n].to_owned());
                len += 1 + n;
            }
            Ok((Token::Field(parts), len.max(1)))
        }
        b'$' => {
            let n = word_len(1);
            Ok((Token::Variable(s[..1 + n].to_owned()), 1 + n))
        }
        b'-' | b'0'..=b'9' => {
            let n = 1 + s[1..].bytes().take_while(u8::is_ascii_digit).count();
            let number = s[..n]
                .parse::<i64>()
                .map_err(|_| format!("bad number {:?}", &s[..n]))?;
            Ok((Token::Int(number), n))
        }
        b if b.is_ascii_alphabetic() || b == b'_' => {
            let n = word_len(0);
            Ok((Token::Ident(s[..n].to_owned()), n))
        }
        _ => Err(format!(
            "unexpected character {:?}",
            s.chars().next().unwrap_or(' ')
        )),
    }
}

fn lex_quoted(s: &str) -> Result<(Token, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((Token::Str(out), i + 1)),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                Some(other) => return Err(format!("unknown escape \\{other} in a string")),
                None => break,
            },
            '\n' => return Err("newline in a quoted string".to_owned()),
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".to_owned())
}

fn parse_body(tokens: Vec<Token>) -> Result<Body, String> {
    match tokens.first() {
        None => Err("empty action".to_owned()),
        Some(Token::Ident(k)) if k == "else" && tokens.len() == 1 => Ok(Body::Else),
        Some(Token::Ident(k)) if k == "end" && tokens.len() == 1 => Ok(Body::End),
        Some(Token::Ident(k)) if matches!(k.as_str(), "if" | "range" | "with") => {
            let keyword = k.clone();
            let mut rest = tokens[1..].iter().cloned().peekable();
            if rest.peek().is_none() {
                return Err(format!("{keyword} needs a condition"));
            }
            if rest.clone().any(|t| t == Token::Assign) {
                return Ok(Body::Open(
                    keyword,
                    Pipeline {
                        commands: vec![vec![Operand::Variable("$".into())]],
                    },
                ));
            }
            Ok(Body::Open(keyword, pipeline(&mut rest, false)?))
        }
        Some(Token::Ident(k))
            if matches!(
                k.as_str(),
                "define" | "template" | "block" | "break" | "continue"
            ) =>
        {
            Ok(Body::Opaque)
        }
        _ if tokens.contains(&Token::Assign) => Ok(Body::Opaque),
        _ => {
            let mut iter = tokens.into_iter().peekable();
            let p = pipeline(&mut iter, false)?;
            Ok(Body::Pipeline(p))
        }
    }
}

fn pipeline<I: Iterator<Item = Token>>(
    tokens: &mut std::iter::Peekable<I>,
    nested: bool,
) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    let mut current = Vec::new();
    loop {
        match tokens.next() {
            None if nested => return Err("missing )".to_owned()),
            None => break,
            Some(Token::Close) if nested => break,
            Some(Token::Close) => return Err("unexpected )".to_owned()),
            Some(Token::Pipe) => {
                if current.is_empty() {
                    return Err("missing command before |".to_owned());
                }
                commands.push(std::mem::take(&mut current));
            }
            Some(Token::Open) => current.push(Operand::Sub(pipeline(tokens, true)?)),
            Some(Token::Ident(name)) => current.push(match name.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                _ => Operand::Function(name),
            }),
            Some(Token::Field(parts)) => current.push(Operand::Field(parts)),
            Some(Token::Variable(v)) => current.push(Operand::Variable(v)),
            Some(Token::Str(s)) => current.push(Operand::Str(s)),
            Some(Token::Int(n)) => current.push(Operand::Int(n)),
            Some(Token::Assign) => return Err("unexpected :=".to_owned()),
        }
    }
    if current.is_empty() {
        return Err(if commands.is_empty() {
            "empty pipeline".to_owned()
        } else {
            "missing command after |".to_owned()
        });
    }
    commands.push(current);
    Ok(Pipeline { commands })
}
