use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path as the client sent it (still percent-encoded), without the query.
    pub path: String,
    pub status: u16,
    /// Body bytes handed to the connection (0 for `HEAD`).
    pub bytes: u64,
    pub peer: SocketAddr,
}

/// Where the server tells each request once its response is sent (or the client went away).
pub trait RequestLog: Send + Sync {
    fn served(&self, request: &Request);
}

impl Request {
    /// The short form [`crate::Server::requests`] keeps: `GET /preseed.cfg 200 1234`.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} {} {} {}",
            self.method, self.path, self.status, self.bytes
        )
    }
}

/// The server's record of requests: each one goes to the [`RequestLog`] and into the list
/// [`crate::Server::requests`] returns.
pub(crate) struct Journal {
    log: Arc<dyn RequestLog>,
    requests: Mutex<Vec<String>>,
}

impl Journal {
    pub(crate) fn new(log: Arc<dyn RequestLog>) -> Self {
        Journal {
            log,
            requests: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn record(&self, request: &Request) {
        tracing::debug!(target: "kiln_httpd", "{request}");
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.summary());
        self.log.served(request);
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `GET /preseed.cfg -> 200 (1.2 KiB) from 10.0.2.15:33214`
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} ({}) from {}",
            self.method,
            self.path,
            self.status,
            Size(self.bytes),
            self.peer
        )
    }
}

struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        // Display only: the precision lost converting to f64 is far below the one decimal shown.
        #[allow(clippy::cast_precision_loss)]
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bytes: u64) -> Request {
        Request {
            method: "GET".into(),
            path: "/preseed.cfg".into(),
            status: 200,
            bytes,
            peer: SocketAddr::from(([10, 0, 2, 15], 33214)),
        }
    }

    #[test]
    fn display_names_method_path_status_size_and_peer() {
        assert_eq!(
            request(1229).to_string(),
            "GET /preseed.cfg -> 200 (1.2 KiB) from 10.0.2.15:33214"
        );
        assert_eq!(
            request(0).to_string(),
            "GET /preseed.cfg -> 200 (0 B) from 10.0.2.15:33214"
        );
        assert_eq!(
            request(3 << 30).to_string(),
            "GET /preseed.cfg -> 200 (3.0 GiB) from 10.0.2.15:33214"
        );
    }

    #[test]
    fn summary_is_method_path_status_bytes() {
        assert_eq!(request(1234).summary(), "GET /preseed.cfg 200 1234");
    }
}
