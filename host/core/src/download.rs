//! Fetching a build's `iso_url`/`iso_urls` into the download cache (Packer's `packer_cache`),
//! checked against `iso_checksum` ([`crate::checksum`]).
//!
//! [`Downloader::fetch`] tries the URLs in order. A local path (relative to the template's
//! directory) or `file://` URL is checked in place and used as it is. An `http(s)://` URL is
//! downloaded to `<cache>/<sha1 of the checksum, or of the URL>.<extension>`, Packer's name, so a
//! cache Packer filled serves kiln too: through `<name>.part`, resumed with a `Range` request
//! when a previous attempt left one, checked, then renamed into place. Builds sharing the cache
//! (in this process or another) take an exclusive `flock` on `<name>.lock` around all of that,
//! so the second waits and then uses the first one's file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use sha1::Digest as _;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::checksum::{Checksum, HexDigest, find_in_sums};
use crate::plugin::PluginError;
use crate::ui::BuildLog;

/// Giving up on a mirror that does not answer, so the next URL gets its turn.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A transfer that stalls this long fails (and leaves its `.part` to resume).
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a build waiting for another one's download looks at the lock again.
const LOCK_POLL: Duration = Duration::from_millis(200);
/// A SUMS file is text listing digests; anything larger is not one.
const MAX_SUMS: usize = 16 << 20;
/// Writes are batched: chunks off the network are small.
const WRITE_BUFFER: usize = 1 << 20;

/// What to fetch: Packer's `iso_urls` (or `[iso_url]`), `iso_checksum`, and the cache file's
/// extension (`iso`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    pub urls: Vec<String>,
    pub checksum: String,
    pub extension: String,
}

/// Fetches files into a cache directory.
#[derive(Debug, Clone)]
pub struct Downloader {
    cache_dir: PathBuf,
    /// Relative local paths are relative to this (the template's directory).
    base_dir: PathBuf,
}

impl Downloader {
    pub fn new(cache_dir: PathBuf, base_dir: PathBuf) -> Self {
        Downloader {
            cache_dir,
            base_dir,
        }
    }

    /// `KILN_CACHE_DIR`, else `PACKER_CACHE_DIR`, else `<template_dir>/packer_cache` (Packer
    /// 1.6.6 uses `./packer_cache` in the working directory; kiln keeps the cache beside the
    /// template, wherever it is run from).
    pub fn cache_dir_from_env(template_dir: &Path) -> PathBuf {
        cache_dir_from(
            std::env::var_os("KILN_CACHE_DIR"),
            std::env::var_os("PACKER_CACHE_DIR"),
            template_dir,
        )
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The path of the first URL that yields a file matching the checksum. Each attempt and
    /// why it failed is logged; the error lists every URL's failure.
    pub async fn fetch(
        &self,
        request: &DownloadRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<PathBuf, PluginError> {
        let checksum = Checksum::parse(&request.checksum)?;
        if request.urls.is_empty() {
            return Err(PluginError::failed("no URL to download from"));
        }
        if checksum == Checksum::None {
            log.message("Warning: the checksum is \"none\": the download will not be verified");
        }
        let mut fetch = Fetch {
            downloader: self,
            request,
            checksum,
            log,
            cancel,
            client: None,
            sums: None,
        };
        let mut failures = Vec::new();
        for url in &request.urls {
            if cancel.is_cancelled() {
                return Err(PluginError::Cancelled);
            }
            log.message(&format!("Trying {url}"));
            match fetch.attempt(url).await {
                Ok(path) => return Ok(path),
                Err(Failure::Cancelled) => return Err(PluginError::Cancelled),
                Err(Failure::Failed(reason)) => {
                    log.message(&format!("{url}: {reason}"));
                    failures.push(format!("{url}: {reason}"));
                }
            }
        }
        Err(PluginError::failed(match failures.as_slice() {
            [one] => format!("download failed: {one}"),
            many => format!(
                "download failed from all {} URLs:\n  {}",
                many.len(),
                many.join("\n  ")
            ),
        }))
    }
}

fn cache_dir_from(
    kiln: Option<OsString>,
    packer: Option<OsString>,
    template_dir: &Path,
) -> PathBuf {
    [kiln, packer]
        .into_iter()
        .flatten()
        .find(|value| !value.is_empty())
        .map_or_else(|| template_dir.join("packer_cache"), PathBuf::from)
}

/// Why one URL did not yield the file.
enum Failure {
    Cancelled,
    Failed(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Failed(reason)
    }
}

enum Source {
    Local(PathBuf),
    Remote(Url),
}

/// One [`Downloader::fetch`]: what its attempts share.
struct Fetch<'a> {
    downloader: &'a Downloader,
    request: &'a DownloadRequest,
    checksum: Checksum,
    log: &'a BuildLog,
    cancel: &'a CancellationToken,
    /// Built on the first remote URL.
    client: Option<reqwest::Client>,
    /// A `file:` checksum's SUMS text, read once.
    sums: Option<String>,
}

impl Fetch<'_> {
    async fn attempt(&mut self, url: &str) -> Result<PathBuf, Failure> {
        match self.source(url)? {
            Source::Local(path) => self.local(path).await,
            Source::Remote(url) => self.remote(url).await,
        }
    }

    fn source(&self, location: &str) -> Result<Source, String> {
        if let Some((scheme, _)) = location.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            let parsed = || Url::parse(location).map_err(|e| format!("invalid URL: {e}"));
            match scheme.as_str() {
                "http" | "https" => return parsed().map(Source::Remote),
                "file" => {
                    return parsed()?
                        .to_file_path()
                        .map(Source::Local)
                        .map_err(|()| "not a local file URL".to_owned());
                }
                _ if scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
                {
                    return Err(format!(
                        "unsupported URL scheme {scheme:?}: kiln fetches http, https and file \
                         URLs and local paths"
                    ));
                }
                _ => {}
            }
        }
        let path = location.strip_prefix("file:").unwrap_or(location);
        Ok(Source::Local(self.downloader.base_dir.join(path)))
    }

    /// A local file is checked where it is and used as it is.
    async fn local(&mut self, path: PathBuf) -> Result<PathBuf, Failure> {
        let metadata = tokio::fs::metadata(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !metadata.is_file() {
            return Err(format!("{} is not a file", path.display()).into());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(expected) = self.expected(&name).await? {
            self.verify(&expected, &path).await?;
        }
        self.log
            .message(&format!("Using local file {}", path.display()));
        Ok(path)
    }

    async fn remote(&mut self, url: Url) -> Result<PathBuf, Failure> {
        let file_name = url_file_name(&url);
        let expected = self.expected(&file_name).await?;
        let cache_dir = &self.downloader.cache_dir;
        tokio::fs::create_dir_all(cache_dir).await.map_err(|e| {
            format!(
                "cannot create the cache directory {}: {e}",
                cache_dir.display()
            )
        })?;
        let name = cache_name(
            &self.request.checksum,
            &self.checksum,
            &url,
            &self.request.extension,
        );
        let target = cache_dir.join(&name);
        let part = cache_dir.join(format!("{name}.part"));
        let _lock = self
            .lock(&cache_dir.join(format!("{name}.lock")), &target)
            .await?;

        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.is_file())
        {
            match &expected {
                None => {
                    self.log.message(&format!(
                        "Using cached file {} (not verified)",
                        target.display()
                    ));
                    return Ok(target);
                }
                Some(expected) => match self.verify(expected, &target).await {
                    Ok(()) => {
                        self.log
                            .message(&format!("Using cached file {}", target.display()));
                        return Ok(target);
                    }
                    Err(Failure::Cancelled) => return Err(Failure::Cancelled),
                    Err(Failure::Failed(reason)) => {
                        self.log.message(&format!(
                            "The cached file is not usable ({reason}); downloading it again"
                        ));
                        remove(&target).await?;
                    }
                },
            }
        }

        self.download(&url, &part, &file_name).await?;
        if let Some(expected) = &expected
            && let Err(failure) = self.verify(expected, &part).await
        {
            if let Failure::Failed(_) = failure {
                // A corrupt or wrong file must not be resumed next time.
                remove(&part).await?;
            }
            return Err(failure);
        }
        tokio::fs::rename(&part, &target).await.map_err(|e| {
            format!(
                "cannot rename {} to {}: {e}",
                part.display(),
                target.display()
            )
        })?;
        self.log.message(&format!("{url} => {}", target.display()));
        Ok(target)
    }

    /// Downloads `url` into `part`, resuming what a previous attempt left there.
    async fn download(&mut self, url: &Url, part: &Path, label: &str) -> Result<(), Failure> {
        let client = self.client()?;
        let mut offset = tokio::fs::metadata(part).await.map_or(0, |m| m.len());
        loop {
            let mut request = client.get(url.clone());
            if offset > 0 {
                request = request.header(RANGE, format!("bytes={offset}-"));
            }
            let mut response = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(Failure::Cancelled),
                response = request.send() => response.map_err(describe)?,
            };
            let status = response.status();
            let resume = match status {
                StatusCode::PARTIAL_CONTENT if offset > 0 => {
                    if range_start(&response) != Some(offset) {
                        remove(part).await?;
                        return Err(format!(
                            "the server answered a range other than the bytes={offset}- asked for"
                        )
                        .into());
                    }
                    true
                }
                StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                    self.log.message(
                        "The partial download does not fit the file on the server; starting over",
                    );
                    remove(part).await?;
                    offset = 0;
                    continue;
                }
                status if status.is_success() => {
                    if offset > 0 {
                        self.log
                            .message("The server does not resume downloads; starting over");
                    }
                    false
                }
                status => return Err(format!("HTTP {status}").into()),
            };
            if !resume {
                offset = 0;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(resume)
                .truncate(!resume)
                .open(part)
                .await
                .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
            if resume {
                self.log
                    .message(&format!("Resuming the download at byte {offset}"));
            }
            let total = response
                .content_length()
                .map_or(0, |length| length + offset);
            let progress = self.log.progress(label, total);
            progress.advance(offset);
            let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let received = loop {
                let chunk = tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break Err(Failure::Cancelled),
                    chunk = response.chunk() => chunk,
                };
                match chunk {
                    Ok(Some(bytes)) => {
                        if let Err(e) = writer.write_all(&bytes).await {
                            break Err(format!("cannot write {}: {e}", part.display()).into());
                        }
                        progress.advance(bytes.len() as u64);
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(describe(e).into()),
                }
            };
            progress.finish();
            // What arrived is kept whatever happened, for the next attempt to resume.
            let flushed = async {
                writer.flush().await?;
                writer.get_mut().sync_data().await
            }
            .await
            .map_err(|e| format!("cannot write {}: {e}", part.display()));
            received?;
            return flushed.map_err(Failure::from);
        }
    }

    /// The digest the file called `file_name` must have, if any.
    async fn expected(&mut self, file_name: &str) -> Result<Option<HexDigest>, Failure> {
        let location = match &self.checksum {
            Checksum::None => return Ok(None),
            Checksum::Digest(digest) => return Ok(Some(digest.clone())),
            Checksum::File(location) => location.clone(),
        };
        let text = match &self.sums {
            Some(text) => text,
            None => {
                let text = self
                    .sums_text(&location)
                    .await
                    .map_err(|failure| match failure {
                        Failure::Failed(reason) => {
                            Failure::Failed(format!("checksum file {location}: {reason}"))
                        }
                        cancelled => cancelled,
                    })?;
                self.sums.insert(text)
            }
        };
        find_in_sums(text, &location, file_name)
            .map(Some)
            .map_err(|e| Failure::Failed(e.to_string()))
    }

    async fn sums_text(&mut self, location: &str) -> Result<String, Failure> {
        match self.source(location)? {
            Source::Local(path) => tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| Failure::Failed(format!("{}: {e}", path.display()))),
            Source::Remote(url) => {
                let client = self.client()?;
                let cancel = self.cancel;
                let read = async {
                    let mut response = client.get(url).send().await.map_err(describe)?;
                    if !response.status().is_success() {
                        return Err(format!("HTTP {}", response.status()));
                    }
                    let mut body = Vec::new();
                    while let Some(chunk) = response.chunk().await.map_err(describe)? {
                        body.extend_from_slice(&chunk);
                        if body.len() > MAX_SUMS {
                            return Err(format!("larger than {} MiB", MAX_SUMS >> 20));
                        }
                    }
                    String::from_utf8(body).map_err(|_| "not text".to_owned())
                };
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => Err(Failure::Cancelled),
                    text = read => text.map_err(Failure::Failed),
                }
            }
        }
    }

    /// Hashes off the async threads; a cancelled build does not wait for the hash.
    async fn verify(&self, expected: &HexDigest, path: &Path) -> Result<(), Failure> {
        self.log.debug(&format!(
            "verifying {} of {}",
            expected.algorithm,
            path.display()
        ));
        let (expected, file) = (expected.clone(), path.to_path_buf());
        let hashing = tokio::task::spawn_blocking(move || expected.verify(&file));
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Failure::Cancelled),
            verified = hashing => match verified {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Failure::Failed(e.to_string())),
                Err(e) => Err(Failure::Failed(format!("verifying {}: {e}", path.display()))),
            },
        }
    }

    /// An exclusive lock on `path`, waited for (cancellably) while another build holds it.
    async fn lock(&self, path: &Path, target: &Path) -> Result<Flock<std::fs::File>, Failure> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut told = false;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((unlocked, Errno::EWOULDBLOCK | Errno::EINTR)) => {
                    file = unlocked;
                    if !told {
                        self.log.message(&format!(
                            "Waiting for another build downloading {}",
                            target.display()
                        ));
                        told = true;
                    }
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => return Err(Failure::Cancelled),
                        () = tokio::time::sleep(LOCK_POLL) => {}
                    }
                }
                Err((_, e)) => {
                    return Err(format!("cannot lock {}: {e}", path.display()).into());
                }
            }
        }
    }

    fn client(&mut self) -> Result<reqwest::Client, String> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", describe(e)))?;
        Ok(self.client.insert(client).clone())
    }
}

/// Packer's cache file name: the sha1 of the checksum as written (of the URL when there is
/// none), then the extension.
fn cache_name(written: &str, checksum: &Checksum, url: &Url, extension: &str) -> String {
    let key = if *checksum == Checksum::None {
        url.as_str()
    } else {
        written
    };
    let hash: String = sha1::Sha1::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match extension.trim_start_matches('.') {
        "" => hash,
        extension => format!("{hash}.{extension}"),
    }
}

/// The last segment of a URL's path, decoded: the name a SUMS file lists.
fn url_file_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "download".to_owned())
}

/// The first byte of a `206`'s `Content-Range: bytes <first>-<last>/<length>`.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let (first, _) = value.trim().strip_prefix("bytes ")?.split_once('-')?;
    first.trim().parse().ok()
}

/// A reqwest error with its causes (its own text is often just "error sending request").
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn remove(path: &Path) -> Result<(), Failure> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display()).into()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ui::{Progress, Ui};

    #[derive(Default)]
    struct Recorder {
        lines: Mutex<Vec<String>>,
        advanced: Arc<AtomicU64>,
    }

    struct Bar(Arc<AtomicU64>);

    impl Progress for Bar {
        fn advance(&self, amount: u64) {
            self.0.fetch_add(amount, Ordering::Relaxed);
        }
        fn finish(&self) {}
    }

    impl Ui for Recorder {
        fn say(&self, _: &str, text: &str) {
            self.lines.lock().unwrap().push(text.to_owned());
        }
        fn message(&self, _: &str, text: &str) {
            self.lines.lock().unwrap().push(text.to_owned());
        }
        fn error(&self, _: &str, text: &str) {
            self.lines.lock().unwrap().push(text.to_owned());
        }
        fn machine(&self, _: &str, _: &str, _: &[&str]) {}
        fn progress(&self, _: &str, _: &str, _: u64) -> Box<dyn Progress> {
            Box::new(Bar(Arc::clone(&self.advanced)))
        }
        fn ask(&self, _: &str, _: &str) -> Option<String> {
            None
        }
    }

    impl Recorder {
        fn lines(&self) -> Vec<String> {
            self.lines.lock().unwrap().clone()
        }
    }

    struct NoLog;

    impl kiln_httpd::RequestLog for NoLog {
        fn served(&self, _: &kiln_httpd::Request) {}
    }

    fn log() -> (Arc<Recorder>, BuildLog) {
        let recorder = Arc::new(Recorder::default());
        (recorder.clone(), BuildLog::new(recorder, "test"))
    }

    /// 300 KiB that are not all alike.
    fn iso_bytes() -> Vec<u8> {
        (0..300 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    fn sha256(data: &[u8]) -> String {
        sha2::Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn sha1_hex(text: &str) -> String {
        sha1::Sha1::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A directory served by kiln-httpd on loopback.
    async fn serve(dir: &Path, content: &[(&str, &str)]) -> kiln_httpd::Server {
        let settings = kiln_httpd::Settings {
            directory: Some(dir.to_path_buf()),
            content: content
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            bind_address: "127.0.0.1".to_owned(),
            port_min: 0,
            port_max: 0,
        };
        kiln_httpd::Server::start(settings, Arc::new(NoLog))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The server's request lines, once there are `count` (logged as a response completes).
    async fn requests(server: &kiln_httpd::Server, count: usize) -> Vec<String> {
        for _ in 0..500 {
            let seen = server.requests();
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.requests()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        www: PathBuf,
        cache: PathBuf,
        downloader: Downloader,
        data: Vec<u8>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        let cache = dir.path().join("cache");
        let template = dir.path().join("template");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(&template).unwrap();
        let data = iso_bytes();
        std::fs::write(www.join("disk.iso"), &data).unwrap();
        let downloader = Downloader::new(cache.clone(), template);
        Fixture {
            _dir: dir,
            www,
            cache,
            downloader,
            data,
        }
    }

    fn request(urls: &[String], checksum: &str) -> DownloadRequest {
        DownloadRequest {
            urls: urls.to_vec(),
            checksum: checksum.to_owned(),
            extension: "iso".to_owned(),
        }
    }

    fn url(address: SocketAddr, path: &str) -> String {
        format!("http://{address}{path}")
    }

    async fn fetch(
        downloader: &Downloader,
        request: &DownloadRequest,
        log: &BuildLog,
    ) -> Result<PathBuf, PluginError> {
        downloader
            .fetch(request, log, &CancellationToken::new())
            .await
    }

    #[test]
    fn fetch_can_run_on_any_worker_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let downloader = Downloader::new(PathBuf::new(), PathBuf::new());
        let request = request(&[], "none");
        let (_recorder, log) = log();
        let cancel = CancellationToken::new();
        assert_send(&downloader.fetch(&request, &log, &cancel));
    }

    #[test]
    fn the_cache_dir_comes_from_kiln_then_packer_then_the_template() {
        let template = Path::new("/t");
        assert_eq!(
            cache_dir_from(Some("/k".into()), Some("/p".into()), template),
            PathBuf::from("/k")
        );
        assert_eq!(
            cache_dir_from(Some("".into()), Some("/p".into()), template),
            PathBuf::from("/p")
        );
        assert_eq!(
            cache_dir_from(None, None, template),
            PathBuf::from("/t/packer_cache")
        );
    }

    #[test]
    fn cache_names_are_packers() {
        let url = Url::parse("http://h/disk.iso").unwrap();
        let checksum = Checksum::parse("md5:900150983cd24fb0d6963f7d28e17f72").unwrap();
        assert_eq!(
            cache_name(
                "md5:900150983cd24fb0d6963f7d28e17f72",
                &checksum,
                &url,
                "iso"
            ),
            format!("{}.iso", sha1_hex("md5:900150983cd24fb0d6963f7d28e17f72"))
        );
        assert_eq!(
            cache_name("none", &Checksum::None, &url, ""),
            sha1_hex("http://h/disk.iso")
        );
        assert_eq!(
            url_file_name(&Url::parse("http://h/a/ubuntu%2020.iso?x=1").unwrap()),
            "ubuntu 20.iso"
        );
        assert_eq!(url_file_name(&Url::parse("http://h/").unwrap()), "download");
    }

    #[tokio::test]
    async fn a_local_file_is_verified_in_place() {
        let f = fixture();
        let template = f.downloader.base_dir.clone();
        std::fs::write(template.join("local.iso"), &f.data).unwrap();
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));

        let relative = fetch(
            &f.downloader,
            &request(&["local.iso".into()], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert_eq!(relative, template.join("local.iso"));
        let absolute = template.join("local.iso").display().to_string();
        let by_url = format!("file://{absolute}");
        for url in [absolute.clone(), by_url] {
            let path = fetch(&f.downloader, &request(&[url], &checksum), &log)
                .await
                .unwrap();
            assert_eq!(path, template.join("local.iso"));
        }
        assert!(
            !f.cache.exists(),
            "a local file is not copied into the cache"
        );
        assert!(
            recorder
                .lines()
                .contains(&format!("Using local file {absolute}"))
        );
    }

    #[tokio::test]
    async fn a_wrong_checksum_is_an_error_naming_both_digests() {
        let f = fixture();
        let path = f.www.join("disk.iso");
        let (_recorder, log) = log();
        let wrong = "0".repeat(64);
        let error = fetch(
            &f.downloader,
            &request(&[path.display().to_string()], &wrong),
            &log,
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            format!(
                "download failed: {}: checksum mismatch for {}: expected sha256 {wrong}, got {}",
                path.display(),
                path.display(),
                sha256(&f.data)
            )
        );
        let invalid = fetch(&f.downloader, &request(&["x".into()], "sha256:12"), &log)
            .await
            .unwrap_err()
            .to_string();
        assert!(invalid.starts_with("checksum \"sha256:12\": "), "{invalid}");
    }

    #[tokio::test]
    async fn an_http_download_is_cached_and_used_again() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        let urls = [url(server.address(), "/disk.iso")];

        let path = fetch(&f.downloader, &request(&urls, &checksum), &log)
            .await
            .unwrap();
        assert_eq!(path, f.cache.join(format!("{}.iso", sha1_hex(&checksum))));
        assert!(std::fs::read(&path).unwrap() == f.data);
        assert!(
            !f.cache
                .join(format!("{}.iso.part", sha1_hex(&checksum)))
                .exists()
        );
        assert_eq!(
            recorder.advanced.load(Ordering::Relaxed),
            f.data.len() as u64
        );
        assert_eq!(requests(&server, 1).await.len(), 1);

        let again = fetch(&f.downloader, &request(&urls, &checksum), &log)
            .await
            .unwrap();
        assert_eq!(again, path);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            server.requests().len(),
            1,
            "the cached file was downloaded again"
        );
        assert!(
            recorder
                .lines()
                .contains(&format!("Using cached file {}", path.display()))
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_cached_file_that_does_not_verify_is_downloaded_again() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (_recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        std::fs::create_dir_all(&f.cache).unwrap();
        let target = f.cache.join(format!("{}.iso", sha1_hex(&checksum)));
        std::fs::write(&target, b"stale").unwrap();
        let path = fetch(
            &f.downloader,
            &request(&[url(server.address(), "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert!(std::fs::read(path).unwrap() == f.data);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_part_file_is_resumed_with_a_range_request() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        std::fs::create_dir_all(&f.cache).unwrap();
        let name = format!("{}.iso", sha1_hex(&checksum));
        let half = f.data.len() / 2;
        std::fs::write(f.cache.join(format!("{name}.part")), &f.data[..half]).unwrap();

        let path = fetch(
            &f.downloader,
            &request(&[url(server.address(), "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert!(std::fs::read(path).unwrap() == f.data);
        assert_eq!(
            requests(&server, 1).await,
            vec![format!("GET /disk.iso 206 {}", f.data.len() - half)]
        );
        assert!(
            recorder
                .lines()
                .contains(&format!("Resuming the download at byte {half}"))
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_part_file_longer_than_the_file_starts_over() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (_recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        std::fs::create_dir_all(&f.cache).unwrap();
        let name = format!("{}.iso", sha1_hex(&checksum));
        std::fs::write(
            f.cache.join(format!("{name}.part")),
            vec![7u8; f.data.len() + 10],
        )
        .unwrap();

        let path = fetch(
            &f.downloader,
            &request(&[url(server.address(), "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert!(std::fs::read(path).unwrap() == f.data);
        let seen = requests(&server, 2).await;
        assert!(seen[0].starts_with("GET /disk.iso 416 "), "{seen:?}");
        assert_eq!(seen[1], format!("GET /disk.iso 200 {}", f.data.len()));
        server.stop().await;
    }

    /// A bare HTTP server that answers every request with `200` and `body`, ignoring any
    /// `Range`, and stops sending after `stall_after` bytes if given. It records each
    /// request's head.
    async fn plain_server(
        body: Vec<u8>,
        stall_after: Option<usize>,
    ) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = body.clone();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).to_lowercase());
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let sent = stall_after.unwrap_or(body.len());
                    if stream.write_all(reply.as_bytes()).await.is_err()
                        || stream.write_all(&body[..sent]).await.is_err()
                    {
                        return;
                    }
                    if stall_after.is_some() {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                });
            }
        });
        (address, heads)
    }

    #[tokio::test]
    async fn a_server_that_ignores_the_range_is_downloaded_from_the_start() {
        let f = fixture();
        let (address, heads) = plain_server(f.data.clone(), None).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        std::fs::create_dir_all(&f.cache).unwrap();
        let name = format!("{}.iso", sha1_hex(&checksum));
        std::fs::write(f.cache.join(format!("{name}.part")), b"junk").unwrap();

        let path = fetch(
            &f.downloader,
            &request(&[url(address, "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert!(std::fs::read(path).unwrap() == f.data);
        let heads = heads.lock().unwrap().clone();
        assert!(heads[0].contains("range: bytes=4-"), "{heads:?}");
        assert!(
            recorder
                .lines()
                .contains(&"The server does not resume downloads; starting over".to_owned())
        );
    }

    #[tokio::test]
    async fn cancelling_stops_the_download_and_keeps_the_part() {
        let f = fixture();
        let (address, _heads) = plain_server(f.data.clone(), Some(1000)).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        let cancel = CancellationToken::new();
        let request = request(&[url(address, "/disk.iso")], &checksum);

        let started = std::time::Instant::now();
        let (result, ()) = tokio::join!(f.downloader.fetch(&request, &log, &cancel), async {
            while recorder.advanced.load(Ordering::Relaxed) < 1000 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cancel.cancel();
        });
        assert!(matches!(result, Err(PluginError::Cancelled)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let part = f.cache.join(format!("{}.iso.part", sha1_hex(&checksum)));
        assert_eq!(std::fs::metadata(part).unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn concurrent_fetches_of_one_url_download_once() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        let request = request(&[url(server.address(), "/disk.iso")], &checksum);
        let other = Downloader::new(f.cache.clone(), f.downloader.base_dir.clone());

        let (a, b) = tokio::join!(
            fetch(&f.downloader, &request, &log),
            fetch(&other, &request, &log)
        );
        assert_eq!(a.unwrap(), b.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
        let lines = recorder.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Waiting for another build downloading ")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("Using cached file ")),
            "{lines:?}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_404_falls_through_to_the_next_url() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (recorder, log) = log();
        let checksum = format!("sha256:{}", sha256(&f.data));
        let missing = url(server.address(), "/missing.iso");
        let present = url(server.address(), "/disk.iso");

        let path = fetch(
            &f.downloader,
            &request(&[missing.clone(), present.clone()], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert!(std::fs::read(path).unwrap() == f.data);
        let lines = recorder.lines();
        assert_eq!(lines[0], format!("Trying {missing}"));
        assert_eq!(lines[1], format!("{missing}: HTTP 404 Not Found"));
        assert_eq!(lines[2], format!("Trying {present}"));
        let seen = requests(&server, 2).await;
        assert!(seen[0].starts_with("GET /missing.iso 404 "), "{seen:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn when_every_url_fails_the_error_lists_each() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (_recorder, log) = log();
        let missing = url(server.address(), "/missing.iso");
        let urls = [
            missing.clone(),
            "ftp://mirror/disk.iso".to_owned(),
            "nowhere.iso".to_owned(),
        ];
        let error = fetch(&f.downloader, &request(&urls, "none"), &log)
            .await
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = error.lines().collect();
        assert_eq!(lines[0], "download failed from all 3 URLs:");
        assert_eq!(lines[1], format!("  {missing}: HTTP 404 Not Found"));
        assert!(lines[2].starts_with("  ftp://mirror/disk.iso: unsupported URL scheme \"ftp\""));
        assert!(lines[3].starts_with("  nowhere.iso: "), "{error}");
        assert!(lines[3].contains("No such file"), "{error}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_none_checksum_warns_and_caches_by_url() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (recorder, log) = log();
        let address = url(server.address(), "/disk.iso");
        let path = fetch(
            &f.downloader,
            &request(std::slice::from_ref(&address), "none"),
            &log,
        )
        .await
        .unwrap();
        assert_eq!(path, f.cache.join(format!("{}.iso", sha1_hex(&address))));
        assert!(recorder.lines()[0].starts_with("Warning: the checksum is \"none\""));
        server.stop().await;
    }

    #[tokio::test]
    async fn a_sums_file_over_http_and_a_local_one() {
        let f = fixture();
        let digest = sha256(&f.data);
        let gnu = format!("{}  other.iso\n{digest} *disk.iso\n", "e".repeat(64));
        let server = serve(&f.www, &[("/SHA256SUMS", &gnu)]).await;
        let (_recorder, log) = log();
        let checksum = format!("file:{}", url(server.address(), "/SHA256SUMS"));
        let path = fetch(
            &f.downloader,
            &request(&[url(server.address(), "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap();
        assert_eq!(path, f.cache.join(format!("{}.iso", sha1_hex(&checksum))));

        let template = f.downloader.base_dir.clone();
        std::fs::write(template.join("disk.iso"), &f.data).unwrap();
        std::fs::write(
            template.join("CHECKSUM"),
            format!("SHA256 (disk.iso) = {digest}\n"),
        )
        .unwrap();
        let local = fetch(
            &f.downloader,
            &request(&["disk.iso".into()], "file:CHECKSUM"),
            &log,
        )
        .await
        .unwrap();
        assert_eq!(local, template.join("disk.iso"));

        std::fs::write(template.join("CHECKSUM"), "SHA256 (other.iso) = 00\n").unwrap();
        let error = fetch(
            &f.downloader,
            &request(&["disk.iso".into()], "file:CHECKSUM"),
            &log,
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "download failed: disk.iso: CHECKSUM: no checksum for \"disk.iso\""
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_download_that_does_not_verify_is_removed() {
        let f = fixture();
        let server = serve(&f.www, &[]).await;
        let (_recorder, log) = log();
        let checksum = format!("sha256:{}", "1".repeat(64));
        let error = fetch(
            &f.downloader,
            &request(&[url(server.address(), "/disk.iso")], &checksum),
            &log,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(error.contains("checksum mismatch for "), "{error}");
        assert!(
            error.contains(&format!("got {}", sha256(&f.data))),
            "{error}"
        );
        let name = format!("{}.iso", sha1_hex(&checksum));
        assert!(!f.cache.join(&name).exists());
        assert!(!f.cache.join(format!("{name}.part")).exists());
        server.stop().await;
    }
}
