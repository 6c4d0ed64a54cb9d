//! The OpenSSH server fixture.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::{Uid, User};
use tempfile::TempDir;

use crate::{PASSWORD_USER, SSH_KEYGEN, SSHD, free_port, process_tree};

/// How long [`SshdBuilder::start`] waits for sshd to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts with a fresh port when sshd finds the one it was given taken (between
/// [`free_port`] releasing it and sshd binding it, another test may take it).
const PORT_ATTEMPTS: usize = 5;
/// sshd's privilege-separated child chroots here; Debian creates it only at boot.
const PRIVSEP_DIR: &str = "/run/sshd";
const HOST: &str = "127.0.0.1";

/// Why an sshd fixture did not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sshd or ssh-keygen is not installed; the message says what to install.
    #[error("{0}")]
    Unavailable(String),
    /// Preparing the temp dir, keys or config failed.
    #[error("sshd fixture: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// ssh-keygen failed, or the current user cannot be looked up.
    #[error("sshd fixture: {0}")]
    Setup(String),
    /// sshd quit before it was ready: a bad config line, or the fixed port is taken.
    #[error("sshd exited while starting on {HOST}:{port} ({status}); its log:\n{log}")]
    Exited {
        port: u16,
        status: ExitStatus,
        log: String,
    },
    /// sshd kept running but did not answer within 10 s.
    #[error(
        "sshd did not answer with an SSH-2.0 banner on {HOST}:{port} within {timeout:?}; its log:\n{log}"
    )]
    NotReady {
        port: u16,
        timeout: Duration,
        log: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A running OpenSSH server on 127.0.0.1. Dropping it stops sshd and everything it started
/// (see [`Sshd::stop`]) and removes its temp dir.
#[derive(Debug)]
pub struct Sshd {
    child: Option<Child>,
    port: u16,
    user: String,
    password_user: bool,
    client_public_key: String,
    paths: Paths,
    /// Declared last: removed after `child` is stopped.
    _temp: TempDir,
}

/// The files of one fixture, all inside its temp dir.
#[derive(Debug)]
struct Paths {
    config: PathBuf,
    host_key: PathBuf,
    client_key: PathBuf,
    authorized_keys: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    stderr: PathBuf,
    scratch: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Self {
        Paths {
            config: root.join("sshd_config"),
            host_key: root.join("ssh_host_ed25519_key"),
            client_key: root.join("id_ed25519"),
            authorized_keys: root.join("authorized_keys"),
            pid_file: root.join("sshd.pid"),
            log: root.join("sshd.log"),
            stderr: root.join("sshd.stderr"),
            scratch: root.join("scratch"),
        }
    }
}

/// Configures an [`Sshd`] before it starts.
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct SshdBuilder {
    port: Option<u16>,
    config: Vec<String>,
}

impl Sshd {
    pub fn builder() -> SshdBuilder {
        SshdBuilder::default()
    }

    /// Starts a server with the default configuration: `Sshd::builder().start()`.
    pub fn start() -> Result<Sshd, Error> {
        Sshd::builder().start()
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user running the tests (root in CI): [`Sshd::client_key`] logs in as them.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key: ed25519, OpenSSH format, no passphrase, mode 0600. It is
    /// authorized for every user, [`Sshd::user`] and the password user alike.
    pub fn client_key(&self) -> &Path {
        &self.paths.client_key
    }

    /// The client's public key, one `authorized_keys` line without its newline.
    pub fn client_public_key(&self) -> String {
        self.client_public_key.clone()
    }

    /// The one `authorized_keys` file sshd reads for every user; append a line to authorize
    /// another key at run time.
    pub fn authorized_keys(&self) -> &Path {
        &self.paths.authorized_keys
    }

    /// [`PASSWORD_USER`], when that user exists on this machine (`scripts/test-peers/setup`).
    pub fn password_user(&self) -> Option<(&str, &str)> {
        self.password_user.then_some(PASSWORD_USER)
    }

    /// An empty directory inside the fixture's temp dir, writable by every user, removed with
    /// the fixture: a place for remote paths.
    pub fn dir(&self) -> &Path {
        &self.paths.scratch
    }

    /// sshd's log so far (LogLevel VERBOSE), and anything it wrote to stderr: for assertion
    /// messages.
    pub fn log(&self) -> String {
        read_log(&self.paths)
    }

    /// Stops sshd now, and every process it started (open connections and their sessions
    /// included): SIGTERM, then SIGKILL for what is still running after 2 s. A client sees the
    /// server go away. Idempotent; the temp dir stays until drop.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SshdBuilder {
    /// Listens on `port` instead of a free one: a test can reserve a port ([`free_port`]),
    /// start a client against it, then start the server.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds sshd_config lines. They come before the fixture's own, so they win (sshd keeps the
    /// first value it reads for a keyword); from a `Match` line on, they go at the end, where
    /// sshd requires `Match` blocks.
    pub fn config(mut self, line: &str) -> Self {
        self.config.push(line.to_owned());
        self
    }

    /// Starts sshd and returns once it accepts TCP connections and answers with an `SSH-2.0-`
    /// banner (10 s at most; the error carries sshd's log).
    pub fn start(self) -> Result<Sshd, Error> {
        crate::sshd_available().map_err(Error::Unavailable)?;
        ensure_privsep_dir()?;
        let user = current_user()?;
        let password_user = matches!(User::from_name(PASSWORD_USER.0), Ok(Some(_)));

        let temp = tempfile::Builder::new()
            .prefix("kiln-sshd-")
            .tempdir()
            .map_err(io_error("creating a temp dir"))?;
        let paths = Paths::new(temp.path());
        // sshd reads authorized_keys as the user logging in, so the password user must be able
        // to reach it; the private keys stay 0600.
        set_mode(temp.path(), 0o755)?;
        keygen(&paths.host_key, "kiln-test-peers host key")?;
        keygen(&paths.client_key, "kiln-test-peers client key")?;
        let public_key_path = paths.client_key.with_extension("pub");
        let client_public_key = fs::read_to_string(&public_key_path)
            .map_err(io_error(format!("reading {}", public_key_path.display())))?
            .trim_end()
            .to_owned();
        write(&paths.authorized_keys, &format!("{client_public_key}\n"))?;
        set_mode(&paths.authorized_keys, 0o644)?;
        fs::create_dir(&paths.scratch)
            .map_err(io_error(format!("creating {}", paths.scratch.display())))?;
        set_mode(&paths.scratch, 0o777)?;

        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            let port = self.port.unwrap_or_else(free_port);
            write(&paths.config, &self.config_text(&paths, port))?;
            let mut child = spawn(&paths)?;
            match wait_ready(&mut child, port, &paths, self.logs_listening()) {
                Ok(()) => break (child, port),
                Err(e) => {
                    stop_child(child);
                    let port_taken = matches!(e, Error::Exited { .. })
                        && read_log(&paths).contains("Address already in use");
                    if !(port_taken && self.port.is_none() && attempt < PORT_ATTEMPTS) {
                        return Err(e);
                    }
                    // Again with a fresh port and an empty log.
                    let _ = fs::remove_file(&paths.log);
                    let _ = fs::remove_file(&paths.stderr);
                }
            }
        };
        Ok(Sshd {
            child: Some(child),
            port,
            user,
            password_user,
            client_public_key,
            paths,
            _temp: temp,
        })
    }

    /// Whether sshd will log "Server listening on": not when a config line changes the level.
    fn logs_listening(&self) -> bool {
        !self.config.iter().any(|line| {
            line.trim_start()
                .to_ascii_lowercase()
                .starts_with("loglevel")
        })
    }

    fn config_text(&self, paths: &Paths, port: u16) -> String {
        let split = self
            .config
            .iter()
            .position(|line| line.trim_start().to_ascii_lowercase().starts_with("match"))
            .unwrap_or(self.config.len());
        let (first, matches) = self.config.split_at(split);
        let mut text = String::from("# Written by kiln-test-peers.\n");
        for line in first {
            let _ = writeln!(text, "{line}");
        }
        let _ = write!(
            text,
            "\
ListenAddress {HOST}
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
Subsystem sftp internal-sftp
AllowTcpForwarding yes
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
PrintMotd no
",
            host_key = paths.host_key.display(),
            pid_file = paths.pid_file.display(),
            authorized_keys = paths.authorized_keys.display(),
        );
        for line in matches {
            let _ = writeln!(text, "{line}");
        }
        text
    }
}

/// Polls until sshd says it listens (when its log level says so) and answers a connection with
/// its banner.
fn wait_ready(
    child: &mut Child,
    port: u16,
    paths: &Paths,
    logs_listening: bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Exited {
                port,
                status,
                log: read_log(paths),
            });
        }
        // The log line shows the listener is this sshd, not another server on a fixed port.
        let listening = !logs_listening || read_log(paths).contains("Server listening on ");
        if listening && answers_with_banner(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                port,
                timeout: START_TIMEOUT,
                log: read_log(paths),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a connection to `addr` is greeted with an SSH-2.0 identification line.
fn answers_with_banner(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_err()
    {
        return false;
    }
    let mut greeting = Vec::new();
    let mut buf = [0; 256];
    while greeting.len() < 8 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => greeting.extend_from_slice(&buf[..n]),
        }
    }
    greeting.starts_with(b"SSH-2.0-")
}

/// Starts sshd in the foreground (`-D`), logging to a file (`-E`), in a process group of its own.
fn spawn(paths: &Paths) -> Result<Child, Error> {
    let stderr = fs::File::create(&paths.stderr)
        .map_err(io_error(format!("creating {}", paths.stderr.display())))?;
    Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(&paths.config)
        .arg("-E")
        .arg(&paths.log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(io_error(format!("running {SSHD}")))
}

/// Ends sshd and all it started, and reaps it.
fn stop_child(mut child: Child) {
    process_tree::terminate(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

fn read_log(paths: &Paths) -> String {
    let mut log = fs::read(&paths.log)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    if let Ok(stderr) = fs::read(&paths.stderr)
        && !stderr.is_empty()
    {
        let _ = write!(
            log,
            "--- sshd stderr:\n{}",
            String::from_utf8_lossy(&stderr)
        );
    }
    log
}

/// `ssh-keygen -q -t ed25519 -N '' -f path`: a key pair in OpenSSH format, no passphrase.
fn keygen(path: &Path, comment: &str) -> Result<(), Error> {
    let output = Command::new(SSH_KEYGEN)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(format!("running {SSH_KEYGEN}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "{SSH_KEYGEN} -f {} failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Creates `/run/sshd` when it is missing: without it sshd refuses to start ("Missing privilege
/// separation directory").
fn ensure_privsep_dir() -> Result<(), Error> {
    let dir = Path::new(PRIVSEP_DIR);
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        what: format!(
            "creating {PRIVSEP_DIR}, which sshd needs (run scripts/test-peers/setup as root)"
        ),
        source,
    })?;
    set_mode(dir, 0o755)
}

fn current_user() -> Result<String, Error> {
    match User::from_uid(Uid::current()) {
        Ok(Some(user)) => Ok(user.name),
        Ok(None) => Err(Error::Setup(format!(
            "uid {} has no passwd entry, so sshd cannot log it in",
            Uid::current()
        ))),
        Err(e) => Err(Error::Setup(format!("looking up the current user: {e}"))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    fs::write(path, text).map_err(io_error(format!("writing {}", path.display())))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("setting the mode of {}", path.display())))
}
