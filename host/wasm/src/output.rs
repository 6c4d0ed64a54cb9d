//! A plugin's stdout and stderr, delivered to the build's UI a line at a time.
//!
//! The stream wasmtime writes to never fills up and never fails: a plugin that prints a lot is
//! slowed by the UI at worst, never killed for it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// One line a plugin printed, without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: StreamKind,
    pub text: String,
}

/// Receives plugin output lines (the CLI prefixes them with the build's name).
pub type OutputSink = Arc<dyn Fn(OutputLine) + Send + Sync>;

/// An `AsyncWrite` that splits what it is given into lines for an [`OutputSink`].
pub(crate) struct LineWriter {
    stream: StreamKind,
    sink: OutputSink,
    partial: Vec<u8>,
}

impl LineWriter {
    pub(crate) fn new(stream: StreamKind, sink: OutputSink) -> Self {
        LineWriter {
            stream,
            sink,
            partial: Vec::new(),
        }
    }

    fn emit(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        (self.sink)(OutputLine {
            stream: self.stream,
            text: text.trim_end_matches('\r').to_owned(),
        });
    }

    fn flush_partial(&mut self) {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            self.emit(&partial);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.partial.extend_from_slice(buf);
        while let Some(newline) = this.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = this.partial.drain(..=newline).collect();
            this.emit(&line[..line.len() - 1]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_partial();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn splits_writes_into_lines_and_flushes_the_rest() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = Arc::clone(&seen);
        let sink: OutputSink =
            Arc::new(move |line: OutputLine| sink_seen.lock().unwrap().push(line.text));
        let mut w = LineWriter::new(StreamKind::Stdout, sink);
        w.write_all(b"hel").await.unwrap();
        w.write_all(b"lo\r\nwor").await.unwrap();
        w.write_all(b"ld\nlast").await.unwrap();
        drop(w);
        assert_eq!(*seen.lock().unwrap(), ["hello", "world", "last"]);
    }
}
