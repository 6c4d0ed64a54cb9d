//! A QMP (QEMU Machine Protocol) client over a unix socket.
//!
//! [`Client::connect`] waits for the socket QEMU creates at start-up, reads the greeting and
//! negotiates capabilities. [`Client::execute`] sends a command with a fresh `id` and waits for
//! the reply carrying that `id`; events (`SHUTDOWN`, `POWERDOWN`, `RESET`…) arrive between
//! replies and go to [`Client::subscribe`]rs and a short history, never to a command's caller.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::Instant;

/// How many past events [`Client::events`] keeps.
const EVENT_HISTORY: usize = 256;

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("QMP socket {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("QMP socket {} did not accept a connection within {timeout:?}", path.display())]
    ConnectTimeout { path: PathBuf, timeout: Duration },
    #[error("QMP: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP: unexpected message from QEMU: {0}")]
    Protocol(String),
    /// QEMU answered the command with an error.
    #[error("QMP command {command}: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    /// The connection closed before the reply came (QEMU exited, or `quit`).
    #[error("QMP connection closed")]
    Disconnected,
}

/// An asynchronous QMP event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `SHUTDOWN`, `POWERDOWN`, `RESET`, `STOP`…
    pub name: String,
    pub data: Value,
    /// QEMU's `timestamp` as (seconds, microseconds).
    pub timestamp: Option<(i64, i64)>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, Error>>>>>;

/// A negotiated QMP connection. Commands may be issued concurrently from several tasks.
pub struct Client {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Event>>>,
    closed: watch::Receiver<bool>,
    greeting: Value,
    reader: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connects to `path`, retrying while the socket does not exist yet or refuses, until
    /// `timeout`; then reads the greeting and sends `qmp_capabilities`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Client, Error> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Err(Error::ConnectTimeout {
                            path: path.to_owned(),
                            timeout,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(source) => {
                    return Err(Error::Connect {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        };
        let (read, writer) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting_line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| Error::ConnectTimeout {
                path: path.to_owned(),
                timeout,
            })??
            .ok_or(Error::Disconnected)?;
        let greeting: Value = serde_json::from_str(&greeting_line)
            .map_err(|_| Error::Protocol(greeting_line.clone()))?;
        let Some(greeting) = greeting.get("QMP").cloned() else {
            return Err(Error::Protocol(greeting_line));
        };

        let pending: Pending = Arc::default();
        let history: Arc<Mutex<VecDeque<Event>>> = Arc::default();
        let (events, _) = broadcast::channel(EVENT_HISTORY);
        let (closed_tx, closed) = watch::channel(false);
        let reader = tokio::spawn(read_loop(
            lines,
            pending.clone(),
            events.clone(),
            history.clone(),
            closed_tx,
        ));
        let client = Client {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
            events,
            history,
            closed,
            greeting,
            reader,
        };
        client.execute("qmp_capabilities", None).await?;
        Ok(client)
    }

    /// The greeting's `QMP` object (`version`, `capabilities`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// Runs `command` and returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Option<Value>) -> Result<Value, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            message["arguments"] = arguments;
        }
        let mut line = message.to_string();
        line.push('\n');

        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if *self.closed.borrow() {
            lock(&self.pending).remove(&id);
            return Err(Error::Disconnected);
        }
        let written = {
            let mut writer = self.writer.lock().await;
            match writer.write_all(line.as_bytes()).await {
                Ok(()) => writer.flush().await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = written {
            lock(&self.pending).remove(&id);
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    Error::Disconnected
                }
                _ => Error::Io(e),
            });
        }
        let reply = rx.await.map_err(|_| Error::Disconnected)??;
        if let Some(value) = reply.get("return") {
            return Ok(value.clone());
        }
        if let Some(error) = reply.get("error") {
            let text = |key: &str| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(Error::Command {
                command: command.to_owned(),
                class: text("class"),
                desc: text("desc"),
            });
        }
        Err(Error::Protocol(reply.to_string()))
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The events received so far (the most recent 256).
    pub fn events(&self) -> Vec<Event> {
        lock(&self.history).iter().cloned().collect()
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Waits until an event named `name` has been received (including before this call), or
    /// `timeout` passes, or the connection closes.
    pub async fn wait_for_event(&self, name: &str, timeout: Duration) -> Option<Event> {
        let mut rx = self.subscribe();
        if let Some(event) = self.events().into_iter().rev().find(|e| e.name == name) {
            return Some(event);
        }
        let mut closed = self.closed.clone();
        tokio::time::timeout(timeout, async {
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Ok(event) if event.name == name => return Some(event),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    changed = closed.wait_for(|closed| *closed) => {
                        let _ = changed;
                        return None;
                    }
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop(
    mut lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    pending: Pending,
    events: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Event>>>,
    closed: watch::Sender<bool>,
) {
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!("QMP read: {e}");
                break;
            }
        };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            tracing::debug!(
                "QMP: ignoring a line that is not JSON ({} bytes)",
                line.len()
            );
            continue;
        };
        if let Some(name) = message.get("event").and_then(Value::as_str) {
            let timestamp = message.get("timestamp").and_then(|t| {
                Some((
                    t.get("seconds")?.as_i64()?,
                    t.get("microseconds")?.as_i64()?,
                ))
            });
            let event = Event {
                name: name.to_owned(),
                data: message.get("data").cloned().unwrap_or(Value::Null),
                timestamp,
            };
            tracing::debug!("QMP event {}", event.name);
            {
                let mut history = lock(&history);
                if history.len() == EVENT_HISTORY {
                    history.pop_front();
                }
                history.push_back(event.clone());
            }
            let _ = events.send(event);
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            tracing::debug!("QMP: ignoring a reply without an id");
            continue;
        };
        if let Some(tx) = lock(&pending).remove(&id) {
            let _ = tx.send(Ok(message));
        }
    }
    let _ = closed.send(true);
    // Dropping the senders fails every command still waiting with `Disconnected`.
    lock(&pending).clear();
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A scripted QMP server: greets, answers capabilities, then answers each command with an
    /// event first and the reply second, and closes after `quit` without replying.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(
                b"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}\n",
            )
            .await
            .unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            let request: Value = serde_json::from_str(&line).unwrap();
            let id = request["id"].clone();
            let reply = match request["execute"].as_str().unwrap() {
                "qmp_capabilities" => json!({"return": {}, "id": id}),
                "query-status" => {
                    let event = json!({"event": "RESET", "data": {"guest": true},
                        "timestamp": {"seconds": 1, "microseconds": 2}});
                    write
                        .write_all(format!("{event}\n").as_bytes())
                        .await
                        .unwrap();
                    json!({"return": {"status": "running", "running": true}, "id": id})
                }
                "quit" => return,
                other => json!({"error": {"class": "CommandNotFound",
                    "desc": format!("The command {other} has not been found")}, "id": id}),
            };
            write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn commands_replies_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let server_path = path.clone();
        // The socket appears only after the client has started retrying.
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fake_qemu(UnixListener::bind(&server_path).unwrap()).await;
        });
        let client = Client::connect(&path, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(client.greeting()["version"]["qemu"]["major"], 7);

        let status = client.execute("query-status", None).await.unwrap();
        assert_eq!(status["status"], "running");
        let reset = client
            .wait_for_event("RESET", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            (reset.data["guest"].clone(), reset.timestamp),
            (json!(true), Some((1, 2)))
        );

        let err = client
            .execute("nonsense", Some(json!({"a": 1})))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "QMP command nonsense: CommandNotFound: The command nonsense has not been found"
        );

        assert!(matches!(
            client.execute("quit", None).await,
            Err(Error::Disconnected)
        ));
        server.await.unwrap();
        assert!(
            client
                .wait_for_event("SHUTDOWN", Duration::from_secs(1))
                .await
                .is_none()
        );
        assert!(client.is_closed());
        assert!(matches!(
            client.execute("query-status", None).await,
            Err(Error::Disconnected)
        ));
    }

    #[tokio::test]
    async fn connect_gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.sock");
        let err = Client::connect(&path, Duration::from_millis(100))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::ConnectTimeout { .. }), "{err}");
    }
}
