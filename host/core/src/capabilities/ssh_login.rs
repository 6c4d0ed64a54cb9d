//! `ssh-login`: an SSH session's login handed to host commands that connect to the machine by
//! themselves (`ansible-playbook` straight to the guest), without the plugin ever holding the
//! credential.
//!
//! The host writes the credential into a directory of its own, `$TMPDIR/kiln-login-*` (0700),
//! beside the build's temp dir rather than inside it: the build's temp dir is a plugin's
//! preopen, this directory is no plugin's. It is in the build's ledger from the moment it
//! exists, so it goes with the build however the build ends; [`SshLogin::close`] removes it as
//! soon as the plugin is done with it. Before removing it the host asks every OpenSSH control
//! master listening under its `state` directory to exit: a ControlPersist master (Ansible's
//! default) detaches into a session of its own, out of reach of the process group the ledger
//! ends, and would otherwise hold a connection to the machine after the build.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use kiln_ssh::Handover;

use super::{Capabilities, Use};
use crate::ledger::{EntryId, Ledger, Release};
use crate::plugin::PluginError;
use crate::session::Session;
use crate::session::ssh::plugin_error;

/// A login handed over: where to connect, as whom, and the host files that prove it.
pub struct SshLogin {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub method: Handover,
    /// The private key or the password file; none for the agent.
    pub credential: Option<PathBuf>,
    /// For the program's own SSH state (known_hosts, control sockets).
    pub state_dir: PathBuf,
    dir: PathBuf,
    ledger: Arc<Ledger>,
    entry: EntryId,
}

impl std::fmt::Debug for SshLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshLogin")
            .field(
                "target",
                &format!("{}@{}:{}", self.user, self.host, self.port),
            )
            .field("method", &self.method)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Capabilities {
    /// Hands `session`'s login to host commands (see the module docs). Checked as
    /// [`Use::SshLogin`]: the plugin must be allowed host commands, and the communicator the
    /// address.
    pub fn ssh_login(&self, session: &dyn Session) -> Result<SshLogin, PluginError> {
        let Some(config) = session.ssh_config() else {
            return Err(PluginError::failed(format!(
                "only an SSH session's login can be handed to a host program; this session is {:?}",
                session.kind()
            )));
        };
        if let Some(bastion) = &config.bastion {
            return Err(PluginError::failed(format!(
                "the session reaches {}:{} through the bastion host {}:{}; its login cannot be \
                 handed to a host program, which could not take that route",
                config.host, config.port, bastion.host, bastion.port
            )));
        }
        self.allow(Use::SshLogin {
            host: &config.host,
            port: config.port,
        })?;
        // Beside the build's temp dir (in `$TMPDIR`), never inside it.
        let base = self
            .build
            .temp_dir
            .parent()
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = tempfile::Builder::new()
            .prefix("kiln-login-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(base)
            .map_err(|e| {
                PluginError::failed(format!("cannot create a directory for the SSH login: {e}"))
            })?
            .keep();
        let entry = self.ledger.record(Box::new(LoginDir(dir.clone())));
        let login = SshLogin {
            host: config.host.clone(),
            port: config.port,
            user: config.credentials.username.clone(),
            method: Handover::Agent,
            credential: None,
            state_dir: dir.join("state"),
            dir,
            ledger: Arc::clone(&self.ledger),
            entry,
        };
        let file = login.dir.join("credential");
        let written = std::fs::create_dir(&login.state_dir)
            .map_err(|e| {
                PluginError::failed(format!("cannot create {}: {e}", login.state_dir.display()))
            })
            .and_then(|()| {
                config
                    .credentials
                    .write_for_program(&file)
                    .map_err(plugin_error)
            });
        let method = match written {
            Ok(method) => method,
            Err(e) => {
                release(&login.dir);
                self.ledger.forget(login.entry);
                return Err(e);
            }
        };
        self.log.debug(&format!(
            "ssh-login: {}@{}:{} handed over ({method:?}) in {}",
            login.user,
            login.host,
            login.port,
            login.dir.display()
        ));
        Ok(SshLogin {
            method,
            credential: (method != Handover::Agent).then_some(file),
            ..login
        })
    }
}

impl SshLogin {
    /// Ends the login now: its control masters stopped, its directory removed.
    pub async fn close(self) {
        let dir = self.dir.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || release(&dir)).await {
            tracing::warn!("ssh-login: releasing {}: {e}", self.dir.display());
        }
        self.ledger.forget(self.entry);
    }
}

/// The login's directory in the ledger.
struct LoginDir(PathBuf);

#[async_trait]
impl Release for LoginDir {
    fn describe(&self) -> String {
        format!("SSH login directory {}", self.0.display())
    }

    /// A credential is never left behind, not even by `--on-error=abort`.
    fn kept_on_abort(&self) -> bool {
        false
    }

    async fn release(self: Box<Self>) {
        let dir = self.0;
        let _ = tokio::task::spawn_blocking(move || release(&dir)).await;
    }
}

fn release(dir: &Path) {
    stop_control_masters(&dir.join("state"), 3);
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("ssh-login: removing {}: {e}", dir.display());
    }
}

/// Asks the OpenSSH control master behind each socket under `dir` (`depth` levels down) to
/// exit, the way OpenSSH documents (`ssh -O exit`), ignoring the user's ssh config.
fn stop_control_masters(dir: &Path, depth: u32) {
    use std::os::unix::fs::FileTypeExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth > 1 {
            stop_control_masters(&path, depth - 1);
        } else if kind.is_socket() {
            // `%` starts a token in ControlPath.
            let control_path = path.display().to_string().replace('%', "%%");
            let stopped = std::process::Command::new("ssh")
                .args(["-F", "/dev/null", "-o"])
                .arg(format!("ControlPath={control_path}"))
                .args(["-O", "exit", "kiln-login"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            tracing::debug!(
                "ssh-login: stopping the control master at {control_path}: {stopped:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    use kiln_policy::{Context, EffectivePolicy, PluginIdentity, PluginKind};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::ledger::Outcome;
    use crate::plugin::BuildInfo;
    use crate::session::{Captured, Exit, LineSink, RemoteCommand};
    use crate::ui::{BuildLog, Progress, Ui};

    struct Quiet;

    struct NoBar;

    impl Progress for NoBar {
        fn advance(&self, _: u64) {}
        fn finish(&self) {}
    }

    impl Ui for Quiet {
        fn say(&self, _: &str, _: &str) {}
        fn message(&self, _: &str, _: &str) {}
        fn error(&self, _: &str, _: &str) {}
        fn machine(&self, _: &str, _: &str, _: &[&str]) {}
        fn progress(&self, _: &str, _: &str, _: u64) -> Box<dyn Progress> {
            Box::new(NoBar)
        }
        fn ask(&self, _: &str, _: &str) -> Option<String> {
            None
        }
    }

    /// A session that is only its SSH settings.
    struct Settings(kiln_ssh::Config);

    #[async_trait]
    impl Session for Settings {
        fn kind(&self) -> &str {
            "ssh"
        }
        async fn exec(&self, _: &RemoteCommand, _: LineSink<'_>) -> Result<Exit, PluginError> {
            Err(PluginError::failed("not here"))
        }
        async fn exec_captured(&self, _: &RemoteCommand) -> Result<Captured, PluginError> {
            Err(PluginError::failed("not here"))
        }
        async fn upload(&self, _: &Path, _: &str) -> Result<(), PluginError> {
            Err(PluginError::failed("not here"))
        }
        async fn upload_content(&self, _: &[u8], _: &str, _: u32) -> Result<(), PluginError> {
            Err(PluginError::failed("not here"))
        }
        async fn download(&self, _: &str, _: &Path) -> Result<(), PluginError> {
            Err(PluginError::failed("not here"))
        }
        async fn reconnect(&self) -> Result<(), PluginError> {
            Err(PluginError::failed("not here"))
        }
        fn ssh_config(&self) -> Option<&kiln_ssh::Config> {
            Some(&self.0)
        }
    }

    fn settings(password: Option<&str>, bastion: bool) -> Settings {
        let credentials = |user: &str| kiln_ssh::Credentials {
            username: user.into(),
            password: password.map(|p| kiln_ssh::Secret(p.into())),
            keys: Vec::new(),
            agent: password.is_none(),
        };
        Settings(kiln_ssh::Config {
            host: "127.0.0.1".into(),
            port: 2222,
            credentials: credentials("builder"),
            timeout: Duration::from_secs(1),
            handshake_attempts: 1,
            keep_alive_interval: None,
            read_write_timeout: None,
            pty: false,
            transfer: kiln_ssh::TransferMethod::Scp,
            bastion: bastion.then(|| kiln_ssh::Bastion {
                host: "jump.example".into(),
                port: 22,
                credentials: credentials("jumper"),
            }),
            ciphers: Vec::new(),
            key_exchanges: Vec::new(),
            pause_before: None,
        })
    }

    /// The capabilities of first-party provisioner `type_name`, its directories under `dir`
    /// (so the login's directory is too).
    fn caps(dir: &Path, type_name: &str) -> (Capabilities, Arc<Ledger>) {
        let build = BuildInfo {
            name: "b".into(),
            builder_type: "null".into(),
            run_id: "run".into(),
            template_dir: dir.join("templates"),
            output_dir: dir.join("work"),
            temp_dir: dir.join("tmp"),
            force: false,
            debug: false,
        };
        let ctx = Context {
            template_dir: build.template_dir.clone(),
            output_dir: build.output_dir.clone(),
            temp_dir: build.temp_dir.clone(),
        };
        let identity = PluginIdentity::first_party(PluginKind::Provisioner, type_name);
        let grant = EffectivePolicy::default().grant_for(&identity, &ctx);
        let ledger = Arc::new(Ledger::new());
        let caps = Capabilities::new(
            build,
            BuildLog::new(Arc::new(Quiet), "b"),
            Arc::clone(&ledger),
            grant,
            CancellationToken::new(),
            Arc::new(kiln_template::interpolate::Globals::capture(String::new())),
        );
        (caps, ledger)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_password_login_is_a_private_file_gone_when_the_login_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, ledger) = caps(dir.path(), "ansible");
        let password = "Ledger-Test-Passw0rd-Quite-Long";
        let login = caps.ssh_login(&settings(Some(password), false)).unwrap();
        assert_eq!(
            (login.host.as_str(), login.port, login.user.as_str()),
            ("127.0.0.1", 2222, "builder")
        );
        assert_eq!(login.method, Handover::Password);
        let file = login.credential.clone().unwrap();
        let root = file.parent().unwrap().to_path_buf();
        assert!(
            root.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kiln-login-"),
            "{}",
            root.display()
        );
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("{password}\n")
        );
        assert!(login.state_dir.is_dir());
        assert_eq!(ledger.len(), 1);
        login.close().await;
        assert!(!root.exists());
        assert!(ledger.is_empty());
    }

    #[tokio::test]
    async fn a_login_left_open_goes_with_the_build_even_on_abort() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, ledger) = caps(dir.path(), "ansible");
        let login = caps.ssh_login(&settings(None, false)).unwrap();
        assert_eq!(login.method, Handover::Agent);
        assert_eq!(login.credential, None);
        let state = login.state_dir.clone();
        drop(login);
        assert!(state.exists());
        ledger.release(Outcome::Abort).await;
        assert!(!state.parent().unwrap().exists());
    }

    #[tokio::test]
    async fn only_plugins_that_run_host_commands_get_a_login_and_never_through_a_bastion() {
        let dir = tempfile::tempdir().unwrap();
        let (shell, ledger) = caps(dir.path(), "shell");
        let denied = shell.ssh_login(&settings(Some("Unused-Passw0rd-X"), false));
        assert!(
            matches!(&denied, Err(PluginError::Denied(t)) if t.starts_with(
                "handing the SSH login to 127.0.0.1:2222 to host commands not allowed by capabilities.local_exec (kiln's default policy)"
            )),
            "{denied:?}"
        );
        let (ansible, _) = caps(dir.path(), "ansible");
        let bastion = ansible.ssh_login(&settings(None, true));
        assert!(
            matches!(&bastion, Err(PluginError::Failed(t)) if t.contains("through the bastion host jump.example:22")),
            "{bastion:?}"
        );
        let none = ansible.ssh_login(&crate::session::NoSession);
        assert!(
            matches!(&none, Err(PluginError::Failed(t)) if t.contains("this session is \"none\"")),
            "{none:?}"
        );
        assert!(ledger.is_empty());
    }
}
