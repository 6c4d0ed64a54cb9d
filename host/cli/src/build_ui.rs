//! A build's output on the terminal, as Packer prints it: each build's lines prefixed with its
//! name in its own colour (`==> name: ` for steps, `    name: ` for details), optional
//! RFC 3339 timestamps, or machine-readable `ui` lines. Every line is redacted.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_core::ui::{Progress, Ui as CoreUi};

use crate::secrets::redact;
use crate::ui::Ui;

/// Packer's rotation: green, cyan, magenta, yellow, blue.
const COLOURS: [u8; 5] = [32, 36, 35, 33, 34];

pub struct BuildUi {
    out: Arc<Output>,
}

/// Where lines go; shared with progress bars, which print a line when they finish.
struct Output {
    ui: Ui,
    timestamps: bool,
    builds: Vec<String>,
    /// One writer at a time, so lines of parallel builds never interleave mid-line.
    lock: Mutex<()>,
}

impl BuildUi {
    pub fn new(ui: Ui, timestamps: bool, builds: Vec<String>) -> Self {
        BuildUi {
            out: Arc::new(Output {
                ui,
                timestamps,
                builds,
                lock: Mutex::new(()),
            }),
        }
    }
}

impl Output {
    fn colour(&self, build: &str) -> Option<u8> {
        if !self.ui.color || build.is_empty() {
            return None;
        }
        let index = self.builds.iter().position(|b| b == build).unwrap_or(0);
        Some(COLOURS[index % COLOURS.len()])
    }

    fn write(&self, to_stderr: bool, build: &str, bold: bool, line: &str) {
        let mut text = line.to_owned();
        if self.timestamps {
            text = format!(
                "{}: {text}",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        let text = redact(&text).into_owned();
        let text = match self.colour(build) {
            Some(c) => format!("\x1b[{};{c}m{text}\x1b[0m", if bold { 1 } else { 0 }),
            None => text,
        };
        let _guard = self.lock.lock();
        if to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }
}

impl BuildUi {
    /// One `name: output will be in this color.` line per build, then a blank line.
    pub fn announce_builds(&self) {
        if self.out.ui.machine_readable {
            return;
        }
        for b in &self.out.builds {
            self.out.write(
                false,
                b,
                true,
                &format!("{b}: output will be in this color."),
            );
        }
        let _guard = self.out.lock.lock();
        let _ = writeln!(std::io::stdout().lock());
    }

    /// A plain line (summary), outside any build.
    pub fn line(&self, text: &str) {
        if self.out.ui.machine_readable {
            return;
        }
        self.out.write(false, "", false, text);
    }

    /// A line about one build, in its colour (`Build 'x' finished after ...`).
    pub fn build_line(&self, build: &str, to_stderr: bool, text: &str) {
        if self.out.ui.machine_readable {
            return;
        }
        self.out.write(to_stderr, build, true, text);
    }

    /// A plain line on stderr (the summary's errors).
    pub fn error_line(&self, text: &str) {
        if self.out.ui.machine_readable {
            return;
        }
        self.out.write(true, "", false, text);
    }
}

impl Output {
    /// One `ui` line of a kind (`say`, `message`, `error`), prefixed as Packer prefixes it:
    /// `==> build: ` for steps and errors, `    build: ` for details.
    fn emit(&self, kind: &str, build: &str, text: &str) {
        let (arrow, to_stderr, bold) = match kind {
            "message" => ("    ", false, false),
            "error" => ("==> ", true, true),
            _ => ("==> ", false, true),
        };
        let prefix = if build.is_empty() {
            arrow.to_owned()
        } else {
            format!("{arrow}{build}: ")
        };
        if self.ui.machine_readable {
            self.ui
                .machine("", "ui", &[kind, &format!("{prefix}{text}")]);
            return;
        }
        for line in text.lines() {
            self.write(to_stderr, build, bold, &format!("{prefix}{line}"));
        }
    }
}

impl CoreUi for BuildUi {
    fn say(&self, build: &str, text: &str) {
        self.out.emit("say", build, text);
    }

    fn message(&self, build: &str, text: &str) {
        self.out.emit("message", build, text);
    }

    fn error(&self, build: &str, text: &str) {
        self.out.emit("error", build, text);
    }

    fn machine(&self, target: &str, kind: &str, data: &[&str]) {
        self.out.ui.machine(target, kind, data);
    }

    fn progress(&self, build: &str, label: &str, total: u64) -> Box<dyn Progress> {
        // A live bar only on a terminal (stderr, beside the build's lines on stdout).
        let bar = (!self.out.ui.machine_readable && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                (total > 0).then_some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let template = "    {prefix}: {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}";
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(build.to_owned());
            bar.set_message(redact(label).into_owned());
            bar
        });
        Box::new(LineProgress {
            out: Arc::clone(&self.out),
            build: build.to_owned(),
            label: label.to_owned(),
            total,
            started: Instant::now(),
            done: Mutex::new((0, false)),
            bar,
        })
    }

    /// Reads the answer from the terminal (`/dev/tty`, as Packer does), never from stdin; no
    /// terminal, or machine-readable output, means no answer.
    fn ask(&self, build: &str, question: &str) -> Option<String> {
        if self.out.ui.machine_readable {
            return None;
        }
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        if !tty.is_terminal() {
            return None;
        }
        self.say(build, question);
        let mut answer = String::new();
        std::io::BufReader::new(tty).read_line(&mut answer).ok()?;
        Some(answer.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// A progress report: a live bar on a terminal, and one line when the work finishes (what,
/// how much, how fast), so logs of non-interactive builds show it too.
struct LineProgress {
    out: Arc<Output>,
    build: String,
    label: String,
    total: u64,
    started: Instant,
    done: Mutex<(u64, bool)>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress for LineProgress {
    fn advance(&self, amount: u64) {
        if let Ok(mut d) = self.done.lock() {
            d.0 += amount;
        }
        if let Some(bar) = &self.bar {
            bar.inc(amount);
        }
    }

    fn finish(&self) {
        let Ok(mut d) = self.done.lock() else { return };
        if d.1 {
            return;
        }
        d.1 = true;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let elapsed = self.started.elapsed();
        let rate = d.0 as f64 / elapsed.as_secs_f64().max(0.001) / (1024.0 * 1024.0);
        let amount = if self.total > 0 && d.0 != self.total {
            format!("{} of {}", mebibytes(d.0), mebibytes(self.total))
        } else {
            mebibytes(d.0)
        };
        let text = format!(
            "{}: {amount} in {:.1}s ({rate:.1} MiB/s)",
            self.label,
            elapsed.as_secs_f64()
        );
        tracing::debug!(build = %self.build, "{text}");
        if !self.out.ui.machine_readable {
            self.out.emit("message", &self.build, &text);
        }
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
