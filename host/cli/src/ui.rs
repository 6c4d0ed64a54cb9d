//! What the user sees: human text, or Packer's machine-readable lines. All output is redacted.

use std::io::{IsTerminal, Write};

use kiln_template::diagnostic::{Diagnostics, Severity};

use crate::secrets::redact;

/// Where and how to write. Human text goes to stdout and diagnostics to stderr; in
/// machine-readable mode everything is a `timestamp,target,type,data...` line on stdout.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    pub machine_readable: bool,
    pub color: bool,
}

impl Ui {
    /// `--color=false`, `NO_COLOR`, `PACKER_NO_COLOR` or a non-terminal stderr turn colour off.
    pub fn new(machine_readable: bool, color_flag: bool) -> Self {
        let env_off =
            std::env::var_os("NO_COLOR").is_some() || std::env::var_os("PACKER_NO_COLOR").is_some();
        let color = color_flag && !env_off && !machine_readable && std::io::stderr().is_terminal();
        Ui {
            machine_readable,
            color,
        }
    }

    /// A line of normal output (`ui,say`).
    pub fn say(&self, text: &str) {
        if self.machine_readable {
            self.machine("", "ui", &["say", text]);
        } else {
            write_line(&mut std::io::stdout(), text);
        }
    }

    /// A line that reports a failure (`ui,error`), on stderr.
    pub fn error(&self, text: &str) {
        if self.machine_readable {
            self.machine("", "ui", &["error", text]);
        } else {
            write_line(&mut std::io::stderr(), text);
        }
    }

    /// A machine-readable record; nothing in human mode.
    pub fn machine(&self, target: &str, kind: &str, data: &[&str]) {
        if !self.machine_readable {
            return;
        }
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut line = format!("{timestamp},{},{}", escape(target), escape(kind));
        for field in data {
            line.push(',');
            line.push_str(&escape(&redact(field)));
        }
        write_line(&mut std::io::stdout(), &line);
    }

    /// Errors and warnings with their source snippets (human), or one `ui,error` line each.
    pub fn diagnostics(&self, diagnostics: &Diagnostics) {
        for d in diagnostics.iter() {
            if self.machine_readable {
                let kind = if d.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                let mut text = d.one_line();
                for hint in &d.hints {
                    text.push_str(&format!("\nhint: {hint}"));
                }
                self.machine("", "ui", &[kind, &text]);
            } else {
                let rendered = d.render(self.color);
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(redact(&rendered).as_bytes());
            }
        }
    }
}

fn write_line(out: &mut dyn Write, text: &str) {
    let _ = writeln!(out, "{}", redact(text));
}

/// Packer's machine-readable escaping: commas, newlines and carriage returns.
pub fn escape(field: &str) -> String {
    field
        .replace(',', "%!(PACKER_COMMA)")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    #[test]
    fn machine_readable_escaping_is_packers() {
        assert_eq!(super::escape("a,b\nc\r"), "a%!(PACKER_COMMA)b\\nc\\r");
    }
}
