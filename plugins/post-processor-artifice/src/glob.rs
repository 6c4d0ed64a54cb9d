//! Go's `filepath.Glob` (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes; no `**`), over WASI's view of
//! the host's files. Matches keep the form the user wrote (relative stays relative) and are
//! sorted within each directory, as Go returns them.

use std::path::{Path, PathBuf};

use kiln_plugin_sdk::BuildInfo;

/// One path component of a pattern.
#[derive(Debug)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    /// Checks a whole pattern (every component) for syntax errors.
    pub fn parse(pattern: &str) -> Result<(), String> {
        for part in pattern.split('/') {
            Pattern::component(part).map_err(|e| format!("{pattern:?}: {e}"))?;
        }
        Ok(())
    }

    fn component(text: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' => Token::Literal(chars.next().ok_or("syntax error in pattern")?),
                '[' => {
                    let mut negated = false;
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let mut c = chars.next().ok_or("syntax error in pattern")?;
                        if first && c == '^' {
                            negated = true;
                            c = chars.next().ok_or("syntax error in pattern")?;
                        }
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if c == '\\' {
                            c = chars.next().ok_or("syntax error in pattern")?;
                        }
                        let mut end = c;
                        let mut lookahead = chars.clone();
                        if lookahead.next() == Some('-') {
                            match lookahead.next() {
                                Some(']') | None => {}
                                Some(e) => {
                                    end = if e == '\\' {
                                        lookahead.next().ok_or("syntax error in pattern")?
                                    } else {
                                        e
                                    };
                                    chars = lookahead;
                                }
                            }
                        }
                        if end < c {
                            return Err("syntax error in pattern".to_owned());
                        }
                        ranges.push((c, end));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(Pattern { tokens })
    }

    fn has_meta(text: &str) -> bool {
        text.contains(['*', '?', '[', '\\'])
    }

    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        matches_at(&self.tokens, &name)
    }
}

fn matches_at(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::AnyRun, rest)) => (0..=name.len()).any(|i| matches_at(rest, &name[i..])),
        Some((token, rest)) => match name.split_first() {
            None => false,
            Some((c, name_rest)) => {
                let ok = match token {
                    Token::Literal(l) => l == c,
                    Token::AnyChar => true,
                    Token::Class { negated, ranges } => {
                        ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated
                    }
                    Token::AnyRun => false,
                };
                ok && matches_at(rest, name_rest)
            }
        },
    }
}

/// The files `pattern` matches, relative patterns resolved against the working directory.
pub fn glob(build: &BuildInfo, pattern: &str) -> Result<Vec<String>, String> {
    Pattern::parse(pattern)?;
    let (mut found, parts): (Vec<(String, PathBuf)>, Vec<&str>) =
        if let Some(rest) = pattern.strip_prefix('/') {
            (
                vec![("/".to_owned(), PathBuf::from("/"))],
                rest.split('/').collect(),
            )
        } else {
            (
                vec![(String::new(), build.resolve("."))],
                pattern.split('/').collect(),
            )
        };
    for part in parts.iter().filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for (shown, host) in &found {
            let join = |name: &str| {
                if shown.is_empty() {
                    name.to_owned()
                } else if shown.ends_with('/') {
                    format!("{shown}{name}")
                } else {
                    format!("{shown}/{name}")
                }
            };
            if !Pattern::has_meta(part) {
                let candidate = host.join(part);
                if std::fs::symlink_metadata(&candidate).is_ok() {
                    next.push((join(part), candidate));
                }
                continue;
            }
            let compiled = Pattern::component(part)?;
            let Ok(entries) = std::fs::read_dir(host) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| compiled.matches(n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| (join(&n), host.join(&n))));
        }
        found = next;
    }
    Ok(found
        .into_iter()
        .filter(|(_, host)| host != Path::new("/"))
        .map(|(shown, _)| shown)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::component(pattern).unwrap().matches(name)
    }

    #[test]
    fn go_glob_syntax() {
        assert!(m("*.box", "a.box"));
        assert!(!m("*.box", "a.box.sha"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(Pattern::parse("out/[").is_err());
    }
}
