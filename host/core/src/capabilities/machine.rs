//! `hypervisor`: machines a builder starts through a host driver (QEMU, kiln-drivers), and the
//! driver's disk actions (qemu-img). Every machine is in the build's ledger from the moment it
//! runs, so a build that fails, traps or is cancelled leaves no VM behind; every path a spec or
//! an action names is checked against the grant (or was fetched by this build).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kiln_drivers::qemu::{self, MachineSpec};
use kiln_drivers::{Format, QemuImg};
use serde::Deserialize;
use serde_json::json;

use super::{Capabilities, Use};
use crate::ledger::{EntryId, Ledger, Release};
use crate::plugin::PluginError;
use crate::ui::BuildLog;

/// The driver's log lines in the build's UI.
pub(super) struct Observer(pub(super) BuildLog);

impl qemu::Observer for Observer {
    fn say(&self, line: &str) {
        self.0.say(line);
    }
    fn message(&self, line: &str) {
        self.0.message(line);
    }
    fn debug(&self, line: &str) {
        self.0.debug(line);
    }
}

/// A running machine, as a plugin holds it.
pub struct MachineHandle {
    machine: Arc<qemu::Machine>,
    entry: EntryId,
    ledger: Arc<Ledger>,
    log: BuildLog,
    cancel: tokio_util::sync::CancellationToken,
}

struct KillMachine {
    machine: Arc<qemu::Machine>,
}

#[async_trait]
impl Release for KillMachine {
    fn describe(&self) -> String {
        format!(
            "QEMU machine {} (pid {})",
            self.machine.spec().name,
            self.machine.pid()
        )
    }
    async fn release(self: Box<Self>) {
        if let Err(e) = self.machine.kill().await {
            tracing::warn!("stopping QEMU: {e}");
        }
    }
}

pub(super) fn driver_error(e: impl std::fmt::Display) -> PluginError {
    PluginError::failed(e.to_string())
}

fn only_qemu(driver: &str) -> Result<(), PluginError> {
    if driver == "qemu" {
        Ok(())
    } else {
        Err(PluginError::not_available(&format!(
            "the {driver:?} hypervisor driver"
        )))
    }
}

impl Capabilities {
    /// A path a machine or qemu-img reads: readable under the grant, or fetched by this build.
    fn allow_machine_read(&self, path: &Path) -> Result<(), PluginError> {
        if self.was_fetched(path) {
            return Ok(());
        }
        self.allow(Use::Read(path))
    }

    /// Starts a machine from a driver-specific JSON spec.
    pub async fn start_machine(
        &self,
        driver: &str,
        spec: &str,
    ) -> Result<MachineHandle, PluginError> {
        self.allow(Use::Hypervisor(driver))?;
        only_qemu(driver)?;
        let mut spec: MachineSpec = serde_json::from_str(spec)
            .map_err(|e| PluginError::failed(format!("the qemu machine spec: {e}")))?;
        spec.disks = spec.disks.iter().map(|d| self.resolve_path(d)).collect();
        for disk in &spec.disks {
            self.allow(Use::Write(disk))?;
        }
        for path in spec.cdroms.iter().chain(&spec.floppy).chain(&spec.firmware) {
            self.allow_machine_read(path)?;
        }
        for path in spec.efi_firmware_code.iter().chain(&spec.efi_firmware_vars) {
            self.allow_machine_read(path)?;
        }
        for path in spec
            .qmp_socket
            .iter()
            .chain(&spec.serial_log)
            .chain(&spec.output_directory)
        {
            self.allow(Use::Write(path))?;
        }
        // qemuargs reach every file and device QEMU can: only the template's author may pass
        // them, through kiln's own builder.
        if !spec.qemuargs.is_empty()
            && !matches!(self.grant.plugin.origin, kiln_policy::Origin::FirstParty)
        {
            return Err(PluginError::Denied(format!(
                "qemuargs are only passed on for kiln's own qemu builder, not for {} {}",
                self.grant.plugin.kind, self.grant.plugin.type_name
            )));
        }
        let observer = Arc::new(Observer(self.log.clone()));
        let machine = tokio::select! {
            m = qemu::Machine::start(spec, observer) => Arc::new(m.map_err(driver_error)?),
            () = self.cancel.cancelled() => return Err(PluginError::Cancelled),
        };
        let entry = self.ledger.record(Box::new(KillMachine {
            machine: Arc::clone(&machine),
        }));
        Ok(MachineHandle {
            machine,
            entry,
            ledger: Arc::clone(&self.ledger),
            log: self.log.clone(),
            cancel: self.cancel.clone(),
        })
    }

    /// A driver action that needs no machine: qemu-img's `create-disk`, `create-overlay`,
    /// `convert-disk`, `resize-disk` and `disk-info`, and the media `create-floppy` and
    /// `create-cd` (`capabilities/media.rs`), JSON in and out.
    pub async fn hypervisor_invoke(
        &self,
        driver: &str,
        action: &str,
        arguments: &str,
    ) -> Result<String, PluginError> {
        self.allow(Use::Hypervisor(driver))?;
        only_qemu(driver)?;
        if matches!(action, "create-floppy" | "create-cd") {
            return self.create_medium(action, arguments).await;
        }
        let args: DiskArgs = serde_json::from_str(arguments)
            .map_err(|e| PluginError::failed(format!("{action}: {e}")))?;
        let img = QemuImg::find().map_err(driver_error)?;
        let format = |f: &Option<Format>| f.unwrap_or(Format::Qcow2);
        let path = |p: &Option<PathBuf>, key: &str| {
            p.as_ref()
                .map(|p| self.resolve_path(p))
                .ok_or_else(|| PluginError::failed(format!("{action}: {key} is required")))
        };
        let done = json!({});
        let result = match action {
            "create-disk" => {
                let disk = path(&args.path, "path")?;
                self.allow(Use::Write(&disk))?;
                img.create(&disk, format(&args.format), args.size, &args.args)
                    .await
                    .map(|()| done)
            }
            "create-overlay" => {
                let disk = path(&args.path, "path")?;
                let backing = path(&args.backing, "backing")?;
                self.allow(Use::Write(&disk))?;
                self.allow_machine_read(&backing)?;
                img.create_overlay(&backing, &disk).await.map(|()| done)
            }
            "convert-disk" => {
                let source = path(&args.source, "source")?;
                let destination = path(&args.destination, "destination")?;
                self.allow_machine_read(&source)?;
                self.allow(Use::Write(&destination))?;
                let convert = img.convert(
                    &source,
                    &destination,
                    format(&args.format),
                    args.compress,
                    &args.args,
                );
                tokio::select! {
                    r = convert => r.map(|()| done),
                    () = self.cancel.cancelled() => return Err(PluginError::Cancelled),
                }
            }
            "resize-disk" => {
                let disk = path(&args.path, "path")?;
                self.allow(Use::Write(&disk))?;
                img.resize(&disk, format(&args.format), args.size, &args.args)
                    .await
                    .map(|()| done)
            }
            "disk-info" => {
                let disk = path(&args.path, "path")?;
                self.allow_machine_read(&disk)?;
                img.info(&disk)
                    .await
                    .map(|i| json!({"format": i.format, "virtual_size": i.virtual_size}))
            }
            other => {
                return Err(PluginError::failed(format!(
                    "the qemu driver has no action {other:?}"
                )));
            }
        };
        result.map(|v| v.to_string()).map_err(driver_error)
    }
}

/// The arguments of the qemu-img actions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskArgs {
    path: Option<PathBuf>,
    backing: Option<PathBuf>,
    source: Option<PathBuf>,
    destination: Option<PathBuf>,
    format: Option<Format>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    compress: bool,
    #[serde(default)]
    args: Vec<String>,
}

/// Packer's `PACKER_KEY_INTERVAL` (or `KILN_KEY_INTERVAL`), which `boot_key_interval` overrides:
/// one key event per interval, as Packer types. Unset, kiln types in batches.
fn key_interval_from_env(log: &BuildLog) -> Result<Duration, PluginError> {
    for name in ["KILN_KEY_INTERVAL", "PACKER_KEY_INTERVAL"] {
        if let Ok(text) = std::env::var(name)
            && !text.is_empty()
        {
            let d = kiln_template::duration::parse_go_duration(&text)
                .map_err(|e| PluginError::failed(format!("{name}: {e}")))?;
            log.message(&format!(
                "{name}={text}: typing one key event every {text}, as Packer does"
            ));
            return Ok(d.magnitude);
        }
    }
    Ok(Duration::ZERO)
}

impl MachineHandle {
    /// Types a boot command (Packer's key syntax, rendered). The text is never logged: it may
    /// hold secrets; only its size and timing are.
    pub async fn send_keys(&self, text: &str, key_interval_ms: u32) -> Result<(), PluginError> {
        let actions = kiln_drivers::boot_command::parse(text).map_err(|e| {
            PluginError::InvalidConfig(vec![crate::plugin::ConfigError {
                key: "boot_command".to_owned(),
                message: e.to_string(),
            }])
        })?;
        let interval = match key_interval_ms {
            0 => key_interval_from_env(&self.log)?,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let report = self
            .machine
            .send_keys(&actions, interval, &self.cancel)
            .await
            .map_err(|e| match e {
                kiln_drivers::typing::Error::Cancelled { .. } => PluginError::Cancelled,
                other => driver_error(other),
            })?;
        self.log.message(&format!(
            "Typed {} key events in {:.1}s ({} QMP commands)",
            report.key_events,
            report.elapsed.as_secs_f64(),
            report.qmp_commands
        ));
        Ok(())
    }

    /// Where the communicator reaches the guest: the forwarded host port on 127.0.0.1.
    pub fn communicator_address(&self) -> Result<(String, u16), PluginError> {
        self.machine
            .ssh_host_port()
            .map(|p| ("127.0.0.1".to_owned(), p))
            .ok_or_else(|| PluginError::failed("this machine forwards no port to the guest"))
    }

    /// Waits for the machine to stop by itself; false when `timeout` passed first.
    pub async fn wait_stopped(&self, timeout: Duration) -> Result<bool, PluginError> {
        tokio::select! {
            stopped = self.machine.wait_stopped(timeout) => Ok(stopped),
            () = self.cancel.cancelled() => Err(PluginError::Cancelled),
        }
    }

    /// Stops the machine: at once (`force`), or with QMP `quit`.
    pub async fn stop(&self, force: bool) -> Result<(), PluginError> {
        let stopped = if force {
            self.machine.kill().await
        } else {
            self.machine.quit().await
        };
        stopped.map_err(driver_error)
    }

    /// `powerdown` (the ACPI power button) and `info` (the accelerator, ports and command line
    /// the driver settled on).
    pub async fn invoke(&self, action: &str, _arguments: &str) -> Result<String, PluginError> {
        match action {
            "powerdown" => self
                .machine
                .powerdown()
                .await
                .map(|()| "{}".to_owned())
                .map_err(driver_error),
            "info" => Ok(json!({
                "accelerator": self.machine.spec().accelerator.as_str(),
                "pid": self.machine.pid(),
                "ssh_host_port": self.machine.ssh_host_port(),
                "vnc_address": self.machine.vnc_address().map(|a| a.to_string()),
            })
            .to_string()),
            other => Err(PluginError::failed(format!(
                "the qemu driver has no machine action {other:?}"
            ))),
        }
    }

    /// Kills the machine (if it still runs) and takes it out of the ledger.
    pub async fn destroy(&self) -> Result<(), PluginError> {
        if !self.machine.has_exited() {
            self.machine.kill().await.map_err(driver_error)?;
        }
        self.ledger.forget(self.entry);
        Ok(())
    }
}
