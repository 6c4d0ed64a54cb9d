//! The one door between a plugin and the world. Components (through `kiln-wasm`'s imports) and
//! Rhai scripts (through `kiln-rhai`'s functions) call these methods and nothing else; each
//! checks the call against the build's [`Grant`] first and records what it opens in the
//! build's [`Ledger`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use kiln_template::interpolate::{self, Context, Globals, Phase};

use crate::archive::ArchiveRequest;
use crate::ledger::Ledger;
use crate::plugin::{BuildInfo, PluginError};
use crate::session::ssh::{LogObserver, SshSession, plugin_error};
use crate::session::{NoSession, Session};
use crate::ui::BuildLog;

pub use kiln_policy::{Decision, Grant, Use};

mod fetch;
mod http;
mod machine;
mod media;
mod ssh_login;

pub use http::{HttpServer, HttpSettings};
pub use kiln_ssh::Handover;
pub use machine::MachineHandle;
pub use ssh_login::SshLogin;

/// A denial as the plugin sees it: the rule, the file it came from, and whom it was for.
fn denied(grant: &Grant, denial: &kiln_policy::Denial) -> PluginError {
    PluginError::Denied(format!(
        "{} {} {} ({}) for {} {}",
        denial.what,
        denial.relation,
        denial.rule,
        denial.source,
        grant.plugin.kind,
        grant.plugin.type_name
    ))
}

/// What [`check_tree`] checks a tree for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// An upload reads it.
    Read,
    /// A download writes into it.
    Write,
}

/// For an upload, every file and directory under `root`, symlinks resolved, must be readable:
/// a link inside a granted directory cannot carry a file from outside it. For a download,
/// `root` itself must be writable where it really is (through the links of it and of its
/// existing ancestors), so a planted link cannot send it outside the grant; the tree below is
/// not walked (a download into `.` would walk the whole working directory).
pub fn check_tree(grant: &Grant, root: &Path, access: Access) -> Result<(), PluginError> {
    let resolved = grant.map_dirs(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()));
    let check = |path: &Path, real: &Path| -> Result<(), PluginError> {
        let what = match access {
            Access::Read => Use::Read(real),
            Access::Write => Use::Write(real),
        };
        match resolved.check(&what) {
            Decision::Deny(denial) => {
                let via = if real == path {
                    String::new()
                } else {
                    format!(" (through the link {})", path.display())
                };
                Err(match denied(grant, &denial) {
                    PluginError::Denied(why) => PluginError::Denied(format!("{why}{via}")),
                    other => other,
                })
            }
            Decision::AuditDenied(denial) => {
                tracing::warn!("audit: {denial}; allowed (mode = \"audit\")");
                Ok(())
            }
            Decision::Allow => Ok(()),
        }
    };
    if access == Access::Write {
        return check(root, &where_it_would_be(root));
    }
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let real = std::fs::canonicalize(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        check(&path, &real)?;
        if real.is_dir() && seen.insert(real.clone()) {
            let entries = std::fs::read_dir(&path)
                .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
            for entry in entries.flatten() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// The real path a new `path` would get: its nearest existing ancestor resolved, then the rest.
fn where_it_would_be(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut ancestor = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(ancestor) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (ancestor.parent(), ancestor.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                ancestor = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// How long output is still read after a host command exits.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends each line of a command's output to the build's UI.
fn pump_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: BuildLog,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.message(&line);
        }
    })
}

/// What a builder asks of the rest of the build: run the template's provisioners.
#[async_trait]
pub trait BuildHooks: Send + Sync {
    async fn provision(
        &self,
        caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError>;
}

/// A host command (shell-local).
#[derive(Clone, Debug, Default)]
pub struct LocalCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

/// Everything one plugin call may reach, for one build.
pub struct Capabilities {
    pub build: BuildInfo,
    pub log: BuildLog,
    pub ledger: Arc<Ledger>,
    pub grant: Grant,
    pub cancel: CancellationToken,
    globals: Arc<Globals>,
    hooks: Option<Arc<dyn BuildHooks>>,
    /// The build's temporary SSH key pair, made on first use and shared by its plugins.
    ssh_key: Arc<std::sync::OnceLock<kiln_ssh::TemporaryKey>>,
    /// Files the build's downloads put in the cache, which its machines may use.
    fetched: Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>>,
}

impl Capabilities {
    pub fn new(
        build: BuildInfo,
        log: BuildLog,
        ledger: Arc<Ledger>,
        grant: Grant,
        cancel: CancellationToken,
        globals: Arc<Globals>,
    ) -> Self {
        Capabilities {
            build,
            log,
            ledger,
            grant,
            cancel,
            globals,
            hooks: None,
            ssh_key: Arc::default(),
            fetched: Arc::default(),
        }
    }

    /// The same build and ledger under another plugin's grant.
    pub fn for_plugin(&self, grant: Grant) -> Self {
        Capabilities {
            build: self.build.clone(),
            log: self.log.clone(),
            ledger: Arc::clone(&self.ledger),
            grant,
            cancel: self.cancel.clone(),
            globals: Arc::clone(&self.globals),
            hooks: self.hooks.clone(),
            ssh_key: Arc::clone(&self.ssh_key),
            fetched: Arc::clone(&self.fetched),
        }
    }

    pub fn with_hooks(mut self, hooks: Arc<dyn BuildHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Checks one use against the plugin's grant: a denial names the rule and the file it came
    /// from; in audit mode it is shown as an error line and allowed.
    pub fn allow(&self, what: Use<'_>) -> Result<(), PluginError> {
        match self.grant.check(&what) {
            Decision::Allow => Ok(()),
            Decision::Deny(denial) => Err(denied(&self.grant, &denial)),
            Decision::AuditDenied(denial) => {
                self.log.error(&format!(
                    "audit: {}; allowed because the policy's mode is \"audit\"",
                    denied(&self.grant, &denial)
                ));
                Ok(())
            }
        }
    }

    /// A path as the plugin meant it: relative ones are relative to the output directory
    /// (the working directory, as in Packer).
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.resolve_path(Path::new(path))
    }

    /// [`Capabilities::resolve`] for a path a host-side type already holds.
    pub(crate) fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.build.output_dir.join(path)
        }
    }

    // ---- artifacts

    /// Records a file a plugin created: removed if the build fails.
    pub fn register_artifact(&self, path: &str) -> Result<(), PluginError> {
        let path = self.resolve(path);
        self.allow(Use::Write(&path))?;
        self.ledger.record_artifact(path);
        Ok(())
    }

    /// A file's digest, computed natively.
    pub async fn digest(&self, path: &str, algorithm: &str) -> Result<String, PluginError> {
        let path = self.resolve(path);
        self.allow(Use::Read(&path))?;
        let algorithm = algorithm.to_owned();
        tokio::task::spawn_blocking(move || crate::digest::file_digest(&path, &algorithm))
            .await
            .map_err(|e| PluginError::failed(format!("digest: {e}")))?
    }

    /// Writes an archive or compressed file natively (multi-threaded, streaming).
    pub async fn archive(&self, request: ArchiveRequest) -> Result<u64, PluginError> {
        for (path, _) in &request.entries {
            self.allow(Use::Read(path))?;
        }
        self.allow(Use::Write(&request.output))?;
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || crate::archive::create(&request, &log))
            .await
            .map_err(|e| PluginError::failed(format!("archive: {e}")))?
    }

    // ---- local exec

    /// Runs a host command to completion in its own process group, streaming its output to
    /// the build's UI. The group is in the ledger, so a background process it leaves behind
    /// ends with the build.
    pub async fn local_exec(&self, command: LocalCommand) -> Result<i32, PluginError> {
        self.allow(Use::LocalExec(&command.argv))?;
        let Some((program, args)) = command.argv.split_first() else {
            return Err(PluginError::failed("local exec: empty command"));
        };
        let cwd = command
            .cwd
            .clone()
            .unwrap_or_else(|| self.build.template_dir.clone());
        let mut child = tokio::process::Command::new(program);
        child
            .args(args)
            .current_dir(&cwd)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env("PACKER_RUN_UUID", &self.build.run_id)
            .env("KILN_RUN_ID", &self.build.run_id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = child.spawn().map_err(|e| {
            PluginError::failed(format!(
                "cannot run {program:?} (in {}): {e}",
                cwd.display()
            ))
        })?;
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            self.ledger.record_process_group(pid, program.clone());
        }
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let pumps = [
            stdout.map(|s| pump_lines(s, self.log.clone())),
            stderr.map(|s| pump_lines(s, self.log.clone())),
        ];
        let run = async {
            let status = child.wait().await;
            // A background process the command started may hold its output open for as long
            // as it lives; read what is buffered, then stop waiting (the ledger ends it with
            // the build).
            for pump in pumps.into_iter().flatten() {
                let abort = pump.abort_handle();
                if tokio::time::timeout(OUTPUT_GRACE, pump).await.is_err() {
                    abort.abort();
                    self.log.debug(&format!(
                        "{program}: a background process still holds its output open; not waiting for it"
                    ));
                }
            }
            status
        };
        tokio::select! {
            status = run => {
                let status = status.map_err(|e| PluginError::failed(format!("{program}: {e}")))?;
                Ok(status.code().unwrap_or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    128 + status.signal().unwrap_or(0)
                }))
            }
            () = self.cancel.cancelled() => Err(PluginError::Cancelled),
        }
    }

    // ---- communicator

    /// Opens the communicator named by the builder's options (`communicator`, `ssh_*`) to
    /// `host:port` (the options' `ssh_host`/`ssh_port` when these are empty), waiting until
    /// the machine answers or `ssh_timeout` runs out.
    pub async fn connect(
        &self,
        options: &str,
        host: &str,
        port: u16,
    ) -> Result<Arc<dyn Session>, PluginError> {
        let mut options: kiln_ssh::Options = serde_json::from_str(options)
            .map_err(|e| PluginError::failed(format!("communicator options: {e}")))?;
        match options.communicator.as_str() {
            "none" => return Ok(Arc::new(NoSession)),
            "" | "ssh" => {}
            other => {
                return Err(PluginError::not_available(&format!(
                    "the {other:?} communicator"
                )));
            }
        }
        if !host.is_empty() {
            options.ssh_host = host.to_owned();
        }
        if port != 0 {
            options.ssh_port = u64::from(port);
        }
        let target_port = u16::try_from(options.ssh_port)
            .ok()
            .filter(|p| *p != 0)
            .unwrap_or(22);
        self.allow(Use::Communicator {
            host: &options.ssh_host,
            port: target_port,
        })?;
        let temporary = if options.needs_temporary_key() {
            Some(self.temporary_key(
                &options.temporary_key_pair_type,
                options.temporary_key_pair_bits,
            )?)
        } else {
            None
        };
        let clear_key = match (&temporary, options.ssh_clear_authorized_keys) {
            (Some(key), true) => Some(key.comment().to_owned()),
            _ => None,
        };
        // Relative key paths are relative to the working directory, as in Packer.
        let config = options
            .into_config(&|p: &str| self.resolve(p), temporary.as_ref())
            .map_err(plugin_error)?;
        let observer = Arc::new(LogObserver(self.log.clone()));
        let client = tokio::select! {
            client = kiln_ssh::Client::connect(config, observer) => client.map_err(plugin_error)?,
            () = self.cancel.cancelled() => return Err(PluginError::Cancelled),
        };
        Ok(Arc::new(SshSession::new(
            client,
            self.log.clone(),
            clear_key,
        )))
    }

    /// The build's temporary key pair (made on first use: `ed25519` unless the first user
    /// asks for another type).
    fn temporary_key(&self, kind: &str, bits: u64) -> Result<kiln_ssh::TemporaryKey, PluginError> {
        if let Some(key) = self.ssh_key.get() {
            return Ok(key.clone());
        }
        let comment = format!("kiln_{}", self.build.run_id);
        let bits = u32::try_from(bits).unwrap_or(0);
        let key = kiln_ssh::TemporaryKey::generate(kind, bits, &comment).map_err(plugin_error)?;
        self.log.say(&format!(
            "Creating a temporary {} SSH key for this build...",
            if kind.is_empty() { "ed25519" } else { kind }
        ));
        Ok(self.ssh_key.get_or_init(|| key).clone())
    }

    /// Copies a host file or directory (checked readable) to the machine over `session`.
    pub async fn upload(
        &self,
        session: &dyn Session,
        host_path: &str,
        remote_path: &str,
    ) -> Result<(), PluginError> {
        let path = self.resolve(host_path);
        self.allow(Use::Read(&path))?;
        let grant = self.grant.clone();
        let root = path.clone();
        tokio::task::spawn_blocking(move || check_tree(&grant, &root, Access::Read))
            .await
            .map_err(|e| PluginError::failed(format!("upload: {e}")))??;
        session.upload(&path, remote_path).await
    }

    /// Copies a remote file or directory to a host path (checked writable).
    pub async fn download(
        &self,
        session: &dyn Session,
        remote_path: &str,
        host_path: &str,
    ) -> Result<(), PluginError> {
        let path = self.resolve(host_path);
        self.allow(Use::Write(&path))?;
        let grant = self.grant.clone();
        let root = path.clone();
        tokio::task::spawn_blocking(move || check_tree(&grant, &root, Access::Write))
            .await
            .map_err(|e| PluginError::failed(format!("download: {e}")))??;
        session.download(remote_path, &path).await
    }

    /// The public half of the build's temporary key, for `{{ .SSHPublicKey }}`.
    pub fn temporary_public_key(&self) -> Result<String, PluginError> {
        Ok(self.temporary_key("", 0)?.public_openssh().to_owned())
    }

    // ---- build hooks

    /// Runs the template's provisioners for this build over `session`, handing each the
    /// builder's generated `data`.
    pub async fn provision(
        self: &Arc<Self>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError> {
        match &self.hooks {
            Some(hooks) => {
                hooks.provision(self, Arc::clone(&session), data).await?;
                session.provisioned().await;
                Ok(())
            }
            None => Err(PluginError::failed(
                "only a builder can ask for the provisioners to run",
            )),
        }
    }

    /// Renders build-time template text (`{{ .HTTPIP }}`) with `data` (a later entry wins)
    /// and this build's name and type.
    pub fn render(&self, text: &str, data: &[(String, String)]) -> Result<String, PluginError> {
        let fields: BTreeMap<String, String> = data.iter().cloned().collect();
        let mut users = BTreeMap::new();
        let mut ctx = Context::new(&self.globals, &mut users, Phase::Template)
            .with_build(&self.build.name, &self.build.builder_type)
            .with_data(&fields);
        interpolate::render(text, &mut ctx)
            .map_err(|e| PluginError::failed(format!("in {text:?}: {}", e.message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_policy::{Context, EffectivePolicy, PluginIdentity, PluginKind};

    fn grant(dir: &Path) -> Grant {
        let ctx = Context {
            template_dir: dir.join("templates"),
            output_dir: dir.join("work"),
            temp_dir: dir.join("tmp"),
        };
        let test = PluginIdentity {
            kind: PluginKind::Provisioner,
            type_name: "test".into(),
            origin: kiln_policy::Origin::ThirdParty {
                sha256: kiln_policy::Sha256([0; 32]),
                source: "file:///test.wasm".into(),
                signed_by: None,
            },
        };
        EffectivePolicy::default().grant_for(&test, &ctx)
    }

    #[test]
    fn a_link_out_of_a_readable_tree_is_denied() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tree = dir.path().join("templates/tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(tree.join("sub/ok.txt"), "ok").unwrap_or_else(|e| panic!("{e}"));
        let g = grant(dir.path());
        assert_eq!(check_tree(&g, &tree, Access::Read), Ok(()));
        std::os::unix::fs::symlink("/etc/hostname", tree.join("sub/stolen"))
            .unwrap_or_else(|e| panic!("{e}"));
        let denied = check_tree(&g, &tree, Access::Read);
        assert!(
            matches!(&denied, Err(PluginError::Denied(t))
                if t.starts_with("read /etc/hostname not in capabilities.read_only or capabilities.read_write (kiln's default policy) for provisioner test")
                    && t.contains("(through the link ")),
            "{denied:?}"
        );
        // A loop of links inside the tree is walked once.
        std::fs::remove_file(tree.join("sub/stolen")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&tree, tree.join("sub/loop")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_tree(&g, &tree, Access::Read), Ok(()));
    }

    #[test]
    fn a_download_cannot_follow_a_link_out_of_the_writable_tree() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let work = dir.path().join("work");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&elsewhere).unwrap_or_else(|e| panic!("{e}"));
        let g = grant(dir.path());
        // A new file in the output directory, and one in a new directory there: fine.
        assert_eq!(check_tree(&g, &work.join("new.txt"), Access::Write), Ok(()));
        assert_eq!(
            check_tree(&g, &work.join("a/b/new.txt"), Access::Write),
            Ok(())
        );
        // Through a planted link, or onto it: denied.
        std::os::unix::fs::symlink(&elsewhere, work.join("planted"))
            .unwrap_or_else(|e| panic!("{e}"));
        let through = check_tree(&g, &work.join("planted/x"), Access::Write);
        assert!(
            matches!(&through, Err(PluginError::Denied(t)) if t.starts_with("write ") && t.contains("elsewhere/x not in capabilities.read_write")),
            "{through:?}"
        );
        let onto = check_tree(&g, &work.join("planted"), Access::Write);
        assert!(
            matches!(&onto, Err(PluginError::Denied(t)) if t.contains("(through the link ")),
            "{onto:?}"
        );
    }

    #[test]
    fn a_third_party_plugin_gets_no_local_exec_by_default() {
        let g = grant(Path::new("/x"));
        let denial = g.check(&Use::LocalExec(&["sh".to_owned()]));
        assert!(matches!(denial, Decision::Deny(_)), "{denial:?}");
    }
}
