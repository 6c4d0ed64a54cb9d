//! The body of a response: nothing, bytes from memory, or a stretch of a file read as it is
//! sent. Dropping it (sent in full, or the client went away) records the request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use crate::Request;
use crate::request::Journal;

/// How much of a file one frame carries.
const CHUNK: usize = 64 * 1024;

pub(crate) enum Source {
    Empty,
    Memory(Bytes),
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

pub(crate) struct ResponseBody {
    source: Source,
    buf: Vec<u8>,
    sent: u64,
    /// Recorded with `bytes` = `sent` on drop.
    request: Option<Request>,
    journal: Arc<Journal>,
}

impl ResponseBody {
    pub(crate) fn new(source: Source, request: Request, journal: Arc<Journal>) -> Self {
        ResponseBody {
            source,
            buf: Vec::new(),
            sent: 0,
            request: Some(request),
            journal,
        }
    }

    fn remaining(&self) -> u64 {
        match &self.source {
            Source::Empty => 0,
            Source::Memory(bytes) => bytes.len() as u64,
            Source::File { remaining, .. } => *remaining,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match &mut this.source {
            Source::Empty => Poll::Ready(None),
            Source::Memory(bytes) => {
                if bytes.is_empty() {
                    return Poll::Ready(None);
                }
                let bytes = std::mem::take(bytes);
                this.sent += bytes.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Source::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining).map_or(CHUNK, |r| r.min(CHUNK));
                this.buf.resize(want, 0);
                let mut read = ReadBuf::new(&mut this.buf);
                ready!(Pin::new(file).poll_read(cx, &mut read))?;
                let filled = read.filled();
                if filled.is_empty() {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being served",
                    ))));
                }
                *remaining -= filled.len() as u64;
                this.sent += filled.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(filled)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(mut request) = self.request.take() {
            request.bytes = self.sent;
            self.journal.record(&request);
        }
    }
}
