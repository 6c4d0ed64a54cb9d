//! Download sources with a pattern (`/var/log/*.log`): the remote shell expands them, as it
//! does for Packer's `scp -f <pattern>`, and each match is downloaded by name.

use kiln_plugin_sdk::host::communicator::{Command, Exit};
use kiln_plugin_sdk::{Context, Error, Session};

/// The remote paths `pattern` matches, in the shell's order.
pub fn expand(session: &Session, pattern: &str) -> Result<Vec<String>, Error> {
    let captured = session
        .exec_captured(&Command {
            line: listing(pattern),
            env: Vec::new(),
            stdin: None,
        })
        .context(format!("expanding '{pattern}' on the machine"))?;
    if let Exit::Disconnected = captured.exit {
        return Err(Error::failed(format!(
            "expanding '{pattern}' on the machine: the connection dropped"
        )));
    }
    let matches = parse(&captured.stdout);
    if matches.is_empty() {
        return Err(Error::failed(format!(
            "no file on the machine matches '{pattern}'{}",
            match String::from_utf8_lossy(&captured.stderr).trim() {
                "" => String::new(),
                stderr => format!(": {stderr}"),
            }
        )));
    }
    Ok(matches)
}

/// A shell loop printing each existing match, NUL-terminated. The pattern is left unquoted
/// so the shell expands it; a pattern matching nothing stays itself and fails `-e`.
fn listing(pattern: &str) -> String {
    format!(
        "for f in {pattern}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then printf '%s\\000' \"$f\"; fi; done"
    )
}

fn parse(stdout: &[u8]) -> Vec<String> {
    stdout
        .split(|b| *b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_lists_the_matches() {
        assert_eq!(
            listing("/var/log/*.log"),
            r#"for f in /var/log/*.log; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\000' "$f"; fi; done"#
        );
        assert_eq!(
            parse(b"/var/log/a.log\0/var/log/with space.log\0"),
            ["/var/log/a.log", "/var/log/with space.log"]
        );
        assert!(parse(b"").is_empty());
    }
}
