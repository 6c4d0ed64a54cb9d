//! kiln-httpd against a real client on loopback: what is served, what is refused, what is logged,
//! and how ports are chosen and freed.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_httpd::{Error, Request, RequestLog, Server, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Recorder(Mutex<Vec<Request>>);

impl RequestLog for Recorder {
    fn served(&self, request: &Request) {
        self.0.lock().unwrap().push(request.clone());
    }
}

impl Recorder {
    /// The requests logged, once there are `count` of them (a request is logged when its
    /// response body is dropped, which can be a moment after the client has read it).
    fn wait_for(&self, count: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.0.lock().unwrap().clone();
            if seen.len() >= count || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`, so the body ends at EOF).
async fn send(address: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path}"))
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn get(address: SocketAddr, path: &str) -> impl Future<Output = Reply> {
    send(address, "GET", path, &[])
}

fn local(directory: Option<&Path>, content: &[(&str, &str)]) -> Settings {
    Settings {
        directory: directory.map(Path::to_path_buf),
        content: content
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        bind_address: "127.0.0.1".to_owned(),
        port_min: 0,
        port_max: 0,
    }
}

async fn start(settings: Settings) -> (Server, Arc<Recorder>) {
    let log = Arc::new(Recorder::default());
    let server = Server::start(settings, log.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (server, log)
}

const PRESEED: &str =
    "d-i debian-installer/locale string en_US\nd-i netcfg/get_hostname string kiln\n";

#[tokio::test]
async fn serves_a_file_and_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("preseed.cfg"), PRESEED).unwrap();
    let (server, log) = start(local(Some(dir.path()), &[])).await;
    assert!(server.address().ip().is_loopback());

    let reply = get(server.address(), "/preseed.cfg").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, PRESEED.as_bytes());
    assert_eq!(
        reply.header("content-length"),
        Some(&*PRESEED.len().to_string())
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let logged = log.wait_for(1);
    assert_eq!(logged.len(), 1);
    let request = &logged[0];
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.status,
            request.bytes
        ),
        ("GET", "/preseed.cfg", 200, PRESEED.len() as u64)
    );
    assert!(request.peer.ip().is_loopback());
    let shown = request.to_string();
    assert!(
        shown.starts_with(&format!(
            "GET /preseed.cfg -> 200 ({} B) from 127.0.0.1:",
            PRESEED.len()
        )),
        "{shown}"
    );
    assert_eq!(
        server.requests(),
        vec![format!("GET /preseed.cfg 200 {}", PRESEED.len())]
    );
    server.stop().await;
}

#[tokio::test]
async fn streams_a_large_binary_file_and_decodes_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    std::fs::create_dir(dir.path().join("sub dir")).unwrap();
    std::fs::write(dir.path().join("sub dir/vmlinuz"), &data).unwrap();
    let (server, log) = start(local(Some(dir.path()), &[])).await;

    let reply = get(server.address(), "/sub%20dir/vmlinuz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.body.len(), data.len());
    assert!(reply.body == data);
    assert_eq!(log.wait_for(1)[0].bytes, data.len() as u64);
    server.stop().await;
}

#[tokio::test]
async fn index_html_for_root_and_directories_else_404() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>root</h1>").unwrap();
    std::fs::create_dir(dir.path().join("ks")).unwrap();
    std::fs::write(dir.path().join("ks/index.html"), "<h1>ks</h1>").unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let (server, _log) = start(local(Some(dir.path()), &[])).await;

    let root = get(server.address(), "/").await;
    assert_eq!(
        (root.status, root.body.as_slice()),
        (200, &b"<h1>root</h1>"[..])
    );
    assert_eq!(
        root.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let ks = get(server.address(), "/ks/").await;
    assert_eq!((ks.status, ks.body.as_slice()), (200, &b"<h1>ks</h1>"[..]));
    assert_eq!(get(server.address(), "/empty/").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn content_map_is_served_and_wins_over_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("preseed.cfg"), "from disk").unwrap();
    std::fs::write(dir.path().join("other.txt"), "other").unwrap();
    let settings = local(
        Some(dir.path()),
        &[("preseed.cfg", PRESEED), ("/ks/centos.ks", "install\n")],
    );
    let (server, log) = start(settings).await;

    let preseed = get(server.address(), "/preseed.cfg").await;
    assert_eq!(
        (preseed.status, preseed.body.as_slice()),
        (200, PRESEED.as_bytes())
    );
    let ks = get(server.address(), "/ks//centos.ks?x=1").await;
    assert_eq!((ks.status, ks.body.as_slice()), (200, &b"install\n"[..]));
    let other = get(server.address(), "/other.txt").await;
    assert_eq!((other.status, other.body.as_slice()), (200, &b"other"[..]));

    let logged = log.wait_for(3);
    assert_eq!(logged[1].path, "/ks//centos.ks");
    server.stop().await;
}

#[tokio::test]
async fn content_alone_without_a_directory() {
    let (server, _log) = start(local(None, &[("user-data", "#cloud-config\n")])).await;
    let reply = get(server.address(), "/user-data").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(get(server.address(), "/meta-data").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_missing_file_is_404_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = start(local(Some(dir.path()), &[])).await;
    let reply = get(server.address(), "/preseed.cfg").await;
    assert_eq!(reply.status, 404);
    let logged = log.wait_for(1);
    assert_eq!(
        (logged[0].path.as_str(), logged[0].status),
        ("/preseed.cfg", 404)
    );
    assert_eq!(server.requests().len(), 1);
    assert!(server.requests()[0].starts_with("GET /preseed.cfg 404 "));
    server.stop().await;
}

#[tokio::test]
async fn traversal_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret"), "TOP SECRET").unwrap();
    let www = root.path().join("www");
    std::fs::create_dir_all(www.join("a")).unwrap();
    std::fs::write(www.join("inside.txt"), "fine").unwrap();
    std::os::unix::fs::symlink("../secret", www.join("link")).unwrap();
    std::os::unix::fs::symlink(root.path(), www.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("inside.txt", www.join("alias.txt")).unwrap();
    let (server, log) = start(local(Some(&www), &[])).await;

    let attempts = [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E%2Fsecret",
        "/..%2fsecret",
        "/a/../../secret",
        "/a/%2e%2e/%2e%2e/secret",
        "/link",
        "/dirlink/secret",
        "/inside.txt%00",
    ];
    for path in attempts {
        let reply = get(server.address(), path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("SECRET"),
            "{path}"
        );
    }
    let logged = log.wait_for(attempts.len());
    assert!(logged.iter().all(|r| r.status == 404));

    // A symlink that stays inside is fine.
    let alias = get(server.address(), "/alias.txt").await;
    assert_eq!((alias.status, alias.body.as_slice()), (200, &b"fine"[..]));
    server.stop().await;
}

#[tokio::test]
async fn head_has_the_length_and_no_body() {
    let (server, log) = start(local(None, &[("/preseed.cfg", PRESEED)])).await;
    let reply = send(server.address(), "HEAD", "/preseed.cfg", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-length"),
        Some(&*PRESEED.len().to_string())
    );
    assert!(reply.body.is_empty());
    let logged = log.wait_for(1);
    assert_eq!((logged[0].method.as_str(), logged[0].bytes), ("HEAD", 0));
    server.stop().await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let (server, log) = start(local(None, &[("/preseed.cfg", PRESEED)])).await;
    let reply = send(
        server.address(),
        "POST",
        "/preseed.cfg",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    assert_eq!(log.wait_for(1)[0].status, 405);
    server.stop().await;
}

#[tokio::test]
async fn range_requests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disk.img"), b"0123456789").unwrap();
    let (server, log) = start(local(Some(dir.path()), &[("/mem.txt", "abcdefghij")])).await;

    for path in ["/disk.img", "/mem.txt"] {
        let tail = send(server.address(), "GET", path, &[("Range", "bytes=4-")]).await;
        assert_eq!(tail.status, 206, "{path}");
        assert_eq!(tail.header("content-range"), Some("bytes 4-9/10"));
        assert_eq!(tail.header("content-length"), Some("6"));
        assert_eq!(tail.body.len(), 6);
        let middle = send(server.address(), "GET", path, &[("Range", "bytes=2-3")]).await;
        assert_eq!((middle.status, middle.body.len()), (206, 2));
        let suffix = send(server.address(), "GET", path, &[("Range", "bytes=-3")]).await;
        assert_eq!(suffix.header("content-range"), Some("bytes 7-9/10"));
        let past = send(server.address(), "GET", path, &[("Range", "bytes=10-")]).await;
        assert_eq!(past.status, 416);
        assert_eq!(past.header("content-range"), Some("bytes */10"));
    }
    let tail = send(
        server.address(),
        "GET",
        "/disk.img",
        &[("Range", "bytes=4-")],
    )
    .await;
    assert_eq!(tail.body, b"456789");
    let logged = log.wait_for(9);
    assert_eq!((logged[8].status, logged[8].bytes), (206, 6));
    server.stop().await;
}

/// A base port with `count` consecutive free ports above it (checked by binding them).
fn free_ports(count: u16) -> u16 {
    let seed = u16::try_from(std::process::id() % 20_000).unwrap();
    for attempt in 0..200u16 {
        let base = 30_000 + (seed + attempt * 97) % 25_000;
        let free = (base..base + count).all(|p| StdListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

#[tokio::test]
async fn the_port_is_chosen_in_the_range_and_a_full_range_is_an_error() {
    let base = free_ports(3);
    let settings = Settings {
        port_min: base,
        port_max: base + 2,
        ..local(None, &[])
    };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(start(settings.clone()).await.0);
    }
    let mut ports: Vec<u16> = servers.iter().map(|s| s.address().port()).collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![base, base + 1, base + 2]);

    let error = Server::start(settings, Arc::new(Recorder::default()))
        .await
        .err()
        .unwrap_or_else(|| panic!("a fourth server started in a range of three"));
    assert!(matches!(error, Error::NoFreePort { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("no free port in {base}-{} on 127.0.0.1", base + 2)),
        "{text}"
    );
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test]
async fn a_busy_pinned_port_is_a_clear_error() {
    let taken = StdListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let settings = Settings {
        port_min: port,
        port_max: port,
        ..local(None, &[])
    };
    let error = Server::start(settings, Arc::new(Recorder::default()))
        .await
        .err()
        .unwrap_or_else(|| panic!("started on a port already taken"));
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("port {port} on 127.0.0.1 is not free")),
        "{text}"
    );

    drop(taken);
    let settings = Settings {
        port_min: port,
        port_max: port,
        ..local(None, &[])
    };
    let (server, _log) = start(settings).await;
    assert_eq!(server.address().port(), port);
    server.stop().await;
}

#[tokio::test]
async fn bad_settings_are_errors() {
    let log = Arc::new(Recorder::default());
    let reversed = Settings {
        port_min: 9000,
        port_max: 8000,
        ..local(None, &[])
    };
    let error = Server::start(reversed, log.clone()).await.err().unwrap();
    assert_eq!(
        error.to_string(),
        "http_port_min 9000 is greater than http_port_max 8000"
    );
    let missing = local(Some(Path::new("/nonexistent/kiln-http")), &[]);
    let error = Server::start(missing, log.clone()).await.err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("http_directory /nonexistent/kiln-http: "),
        "{error}"
    );
    let address = Settings {
        bind_address: "not an address!".to_owned(),
        ..local(None, &[])
    };
    let error = Server::start(address, log).await.err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("http_bind_address \"not an address!\": "),
        "{error}"
    );
}

#[tokio::test]
async fn stop_frees_the_port_even_with_an_idle_connection() {
    let (server, _log) = start(local(None, &[("/a", "a")])).await;
    let address = server.address();
    // A keep-alive connection that stays open after its response.
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /a HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    StdListener::bind(address).unwrap_or_else(|e| panic!("{address} not freed by stop: {e}"));
    // And the idle connection was closed.
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn drop_frees_the_port() {
    let (server, _log) = start(local(None, &[])).await;
    let address = server.address();
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match StdListener::bind(address) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("{address} not freed by drop: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
