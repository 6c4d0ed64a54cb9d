//! Waiting for the machine's sshd: one attempt at a time until `ssh_timeout`, each failure
//! classified (refused, no answer, handshake, authentication) and reported, so a user watching
//! a build that never connects sees why.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};

use crate::Error;
use crate::config::{Config, Credentials};

/// Told what the connection is doing, for the build's UI.
pub trait Observer: Send + Sync {
    /// A step heading (`Waiting for SSH to become available...`, `Connected to SSH!`).
    fn say(&self, text: &str);
    /// Detail under it (the target, why the last attempt failed).
    fn message(&self, text: &str);
    /// Detail for debug logs only.
    fn debug(&self, text: &str);
}

/// An [`Observer`] that says nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn say(&self, _: &str) {}
    fn message(&self, _: &str) {}
    fn debug(&self, _: &str) {}
}

/// Accepts the host key of the machine being built, for this connection only.
pub(crate) struct AcceptHostKey;

impl client::Handler for AcceptHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        tracing::debug!("ssh: accepting host key {key:?} for this build");
        Ok(true)
    }
}

/// An open, authenticated connection (and the bastion connection it runs through).
pub(crate) struct Connection {
    pub(crate) handle: Handle<AcceptHostKey>,
    pub(crate) _bastion: Option<Handle<AcceptHostKey>>,
    /// The sftp subsystem, opened on first use.
    pub(crate) sftp: tokio::sync::OnceCell<Arc<russh_sftp::client::SftpSession>>,
}

/// Why one attempt failed.
enum Attempt {
    /// Nothing answered on the port (refused, unreachable, no reply): the machine may still
    /// be booting, so keep trying until the timeout.
    Unreachable(String),
    /// The port answered but SSH or authentication failed: counted against
    /// `ssh_handshake_attempts`.
    Handshake(String),
}

/// How long one TCP connect or handshake may take before it counts as no answer.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(20);
/// The first pause between attempts; it doubles up to [`MAX_PAUSE`]. Packer waits 5 s, which
/// costs up to 5 s after the guest's sshd is up; an attempt a second costs nothing.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// How often the user is told why the wait goes on.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Connects, retrying until `config.timeout` or until `config.handshake_attempts` handshakes
/// have failed.
pub(crate) async fn wait_for_ssh(
    config: &Config,
    observer: &dyn Observer,
) -> Result<Connection, Error> {
    if let Some(pause) = config.pause_before {
        observer.message(&format!(
            "Pausing {} before connecting...",
            crate::client::humanize(pause)
        ));
        tokio::time::sleep(pause).await;
    }
    let via = match &config.bastion {
        Some(b) => format!(
            " through the bastion {}@{}:{}",
            b.credentials.username, b.host, b.port
        ),
        None => String::new(),
    };
    observer.say("Waiting for SSH to become available...");
    observer.message(&format!(
        "Connecting to {}{via} (for up to {}, {} handshake attempts)",
        config.target(),
        crate::client::humanize(config.timeout),
        config.handshake_attempts,
    ));
    let russh_config = Arc::new(russh_config(config)?);
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut handshakes = 0;
    let mut attempts = 0u32;
    let mut last_report = Instant::now();
    loop {
        attempts += 1;
        let last = match attempt(config, &russh_config).await {
            Ok(connection) => {
                observer.say("Connected to SSH!");
                observer.debug(&format!(
                    "connected to {} after {} ({attempts} attempt{})",
                    config.target(),
                    crate::client::humanize(start.elapsed()),
                    if attempts == 1 { "" } else { "s" }
                ));
                return Ok(connection);
            }
            Err(Attempt::Unreachable(why)) => why,
            Err(Attempt::Handshake(why)) => {
                handshakes += 1;
                if handshakes >= config.handshake_attempts {
                    return Err(Error::Timeout(format!(
                        "SSH to {}{via} failed {handshakes} handshake attempt{} (ssh_handshake_attempts); the last one: {why}",
                        config.target(),
                        if handshakes == 1 { "" } else { "s" }
                    )));
                }
                why
            }
        };
        let left = config.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(Error::Timeout(format!(
                "Timeout waiting for SSH on {}{via} after {} ({attempts} attempts); the last one failed: {last}",
                config.target(),
                crate::client::humanize(config.timeout)
            )));
        }
        let note = format!(
            "SSH attempt {attempts} failed: {last}; retrying ({} left)",
            crate::client::humanize(left)
        );
        // Every attempt goes to the debug log; the user sees why it is still waiting every
        // [`REPORT_EVERY`], not a line per attempt through a long install.
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            observer.message(&format!(
                "Still waiting for SSH after {}: {last}",
                crate::client::humanize(start.elapsed())
            ));
        }
        observer.debug(&note);
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// The ciphers offered when `ssh_ciphers` is not set: russh's, with AES-GCM first when the CPU
/// has AES instructions (as Go's x/crypto, and so Packer, does): both ends then use the CPU's
/// AES-GCM instead of ChaCha20-Poly1305 in software, which moves a large file about 1.4 times
/// as fast where the cipher is the bound (`cargo bench -p kiln-ssh --bench transfer`).
fn default_ciphers() -> Cow<'static, [russh::cipher::Name]> {
    use russh::cipher::{AES_128_CTR, AES_192_CTR, AES_256_CTR, AES_256_GCM, CHACHA20_POLY1305};
    if aes_in_hardware() {
        Cow::Borrowed(&[
            AES_256_GCM,
            CHACHA20_POLY1305,
            AES_256_CTR,
            AES_192_CTR,
            AES_128_CTR,
        ])
    } else {
        russh::Preferred::default().cipher
    }
}

fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn russh_config(config: &Config) -> Result<client::Config, Error> {
    let mut preferred = russh::Preferred {
        cipher: default_ciphers(),
        ..russh::Preferred::default()
    };
    if !config.ciphers.is_empty() {
        let names = config
            .ciphers
            .iter()
            .map(|c| {
                russh::cipher::Name::try_from(c.as_str()).map_err(|_| {
                    Error::Config(format!("ssh_ciphers: {c:?} is not a cipher kiln supports"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        preferred.cipher = Cow::Owned(names);
    }
    if !config.key_exchanges.is_empty() {
        let names = config
            .key_exchanges
            .iter()
            .map(|k| {
                russh::kex::Name::try_from(k.as_str()).map_err(|_| {
                    Error::Config(format!(
                        "ssh_key_exchange_algorithms: {k:?} is not an algorithm kiln supports"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        preferred.kex = Cow::Owned(names);
    }
    Ok(client::Config {
        preferred,
        keepalive_interval: config.keep_alive_interval,
        keepalive_max: 3,
        inactivity_timeout: config.read_write_timeout,
        nodelay: true,
        ..client::Config::default()
    })
}

async fn attempt(
    config: &Config,
    russh_config: &Arc<client::Config>,
) -> Result<Connection, Attempt> {
    match &config.bastion {
        None => {
            let tcp = tcp_connect(&config.host, config.port).await?;
            let handle =
                handshake_tcp(russh_config, tcp, &config.credentials, &config.target()).await?;
            Ok(Connection {
                handle,
                _bastion: None,
                sftp: Default::default(),
            })
        }
        Some(bastion) => {
            let target = format!(
                "the bastion {}@{}:{}",
                bastion.credentials.username, bastion.host, bastion.port
            );
            let tcp = tcp_connect(&bastion.host, bastion.port).await?;
            let jump = handshake_tcp(russh_config, tcp, &bastion.credentials, &target).await?;
            let channel = jump
                .channel_open_direct_tcpip(
                    config.host.as_str(),
                    u32::from(config.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| {
                    Attempt::Unreachable(format!(
                        "{target} could not reach {}:{}: {e}",
                        config.host, config.port
                    ))
                })?;
            let handle = handshake(
                russh_config,
                channel.into_stream(),
                &config.credentials,
                &config.target(),
            )
            .await?;
            Ok(Connection {
                handle,
                _bastion: Some(jump),
                sftp: Default::default(),
            })
        }
    }
}

/// A TCP connection that acknowledges every segment at once (`TCP_QUICKACK`, re-armed after
/// each read, since Linux clears it). sshd leaves Nagle on for sessions without a terminal, so
/// when it writes two small messages in a row (the host keys it announces after
/// authentication, then the reply to the first channel) the second waits for our ACK, which
/// the kernel would delay by 40 ms.
///
/// It also notes whether the peer sent anything at all: a port that accepts and then says
/// nothing (or closes) is not an SSH server failing a handshake but one not there yet. QEMU's
/// user-mode port forward accepts on the host while the guest's sshd is still booting.
struct QuickAck {
    tcp: tokio::net::TcpStream,
    received: Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.received
                .store(true, std::sync::atomic::Ordering::Relaxed);
            #[cfg(target_os = "linux")]
            let _ = self.tcp.set_quickack(true);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

async fn tcp_connect(host: &str, port: u16) -> Result<QuickAck, Attempt> {
    match tokio::time::timeout(ATTEMPT_LIMIT, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(QuickAck {
                tcp,
                received: Arc::default(),
            })
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(Attempt::Unreachable(format!(
                "connection refused by {host}:{port} (is sshd running?)"
            )))
        }
        Ok(Err(e)) => Err(Attempt::Unreachable(format!(
            "cannot connect to {host}:{port}: {e}"
        ))),
        Err(_) => Err(Attempt::Unreachable(format!(
            "no answer from {host}:{port} within {}",
            crate::client::humanize(ATTEMPT_LIMIT)
        ))),
    }
}

/// [`handshake`] over TCP: a failure before the peer sent a single byte does not count against
/// `ssh_handshake_attempts` (see [`QuickAck`]); the wait goes on until `ssh_timeout`.
async fn handshake_tcp(
    russh_config: &Arc<client::Config>,
    tcp: QuickAck,
    credentials: &Credentials,
    target: &str,
) -> Result<Handle<AcceptHostKey>, Attempt> {
    let received = Arc::clone(&tcp.received);
    match handshake(russh_config, tcp, credentials, target).await {
        Err(Attempt::Handshake(_)) if !received.load(std::sync::atomic::Ordering::Relaxed) => {
            Err(Attempt::Unreachable(format!(
                "{target} accepted the connection but no SSH server answered on it (a port forward to a machine whose sshd is not up yet?)"
            )))
        }
        other => other,
    }
}

async fn handshake<S>(
    russh_config: &Arc<client::Config>,
    stream: S,
    credentials: &Credentials,
    target: &str,
) -> Result<Handle<AcceptHostKey>, Attempt>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connecting = client::connect_stream(Arc::clone(russh_config), stream, AcceptHostKey);
    let mut handle = match tokio::time::timeout(ATTEMPT_LIMIT, connecting).await {
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => {
            return Err(Attempt::Handshake(format!(
                "SSH handshake with {target} failed: {e}"
            )));
        }
        Err(_) => {
            return Err(Attempt::Handshake(format!(
                "SSH handshake with {target} did not finish within {}",
                crate::client::humanize(ATTEMPT_LIMIT)
            )));
        }
    };
    match tokio::time::timeout(ATTEMPT_LIMIT, authenticate(&mut handle, credentials)).await {
        Ok(Ok(true)) => Ok(handle),
        Ok(Ok(false)) => Err(Attempt::Handshake(format!(
            "authentication as {:?} failed at {target} (tried: {})",
            credentials.username,
            credentials.methods()
        ))),
        Ok(Err(e)) => Err(Attempt::Handshake(format!(
            "authentication at {target} failed: {e}"
        ))),
        Err(_) => Err(Attempt::Handshake(format!(
            "authentication at {target} did not finish within {}",
            crate::client::humanize(ATTEMPT_LIMIT)
        ))),
    }
}

/// Tries the agent's keys, then the key files, then the password; true when one was accepted.
async fn authenticate(
    handle: &mut Handle<AcceptHostKey>,
    credentials: &Credentials,
) -> Result<bool, String> {
    let user = credentials.username.as_str();
    if credentials.agent {
        let mut agent = russh::keys::agent::client::AgentClient::connect_env()
            .await
            .map_err(|e| {
                format!("ssh_agent_auth: cannot reach the SSH agent (SSH_AUTH_SOCK): {e}")
            })?;
        let identities = agent
            .request_identities()
            .await
            .map_err(|e| format!("ssh_agent_auth: the SSH agent did not list its keys: {e}"))?;
        for identity in identities {
            let key = identity.public_key().into_owned();
            let hash = rsa_hash(handle).await?;
            match handle
                .authenticate_publickey_with(user, key, hash, &mut agent)
                .await
            {
                Ok(result) if result.success() => return Ok(true),
                Ok(_) => {}
                Err(e) => return Err(format!("the SSH agent could not sign: {e}")),
            }
        }
    }
    for (key, certificate) in &credentials.keys {
        let result = match certificate {
            Some(cert) => handle
                .authenticate_openssh_cert(user, Arc::clone(key), cert.clone())
                .await
                .map_err(|e| e.to_string())?,
            None => {
                let hash = rsa_hash(handle).await?;
                handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::clone(key), hash))
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        if result.success() {
            return Ok(true);
        }
    }
    if let Some(password) = &credentials.password {
        let result = handle
            .authenticate_password(user, password.0.as_str())
            .await
            .map_err(|e| e.to_string())?;
        if result.success() {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn rsa_hash(handle: &Handle<AcceptHostKey>) -> Result<Option<russh::keys::HashAlg>, String> {
    handle
        .best_supported_rsa_hash()
        .await
        .map(Option::flatten)
        .map_err(|e| e.to_string())
}
