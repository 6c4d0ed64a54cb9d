//! Starting, running and stopping the server.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::request::Journal;
use crate::site::Site;
use crate::{Error, RequestLog, port};

/// How long [`Server::stop`] lets responses in flight finish before it closes their
/// connections.
const GRACE: Duration = Duration::from_secs(5);

/// How long a client may take to send a request's headers (a stuck client must not hold a
/// connection forever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What to serve, and where: Packer's `http_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `http_directory`: files served from disk.
    pub directory: Option<PathBuf>,
    /// `http_content`: request path to content, served from memory; it wins over a file of the
    /// same path. Keys are normalized to start with `/`.
    pub content: Vec<(String, String)>,
    /// `http_bind_address`: an IP address or a host name; empty means `0.0.0.0`.
    pub bind_address: String,
    /// `http_port_min`, `http_port_max`: the port is chosen at random in this range; equal
    /// values pin it, `0`/`0` means any free port.
    pub port_min: u16,
    pub port_max: u16,
}

/// Packer's defaults: all addresses, a port in 8000-9000.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            directory: None,
            content: Vec::new(),
            bind_address: "0.0.0.0".to_owned(),
            port_min: 8000,
            port_max: 9000,
        }
    }
}

/// A running server; [`Server::stop`] or dropping it closes the listener and every connection.
pub struct Server {
    address: SocketAddr,
    journal: Arc<Journal>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds a port of the range and starts serving.
    pub async fn start(settings: Settings, log: Arc<dyn RequestLog>) -> Result<Server, Error> {
        let ip = bind_ip(&settings.bind_address).await?;
        let directory = match settings.directory {
            Some(path) => Some(directory(path).await?),
            None => None,
        };
        let listener = port::bind(ip, settings.port_min, settings.port_max).await?;
        let address = listener.local_addr().map_err(|source| Error::Listen {
            address: ip,
            source,
        })?;
        let journal = Arc::new(Journal::new(log));
        let site = Arc::new(Site::new(directory, settings.content, Arc::clone(&journal)));
        let (shutdown, stopping) = watch::channel(false);
        let task = tokio::spawn(accept(listener, site, stopping));
        tracing::debug!(%address, "http server started");
        Ok(Server {
            address,
            journal,
            shutdown,
            task: Some(task),
        })
    }

    /// The address the server listens on: the bind address and the chosen port.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The requests answered so far, oldest first: `GET /preseed.cfg 200 1234`.
    pub fn requests(&self) -> Vec<String> {
        self.journal.requests()
    }

    /// Stops accepting, lets responses in flight finish (for a few seconds at most), and
    /// returns once the listener is closed and every connection is gone.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(GRACE * 2, task).await.is_err() {
                abort.abort();
            }
        }
        tracing::debug!(address = %self.address, "http server stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        // Dropping the accept task drops the listener and aborts every connection task.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn bind_ip(address: &str) -> Result<IpAddr, Error> {
    let address = address.trim();
    if address.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    let literal = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    if let Ok(ip) = literal.parse() {
        return Ok(ip);
    }
    let invalid = |reason: String| Error::BindAddress {
        address: address.to_owned(),
        reason,
    };
    let mut addresses = tokio::net::lookup_host((address, 0))
        .await
        .map_err(|e| invalid(format!("not an IP address, and cannot be resolved: {e}")))?;
    addresses
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| invalid("the name resolves to no address".to_owned()))
}

async fn directory(path: PathBuf) -> Result<PathBuf, Error> {
    let fail = |source| Error::Directory {
        path: path.clone(),
        source,
    };
    let real = tokio::fs::canonicalize(&path).await.map_err(fail)?;
    let metadata = tokio::fs::metadata(&real).await.map_err(fail)?;
    if !metadata.is_dir() {
        return Err(fail(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(real)
}

async fn accept(listener: TcpListener, site: Arc<Site>, mut stopping: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stopping) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, Arc::clone(&site), stopping.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!("http server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(GRACE, drain).await.is_err() {
        tracing::debug!(
            open = connections.len(),
            "http server: closing connections still busy"
        );
    }
    // Dropping the set aborts whatever is left.
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    site: Arc<Site>,
    mut stopping: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| {
        let site = Arc::clone(&site);
        async move { Ok::<_, Infallible>(site.respond(request, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "http connection: {e}");
            }
        }
        () = stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "http connection: {e}");
            }
        }
    }
}

/// Resolves once the server is told to stop (or the [`Server`] is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: stop too.
    let _ = stopping.wait_for(|stop| *stop).await;
}
