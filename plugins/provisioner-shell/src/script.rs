//! The bytes uploaded for a script: the inline script Packer writes, and its conversion of
//! Windows line endings (`UnixReader`).

/// `inline` as one script: `#!<shebang>`, then each command on a line of its own.
pub fn inline_script(shebang: &str, commands: &[String]) -> String {
    let mut text = format!("#!{shebang}\n");
    for command in commands {
        text.push_str(command);
        text.push('\n');
    }
    text
}

/// Packer's `UnixReader`: every line ends in `\n`, one `\r` before it dropped, and a last line
/// without a newline gets one.
pub fn unix_line_endings(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 1);
    for line in content.split_inclusive(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_commands_follow_the_shebang() {
        let commands = ["echo a".to_owned(), "echo b".to_owned()];
        assert_eq!(
            inline_script("/bin/sh -e", &commands),
            "#!/bin/sh -e\necho a\necho b\n"
        );
    }

    #[test]
    fn line_endings_as_packers_unix_reader() {
        let convert = |s: &str| String::from_utf8(unix_line_endings(s.as_bytes())).unwrap();
        assert_eq!(convert("one\r\ntwo\r\nthree"), "one\ntwo\nthree\n");
        assert_eq!(convert("a\nb\n"), "a\nb\n");
        assert_eq!(convert("a\r\r\n"), "a\r\n");
        assert_eq!(convert("mid\rline\n"), "mid\rline\n");
        assert_eq!(convert("last\r"), "last\n");
        assert_eq!(convert("\n\n"), "\n\n");
        assert_eq!(convert(""), "");
    }
}
