use std::net::IpAddr;
use std::path::PathBuf;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("http_bind_address {address:?}: {reason}")]
    BindAddress { address: String, reason: String },
    #[error("http_port_min {min} is greater than http_port_max {max}")]
    PortRange { min: u16, max: u16 },
    #[error(
        "port {port} on {address} is not free (http_port_min = http_port_max = {port}): {source}"
    )]
    PortBusy {
        address: IpAddr,
        port: u16,
        source: std::io::Error,
    },
    #[error("no free port in {min}-{max} on {address} (http_port_min, http_port_max): {source}")]
    NoFreePort {
        address: IpAddr,
        min: u16,
        max: u16,
        /// The error of the last port tried.
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: IpAddr,
        source: std::io::Error,
    },
    #[error("http_directory {}: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
}
