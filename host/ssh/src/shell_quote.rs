//! Quoting for the remote POSIX shell.

/// `text` as one single-quoted word for `sh` (`it's` → `'it'"'"'s'`, as Packer quotes).
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'"'"'"#))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn single_quotes_are_closed_escaped_and_reopened() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(quote(""), "''");
    }
}
