//! What the server answers: a request path mapped to `http_content` or a file under
//! `http_directory`, with its type, length and range.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::Request;
use crate::body::{ResponseBody, Source};
use crate::request::Journal;

const TEXT: &str = "text/plain; charset=utf-8";
const BINARY: &str = "application/octet-stream";

/// How many bytes of a file of unknown extension are looked at to tell text from binary
/// (as Go's `http.DetectContentType`, which Packer's file server uses).
const SNIFF: u64 = 512;

pub(crate) struct Site {
    /// Canonicalized.
    directory: Option<PathBuf>,
    content: HashMap<String, Bytes>,
    journal: Arc<Journal>,
}

/// A resource found for a path.
enum Found {
    Memory(Bytes, &'static str),
    File(tokio::fs::File, u64, &'static str),
}

impl Site {
    pub(crate) fn new(
        directory: Option<PathBuf>,
        content: Vec<(String, String)>,
        journal: Arc<Journal>,
    ) -> Self {
        let content = content
            .into_iter()
            .map(|(path, text)| (normalize_key(&path), Bytes::from(text)))
            .collect();
        Site {
            directory,
            content,
            journal,
        }
    }

    pub(crate) async fn respond<B>(
        &self,
        request: hyper::Request<B>,
        peer: SocketAddr,
    ) -> Response<ResponseBody> {
        let method = request.method().clone();
        let record = Request {
            method: method.as_str().to_owned(),
            path: request.uri().path().to_owned(),
            status: 0,
            bytes: 0,
            peer,
        };
        if method != Method::GET && method != Method::HEAD {
            let mut response = self.error(StatusCode::METHOD_NOT_ALLOWED, false, record);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let head = method == Method::HEAD;
        let found = match self.find(&record.path).await {
            Ok(found) => found,
            Err(status) => return self.error(status, head, record),
        };
        let range = request
            .headers()
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok());
        self.found(found, range, head, record).await
    }

    async fn found(
        &self,
        found: Found,
        range: Option<&str>,
        head: bool,
        mut record: Request,
    ) -> Response<ResponseBody> {
        let (length, content_type) = match &found {
            Found::Memory(bytes, content_type) => (bytes.len() as u64, *content_type),
            Found::File(_, length, content_type) => (*length, *content_type),
        };
        let (status, start, end) = match range.map(|r| parse_range(r, length)) {
            None | Some(Range::Ignored) => (StatusCode::OK, 0, length),
            Some(Range::Bytes(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end),
            Some(Range::Unsatisfiable) => {
                let mut response = self.error(StatusCode::RANGE_NOT_SATISFIABLE, head, record);
                insert(
                    &mut response,
                    header::CONTENT_RANGE,
                    format!("bytes */{length}"),
                );
                return response;
            }
        };
        let source = match found {
            _ if head => Source::Empty,
            Found::Memory(bytes, _) => {
                // Both ends are within the content by construction.
                let (start, end) = (
                    usize::try_from(start).unwrap_or(0),
                    usize::try_from(end).unwrap_or(0),
                );
                Source::Memory(bytes.slice(start..end))
            }
            Found::File(mut file, _, _) => {
                if let Err(e) = file.seek(SeekFrom::Start(start)).await {
                    tracing::warn!(path = record.path, "cannot seek: {e}");
                    return self.error(StatusCode::INTERNAL_SERVER_ERROR, head, record);
                }
                Source::File {
                    file,
                    remaining: end - start,
                }
            }
        };
        record.status = status.as_u16();
        let mut response =
            Response::new(ResponseBody::new(source, record, Arc::clone(&self.journal)));
        *response.status_mut() = status;
        insert(&mut response, header::CONTENT_TYPE, content_type.to_owned());
        insert(
            &mut response,
            header::CONTENT_LENGTH,
            (end - start).to_string(),
        );
        insert(&mut response, header::ACCEPT_RANGES, "bytes".to_owned());
        if status == StatusCode::PARTIAL_CONTENT {
            let last = end - 1;
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes {start}-{last}/{length}"),
            );
        }
        response
    }

    fn error(&self, status: StatusCode, head: bool, mut record: Request) -> Response<ResponseBody> {
        let text = format!(
            "{} {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error").to_lowercase()
        );
        let length = text.len();
        let source = if head {
            Source::Empty
        } else {
            Source::Memory(Bytes::from(text))
        };
        record.status = status.as_u16();
        let mut response =
            Response::new(ResponseBody::new(source, record, Arc::clone(&self.journal)));
        *response.status_mut() = status;
        insert(&mut response, header::CONTENT_TYPE, TEXT.to_owned());
        insert(&mut response, header::CONTENT_LENGTH, length.to_string());
        response
    }

    /// The resource a (still percent-encoded) request path names, or the status to answer.
    async fn find(&self, raw: &str) -> Result<Found, StatusCode> {
        let decoded: Vec<u8> = percent_decode_str(raw).collect();
        if decoded.contains(&0) {
            return Err(StatusCode::NOT_FOUND);
        }
        let mut segments: Vec<&[u8]> = Vec::new();
        for segment in decoded.split(|b| *b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => {
                    tracing::debug!(path = raw, "refused: the path climbs out of the root");
                    return Err(StatusCode::NOT_FOUND);
                }
                segment => segments.push(segment),
            }
        }
        if let Ok(key) = std::str::from_utf8(&segments.join(&b'/')) {
            let index = if key.is_empty() {
                "index.html".to_owned()
            } else {
                format!("{key}/index.html")
            };
            for key in [key, &index] {
                if let Some(bytes) = self.content.get(&format!("/{key}")) {
                    return Ok(Found::Memory(bytes.clone(), memory_type(key, bytes)));
                }
            }
        }
        match &self.directory {
            Some(root) => open(root, &segments).await,
            None => Err(StatusCode::NOT_FOUND),
        }
    }
}

/// Content map keys as request paths are looked up: one leading `/`, no empty or `.` segments.
fn normalize_key(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", segments.join("/"))
}

/// Opens the file `segments` name under `root`, refusing anything whose real path leaves
/// `root`; a directory means its `index.html`.
async fn open(root: &Path, segments: &[&[u8]]) -> Result<Found, StatusCode> {
    let mut path = root.to_path_buf();
    for segment in segments {
        path.push(OsStr::from_bytes(segment));
    }
    let mut real = inside(root, &path).await?;
    let is_dir = tokio::fs::metadata(&real)
        .await
        .map_err(|e| status_for(&real, &e))?
        .is_dir();
    if is_dir {
        real = inside(root, &real.join("index.html")).await?;
    }
    let mut file = tokio::fs::File::open(&real)
        .await
        .map_err(|e| status_for(&real, &e))?;
    let metadata = file.metadata().await.map_err(|e| status_for(&real, &e))?;
    if !metadata.is_file() {
        return Err(StatusCode::NOT_FOUND);
    }
    let content_type = match extension_type(&real) {
        Some(content_type) => content_type,
        None => {
            let mut prefix = Vec::new();
            (&mut file)
                .take(SNIFF)
                .read_to_end(&mut prefix)
                .await
                .map_err(|e| status_for(&real, &e))?;
            sniff(&prefix)
        }
    };
    Ok(Found::File(file, metadata.len(), content_type))
}

/// The real path of `path` if it lies under `root`.
async fn inside(root: &Path, path: &Path) -> Result<PathBuf, StatusCode> {
    let real = tokio::fs::canonicalize(path)
        .await
        .map_err(|e| status_for(path, &e))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        tracing::debug!(path = %path.display(), real = %real.display(), "refused: outside http_directory");
        Err(StatusCode::NOT_FOUND)
    }
}

fn status_for(path: &Path, e: &io::Error) -> StatusCode {
    tracing::debug!(path = %path.display(), "{e}");
    if e.kind() == io::ErrorKind::PermissionDenied {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::NOT_FOUND
    }
}

fn memory_type(key: &str, bytes: &[u8]) -> &'static str {
    extension_type(Path::new(key)).unwrap_or_else(|| {
        let end = bytes.len().min(512);
        sniff(&bytes[..end])
    })
}

/// The type of the files installers and boot loaders fetch, by extension.
fn extension_type(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    let content_type = match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "xml" => "text/xml; charset=utf-8",
        "cfg" | "ks" | "seed" | "preseed" | "txt" | "conf" | "sh" | "ps1" | "bat" | "cmd"
        | "ipxe" | "yaml" | "yml" | "toml" | "ini" | "pub" => TEXT,
        "iso" | "img" | "raw" | "qcow2" | "vmdk" | "vhd" | "vhdx" | "efi" | "bin" | "gz"
        | "tgz" | "xz" | "zst" | "bz2" | "tar" | "zip" | "cpio" | "squashfs" | "deb" | "rpm"
        | "exe" | "msi" | "cab" | "wim" => BINARY,
        _ => return None,
    };
    Some(content_type)
}

/// Text unless the bytes hold control characters text does not (Go's rule) or are not UTF-8.
fn sniff(prefix: &[u8]) -> &'static str {
    let control = prefix
        .iter()
        .any(|b| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b'\x1b'));
    let utf8 = match std::str::from_utf8(prefix) {
        Ok(_) => true,
        // A character cut at the end of the prefix.
        Err(e) => e.error_len().is_none(),
    };
    if control || !utf8 { BINARY } else { TEXT }
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Absent, malformed or several ranges: the whole resource is sent.
    Ignored,
    /// `start..end`.
    Bytes(u64, u64),
    Unsatisfiable,
}

/// A `Range` header against a resource of `length` bytes: one `bytes=` range (`N-`, `N-M`,
/// `-S`); several ranges are answered with the whole resource, which RFC 9110 allows.
fn parse_range(value: &str, length: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return Range::Ignored;
        };
        if suffix == 0 || length == 0 {
            return Range::Unsatisfiable;
        }
        return Range::Bytes(length - suffix.min(length), length);
    }
    let Ok(start) = first.parse::<u64>() else {
        return Range::Ignored;
    };
    let end = if last.is_empty() {
        length
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(length),
            _ => return Range::Ignored,
        }
    };
    if start >= length {
        Range::Unsatisfiable
    } else {
        Range::Bytes(start, end)
    }
}

fn insert(response: &mut Response<ResponseBody>, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        response.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Range::Bytes(0, 10));
        assert_eq!(parse_range("bytes=4-", 10), Range::Bytes(4, 10));
        assert_eq!(parse_range("bytes=2-5", 10), Range::Bytes(2, 6));
        assert_eq!(parse_range("bytes=2-50", 10), Range::Bytes(2, 10));
        assert_eq!(parse_range("bytes=-3", 10), Range::Bytes(7, 10));
        assert_eq!(parse_range("bytes=-30", 10), Range::Bytes(0, 10));
        assert_eq!(parse_range("bytes=10-", 10), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 10), Range::Ignored);
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Range::Ignored);
        assert_eq!(parse_range("items=0-1", 10), Range::Ignored);
        assert_eq!(parse_range("bytes=x-", 10), Range::Ignored);
    }

    #[test]
    fn keys_are_normalized_to_one_leading_slash() {
        assert_eq!(normalize_key("preseed.cfg"), "/preseed.cfg");
        assert_eq!(normalize_key("/preseed.cfg"), "/preseed.cfg");
        assert_eq!(normalize_key("ks//./x.ks"), "/ks/x.ks");
        assert_eq!(normalize_key("/"), "/");
    }

    #[test]
    fn types() {
        assert_eq!(extension_type(Path::new("a/preseed.cfg")), Some(TEXT));
        assert_eq!(extension_type(Path::new("ks.KS")), Some(TEXT));
        assert_eq!(extension_type(Path::new("disk.qcow2")), Some(BINARY));
        assert_eq!(extension_type(Path::new("user-data")), None);
        assert_eq!(sniff(b"#cloud-config\nusers: []\n"), TEXT);
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), BINARY);
        assert_eq!(sniff("caf\u{e9}".as_bytes()[..4].as_ref()), TEXT);
        assert_eq!(memory_type("/user-data", b"\0\x01"), BINARY);
    }
}
