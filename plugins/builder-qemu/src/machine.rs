//! What the builder asks of the host's QEMU driver: disks through qemu-img, and the machine
//! spec QEMU's command line is made from.

use std::path::{Path, PathBuf};

use kiln_communicator::Communicator;
use kiln_plugin_sdk::host::hypervisor;
use kiln_plugin_sdk::{Error, log};
use serde_json::{Value, json};

use crate::config::{Checked, Config};
use crate::media::Media;

fn qemu_img(action: &str, arguments: Value) -> Result<Value, Error> {
    let out = hypervisor::invoke("qemu", action, &arguments.to_string())?;
    serde_json::from_str(&out).map_err(|e| Error::failed(format!("{action}: {e}")))
}

/// Packer's `stepCreateDisk`, `stepCopyDisk` and `stepResizeDisk`: the main disk at `disk`
/// (created empty for an installer, copied from or layered over a disk image) and the
/// additional ones beside it (`<vm_name>-1`, ...). Returns every disk, main first.
pub fn create_disks(
    config: &Config,
    checked: &Checked,
    source: &Path,
    disk: &Path,
) -> Result<Vec<PathBuf>, Error> {
    log::say("Creating required virtual machine disks");
    if !config.disk_image {
        qemu_img(
            "create-disk",
            json!({"path": disk, "format": config.format, "size": checked.disk_size,
                   "args": config.qemu_img_args.create}),
        )?;
    } else if config.use_backing_file {
        qemu_img(
            "create-overlay",
            json!({"backing": source, "path": disk, "args": config.qemu_img_args.create}),
        )?;
    } else {
        log::say("Copying hard drive...");
        qemu_img(
            "convert-disk",
            json!({"source": source, "destination": disk, "format": config.format,
                   "compress": false, "args": config.qemu_img_args.convert}),
        )?;
    }
    if config.disk_image && !config.skip_resize_disk {
        log::say("Resizing hard drive...");
        qemu_img(
            "resize-disk",
            json!({"path": disk, "format": config.format, "size": checked.disk_size,
                   "args": config.qemu_img_args.resize}),
        )?;
    }
    let mut disks = vec![disk.to_path_buf()];
    for (i, size) in checked.additional_sizes.iter().enumerate() {
        let extra = PathBuf::from(format!("{}-{}", disk.display(), i + 1));
        qemu_img(
            "create-disk",
            json!({"path": extra, "format": config.format, "size": size,
                   "args": config.qemu_img_args.create}),
        )?;
        disks.push(extra);
    }
    Ok(disks)
}

/// Packer's `stepConvertDisk`: `qemu-img convert` into a new file that replaces the disk,
/// dropping the unused blocks (and compressing them with `disk_compression`).
pub fn compact(config: &Config, disk: &Path) -> Result<(), Error> {
    let converted = PathBuf::from(format!("{}.converting", disk.display()));
    qemu_img(
        "convert-disk",
        json!({"source": disk, "destination": converted, "format": config.format,
               "compress": config.disk_compression, "args": config.qemu_img_args.convert}),
    )?;
    std::fs::rename(&converted, disk).map_err(|e| {
        Error::failed(format!(
            "replacing {} with its compacted copy: {e}",
            disk.display()
        ))
    })
}

/// The machine as the host's driver reads it: the installation ISO (if any) then the
/// `cd_files` CD as CD-ROM drives, the `floppy_files` floppy as `-fda`.
pub fn spec(
    config: &Config,
    communicator: &Communicator,
    disks: &[PathBuf],
    iso: Option<&PathBuf>,
    media: &Media,
    output: &Path,
) -> Value {
    // Packer puts QMP's socket at <output>/<vm_name>.monitor when asked (`qmp_enable`); kiln
    // always drives QEMU through QMP, on a private socket unless `qmp_socket_path` names one,
    // so the output directory holds only the image.
    let qmp_socket = (!config.qmp_socket_path.is_empty()).then(|| config.qmp_socket_path.clone());
    let guest_port = match communicator.kind() {
        "none" => 0,
        _ if config.skip_nat_mapping => 0,
        _ => communicator.endpoint().port,
    };
    let optional = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    json!({
        "binary": config.qemu_binary,
        "name": config.vm_name,
        "accelerator": config.accelerator,
        "machine_type": config.machine_type,
        "cpu_model": optional(&config.cpu_model),
        "memory": config.memory,
        "cpus": config.cpus,
        "disks": disks,
        "format": config.format,
        "disk_interface": config.disk_interface,
        "disk_cache": config.disk_cache,
        "disk_discard": config.disk_discard,
        "disk_detect_zeroes": config.disk_detect_zeroes,
        "cdroms": iso.into_iter().chain(&media.cd).collect::<Vec<_>>(),
        "cdrom_interface": config.cdrom_interface,
        "boot_from_cdrom": iso.is_some(),
        "floppy": media.floppy,
        "net_device": config.net_device,
        "ssh_guest_port": guest_port,
        "host_port_min": config.host_port_min,
        "host_port_max": config.host_port_max,
        "vnc_bind_address": config.vnc_bind_address,
        "vnc_port_min": config.vnc_port_min,
        "vnc_port_max": config.vnc_port_max,
        "disable_vnc": config.disable_vnc,
        "headless": config.headless,
        "display": config.display,
        "use_default_display": config.use_default_display,
        "firmware": optional(&config.firmware),
        "efi_firmware_code": optional(&config.efi_firmware_code),
        "efi_firmware_vars": optional(&config.efi_firmware_vars),
        "qemuargs": config.qemuargs,
        "qmp_socket": qmp_socket,
        "output_directory": output,
    })
}
