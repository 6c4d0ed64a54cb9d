//! A QEMU machine: its command line ([`command_line()`], pure), its process, its ports, its QMP
//! connection, its keyboard.
//!
//! [`Machine::start`] resolves the [`MachineSpec`] for this host, finds the binary, picks free
//! host ports (held until just before QEMU starts, and picked again if QEMU still loses the race
//! for one), starts QEMU in its own process group with its output captured, and connects QMP. A
//! QEMU that exits during start-up (a bad `qemuargs` entry) is an error carrying its stderr.
//! Dropping the [`Machine`] kills the process group.

pub mod command_line;
pub mod spec;

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use command_line::{EFI_VARS_FILE, Ports, command_line};
pub use spec::{
    ACCELERATOR_ENV, Accelerator, DetectZeroes, DiskCache, DiskDiscard, DiskInterface, Host,
    MachineSpec, Resolved, SpecError, resolve,
};

use crate::boot_command::Action;
use crate::qmp;
use crate::typing::{self, Pacing};

/// How long QEMU has to create its QMP socket and answer on it.
const QMP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times ports are picked again when QEMU could not bind the ones it was given.
const PORT_ATTEMPTS: usize = 5;
/// How much of QEMU's stderr is kept for error messages.
const STDERR_TAIL: usize = 64 * 1024;
/// How long a SIGKILLed QEMU has to be reaped.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a machine's log lines go; the host's capability layer maps these to the build's UI.
pub trait Observer: Send + Sync {
    /// A step line (Packer's `ui.Say`).
    fn say(&self, line: &str);
    /// A detail line (Packer's `ui.Message`).
    fn message(&self, line: &str);
    /// The debug log only (the QEMU command line, QEMU's own output).
    fn debug(&self, line: &str);
}

/// An [`Observer`] that writes to `tracing` (info for say/message, debug for debug).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogObserver;

impl Observer for LogObserver {
    fn say(&self, line: &str) {
        tracing::info!("{line}");
    }
    fn message(&self, line: &str) {
        tracing::info!("{line}");
    }
    fn debug(&self, line: &str) {
        tracing::debug!("{line}");
    }
}

/// Why a machine could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{binary} not found: install {package} or set qemu_binary to its path")]
    BinaryNotFound {
        binary: String,
        package: &'static str,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("no free port between {min} and {max} on {address}")]
    NoFreePort { address: IpAddr, min: u16, max: u16 },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting {}: {source}", .binary.display())]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("QEMU exited during start-up ({}): {}", describe_status(*.status), .stderr.trim_end())]
    Exited {
        status: Option<ExitStatus>,
        stderr: String,
    },
    #[error("QEMU did not answer on QMP: {source}; its stderr: {}", .stderr.trim_end())]
    QmpStart { source: qmp::Error, stderr: String },
    #[error(transparent)]
    Qmp(#[from] qmp::Error),
    #[error("QEMU (pid {pid}) did not exit within {KILL_TIMEOUT:?} of SIGKILL")]
    KillTimeout { pid: u32 },
}

fn describe_status(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "exit status unknown".to_owned(), |s| s.to_string())
}

/// A running QEMU.
pub struct Machine {
    program: PathBuf,
    args: Vec<String>,
    pid: u32,
    ports: Ports,
    vnc_address: Option<SocketAddr>,
    qmp: qmp::Client,
    /// `None` while running; `Some(status)` once reaped (`Some(None)`: status unknown).
    exit: watch::Receiver<Option<Option<ExitStatus>>>,
    stderr: Arc<Mutex<Tail>>,
    spec: MachineSpec,
    _qmp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("pid", &self.pid)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Starts the machine on this host ([`Host::probe`]).
    pub async fn start(spec: MachineSpec, observer: Arc<dyn Observer>) -> Result<Machine, Error> {
        Machine::start_on(spec, &Host::probe(), observer).await
    }

    /// Starts the machine with the host facts given.
    pub async fn start_on(
        spec: MachineSpec,
        host: &Host,
        observer: Arc<dyn Observer>,
    ) -> Result<Machine, Error> {
        let Resolved { mut spec, notices } = resolve(&spec, host)?;
        for notice in &notices {
            observer.message(notice);
        }
        let program = find_program(&spec.binary, spec.extra_env.get("PATH").map(OsStr::new))
            .ok_or_else(|| Error::BinaryNotFound {
                binary: spec.binary.clone(),
                package: package_for(&spec.binary),
            })?;

        let (socket, qmp_dir) = match &spec.qmp_socket {
            Some(socket) => (socket.clone(), None),
            None => {
                let dir = qmp_dir()?;
                (dir.path().join("qmp.sock"), Some(dir))
            }
        };
        spec.qmp_socket = Some(socket.clone());
        copy_efi_vars(&spec).await?;

        let mut reason = None;
        for attempt in 1..=PORT_ATTEMPTS {
            if let Some(reason) = &reason {
                observer.message(&format!(
                    "QEMU could not use the ports chosen ({reason}); choosing others"
                ));
            }
            let held = pick_ports(&spec, observer.as_ref())?;
            if attempt == 1 {
                start_messages(&spec, &held.ports, observer.as_ref());
            }
            let args = command_line(&spec, &held.ports);
            observer.debug(&format!("Executing {}: {:?}", program.display(), args));
            // Released as late as possible: QEMU binds the same ports a moment later.
            drop(held.listeners);
            match spawn(&program, &args, &spec, &socket).await {
                Ok(started) => {
                    let vnc_address = held.ports.vnc_port.and_then(|port| {
                        let ip: IpAddr = spec.vnc_bind_address.parse().ok()?;
                        Some(SocketAddr::new(ip, port))
                    });
                    return Ok(Machine {
                        program,
                        args,
                        pid: started.pid,
                        ports: held.ports,
                        vnc_address,
                        qmp: started.qmp,
                        exit: started.exit,
                        stderr: started.stderr,
                        spec,
                        _qmp_dir: qmp_dir,
                    });
                }
                Err(Error::Exited { status, stderr })
                    if attempt < PORT_ATTEMPTS && lost_a_port(&stderr) =>
                {
                    tracing::debug!("QEMU exited ({}); retrying", describe_status(status));
                    reason = Some(first_line(&stderr).to_owned());
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Exited {
            status: None,
            stderr: reason.unwrap_or_default(),
        })
    }

    /// The QEMU process id (and process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host port forwarded to the guest's SSH (communicator) port, on 127.0.0.1.
    pub fn ssh_host_port(&self) -> Option<u16> {
        self.ports.ssh_host_port
    }

    /// The VNC server's address, unless VNC is disabled.
    pub fn vnc_address(&self) -> Option<SocketAddr> {
        self.vnc_address
    }

    /// The ports the machine was given.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The program and its arguments, as started.
    pub fn command_line(&self) -> Vec<String> {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The resolved spec the machine runs.
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The QMP connection, for commands this type has no method for.
    pub fn qmp(&self) -> &qmp::Client {
        &self.qmp
    }

    /// QMP `query-status`'s `status`: `running`, `paused`, `shutdown`…
    pub async fn status(&self) -> Result<String, Error> {
        let status = self.qmp.execute("query-status", None).await?;
        Ok(status
            .get("status")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Types `actions` (see [`typing`]): batched when `key_interval` is zero (Packer's
    /// `boot_key_interval` unset), else one key event per interval as Packer does.
    pub async fn send_keys(
        &self,
        actions: &[Action],
        key_interval: Duration,
        cancel: &CancellationToken,
    ) -> Result<typing::Report, typing::Error> {
        self.send_keys_paced(actions, Pacing::for_key_interval(key_interval), cancel)
            .await
    }

    /// Types `actions` with explicit pacing.
    pub async fn send_keys_paced(
        &self,
        actions: &[Action],
        pacing: Pacing,
        cancel: &CancellationToken,
    ) -> Result<typing::Report, typing::Error> {
        typing::send(&self.qmp, actions, pacing, cancel).await
    }

    /// Presses the ACPI power button (QMP `system_powerdown`); the guest decides what follows.
    pub async fn powerdown(&self) -> Result<(), Error> {
        self.qmp.execute("system_powerdown", None).await?;
        Ok(())
    }

    /// Asks QEMU to exit at once (QMP `quit`) and waits for it, killing it if it does not go.
    pub async fn quit(&self) -> Result<(), Error> {
        match self.qmp.execute("quit", None).await {
            Ok(_) | Err(qmp::Error::Disconnected) => {}
            Err(e) => return Err(e.into()),
        }
        if self.wait_stopped(KILL_TIMEOUT).await {
            Ok(())
        } else {
            self.kill().await
        }
    }

    /// Waits up to `timeout` for the process to exit; whether it has.
    pub async fn wait_stopped(&self, timeout: Duration) -> bool {
        let mut exit = self.exit.clone();
        tokio::time::timeout(timeout, exit.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// The exit status, once the process has exited and it is known.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exit.borrow().flatten()
    }

    /// SIGKILLs the process group and waits for QEMU to be reaped.
    pub async fn kill(&self) -> Result<(), Error> {
        if !self.has_exited() {
            signal_group(self.pid);
        }
        if self.wait_stopped(KILL_TIMEOUT).await {
            Ok(())
        } else {
            Err(Error::KillTimeout { pid: self.pid })
        }
    }

    /// The end of QEMU's stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).text()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if !self.has_exited() {
            signal_group(self.pid);
        }
    }
}

fn signal_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // ESRCH: it is gone already.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Looks `name` up on `PATH` (or `path_env`) unless it names a path; the path if it is an
/// executable file.
pub fn find_program(name: &str, path_env: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    let path_env = path_env
        .map(OsStr::to_owned)
        .or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path_env)
        .map(|dir| dir.join(name))
        .find(|candidate| executable(candidate))
}

fn package_for(binary: &str) -> &'static str {
    let name = Path::new(binary)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(binary);
    match name {
        "qemu-system-x86_64" | "qemu-system-i386" => {
            "Debian's qemu-system-x86 package (or your system's QEMU)"
        }
        "qemu-system-aarch64" | "qemu-system-arm" => {
            "Debian's qemu-system-arm package (or your system's QEMU)"
        }
        _ => "QEMU",
    }
}

/// A private directory for the QMP socket, in `TMPDIR` unless that makes the path too long.
fn qmp_dir() -> Result<tempfile::TempDir, Error> {
    let make = |base: &Path| {
        tempfile::Builder::new()
            .prefix("kiln-qmp-")
            .tempdir_in(base)
            .map_err(|source| Error::Io {
                path: base.to_owned(),
                source,
            })
    };
    let dir = make(&std::env::temp_dir())?;
    if dir.path().join("qmp.sock").as_os_str().len() < 100 {
        Ok(dir)
    } else {
        make(Path::new("/tmp"))
    }
}

async fn copy_efi_vars(spec: &MachineSpec) -> Result<(), Error> {
    let (Some(vars), Some(dir)) = (&spec.efi_firmware_vars, &spec.output_directory) else {
        return Ok(());
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let target = dir.join(EFI_VARS_FILE);
    tokio::fs::copy(vars, &target).await.map_err(io(vars))?;
    Ok(())
}

struct HeldPorts {
    ports: Ports,
    listeners: Vec<TcpListener>,
}

/// Picks the SSH forward and VNC ports and keeps them bound until QEMU is about to start.
fn pick_ports(spec: &MachineSpec, observer: &dyn Observer) -> Result<HeldPorts, Error> {
    let mut held = HeldPorts {
        ports: Ports::default(),
        listeners: Vec::new(),
    };
    if spec.ssh_guest_port != 0 && !spec.skip_nat_mapping {
        let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (port, listener) = free_port(address, spec.host_port_min, spec.host_port_max, &[])
            .ok_or(Error::NoFreePort {
                address,
                min: spec.host_port_min,
                max: spec.host_port_max,
            })?;
        observer.say(&format!(
            "Found port for communicator (SSH, WinRM, etc): {port}."
        ));
        held.ports.ssh_host_port = Some(port);
        held.listeners.push(listener);
    }
    if !spec.disable_vnc {
        observer.say(&format!(
            "Looking for available port between {} and {} on {}",
            spec.vnc_port_min, spec.vnc_port_max, spec.vnc_bind_address
        ));
        let address: IpAddr = spec
            .vnc_bind_address
            .parse()
            .map_err(|_| SpecError::VncAddress(spec.vnc_bind_address.clone()))?;
        let taken: Vec<u16> = held.ports.ssh_host_port.into_iter().collect();
        let (port, listener) = free_port(address, spec.vnc_port_min, spec.vnc_port_max, &taken)
            .ok_or(Error::NoFreePort {
                address,
                min: spec.vnc_port_min,
                max: spec.vnc_port_max,
            })?;
        held.ports.vnc_port = Some(port);
        held.listeners.push(listener);
    }
    Ok(held)
}

/// A port in `min..=max` (starting at a random one) that binds on `address`, bound.
fn free_port(address: IpAddr, min: u16, max: u16, taken: &[u16]) -> Option<(u16, TcpListener)> {
    use std::hash::{BuildHasher, RandomState};
    let span = u32::from(max - min) + 1;
    let start = (RandomState::new().hash_one(std::process::id()) % u64::from(span)) as u32;
    (0..span)
        .filter_map(|i| u16::try_from(u32::from(min) + (start + i) % span).ok())
        .filter(|port| !taken.contains(port))
        .find_map(|port| TcpListener::bind((address, port)).ok().map(|l| (port, l)))
}

fn start_messages(spec: &MachineSpec, ports: &Ports, observer: &dyn Observer) {
    observer.say(if spec.boot_from_cdrom {
        "Starting VM, booting from CD-ROM"
    } else {
        "Starting VM, booting disk image"
    });
    if spec.accelerator == Accelerator::None {
        observer.message(
            "WARNING: The VM will be started with no hardware acceleration.\n\
             The installation may take considerably longer to finish.\n",
        );
    }
    if spec.headless {
        match ports.vnc_port {
            None => observer.message(
                "The VM will be run headless, without a GUI, as configured.\n\
                 If the run isn't succeeding as you expect, please enable the GUI\n\
                 to inspect the progress of the build.",
            ),
            Some(port) => observer.message(&format!(
                "The VM will be run headless, without a GUI. If you want to\n\
                 view the screen of the VM, connect via VNC without a password to\n\
                 vnc://{}:{port}",
                spec.vnc_bind_address
            )),
        }
    }
    if command_line::has_overrides(spec) {
        observer.say("Overriding default Qemu arguments with qemuargs template option...");
    }
}

/// Whether QEMU's start-up failure is a port another process took first.
fn lost_a_port(stderr: &str) -> bool {
    [
        "Could not set up host forwarding rule",
        "Address already in use",
        "Failed to bind socket",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

struct Started {
    pid: u32,
    qmp: qmp::Client,
    exit: watch::Receiver<Option<Option<ExitStatus>>>,
    stderr: Arc<Mutex<Tail>>,
}

async fn spawn(
    program: &Path,
    args: &[String],
    spec: &MachineSpec,
    socket: &Path,
) -> Result<Started, Error> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(&spec.extra_env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        binary: program.to_owned(),
        source,
    })?;
    let pid = child.id().unwrap_or_default();
    let stderr = Arc::new(Mutex::new(Tail::default()));
    let stderr_done = child
        .stderr
        .take()
        .map(|pipe| tokio::spawn(capture(pipe, Some(stderr.clone()), "stderr")));
    if let Some(pipe) = child.stdout.take() {
        tokio::spawn(capture(pipe, None, "stdout"));
    }
    let (exit_tx, exit) = watch::channel(None);
    tokio::spawn(async move {
        let status = child.wait().await.ok();
        let _ = exit_tx.send(Some(status));
    });

    let mut exited = exit.clone();
    tokio::select! {
        connected = qmp::Client::connect(socket, QMP_CONNECT_TIMEOUT) => match connected {
            Ok(qmp) => Ok(Started { pid, qmp, exit, stderr }),
            Err(source) => {
                signal_group(pid);
                let text = lock(&stderr).text();
                Err(Error::QmpStart { source, stderr: text })
            }
        },
        // The watch guard is dropped inside: it must not live across the awaits below (the
        // future stays Send).
        _ = async { exited.wait_for(Option::is_some).await.is_ok() } => {
            if let Some(done) = stderr_done {
                // The pipe closes when QEMU exits; read what it said last.
                let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
            }
            let status = exit.borrow().flatten();
            let text = lock(&stderr).text();
            Err(Error::Exited { status, stderr: text })
        }
    }
}

/// Reads a pipe to its end, each line to the debug log, into `tail` if given.
async fn capture(pipe: impl AsyncRead + Unpin, tail: Option<Arc<Mutex<Tail>>>, name: &str) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!("qemu {name}: {line}");
        if let Some(tail) = &tail {
            lock(tail).push(&line);
        }
    }
}

/// The last [`STDERR_TAIL`] bytes of QEMU's stderr, by line.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, line: &str) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line.to_owned());
        while self.bytes > STDERR_TAIL {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len() + 1,
                None => break,
            }
        }
    }

    fn text(&self) -> String {
        let mut text = String::with_capacity(self.bytes);
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Machine>();
        shareable::<qmp::Client>();
    }

    #[test]
    fn program_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("qemu-fake");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        let path = Some(dir.path().as_os_str());
        assert_eq!(find_program("qemu-fake", path), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("qemu-fake", path), Some(program.clone()));
        assert_eq!(find_program(program.to_str().unwrap(), None), Some(program));
        assert_eq!(find_program("qemu-absent", path), None);
        assert_eq!(find_program("", path), None);
    }

    #[test]
    fn free_ports_skip_bound_and_taken_ones() {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (first, _held) = free_port(local, 40000, 40001, &[]).unwrap();
        let (second, _also) = free_port(local, 40000, 40001, &[]).unwrap();
        assert_ne!(first, second);
        assert!(free_port(local, 40000, 40001, &[]).is_none());
        assert!(free_port(local, 40002, 40002, &[40002]).is_none());
    }

    #[test]
    fn port_races_are_recognised() {
        assert!(lost_a_port(
            "qemu-system-x86_64: -netdev user,id=user.0,hostfwd=tcp:127.0.0.1:2222-:22: \
             Could not set up host forwarding rule 'tcp:127.0.0.1:2222-:22'"
        ));
        assert!(!lost_a_port("qemu-system-x86_64: -foo: invalid option"));
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let mut tail = Tail::default();
        for i in 0..10_000 {
            tail.push(&format!("line {i}"));
        }
        assert!(tail.bytes <= STDERR_TAIL);
        assert!(tail.text().ends_with("line 9999\n"));
    }

    #[test]
    fn missing_binary_message() {
        let err = Error::BinaryNotFound {
            binary: "qemu-system-x86_64".into(),
            package: package_for("qemu-system-x86_64"),
        };
        assert_eq!(
            err.to_string(),
            "qemu-system-x86_64 not found: install Debian's qemu-system-x86 package (or your \
             system's QEMU) or set qemu_binary to its path"
        );
    }
}
