//! `*` patterns for names and sources: `AWS_*`, `oci://registry.example.com/kiln/*`, `*`.

use std::fmt;

/// A text where `*` stands for any run of characters (none included); everything else is
/// literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard(String);

impl Wildcard {
    pub fn new(text: impl Into<String>) -> Wildcard {
        Wildcard(text.into())
    }

    /// `*`, which matches everything.
    pub fn any() -> Wildcard {
        Wildcard("*".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }

    /// Whether every text `other` matches, this matches too. Sound: this pattern must match
    /// `other`'s own text with `other`'s stars read as plain characters, and a literal here can
    /// never consume one of them, so each of `other`'s stars falls inside one of ours.
    pub fn covers(&self, other: &Wildcard) -> bool {
        self.matches(&other.0)
    }
}

impl fmt::Display for Wildcard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative glob matching with backtracking to the last star: linear in practice.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let w = Wildcard::new("AWS_*");
        assert!(w.matches("AWS_REGION"));
        assert!(w.matches("AWS_"));
        assert!(!w.matches("XAWS_REGION"));
        assert!(Wildcard::any().matches(""));
        assert!(Wildcard::new("a*b*c").matches("aXbYc"));
        assert!(!Wildcard::new("a*b*c").matches("aXbY"));
        assert!(Wildcard::new("HOME").matches("HOME"));
        assert!(!Wildcard::new("HOME").matches("HOMEX"));
        let oci = Wildcard::new("oci://registry.example.com/kiln/*");
        assert!(oci.matches("oci://registry.example.com/kiln/sshd:1.0"));
        assert!(!oci.matches("oci://registry.example.com/other/sshd:1.0"));
    }

    #[test]
    fn covering() {
        let w = |s: &str| Wildcard::new(s);
        assert!(w("*").covers(&w("AWS_*")));
        assert!(w("AWS_*").covers(&w("AWS_S3_*")));
        assert!(w("AWS_*").covers(&w("AWS_REGION")));
        assert!(!w("AWS_REGION").covers(&w("AWS_*")));
        assert!(!w("AWS_*").covers(&w("*")));
        assert!(w("*b*").covers(&w("*b")));
        assert!(!w("a*a").covers(&w("a*")));
    }
}
