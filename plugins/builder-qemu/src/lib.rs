//! The `qemu` builder (Packer 1.6.6's `builder/qemu`, builder id `transcend.qemu`): Packer's
//! steps in Packer's order, over the host's QEMU driver. The host owns the QEMU process, QMP,
//! the keyboard, qemu-img, the HTTP server and the download cache; this component decides
//! what to ask of them.
//!
//! Steps: retrieve the ISO (or disk image) → prepare the output directory → make the floppy
//! and the CD (`floppy_files`, `cd_files`) → create, copy or overlay the disks and resize →
//! start the HTTP server → start QEMU (ports for SSH and VNC) → wait `boot_wait` → type the
//! boot command → connect → provision → shut down → compact.

mod config;
mod machine;
mod media;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_communicator::Communicator;
use kiln_plugin_sdk::config::{Problems, WithShared};
use kiln_plugin_sdk::host::communicator::{Command, Exit};
use kiln_plugin_sdk::host::{build_hooks, connector, download, http_serve, hypervisor};
use kiln_plugin_sdk::{Artifact, BuildInfo, Builder, Error, PluginInfo, artifacts, log, template};

use config::{Checked, Config};

pub const BUILDER_ID: &str = "transcend.qemu";

/// `{{ .HTTPIP }}` under QEMU's user-mode networking: the host as the guest sees it.
const USER_NET_HOST_IP: &str = "10.0.2.2";

struct Qemu;

type Options = WithShared<Config, Communicator>;

fn checked(options: &mut Options, build: &BuildInfo) -> Result<Checked, Error> {
    let mut problems = Problems::new();
    options.shared.prepare(&mut problems);
    let checked = options.own.prepare(build, &mut problems);
    problems.finish()?;
    Ok(checked)
}

impl Builder for Qemu {
    type Config = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "qemu",
            env!("CARGO_PKG_VERSION"),
            "Builds a QEMU disk image from an installer ISO or an existing disk image.",
        )
    }

    fn prepare(options: &mut Options, build: &BuildInfo) -> Result<Vec<String>, Error> {
        checked(options, build)?;
        let mut warnings = Vec::new();
        if options.own.run_once {
            warnings.push("run_once is deprecated and ignored".to_owned());
        }
        if options.own.shutdown_command.is_empty() && options.shared.kind() != "none" {
            warnings.push(
                "A shutdown_command was not specified. Without a shutdown command, kiln asks the guest to power off (ACPI) and stops it forcefully if it does not within shutdown_timeout; file systems may not be synced."
                    .to_owned(),
            );
        }
        Ok(warnings)
    }

    fn run(mut options: Options, build: &BuildInfo) -> Result<Artifact, Error> {
        let checked = checked(&mut options, build)?;
        run(&options.own, &options.shared, &checked, build)
    }
}

kiln_plugin_sdk::export_builder!(Qemu);

fn run(
    config: &Config,
    communicator: &Communicator,
    checked: &Checked,
    build: &BuildInfo,
) -> Result<Artifact, Error> {
    // 1. The ISO, or the disk image to start from.
    log::say(if config.disk_image {
        "Retrieving disk image"
    } else {
        "Retrieving ISO"
    });
    let source = PathBuf::from(download::fetch(&download::Request {
        urls: checked.urls.clone(),
        checksum: config.iso_checksum.clone(),
        extension: config.iso_target_extension.clone(),
    })?);

    // 2. The output directory, then the floppy and the CD (StepCreateFloppy, StepCreateCD).
    let output = build.resolve(&config.output_directory);
    prepare_output_dir(&output, build.force)?;
    let media = media::create(config, build)?;

    // 3. Disks.
    let disk = output.join(&config.vm_name);
    let disks = machine::create_disks(config, checked, &source, &disk)?;

    // 4. The HTTP server.
    let mut data: Vec<(String, String)> = vec![("Name".into(), config.vm_name.clone())];
    if needs_temporary_key(communicator) {
        data.push(("SSHPublicKey".into(), connector::temporary_public_key()?));
    }
    let server = start_http_server(config, build, &data)?;
    if let Some(server) = &server {
        let port = server.address().port;
        data.push(("HTTPIP".into(), USER_NET_HOST_IP.into()));
        data.push(("HTTPPort".into(), port.to_string()));
        data.push(("HTTPAddr".into(), format!("{USER_NET_HOST_IP}:{port}")));
    }

    // 5. The machine.
    let spec = machine::spec(
        config,
        communicator,
        &disks,
        (!config.disk_image).then_some(&source),
        &media,
        &output,
    );
    let vm = hypervisor::start("qemu", &spec.to_string())?;
    // The accelerator the driver chose (KILN_QEMU_ACCELERATOR, or kvm when /dev/kvm opens),
    // for the artifact's libvirt domain type.
    let accelerator = serde_json::from_str::<serde_json::Value>(&vm.invoke("info", "{}")?)
        .ok()
        .and_then(|v| v["accelerator"].as_str().map(str::to_owned))
        .unwrap_or_default();

    // 6. The boot command.
    if checked.boot_wait > Duration::ZERO {
        log::say(format!("Waiting {} for boot...", show(checked.boot_wait)));
        std::thread::sleep(checked.boot_wait);
    }
    if !config.boot_command.is_empty() {
        let pairs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let typed = template::render(&config.boot_command.concat(), &pairs)?;
        let interval = checked
            .boot_key_interval
            .map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        log::say("Typing the boot command...");
        vm.send_keys(&typed, interval)?;
    }

    // 7. Connect and provision.
    let options = serde_json::to_string(communicator)
        .map_err(|e| Error::failed(format!("encoding the communicator options: {e}")))?;
    let address = if config.skip_nat_mapping || communicator.kind() == "none" {
        communicator.endpoint()
    } else {
        vm.communicator_address()?
    };
    let session = connector::connect(&options, &address)?;
    build_hooks::provision(&session, &data)?;

    // 8. Shut down.
    shutdown(
        &vm,
        &session,
        config,
        checked,
        communicator.kind() == "none",
    )?;
    drop(session);
    vm.destroy()?;
    drop(server);

    // 9. Compaction.
    if !config.skip_compaction {
        log::say("Converting hard drive...");
        machine::compact(config, &disk)?;
    }

    artifact(config, checked, &output, &accelerator)
}

fn needs_temporary_key(c: &Communicator) -> bool {
    c.kind() == "ssh"
        && c.ssh_password.is_empty()
        && c.ssh_private_key_file.is_empty()
        && !c.ssh_agent_auth
}

/// Packer's `stepPrepareOutputDir`: an existing directory is an error unless `--force`.
fn prepare_output_dir(output: &Path, force: bool) -> Result<(), Error> {
    if output.exists() {
        if !force {
            return Err(Error::failed(format!(
                "Output directory exists: {}\n\nUse the force flag to delete it prior to building.",
                output.display()
            )));
        }
        log::say("Deleting previous output directory...");
        std::fs::remove_dir_all(output)
            .map_err(|e| Error::failed(format!("removing {}: {e}", output.display())))?;
    }
    std::fs::create_dir_all(output)
        .map_err(|e| Error::failed(format!("creating {}: {e}", output.display())))?;
    artifacts::register(output)
}

fn start_http_server(
    config: &Config,
    build: &BuildInfo,
    data: &[(String, String)],
) -> Result<Option<http_serve::Server>, Error> {
    if config.http_directory.is_empty() && config.http_content.is_empty() {
        return Ok(None);
    }
    let pairs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut content = Vec::new();
    for (path, text) in &config.http_content {
        content.push((path.clone(), template::render(text, &pairs)?));
    }
    let directory = (!config.http_directory.is_empty())
        .then(|| build.resolve(&config.http_directory).display().to_string());
    let server = http_serve::start(&http_serve::Settings {
        directory,
        content,
        bind_address: config.http_bind_address.clone(),
        port_min: config.http_port_min,
        port_max: config.http_port_max,
    })?;
    let address = server.address();
    log::say(format!("Starting HTTP server on port {}", address.port));
    Ok(Some(server))
}

fn shutdown(
    vm: &hypervisor::Machine,
    session: &kiln_plugin_sdk::Session,
    config: &Config,
    checked: &Checked,
    no_communicator: bool,
) -> Result<(), Error> {
    let timeout = u64::try_from(checked.shutdown_timeout.as_millis()).unwrap_or(u64::MAX);
    // As Packer: with `communicator: none` the machine is expected to power itself off (the
    // installer's last step, say); kiln waits up to shutdown_timeout for that.
    if no_communicator && config.shutdown_command.is_empty() {
        log::say("Waiting for shutdown...");
        if vm.wait_stopped(timeout)? {
            return Ok(());
        }
        vm.stop(true)?;
        return Err(Error::Timeout(format!(
            "Failed to shutdown: the machine did not power off by itself within {} \
             (shutdown_timeout)",
            show(checked.shutdown_timeout)
        )));
    }
    if config.shutdown_command.is_empty() {
        log::say("Halting the virtual machine (ACPI power button)...");
        vm.invoke("powerdown", "{}")?;
        if !vm.wait_stopped(timeout)? {
            log::error(format!(
                "The machine did not power off within {}; stopping it forcefully.",
                show(checked.shutdown_timeout)
            ));
            vm.stop(true)?;
        }
        return Ok(());
    }
    log::say("Gracefully halting virtual machine...");
    let exit = session.exec(&Command {
        line: config.shutdown_command.clone(),
        env: Vec::new(),
        stdin: None,
    })?;
    if let Exit::Status(code) = exit
        && code != 0
    {
        log::error(format!("Shutdown command exited with status {code}"));
    }
    log::say("Waiting for shutdown...");
    if vm.wait_stopped(timeout)? {
        Ok(())
    } else {
        vm.stop(true)?;
        Err(Error::Timeout(
            "Timeout while waiting for machine to shut down.".to_owned(),
        ))
    }
}

fn artifact(
    config: &Config,
    checked: &Checked,
    output: &Path,
    accelerator: &str,
) -> Result<Artifact, Error> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(output)
        .map_err(|e| Error::failed(format!("reading {}: {e}", output.display())))?;
    for entry in entries.flatten() {
        if entry.path().is_file() {
            files.push(entry.path().display().to_string());
        }
    }
    files.sort();
    Ok(Artifact {
        builder_id: BUILDER_ID.to_owned(),
        id: "VM".to_owned(),
        description: format!("VM files in directory: {}", config.output_directory),
        files,
        data: vec![
            ("diskName".into(), config.vm_name.clone()),
            ("diskType".into(), config.format.clone()),
            ("diskSize".into(), (checked.disk_size >> 20).to_string()),
            (
                "diskPath".into(),
                output.join(&config.vm_name).display().to_string(),
            ),
            (
                "domainType".into(),
                if accelerator == "kvm" { "kvm" } else { "qemu" }.into(),
            ),
        ],
    })
}

/// `10s`, `1m30s`: how Packer prints a duration in its messages.
fn show(d: Duration) -> String {
    let secs = d.as_secs();
    let ms = d.subsec_millis();
    match (secs / 60, secs % 60, ms) {
        (0, s, 0) => format!("{s}s"),
        (0, s, ms) => format!("{s}.{ms:03}s").trim_end_matches('0').to_owned(),
        (m, 0, _) => format!("{m}m0s"),
        (m, s, _) => format!("{m}m{s}s"),
    }
}
