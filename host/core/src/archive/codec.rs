//! The compression stream under a tar or a single file: gzip on our own parallel writer,
//! zstd and xz on their libraries' multi-threaded encoders.

use std::io::{self, Write};

use super::parallel_gzip::ParallelGzEncoder;

/// The most memory xz's threads may use together (liblzma runs fewer threads to stay under
/// it): at level 6 a thread needs about 100 MiB, at 9 about 700 MiB, and a many-core host
/// should not spend gigabytes on one archive.
const XZ_THREADS_MEMORY: u64 = 2 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Codec {
    Plain,
    Gzip,
    Zstd,
    Xz,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Plain => "tar",
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
        }
    }
}

/// A writer compressing with one [`Codec`]; [`finish`](Encoder::finish) ends the stream.
pub(super) enum Encoder<W: Write> {
    Plain(W),
    Gzip(ParallelGzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// `level` is already checked against the codec's range; `threads` is at least 1.
    pub fn new(codec: Codec, level: u32, threads: usize, inner: W) -> io::Result<Self> {
        let threads_u32 = u32::try_from(threads).unwrap_or(u32::MAX);
        Ok(match codec {
            Codec::Plain => Encoder::Plain(inner),
            Codec::Gzip => Encoder::Gzip(ParallelGzEncoder::new(inner, level, threads)?),
            Codec::Zstd => {
                let level = i32::try_from(level).map_err(io::Error::other)?;
                let mut encoder = zstd::stream::write::Encoder::new(inner, level)?;
                encoder.include_checksum(true)?;
                encoder.multithread(threads_u32)?;
                Encoder::Zstd(encoder)
            }
            Codec::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .threads(threads_u32)
                    .preset(level)
                    .check(liblzma::stream::Check::Crc64)
                    .memlimit_threading(XZ_THREADS_MEMORY)
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
        })
    }

    /// Writes the end of the compressed stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(inner) => Ok(inner),
            Encoder::Gzip(encoder) => encoder.finish(),
            Encoder::Zstd(encoder) => encoder.finish(),
            Encoder::Xz(encoder) => encoder.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(inner) => inner.write(buf),
            Encoder::Gzip(encoder) => encoder.write(buf),
            Encoder::Zstd(encoder) => encoder.write(buf),
            Encoder::Xz(encoder) => encoder.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(inner) => inner.flush(),
            Encoder::Gzip(encoder) => encoder.flush(),
            Encoder::Zstd(encoder) => encoder.flush(),
            Encoder::Xz(encoder) => encoder.flush(),
        }
    }
}
