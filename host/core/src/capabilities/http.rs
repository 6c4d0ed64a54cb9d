//! `http-serve`: the build's HTTP server for preseed and kickstart files (kiln-httpd), owned by
//! the ledger so it stops when the build ends, and logging every request so a user sees at
//! once whether the installer fetched its file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Access, Capabilities, Use, check_tree};
use crate::ledger::{EntryId, Release};
use crate::plugin::PluginError;
use crate::ui::BuildLog;

/// What a builder asks to serve.
#[derive(Clone, Debug, Default)]
pub struct HttpSettings {
    /// A host directory, served as is.
    pub directory: Option<PathBuf>,
    /// Path → content, served from memory.
    pub content: Vec<(String, String)>,
    pub bind_address: String,
    pub port_min: u16,
    pub port_max: u16,
}

/// A running server, as a plugin holds it.
pub struct HttpServer {
    address: SocketAddr,
    server: Arc<Mutex<Option<kiln_httpd::Server>>>,
    entry: EntryId,
    ledger: Arc<crate::ledger::Ledger>,
}

impl HttpServer {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `GET /preseed.cfg 200 1234` for each request so far.
    pub fn requests(&self) -> Vec<String> {
        self.server
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(kiln_httpd::Server::requests))
            .unwrap_or_default()
    }

    /// Stops the server now rather than at the end of the build.
    pub async fn stop(&self) {
        stop_once(&self.server).await;
        self.ledger.forget(self.entry);
    }
}

/// Stops the server unless it was stopped already (by its plugin, or by the ledger).
async fn stop_once(server: &Mutex<Option<kiln_httpd::Server>>) {
    let server = server.lock().ok().and_then(|mut s| s.take());
    if let Some(server) = server {
        server.stop().await;
    }
}

/// Each request as a line of the build's output.
struct RequestLog(BuildLog);

impl kiln_httpd::RequestLog for RequestLog {
    fn served(&self, request: &kiln_httpd::Request) {
        self.0.message(&format!("HTTP server: {request}"));
    }
}

struct StopServer {
    address: SocketAddr,
    server: Arc<Mutex<Option<kiln_httpd::Server>>>,
}

#[async_trait]
impl Release for StopServer {
    fn describe(&self) -> String {
        format!("HTTP server on {}", self.address)
    }
    fn kept_on_abort(&self) -> bool {
        false
    }
    async fn release(self: Box<Self>) {
        stop_once(&self.server).await;
    }
}

impl Capabilities {
    /// Starts the build's HTTP server: the directory must be readable under the grant (links
    /// in it included), and the address it binds must be allowed (`capabilities.http_bind`).
    pub async fn http_serve(&self, settings: HttpSettings) -> Result<HttpServer, PluginError> {
        let directory = settings.directory.as_ref().map(|d| self.resolve_path(d));
        if let Some(dir) = &directory {
            self.allow(Use::Read(dir))?;
            if !dir.is_dir() {
                return Err(PluginError::failed(format!(
                    "http_directory {} is not a directory",
                    dir.display()
                )));
            }
            let grant = self.grant.clone();
            let root = dir.clone();
            tokio::task::spawn_blocking(move || check_tree(&grant, &root, Access::Read))
                .await
                .map_err(|e| PluginError::failed(format!("http server: {e}")))??;
        }
        let bind: std::net::IpAddr = settings.bind_address.parse().map_err(|_| {
            PluginError::failed(format!(
                "http_bind_address {:?} is not an IP address",
                settings.bind_address
            ))
        })?;
        for port in [settings.port_min, settings.port_max] {
            self.allow(Use::HttpBind(SocketAddr::new(bind, port)))?;
        }
        let server = kiln_httpd::Server::start(
            kiln_httpd::Settings {
                directory,
                content: settings.content,
                bind_address: settings.bind_address,
                port_min: settings.port_min,
                port_max: settings.port_max,
            },
            Arc::new(RequestLog(self.log.clone())),
        )
        .await
        .map_err(|e| PluginError::failed(format!("starting the HTTP server: {e}")))?;
        let address = server.address();
        let server = Arc::new(Mutex::new(Some(server)));
        let entry = self.ledger.record(Box::new(StopServer {
            address,
            server: Arc::clone(&server),
        }));
        Ok(HttpServer {
            address,
            server,
            entry,
            ledger: Arc::clone(&self.ledger),
        })
    }
}
