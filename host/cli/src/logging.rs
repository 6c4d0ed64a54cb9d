//! Debug logs: `KILN_LOG` (or Packer's `PACKER_LOG`) turns them on, `KILN_LOG_PATH` (or
//! `PACKER_LOG_PATH`) sends them to a file instead of stderr. Log lines are redacted too.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

fn env(kiln: &str, packer: &str) -> Option<String> {
    std::env::var(kiln)
        .ok()
        .or_else(|| std::env::var(packer).ok())
        .filter(|v| !v.is_empty() && v != "0")
}

/// Installs the subscriber when logging is asked for. A value that is a filter
/// (`KILN_LOG=kiln_core=trace`) is used as one; any other value means debug for kiln's crates.
pub fn init() -> Result<(), String> {
    let Some(level) = env("KILN_LOG", "PACKER_LOG") else {
        return Ok(());
    };
    let filter = match EnvFilter::try_new(&level) {
        Ok(f)
            if level.contains('=')
                || ["trace", "debug", "info", "warn", "error"].contains(&level.as_str()) =>
        {
            f
        }
        _ => EnvFilter::new("kiln=debug,kiln_core=debug,kiln_template=debug"),
    };
    let sink: Box<dyn Write + Send> = match env("KILN_LOG_PATH", "PACKER_LOG_PATH") {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open the log file {path}: {e}"))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let writer = RedactingWriter {
        sink: Arc::new(Mutex::new(sink)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Ok(())
}

#[derive(Clone)]
struct RedactingWriter {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let redacted = crate::secrets::redact(&text);
        let mut sink = self
            .sink
            .lock()
            .map_err(|_| std::io::Error::other("log writer poisoned"))?;
        sink.write_all(redacted.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink
            .lock()
            .map_err(|_| std::io::Error::other("log writer poisoned"))?
            .flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingWriter {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
