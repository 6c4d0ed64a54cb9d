//! QEMU's arguments for a resolved [`MachineSpec`]: Packer 1.6.6's defaults
//! [builder/qemu/step_run.go `getDefaultArgs`], then the template's `qemuargs` merged over them
//! (`applyUserOverrides`):
//!
//! - each `qemuargs` entry is `[switch, values...]`; the values are concatenated with nothing
//!   between them, and an entry whose values are all empty is the bare switch;
//! - a switch the template names replaces that default switch entirely, all of its occurrences:
//!   a `-device` entry drops Packer's default devices, a `-drive` entry its default drives;
//! - if the `-device`s then no longer mention `net_device`, `<net_device>,netdev=user.0` is
//!   added back (Packer #6804).
//!
//! Packer flattens a Go map, so its switch order is random; here the default switches come in
//! the order Packer documents them, each replaced where it stands, and switches only the template
//! names follow in the template's order.
//!
//! kiln differs from Packer 1.6.6 where 1.6.6 produced a machine that does not work or exposes
//! more than it must (each is noted where it is done): QMP is always on and not replaced by a
//! template's `-qmp`; the SSH forward listens on 127.0.0.1 only; the VNC display is
//! `port - 5900` (Packer subtracts `vnc_port_min`, which points QEMU at the wrong port when the
//! minimum is not 5900); headless is `-display none`; commas in file names are escaped; a CD-ROM
//! after IDE disks takes the next free IDE index; `-smp` is always given.

use std::path::Path;

use super::spec::{Accelerator, DiskInterface, MachineSpec};

/// The host ports a machine was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    /// Forwarded from 127.0.0.1 to the guest's `ssh_guest_port`; `None` when there is no forward.
    pub ssh_host_port: Option<u16>,
    /// The VNC server's TCP port; `None` with `disable_vnc`.
    pub vnc_port: Option<u16>,
}

/// The file name of the UEFI variables copy in `output_directory`.
pub const EFI_VARS_FILE: &str = "efivars.fd";

/// QEMU's arguments (the program not included). Pure: everything host-dependent is already in
/// the resolved `spec` and in `ports`.
pub fn command_line(spec: &MachineSpec, ports: &Ports) -> Vec<String> {
    let defaults = default_args(spec, ports);
    let mut args = merge(defaults, &spec.qemuargs, &spec.net_device);
    if let Some(socket) = &spec.qmp_socket {
        // Not one of the overridable defaults: kiln types and powers off through it.
        args.push("-qmp".to_owned());
        args.push(format!("unix:{},server=on,wait=off", escape(socket)));
    }
    args
}

/// Whether `qemuargs` replace any default switch (Packer says "Overriding default Qemu
/// arguments with qemuargs template option..." whenever there are qemuargs at all).
pub fn has_overrides(spec: &MachineSpec) -> bool {
    !spec.qemuargs.is_empty()
}

type Switches = Vec<(String, Vec<String>)>;

fn default_args(spec: &MachineSpec, ports: &Ports) -> Switches {
    let (devices, drives) = devices_and_drives(spec);
    let mut args: Switches = Vec::new();
    let one = |args: &mut Switches, switch: &str, value: String| {
        args.push((switch.to_owned(), vec![value]));
    };

    one(&mut args, "-name", spec.name.clone());
    one(
        &mut args,
        "-machine",
        match spec.accelerator {
            Accelerator::None | Accelerator::Auto => format!("type={}", spec.machine_type),
            accel => format!("type={},accel={}", spec.machine_type, accel.as_str()),
        },
    );
    if let Some(cpu) = &spec.cpu_model {
        one(&mut args, "-cpu", cpu.clone());
    }
    one(
        &mut args,
        "-netdev",
        match ports.ssh_host_port {
            // Packer: hostfwd=tcp::<port>-:<guest>, every interface.
            Some(port) => format!(
                "user,id=user.0,hostfwd=tcp:127.0.0.1:{port}-:{}",
                spec.ssh_guest_port
            ),
            None => "user,id=user.0".to_owned(),
        },
    );
    args.push(("-device".to_owned(), devices));
    if let Some(port) = ports.vnc_port {
        let address = if spec.vnc_bind_address.contains(':') {
            format!("[{}]", spec.vnc_bind_address)
        } else {
            spec.vnc_bind_address.clone()
        };
        one(
            &mut args,
            "-vnc",
            format!("{address}:{}", port.saturating_sub(5900)),
        );
    }
    one(&mut args, "-m", format!("{}M", spec.memory));
    one(
        &mut args,
        "-smp",
        format!("cpus={},sockets={}", spec.cpus, spec.cpus),
    );
    args.push(("-drive".to_owned(), drives));
    if let Some(firmware) = &spec.firmware {
        one(&mut args, "-bios", firmware.display().to_string());
    }
    one(
        &mut args,
        "-boot",
        if spec.boot_from_cdrom { "once=d" } else { "c" }.to_owned(),
    );
    if let Some(display) = display(spec) {
        one(&mut args, "-display", display);
    }
    if let Some(floppy) = &spec.floppy {
        one(&mut args, "-fda", floppy.display().to_string());
    }
    if let Some(log) = &spec.serial_log {
        one(&mut args, "-serial", format!("file:{}", log.display()));
    }
    args
}

fn display(spec: &MachineSpec) -> Option<String> {
    if spec.headless {
        // Packer passes nothing and relies on -vnc turning QEMU's window off, which opens a
        // window after all with disable_vnc.
        return Some("none".to_owned());
    }
    if !spec.display.is_empty() && spec.display != "none" {
        Some(spec.display.clone())
    } else if spec.display.is_empty() && !spec.use_default_display {
        Some("gtk".to_owned())
    } else {
        None
    }
}

fn devices_and_drives(spec: &MachineSpec) -> (Vec<String>, Vec<String>) {
    let mut devices = Vec::new();
    let mut drives = Vec::new();

    if let Some(code) = &spec.efi_firmware_code {
        drives.push(format!(
            "file={},if=pflash,unit=0,format=raw,readonly=on",
            escape(code)
        ));
        if let Some(dir) = &spec.output_directory
            && spec.efi_firmware_vars.is_some()
        {
            drives.push(format!(
                "file={},if=pflash,unit=1,format=raw",
                escape(&dir.join(EFI_VARS_FILE))
            ));
        }
    }

    let common = format!(
        "cache={},discard={},format={}",
        spec.disk_cache.as_str(),
        spec.disk_discard.as_str(),
        spec.format.as_str()
    );
    for (i, disk) in spec.disks.iter().enumerate() {
        let mut drive = if spec.disk_interface == DiskInterface::VirtioScsi {
            if i == 0 {
                devices.push(format!("virtio-scsi-pci,id=scsi{i}"));
            }
            devices.push(format!("scsi-hd,bus=scsi0.0,drive=drive{i}"));
            format!("if=none,file={},id=drive{i},{common}", escape(disk))
        } else {
            format!(
                "file={},if={},{common}",
                escape(disk),
                spec.disk_interface.as_str()
            )
        };
        if spec.disk_detect_zeroes.as_str() != "off" {
            drive.push_str(",detect-zeroes=");
            drive.push_str(spec.disk_detect_zeroes.as_str());
        }
        drives.push(drive);
    }

    devices.push(format!("{},netdev=user.0", spec.net_device));

    // Packer numbers CD-ROMs from index 0, which IDE disks already hold ("drive with bus=0,
    // unit=0 (index=0) exists"); they come after the disks here.
    let ide_cdrom = matches!(spec.cdrom_interface.as_str(), "" | "ide");
    let first_index = if ide_cdrom && spec.disk_interface == DiskInterface::Ide {
        spec.disks.len()
    } else {
        0
    };
    for (i, cdrom) in spec.cdroms.iter().enumerate() {
        let index = first_index + i;
        let file = escape(cdrom);
        match spec.cdrom_interface.as_str() {
            "" => drives.push(format!("file={file},index={index},media=cdrom")),
            "virtio-scsi" => {
                drives.push(format!(
                    "file={file},if=none,index={index},id=cdrom{i},media=cdrom"
                ));
                devices.push("virtio-scsi-device".to_owned());
                devices.push(format!("scsi-cd,drive=cdrom{i}"));
            }
            interface => drives.push(format!(
                "file={file},if={interface},index={index},id=cdrom{i},media=cdrom"
            )),
        }
    }
    (devices, drives)
}

/// A file name inside a QEMU option list, where a comma separates options and `,,` is a comma.
fn escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

fn merge(defaults: Switches, qemuargs: &[Vec<String>], net_device: &str) -> Vec<String> {
    let mut user: Switches = Vec::new();
    for entry in qemuargs {
        let Some((switch, values)) = entry.split_first() else {
            continue;
        };
        let value = values.concat();
        let slot = match user.iter().position(|(s, _)| s == switch) {
            Some(i) => &mut user[i].1,
            None => {
                user.push((switch.clone(), Vec::new()));
                let last = user.len() - 1;
                &mut user[last].1
            }
        };
        if !value.is_empty() {
            slot.push(value);
        }
    }

    let mut merged: Switches = defaults
        .into_iter()
        .map(
            |(switch, values)| match user.iter().position(|(s, _)| *s == switch) {
                Some(i) => user.remove(i),
                None => (switch, values),
            },
        )
        .collect();
    merged.extend(user);

    if let Some((_, devices)) = merged.iter_mut().find(|(s, _)| s == "-device")
        && !devices.concat().contains(net_device)
    {
        devices.push(format!("{net_device},netdev=user.0"));
    }

    let mut args = Vec::new();
    for (switch, values) in merged {
        if values.is_empty() {
            // An empty default (-drive with no disks) is left out; a template's bare switch stays.
            if qemuargs.iter().any(|entry| entry.first() == Some(&switch)) {
                args.push(switch);
            }
            continue;
        }
        for value in values {
            args.push(switch.clone());
            args.push(value);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::super::spec::{DetectZeroes, DiskCache};
    use super::*;
    use std::path::PathBuf;

    fn spec() -> MachineSpec {
        MachineSpec {
            name: "packer-qemu".into(),
            accelerator: Accelerator::Kvm,
            headless: true,
            disks: vec![PathBuf::from("output-qemu/packer-qemu")],
            cdroms: vec![PathBuf::from("/cache/debian.iso")],
            qmp_socket: Some(PathBuf::from("/tmp/kiln-qmp/qmp.sock")),
            ..MachineSpec::default()
        }
    }

    fn ports() -> Ports {
        Ports {
            ssh_host_port: Some(3456),
            vnc_port: Some(5947),
        }
    }

    fn line(spec: &MachineSpec) -> String {
        command_line(spec, &ports()).join(" ")
    }

    #[test]
    fn packers_default_command_line() {
        assert_eq!(
            line(&spec()),
            "-name packer-qemu -machine type=pc,accel=kvm \
             -netdev user,id=user.0,hostfwd=tcp:127.0.0.1:3456-:22 -device virtio-net,netdev=user.0 \
             -vnc 127.0.0.1:47 -m 512M -smp cpus=1,sockets=1 \
             -drive file=output-qemu/packer-qemu,if=virtio,cache=writeback,discard=ignore,format=qcow2 \
             -drive file=/cache/debian.iso,index=0,media=cdrom -boot once=d -display none \
             -qmp unix:/tmp/kiln-qmp/qmp.sock,server=on,wait=off"
        );
    }

    #[test]
    fn disk_image_floppy_firmware_serial_and_no_forward() {
        let spec = MachineSpec {
            boot_from_cdrom: false,
            cdroms: vec![],
            ssh_guest_port: 0,
            disable_vnc: true,
            floppy: Some("floppy.img".into()),
            firmware: Some("/usr/share/qemu/bios.bin".into()),
            serial_log: Some("out/serial.log".into()),
            cpu_model: Some("host".into()),
            cpus: 2,
            memory: 2048,
            accelerator: Accelerator::None,
            ..spec()
        };
        let no_vnc = Ports {
            ssh_host_port: None,
            vnc_port: None,
        };
        assert_eq!(
            command_line(&spec, &no_vnc).join(" "),
            "-name packer-qemu -machine type=pc -cpu host -netdev user,id=user.0 \
             -device virtio-net,netdev=user.0 -m 2048M -smp cpus=2,sockets=2 \
             -drive file=output-qemu/packer-qemu,if=virtio,cache=writeback,discard=ignore,format=qcow2 \
             -bios /usr/share/qemu/bios.bin -boot c -display none -fda floppy.img \
             -serial file:out/serial.log -qmp unix:/tmp/kiln-qmp/qmp.sock,server=on,wait=off"
        );
    }

    #[test]
    fn displays() {
        let shown = |display: &str, use_default: bool| {
            let spec = MachineSpec {
                headless: false,
                display: display.into(),
                use_default_display: use_default,
                ..spec()
            };
            let args = command_line(&spec, &ports());
            args.iter()
                .position(|a| a == "-display")
                .map(|i| args[i + 1].clone())
        };
        assert_eq!(shown("", false), Some("gtk".into()));
        assert_eq!(shown("sdl", false), Some("sdl".into()));
        assert_eq!(shown("none", false), None);
        assert_eq!(shown("", true), None);
        assert_eq!(shown("gtk", true), Some("gtk".into()));
    }

    #[test]
    fn virtio_scsi_disks_and_detect_zeroes() {
        let spec = MachineSpec {
            disk_interface: DiskInterface::VirtioScsi,
            disks: vec!["d0".into(), "d1".into()],
            disk_detect_zeroes: DetectZeroes::Unmap,
            disk_cache: DiskCache::Unsafe,
            cdroms: vec!["a.iso".into(), "cd.iso".into()],
            cdrom_interface: "virtio-scsi".into(),
            ..spec()
        };
        let args = command_line(&spec, &ports());
        let values = |switch: &str| -> Vec<String> {
            args.windows(2)
                .filter(|w| w[0] == switch)
                .map(|w| w[1].clone())
                .collect()
        };
        assert_eq!(
            values("-device"),
            [
                "virtio-scsi-pci,id=scsi0",
                "scsi-hd,bus=scsi0.0,drive=drive0",
                "scsi-hd,bus=scsi0.0,drive=drive1",
                "virtio-net,netdev=user.0",
                "virtio-scsi-device",
                "scsi-cd,drive=cdrom0",
                "virtio-scsi-device",
                "scsi-cd,drive=cdrom1",
            ]
        );
        assert_eq!(
            values("-drive"),
            [
                "if=none,file=d0,id=drive0,cache=unsafe,discard=ignore,format=qcow2,detect-zeroes=unmap",
                "if=none,file=d1,id=drive1,cache=unsafe,discard=ignore,format=qcow2,detect-zeroes=unmap",
                "file=a.iso,if=none,index=0,id=cdrom0,media=cdrom",
                "file=cd.iso,if=none,index=1,id=cdrom1,media=cdrom",
            ]
        );
    }

    #[test]
    fn cdroms_after_ide_disks_and_named_interfaces() {
        let spec = MachineSpec {
            disk_interface: DiskInterface::Ide,
            ..spec()
        };
        assert!(line(&spec).contains(
            "-drive file=output-qemu/packer-qemu,if=ide,cache=writeback,discard=ignore,format=qcow2 \
             -drive file=/cache/debian.iso,index=1,media=cdrom"
        ));
        let spec = MachineSpec {
            cdrom_interface: "virtio".into(),
            ..spec
        };
        assert!(
            line(&spec)
                .contains("-drive file=/cache/debian.iso,if=virtio,index=0,id=cdrom0,media=cdrom")
        );
    }

    #[test]
    fn efi_pflash_and_escaped_commas() {
        let spec = MachineSpec {
            efi_firmware_code: Some("/usr/share/OVMF/OVMF_CODE.fd".into()),
            efi_firmware_vars: Some("/usr/share/OVMF/OVMF_VARS.fd".into()),
            output_directory: Some("out,put".into()),
            disks: vec!["out,put/disk".into()],
            cdroms: vec![],
            ..spec()
        };
        let args = command_line(&spec, &ports());
        let drives: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "-drive")
            .map(|w| &w[1])
            .collect();
        assert_eq!(
            drives,
            [
                "file=/usr/share/OVMF/OVMF_CODE.fd,if=pflash,unit=0,format=raw,readonly=on",
                "file=out,,put/efivars.fd,if=pflash,unit=1,format=raw",
                "file=out,,put/disk,if=virtio,cache=writeback,discard=ignore,format=qcow2",
            ]
        );
    }

    #[test]
    fn ipv6_vnc_address() {
        let spec = MachineSpec {
            vnc_bind_address: "::1".into(),
            ..spec()
        };
        assert!(line(&spec).contains("-vnc [::1]:47"));
    }

    fn qemuargs(args: &[&[&str]]) -> MachineSpec {
        MachineSpec {
            qemuargs: args
                .iter()
                .map(|entry| entry.iter().map(|s| s.to_string()).collect())
                .collect(),
            ..spec()
        }
    }

    #[test]
    fn qemuargs_replace_the_default_switch_in_place() {
        let spec = qemuargs(&[&["-m", "2048M"], &["-smp", "cpus=", "4"]]);
        assert!(has_overrides(&spec));
        let args = line(&spec);
        assert!(
            args.contains("-vnc 127.0.0.1:47 -m 2048M -smp cpus=4 -drive"),
            "{args}"
        );
        assert!(!args.contains("512M"));
    }

    #[test]
    fn qemuargs_device_drops_the_defaults_but_keeps_the_net_device() {
        let spec = qemuargs(&[
            &["-device", "virtio-rng-pci"],
            &["-device", "e1000,netdev=user.0"],
        ]);
        let args = command_line(&spec, &ports());
        let devices: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "-device")
            .map(|w| &w[1])
            .collect();
        assert_eq!(
            devices,
            [
                "virtio-rng-pci",
                "e1000,netdev=user.0",
                "virtio-net,netdev=user.0"
            ]
        );

        let spec = qemuargs(&[&["-device", "virtio-net,netdev=user.0,mac=52:54:00:12:34:56"]]);
        let args = command_line(&spec, &ports());
        let devices: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "-device")
            .map(|w| &w[1])
            .collect();
        assert_eq!(devices, ["virtio-net,netdev=user.0,mac=52:54:00:12:34:56"]);
    }

    #[test]
    fn qemuargs_drive_drops_every_default_drive() {
        let spec = qemuargs(&[&["-drive", "file=mine.qcow2,if=ide"]]);
        let args = line(&spec);
        assert!(
            args.contains("-drive file=mine.qcow2,if=ide -boot"),
            "{args}"
        );
        assert!(!args.contains("debian.iso"));
        assert!(!args.contains("packer-qemu,if=virtio"));
    }

    #[test]
    fn qemuargs_bare_switches_new_switches_and_qmp() {
        let spec = qemuargs(&[
            &["-nographic", ""],
            &["-enable-kvm"],
            &["-usb", ""],
            &["-device", "usb-kbd"],
            &["-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"],
            &["-display", ""],
        ]);
        let args = command_line(&spec, &ports());
        let tail = args.iter().position(|a| a == "-nographic").unwrap();
        assert_eq!(
            args[tail..].join(" "),
            "-nographic -enable-kvm -usb -qmp tcp:127.0.0.1:4444,server=on,wait=off \
             -qmp unix:/tmp/kiln-qmp/qmp.sock,server=on,wait=off"
        );
        let joined = args.join(" ");
        // The template's bare -display replaces -display none where it stood.
        assert!(
            joined.contains("-boot once=d -display -nographic"),
            "{joined}"
        );
        assert!(
            joined.contains("-device usb-kbd -device virtio-net,netdev=user.0"),
            "{joined}"
        );
    }

    #[test]
    fn qemuargs_repeated_switches_accumulate() {
        let spec = qemuargs(&[&["-netdev", "user,id=a"], &["-netdev", "user,id=user.0"]]);
        let args = line(&spec);
        assert!(
            args.contains("-netdev user,id=a -netdev user,id=user.0 -device"),
            "{args}"
        );
    }

    #[test]
    fn no_disks_no_drive() {
        let spec = MachineSpec {
            disks: vec![],
            cdroms: vec![],
            ..spec()
        };
        let args = line(&spec);
        assert!(!args.contains("-drive"), "{args}");
    }
}
