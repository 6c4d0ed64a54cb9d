//! The host side of every interface a plugin imports. Each function converts the WIT values
//! and calls the build's [`Capabilities`] (the same door Rhai scripts use), which checks the
//! grant and records what it opens in the ledger. Nothing here touches the world directly.

use std::sync::Arc;

use wasmtime::component::Resource;

use kiln_core::archive::{ArchiveFormat, ArchiveRequest};
use kiln_core::capabilities::{Capabilities, Handover, LocalCommand};
use kiln_core::plugin::{ConfigError, PluginError};
use kiln_core::session::{self as core_session, RemoteCommand, Session};
use kiln_core::ui::Progress;

use crate::bindings::builder::kiln::plugin as wit;
use crate::bindings::post_processor::kiln::plugin::archive as wit_archive;
use crate::bindings::provisioner::kiln::plugin::ssh_login as wit_login;
use crate::sandbox::StoreState;

/// A communicator session in a store's resource table.
pub struct SessionHandle(pub(crate) Arc<dyn Session>);
/// A progress bar a plugin opened.
pub struct ProgressHandle(Box<dyn Progress>);
/// The build's HTTP server (`http-serve`); dropping it stops the server.
pub struct ServerHandle(kiln_core::capabilities::HttpServer);
/// A machine (`hypervisor`); the build's ledger stops it if the plugin does not.
pub struct MachineHandle(kiln_core::capabilities::MachineHandle);
/// A session's login handed to host commands (`ssh-login`); dropping it removes the files.
pub struct LoginHandle(kiln_core::capabilities::SshLogin);

type Outcome<T> = wasmtime::Result<Result<T, wit::types::Error>>;

impl StoreState {
    fn caps(&self) -> wasmtime::Result<Arc<Capabilities>> {
        self.caps
            .clone()
            .ok_or_else(|| wasmtime::format_err!("this call was given no capabilities"))
    }
}

pub(crate) fn to_wit_error(e: PluginError) -> wit::types::Error {
    use wit::types::Error as W;
    match e {
        PluginError::InvalidConfig(list) => W::InvalidConfig(
            list.into_iter()
                .map(|c| wit::types::ConfigError {
                    key: c.key,
                    message: c.message,
                })
                .collect(),
        ),
        PluginError::Denied(t) => W::Denied(t),
        PluginError::Timeout(t) => W::Timeout(t),
        PluginError::Cancelled => W::Cancelled,
        PluginError::Failed(t) | PluginError::Crashed(t) => W::Failed(t),
    }
}

pub(crate) fn from_wit_error(e: wit::types::Error) -> PluginError {
    use wit::types::Error as W;
    match e {
        W::InvalidConfig(list) => PluginError::InvalidConfig(
            list.into_iter()
                .map(|c| ConfigError {
                    key: c.key,
                    message: c.message,
                })
                .collect(),
        ),
        W::Denied(t) => PluginError::Denied(t),
        W::Timeout(t) => PluginError::Timeout(t),
        W::Cancelled => PluginError::Cancelled,
        W::Failed(t) => PluginError::Failed(t),
    }
}

fn wit_result<T>(r: Result<T, PluginError>) -> Outcome<T> {
    Ok(r.map_err(to_wit_error))
}

impl wit::types::Host for StoreState {}

impl wit::log::Host for StoreState {
    async fn say(&mut self, text: String) -> wasmtime::Result<()> {
        self.caps()?.log.say(&text);
        Ok(())
    }
    async fn message(&mut self, text: String) -> wasmtime::Result<()> {
        self.caps()?.log.message(&text);
        Ok(())
    }
    async fn error(&mut self, text: String) -> wasmtime::Result<()> {
        self.caps()?.log.error(&text);
        Ok(())
    }
    async fn debug(&mut self, text: String) -> wasmtime::Result<()> {
        self.caps()?.log.debug(&text);
        Ok(())
    }
    async fn ask(&mut self, question: String) -> wasmtime::Result<Option<String>> {
        let caps = self.caps()?;
        // The terminal read blocks; keep it off the async workers.
        let answer = tokio::task::spawn_blocking(move || caps.log.ask(&question)).await?;
        Ok(answer)
    }
}

impl wit::log::HostProgress for StoreState {
    async fn new(
        &mut self,
        label: String,
        total: u64,
    ) -> wasmtime::Result<Resource<ProgressHandle>> {
        let bar = self.caps()?.log.progress(&label, total);
        Ok(self.table.push(ProgressHandle(bar))?)
    }
    async fn advance(
        &mut self,
        bar: Resource<ProgressHandle>,
        amount: u64,
    ) -> wasmtime::Result<()> {
        self.table.get(&bar)?.0.advance(amount);
        Ok(())
    }
    async fn finish(&mut self, bar: Resource<ProgressHandle>) -> wasmtime::Result<()> {
        self.table.get(&bar)?.0.finish();
        Ok(())
    }
    async fn drop(&mut self, bar: Resource<ProgressHandle>) -> wasmtime::Result<()> {
        self.table.delete(bar)?.0.finish();
        Ok(())
    }
}

fn remote_command(c: wit::communicator::Command) -> RemoteCommand {
    RemoteCommand {
        line: c.line,
        env: c.env,
        stdin: c.stdin,
    }
}

fn wit_exit(e: core_session::Exit) -> wit::communicator::Exit {
    match e {
        core_session::Exit::Status(s) => wit::communicator::Exit::Status(s),
        core_session::Exit::Disconnected => wit::communicator::Exit::Disconnected,
    }
}

impl wit::communicator::Host for StoreState {}

impl wit::communicator::HostSession for StoreState {
    async fn kind(&mut self, s: Resource<SessionHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&s)?.0.kind().to_owned())
    }
    async fn exec(
        &mut self,
        s: Resource<SessionHandle>,
        command: wit::communicator::Command,
    ) -> Outcome<wit::communicator::Exit> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        let log = self.caps()?.log.clone();
        let sink = move |line: &str, _stderr: bool| log.message(line);
        wit_result(
            session
                .exec(&remote_command(command), &sink)
                .await
                .map(wit_exit),
        )
    }
    async fn exec_captured(
        &mut self,
        s: Resource<SessionHandle>,
        command: wit::communicator::Command,
    ) -> Outcome<wit::communicator::Captured> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        wit_result(
            session
                .exec_captured(&remote_command(command))
                .await
                .map(|c| wit::communicator::Captured {
                    exit: wit_exit(c.exit),
                    stdout: c.stdout,
                    stderr: c.stderr,
                }),
        )
    }
    async fn upload(
        &mut self,
        s: Resource<SessionHandle>,
        host_path: String,
        remote_path: String,
    ) -> Outcome<()> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        let caps = self.caps()?;
        wit_result(caps.upload(&*session, &host_path, &remote_path).await)
    }
    async fn upload_content(
        &mut self,
        s: Resource<SessionHandle>,
        content: Vec<u8>,
        remote_path: String,
        mode: u32,
    ) -> Outcome<()> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        wit_result(session.upload_content(&content, &remote_path, mode).await)
    }
    async fn download(
        &mut self,
        s: Resource<SessionHandle>,
        remote_path: String,
        host_path: String,
    ) -> Outcome<()> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        let caps = self.caps()?;
        wit_result(caps.download(&*session, &remote_path, &host_path).await)
    }
    async fn reconnect(&mut self, s: Resource<SessionHandle>) -> Outcome<()> {
        let session = Arc::clone(&self.table.get(&s)?.0);
        wit_result(session.reconnect().await)
    }
    async fn drop(&mut self, s: Resource<SessionHandle>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl wit::connector::Host for StoreState {
    async fn connect(
        &mut self,
        options: String,
        address: wit::types::Endpoint,
    ) -> Outcome<Resource<SessionHandle>> {
        let caps = self.caps()?;
        match caps.connect(&options, &address.host, address.port).await {
            Ok(session) => Ok(Ok(self.table.push(SessionHandle(session))?)),
            Err(e) => wit_result(Err(e)),
        }
    }
    async fn temporary_public_key(&mut self) -> Outcome<String> {
        wit_result(self.caps()?.temporary_public_key())
    }
}

impl wit::http_serve::Host for StoreState {
    async fn start(
        &mut self,
        settings: wit::http_serve::Settings,
    ) -> Outcome<Resource<ServerHandle>> {
        let caps = self.caps()?;
        let settings = kiln_core::capabilities::HttpSettings {
            directory: settings.directory.map(Into::into),
            content: settings.content,
            bind_address: settings.bind_address,
            port_min: settings.port_min,
            port_max: settings.port_max,
        };
        match caps.http_serve(settings).await {
            Ok(server) => Ok(Ok(self.table.push(ServerHandle(server))?)),
            Err(e) => wit_result(Err(e)),
        }
    }
}

impl wit::http_serve::HostServer for StoreState {
    async fn address(
        &mut self,
        s: Resource<ServerHandle>,
    ) -> wasmtime::Result<wit::types::Endpoint> {
        let address = self.table.get(&s)?.0.address();
        Ok(wit::types::Endpoint {
            host: address.ip().to_string(),
            port: address.port(),
        })
    }
    async fn requests(&mut self, s: Resource<ServerHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&s)?.0.requests())
    }
    async fn drop(&mut self, s: Resource<ServerHandle>) -> wasmtime::Result<()> {
        let server = self.table.delete(s)?;
        server.0.stop().await;
        Ok(())
    }
}

impl wit::hypervisor::Host for StoreState {
    async fn start(&mut self, driver: String, spec: String) -> Outcome<Resource<MachineHandle>> {
        let caps = self.caps()?;
        match caps.start_machine(&driver, &spec).await {
            Ok(machine) => Ok(Ok(self.table.push(MachineHandle(machine))?)),
            Err(e) => wit_result(Err(e)),
        }
    }
    async fn invoke(
        &mut self,
        driver: String,
        action: String,
        arguments: String,
    ) -> Outcome<String> {
        let caps = self.caps()?;
        wit_result(caps.hypervisor_invoke(&driver, &action, &arguments).await)
    }
}

impl wit::hypervisor::HostMachine for StoreState {
    async fn send_keys(
        &mut self,
        m: Resource<MachineHandle>,
        boot_command: String,
        key_interval_ms: u32,
    ) -> Outcome<()> {
        let machine = &self.table.get(&m)?.0;
        wit_result(machine.send_keys(&boot_command, key_interval_ms).await)
    }
    async fn communicator_address(
        &mut self,
        m: Resource<MachineHandle>,
    ) -> Outcome<wit::types::Endpoint> {
        let machine = &self.table.get(&m)?.0;
        wit_result(
            machine
                .communicator_address()
                .map(|(host, port)| wit::types::Endpoint { host, port }),
        )
    }
    async fn wait_stopped(&mut self, m: Resource<MachineHandle>, timeout_ms: u64) -> Outcome<bool> {
        let machine = &self.table.get(&m)?.0;
        wit_result(
            machine
                .wait_stopped(std::time::Duration::from_millis(timeout_ms))
                .await,
        )
    }
    async fn stop(&mut self, m: Resource<MachineHandle>, force: bool) -> Outcome<()> {
        let machine = &self.table.get(&m)?.0;
        wit_result(machine.stop(force).await)
    }
    async fn invoke(
        &mut self,
        m: Resource<MachineHandle>,
        action: String,
        arguments: String,
    ) -> Outcome<String> {
        let machine = &self.table.get(&m)?.0;
        wit_result(machine.invoke(&action, &arguments).await)
    }
    async fn destroy(&mut self, m: Resource<MachineHandle>) -> Outcome<()> {
        let machine = &self.table.get(&m)?.0;
        wit_result(machine.destroy().await)
    }
    async fn drop(&mut self, m: Resource<MachineHandle>) -> wasmtime::Result<()> {
        // The machine stays in the ledger until the build ends or the plugin destroys it.
        self.table.delete(m)?;
        Ok(())
    }
}

impl wit::download::Host for StoreState {
    async fn fetch(&mut self, request: wit::download::Request) -> Outcome<String> {
        let caps = self.caps()?;
        let request = kiln_core::download::DownloadRequest {
            urls: request.urls,
            checksum: request.checksum,
            extension: request.extension,
        };
        wit_result(
            caps.fetch(request)
                .await
                .map(|path| path.display().to_string()),
        )
    }
}

impl wit::artifacts::Host for StoreState {
    async fn register(&mut self, path: String) -> Outcome<()> {
        wit_result(self.caps()?.register_artifact(&path))
    }
    async fn digest(&mut self, path: String, algorithm: String) -> Outcome<String> {
        wit_result(self.caps()?.digest(&path, &algorithm).await)
    }
}

impl wit::build_hooks::Host for StoreState {
    async fn provision(
        &mut self,
        session: Resource<SessionHandle>,
        data: Vec<(String, String)>,
    ) -> Outcome<()> {
        let session = Arc::clone(&self.table.get(&session)?.0);
        let caps = self.caps()?;
        wit_result(caps.provision(session, &data).await)
    }
}

impl wit::template::Host for StoreState {
    async fn render(&mut self, text: String, data: Vec<(String, String)>) -> Outcome<String> {
        wit_result(self.caps()?.render(&text, &data))
    }
}

impl wit::local_exec::Host for StoreState {
    async fn run(&mut self, command: wit::local_exec::Command) -> Outcome<i32> {
        let caps = self.caps()?;
        let command = LocalCommand {
            argv: command.argv,
            env: command.env,
            cwd: command.cwd.map(|c| caps.resolve(&c)),
        };
        wit_result(caps.local_exec(command).await)
    }
}

impl wit_login::Host for StoreState {
    async fn open(&mut self, session: Resource<SessionHandle>) -> Outcome<Resource<LoginHandle>> {
        let session = Arc::clone(&self.table.get(&session)?.0);
        match self.caps()?.ssh_login(&*session) {
            Ok(login) => Ok(Ok(self.table.push(LoginHandle(login))?)),
            Err(e) => wit_result(Err(e)),
        }
    }
}

impl wit_login::HostLogin for StoreState {
    async fn address(
        &mut self,
        l: Resource<LoginHandle>,
    ) -> wasmtime::Result<wit::types::Endpoint> {
        let login = &self.table.get(&l)?.0;
        Ok(wit::types::Endpoint {
            host: login.host.clone(),
            port: login.port,
        })
    }
    async fn user(&mut self, l: Resource<LoginHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&l)?.0.user.clone())
    }
    async fn method(&mut self, l: Resource<LoginHandle>) -> wasmtime::Result<wit_login::Method> {
        Ok(match self.table.get(&l)?.0.method {
            Handover::Key => wit_login::Method::Key,
            Handover::Password => wit_login::Method::Password,
            Handover::Agent => wit_login::Method::Agent,
        })
    }
    async fn credential_file(
        &mut self,
        l: Resource<LoginHandle>,
    ) -> wasmtime::Result<Option<String>> {
        let login = &self.table.get(&l)?.0;
        Ok(login.credential.as_ref().map(|p| p.display().to_string()))
    }
    async fn state_dir(&mut self, l: Resource<LoginHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&l)?.0.state_dir.display().to_string())
    }
    async fn drop(&mut self, l: Resource<LoginHandle>) -> wasmtime::Result<()> {
        self.table.delete(l)?.0.close().await;
        Ok(())
    }
}

impl wit_archive::Host for StoreState {
    async fn create(&mut self, request: wit_archive::Request) -> Outcome<u64> {
        let caps = self.caps()?;
        let Some(format) = ArchiveFormat::parse(&request.format) else {
            return wit_result(Err(PluginError::failed(format!(
                "unknown archive format {:?}",
                request.format
            ))));
        };
        let request = ArchiveRequest {
            entries: request
                .entries
                .into_iter()
                .map(|(path, name)| (caps.resolve(&path), name))
                .collect(),
            output: caps.resolve(&request.output),
            format,
            level: request.level,
        };
        wit_result(caps.archive(request).await)
    }
}

/// Adds every kiln interface to a linker (once: the worlds share them).
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<StoreState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    wit::log::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::communicator::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::connector::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::http_serve::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::hypervisor::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::download::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::artifacts::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::build_hooks::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::template::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit::local_exec::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit_archive::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wit_login::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}
