//! Packer's file patterns: Go's `filepath.Glob` on Unix. `*` is any run of characters but `/`,
//! `?` one character, `[a-z0-9]` and `[^...]` a class, `\` escapes the next character; there
//! is no `**`. A malformed pattern is Go's "syntax error in pattern"; a pattern that matches
//! nothing, or a directory that cannot be read, yields nothing. Matches within one directory
//! come in name order, dot files included, as Go lists them.

use std::path::{Path, PathBuf};

use super::Source;

/// Go's `filepath.ErrBadPattern`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Whether Packer treats `text` as a pattern (`strings.ContainsAny(path, "*?[")`) rather than
/// a path.
pub fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether a component needs matching against a directory's names (Go's `hasMeta`, which on
/// Unix counts the escape too).
fn has_meta(component: &str) -> bool {
    component.contains(['*', '?', '[', '\\'])
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Run,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One component of a pattern, checked.
fn parse(component: &str) -> Result<Vec<Token>, BadPattern> {
    let mut chars = component.chars().peekable();
    let mut tokens = Vec::new();
    // One character of a class: escaped, or anything but the `-` and `]` that delimit ranges.
    let class_char = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| match chars.next() {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern),
        Some(c) => Ok(c),
    };
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Token::Run,
            '?' => Token::One,
            '\\' => Token::Char(chars.next().ok_or(BadPattern)?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            c => Token::Char(c),
        });
    }
    Ok(tokens)
}

/// Whether a one-character token matches `c` (a `*` is the matcher's backtracking, never one
/// character at a time).
fn matches_one(token: &Token, c: char) -> bool {
    match token {
        Token::Char(t) => *t == c,
        Token::One => c != '/',
        Token::Run => false,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

/// Whether `tokens` match all of `name`: the usual backtracking over the last `*`, which
/// never takes a `/`.
fn matches_tokens(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut last_run: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Run) => {
                last_run = Some((t, n));
                t += 1;
            }
            Some(token) if matches_one(token, name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match last_run {
                Some((run, start)) if name[start] != '/' => {
                    last_run = Some((run, start + 1));
                    t = run + 1;
                    n = start + 1;
                }
                _ => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Run)
}

/// Go's `filepath.Match` for one name (no `/` in it): whether `pattern` matches all of
/// `name`. The whole pattern is checked, matched or not.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let tokens = parse(pattern)?;
    let name: Vec<char> = name.chars().collect();
    Ok(matches_tokens(&tokens, &name))
}

/// Checks every component of `pattern` (Go's `Glob` does this before it reads anything).
pub fn check(pattern: &str) -> Result<(), BadPattern> {
    pattern.split('/').try_for_each(|c| parse(c).map(drop))
}

/// The part of `pattern` before its first component with a wildcard: the directory a glob
/// reads first, which must be readable for any of it to match.
pub fn literal_prefix(pattern: &str) -> &str {
    let mut end = 0;
    for (i, component) in pattern.split('/').enumerate() {
        if has_meta(component) {
            break;
        }
        end = if i == 0 {
            component.len()
        } else {
            end + 1 + component.len()
        };
    }
    match &pattern[..end] {
        "" if pattern.starts_with('/') => "/",
        prefix => prefix,
    }
}

/// Go's `filepath.Glob(pattern)`, relative patterns read from `base` (the working directory).
/// Each match is shown as the pattern spelled it, with the matched names in place.
pub fn glob(base: &Path, pattern: &str) -> Result<Vec<Source>, BadPattern> {
    check(pattern)?;
    let absolute = pattern.starts_with('/');
    let mut found = vec![Source {
        shown: if absolute {
            "/".to_owned()
        } else {
            String::new()
        },
        path: if absolute {
            PathBuf::from("/")
        } else {
            base.to_path_buf()
        },
    }];
    let join = |shown: &str, name: &str| match shown {
        "" => name.to_owned(),
        "/" => format!("/{name}"),
        _ => format!("{shown}/{name}"),
    };
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for component in &components {
        if !has_meta(component) {
            for source in &mut found {
                source.shown = join(&source.shown, component);
                source.path.push(component);
            }
            continue;
        }
        let tokens = parse(component)?;
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(&dir.path) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            for name in names {
                let chars: Vec<char> = name.chars().collect();
                if matches_tokens(&tokens, &chars) {
                    next.push(Source {
                        shown: join(&dir.shown, &name),
                        path: dir.path.join(&name),
                    });
                }
            }
        }
        found = next;
    }
    // A literal last component (or a pattern without wildcards) matches what exists.
    found.retain(|s| std::fs::symlink_metadata(&s.path).is_ok());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_semantics() {
        let yes = [
            ("abc", "abc"),
            ("*", "abc"),
            ("*c", "abc"),
            ("a*", "a"),
            ("a*b*c*d*e*", "axbxcxdxe"),
            ("a*b?c*x", "abxbbxdbxebxczzx"),
            ("ab[c]", "abc"),
            ("ab[b-d]", "abc"),
            ("ab[^c]", "abd"),
            ("ab[^b-d]", "abe"),
            ("a\\*b", "a*b"),
            ("[\\-]", "-"),
            ("[x\\-]", "-"),
            ("[a-ζ]*", "α"),
            ("*", ".hidden"),
            ("?", "é"),
        ];
        for (pattern, name) in yes {
            assert_eq!(matches(pattern, name), Ok(true), "{pattern} {name}");
        }
        let no = [
            ("*c", "abcd"),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx"),
            ("a*", "ab/c"),
            ("a?c", "a/c"),
            ("a*b?c*x", "abxbbxdbxebxczzy"),
            ("ab[^c]", "abc"),
            ("ab[^b-d]", "abc"),
            ("a\\*b", "ab"),
            ("a?b", "a☺b☺"),
            ("", "a"),
        ];
        for (pattern, name) in no {
            assert_eq!(matches(pattern, name), Ok(false), "{pattern} {name}");
        }
        for bad in [
            "[", "[^", "[]a]", "[-]", "[x-]", "[a-b-c]", "\\", "[\\", "a[", "*x[", "[^]",
        ] {
            assert_eq!(matches(bad, "x"), Err(BadPattern), "{bad}");
            assert_eq!(check(&format!("ok/{bad}/*")), Err(BadPattern), "{bad}");
        }
        assert!(is_pattern("http/*.cfg") && is_pattern("a?") && is_pattern("[ab]"));
        assert!(!is_pattern("http/preseed.cfg") && !is_pattern("a\\b"));
    }

    #[test]
    fn the_literal_prefix_is_read_first() {
        assert_eq!(literal_prefix("http/*.cfg"), "http");
        assert_eq!(literal_prefix("/srv/a/b*/c"), "/srv/a");
        assert_eq!(literal_prefix("/*"), "/");
        assert_eq!(literal_prefix("*.cfg"), "");
        assert_eq!(literal_prefix("a/b/c"), "a/b/c");
    }

    #[test]
    fn globs_read_directories_in_name_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = dir.path();
        for path in [
            "http/b.cfg",
            "http/a.cfg",
            "http/.dot.cfg",
            "http/sub/c.cfg",
            "x.txt",
        ] {
            let path = base.join(path);
            std::fs::create_dir_all(path.parent().unwrap_or(base))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, "x").unwrap_or_else(|e| panic!("{e}"));
        }
        let shown = |pattern: &str| -> Vec<String> {
            glob(base, pattern)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|s| {
                    let expected = if s.shown.starts_with('/') {
                        PathBuf::from(&s.shown)
                    } else {
                        base.join(s.shown.trim_start_matches("./"))
                    };
                    assert_eq!(s.path, expected);
                    s.shown
                })
                .collect()
        };
        assert_eq!(
            shown("http/*.cfg"),
            ["http/.dot.cfg", "http/a.cfg", "http/b.cfg"]
        );
        assert_eq!(shown("./http/[ab].cfg"), ["./http/a.cfg", "./http/b.cfg"]);
        assert_eq!(shown("*/*/c.cfg"), ["http/sub/c.cfg"]);
        assert_eq!(shown("h*"), ["http"]);
        assert_eq!(shown("nothing/*"), Vec::<String>::new());
        assert_eq!(shown("*.none"), Vec::<String>::new());
        assert_eq!(shown("*/missing.cfg"), Vec::<String>::new());
        let absolute = format!("{}/http/?.cfg", base.display());
        assert_eq!(
            shown(&absolute),
            [
                format!("{}/http/a.cfg", base.display()),
                format!("{}/http/b.cfg", base.display())
            ]
        );
        assert_eq!(glob(base, "http/[").map(|m| m.len()), Err(BadPattern));
    }
}
