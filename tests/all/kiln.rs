//! Running the `kiln` binary under test, and where the test fixtures are.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (this crate lives at host/cli).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn fixtures() -> PathBuf {
    workspace().join("tests/fixtures")
}

/// `../shared` beside the clone (where CI puts it), or `KILN_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("KILN_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join("../shared"),
    }
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A stable text for snapshots: exit code, then both streams, with timestamps masked.
    pub fn transcript(&self) -> String {
        let mask = |s: &str| {
            s.lines()
                .map(|l| match l.split_once(',') {
                    Some((ts, rest))
                        if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        format!("TIMESTAMP,{rest}")
                    }
                    _ => l.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "exit code: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            mask(&self.stdout),
            mask(&self.stderr)
        )
    }
}

/// A kiln invocation with a clean, colourless environment.
pub struct Kiln {
    command: Command,
    stdin: Option<String>,
}

impl Kiln {
    pub fn new(dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command.current_dir(dir).env("NO_COLOR", "1");
        for (key, _) in std::env::vars() {
            if key.starts_with("PKR_VAR_") || key.starts_with("KILN_") || key.starts_with("PACKER_")
            {
                command.env_remove(key);
            }
        }
        Kiln {
            command,
            stdin: None,
        }
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    pub fn run(mut self) -> Run {
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("kiln starts");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = self.stdin.take() {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("kiln finishes");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs kiln in the CLI fixtures directory.
pub fn kiln(args: &[&str]) -> Run {
    Kiln::new(&fixtures().join("cli")).args(args).run()
}
