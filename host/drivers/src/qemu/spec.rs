//! [`MachineSpec`]: the machine a plugin asks for, as JSON, with Packer's defaults, and
//! [`resolve`], which settles what depends on the host (accelerator, display).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::disk::Format;

/// Overrides the accelerator whatever the template says (`tcg` where KVM is present but
/// unusable, as on some CI hosts).
pub const ACCELERATOR_ENV: &str = "KILN_QEMU_ACCELERATOR";

/// The machine to run. Field names follow Packer's qemu options where one exists; defaults are
/// Packer 1.6.6's.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MachineSpec {
    /// `qemu_binary`: a name looked up on `PATH`, or a path.
    pub binary: String,
    /// `vm_name`, QEMU's `-name`.
    pub name: String,
    pub accelerator: Accelerator,
    pub machine_type: String,
    /// `-cpu`, when set (the qemu plugin's later `cpu_model`).
    pub cpu_model: Option<String>,
    /// Megabytes. Below 10 means the default, as in Packer.
    pub memory: u64,
    /// Below 1 means 1.
    pub cpus: u32,
    /// Hard disks, the main disk first.
    pub disks: Vec<PathBuf>,
    pub format: Format,
    pub disk_interface: DiskInterface,
    pub disk_cache: DiskCache,
    pub disk_discard: DiskDiscard,
    pub disk_detect_zeroes: DetectZeroes,
    /// The installation ISO, then the `cd_files` image.
    pub cdroms: Vec<PathBuf>,
    /// Empty: QEMU's default bus for the machine (IDE on `pc`), as Packer 1.6.6 does.
    pub cdrom_interface: String,
    pub floppy: Option<PathBuf>,
    /// `-boot once=d` ("Starting VM, booting from CD-ROM") rather than `-boot c` (a disk image).
    pub boot_from_cdrom: bool,
    pub net_device: String,
    /// The communicator's port in the guest; 0 means no forward (`communicator: none`).
    pub ssh_guest_port: u16,
    pub skip_nat_mapping: bool,
    pub host_port_min: u16,
    pub host_port_max: u16,
    pub vnc_bind_address: String,
    pub vnc_port_min: u16,
    pub vnc_port_max: u16,
    pub disable_vnc: bool,
    pub headless: bool,
    /// `-display`; `none` keeps Packer's meaning: pass no `-display` and let QEMU choose.
    pub display: String,
    pub use_default_display: bool,
    /// `-bios`.
    pub firmware: Option<PathBuf>,
    /// UEFI as two pflash drives: the code read-only, the variables copied into
    /// `output_directory` as `efivars.fd` first (the template's file stays untouched).
    pub efi_firmware_code: Option<PathBuf>,
    pub efi_firmware_vars: Option<PathBuf>,
    pub output_directory: Option<PathBuf>,
    /// Packer's `qemuargs`, merged as Packer 1.6.6 merges them (see `command_line`).
    pub qemuargs: Vec<Vec<String>>,
    /// Where QEMU listens for QMP; default a private temporary directory (a unix socket path
    /// must be shorter than 108 bytes, which output directories often are not).
    pub qmp_socket: Option<PathBuf>,
    /// kiln's own: `-serial file:<path>`, the guest's first serial port written to a file
    /// (boot logs for debugging, and how the tests watch a guest).
    pub serial_log: Option<PathBuf>,
    /// Environment variables for the QEMU process.
    pub extra_env: BTreeMap<String, String>,
}

impl Default for MachineSpec {
    fn default() -> Self {
        MachineSpec {
            binary: "qemu-system-x86_64".to_owned(),
            name: "packer".to_owned(),
            accelerator: Accelerator::Auto,
            machine_type: "pc".to_owned(),
            cpu_model: None,
            memory: 512,
            cpus: 1,
            disks: Vec::new(),
            format: Format::Qcow2,
            disk_interface: DiskInterface::Virtio,
            disk_cache: DiskCache::Writeback,
            disk_discard: DiskDiscard::Ignore,
            disk_detect_zeroes: DetectZeroes::Off,
            cdroms: Vec::new(),
            cdrom_interface: String::new(),
            floppy: None,
            boot_from_cdrom: true,
            net_device: "virtio-net".to_owned(),
            ssh_guest_port: 22,
            skip_nat_mapping: false,
            host_port_min: 2222,
            host_port_max: 4444,
            vnc_bind_address: "127.0.0.1".to_owned(),
            vnc_port_min: 5900,
            vnc_port_max: 6000,
            disable_vnc: false,
            headless: false,
            display: String::new(),
            use_default_display: false,
            firmware: None,
            efi_firmware_code: None,
            efi_firmware_vars: None,
            output_directory: None,
            qemuargs: Vec::new(),
            qmp_socket: None,
            serial_log: None,
            extra_env: BTreeMap::new(),
        }
    }
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
        impl $name {
            /// The name as QEMU and the template spell it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

names!(
    /// `accelerator`; `""` picks KVM when `/dev/kvm` opens read-write, TCG otherwise.
    Accelerator { Auto = "", Kvm = "kvm", Tcg = "tcg", Hvf = "hvf", Whpx = "whpx", Xen = "xen", Hax = "hax", None = "none" }
);
names!(DiskInterface { Virtio = "virtio", Ide = "ide", Scsi = "scsi", VirtioScsi = "virtio-scsi" });
names!(DiskCache {
    Writethrough = "writethrough",
    Writeback = "writeback",
    None = "none",
    Unsafe = "unsafe",
    Directsync = "directsync",
});
names!(DiskDiscard { Unmap = "unmap", Ignore = "ignore" });
names!(DetectZeroes { Unmap = "unmap", On = "on", Off = "off" });

impl Accelerator {
    fn parse(text: &str) -> Option<Accelerator> {
        [
            Accelerator::Kvm,
            Accelerator::Tcg,
            Accelerator::Hvf,
            Accelerator::Whpx,
            Accelerator::Xen,
            Accelerator::Hax,
            Accelerator::None,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }
}

/// A spec that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{name} ({min}) must not be above {max_name} ({max})")]
    Range {
        name: &'static str,
        min: u16,
        max_name: &'static str,
        max: u16,
    },
    #[error(
        "vnc_port_min ({0}) must be at least 5900: QEMU's -vnc takes a display number, port 5900 + N"
    )]
    VncBelow5900(u16),
    #[error("vnc_bind_address {0:?} is not an IP address")]
    VncAddress(String),
    #[error("qemuargs[{0}] is empty: each entry is [\"-switch\", values...]")]
    EmptyQemuArg(usize),
    #[error(
        "{ACCELERATOR_ENV}={0:?} is not an accelerator: use kvm, tcg, hvf, whpx, xen, hax or none"
    )]
    AcceleratorEnv(String),
    #[error("efi_firmware_vars needs efi_firmware_code and output_directory")]
    EfiVars,
    #[error("firmware and efi_firmware_code are both set: use one")]
    TwoFirmwares,
    #[error("qmp_socket {0:?} is {1} bytes long; a unix socket path must be under 108")]
    QmpSocketTooLong(PathBuf, usize),
}

/// What [`resolve`] needs to know about the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// `/dev/kvm` opens read-write.
    pub kvm_usable: bool,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set, so a GTK or SDL window can open.
    pub display_available: bool,
    /// The value of `KILN_QEMU_ACCELERATOR`, when set and not empty.
    pub accelerator_override: Option<String>,
}

impl Host {
    /// Looks at this host.
    pub fn probe() -> Host {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        Host {
            kvm_usable: std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .is_ok(),
            display_available: set("DISPLAY") || set("WAYLAND_DISPLAY"),
            accelerator_override: std::env::var(ACCELERATOR_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

/// A spec with everything host-dependent decided, and what the user should be told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub spec: MachineSpec,
    /// Lines for the build's log (`message` level).
    pub notices: Vec<String>,
}

/// Checks `spec` and settles its accelerator and display for `host`:
///
/// - `KILN_QEMU_ACCELERATOR` wins over the template (and says so);
/// - an empty accelerator is KVM when `/dev/kvm` opens read-write, else TCG, with a warning;
/// - a GUI display (`gtk`, `sdl`, or the default) with no `DISPLAY`/`WAYLAND_DISPLAY` becomes
///   headless, with a notice, rather than QEMU failing with "gtk initialization failed": a build
///   host without a screen is the common case, and the screen stays reachable over VNC;
/// - memory below 10 MB is 512 and no CPUs is 1, as in Packer.
pub fn resolve(spec: &MachineSpec, host: &Host) -> Result<Resolved, SpecError> {
    validate(spec)?;
    let mut spec = spec.clone();
    let mut notices = Vec::new();

    if let Some(text) = &host.accelerator_override {
        let accelerator =
            Accelerator::parse(text).ok_or_else(|| SpecError::AcceleratorEnv(text.clone()))?;
        let was = match spec.accelerator {
            Accelerator::Auto => "not set".to_owned(),
            other => other.as_str().to_owned(),
        };
        notices.push(format!(
            "{ACCELERATOR_ENV}={} overrides the template's accelerator ({was})",
            accelerator.as_str()
        ));
        spec.accelerator = accelerator;
    } else if spec.accelerator == Accelerator::Auto {
        if host.kvm_usable {
            spec.accelerator = Accelerator::Kvm;
        } else {
            spec.accelerator = Accelerator::Tcg;
            notices.push(
                "WARNING: /dev/kvm cannot be opened read-write, so the VM runs without KVM \
                 (accelerator tcg): expect it to be much slower."
                    .to_owned(),
            );
        }
    }

    if !spec.headless && !host.display_available && wants_window(&spec) {
        notices.push(format!(
            "headless is false, but this host has no display (DISPLAY and WAYLAND_DISPLAY are \
             unset), so the VM runs without a window{}",
            if spec.disable_vnc {
                ""
            } else {
                "; its screen is on VNC"
            }
        ));
        spec.headless = true;
    }

    if spec.memory < 10 {
        spec.memory = 512;
    }
    spec.cpus = spec.cpus.max(1);
    Ok(Resolved { spec, notices })
}

/// Whether the display the spec asks for is a window on the host's screen.
fn wants_window(spec: &MachineSpec) -> bool {
    if spec.display == "none" || (spec.display.is_empty() && spec.use_default_display) {
        // QEMU chooses; with -vnc that is no window.
        return false;
    }
    let kind = spec.display.split(',').next().unwrap_or_default();
    matches!(kind, "" | "gtk" | "sdl")
}

fn validate(spec: &MachineSpec) -> Result<(), SpecError> {
    if spec.host_port_min > spec.host_port_max {
        return Err(SpecError::Range {
            name: "host_port_min",
            min: spec.host_port_min,
            max_name: "host_port_max",
            max: spec.host_port_max,
        });
    }
    if !spec.disable_vnc {
        if spec.vnc_port_min > spec.vnc_port_max {
            return Err(SpecError::Range {
                name: "vnc_port_min",
                min: spec.vnc_port_min,
                max_name: "vnc_port_max",
                max: spec.vnc_port_max,
            });
        }
        if spec.vnc_port_min < 5900 {
            return Err(SpecError::VncBelow5900(spec.vnc_port_min));
        }
        if spec.vnc_bind_address.parse::<IpAddr>().is_err() {
            return Err(SpecError::VncAddress(spec.vnc_bind_address.clone()));
        }
    }
    if let Some(index) = spec.qemuargs.iter().position(Vec::is_empty) {
        return Err(SpecError::EmptyQemuArg(index));
    }
    if spec.efi_firmware_vars.is_some()
        && (spec.efi_firmware_code.is_none() || spec.output_directory.is_none())
    {
        return Err(SpecError::EfiVars);
    }
    if spec.firmware.is_some() && spec.efi_firmware_code.is_some() {
        return Err(SpecError::TwoFirmwares);
    }
    if let Some(path) = &spec.qmp_socket {
        let len = path.as_os_str().len();
        if len >= 108 {
            return Err(SpecError::QmpSocketTooLong(path.clone(), len));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(kvm: bool, display: bool, accel: Option<&str>) -> Host {
        Host {
            kvm_usable: kvm,
            display_available: display,
            accelerator_override: accel.map(str::to_owned),
        }
    }

    #[test]
    fn defaults_are_packers() {
        let spec: MachineSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, MachineSpec::default());
        assert_eq!(spec.binary, "qemu-system-x86_64");
        assert_eq!((spec.memory, spec.cpus), (512, 1));
        assert_eq!((spec.host_port_min, spec.host_port_max), (2222, 4444));
        assert_eq!((spec.vnc_port_min, spec.vnc_port_max), (5900, 6000));
        assert_eq!(spec.disk_cache.as_str(), "writeback");
    }

    #[test]
    fn json_names_and_unknown_fields() {
        let spec: MachineSpec = serde_json::from_str(
            r#"{"accelerator": "tcg", "disk_interface": "virtio-scsi", "format": "raw",
                "qemuargs": [["-m", "1024M"]], "disks": ["out/disk"]}"#,
        )
        .unwrap();
        assert_eq!(spec.accelerator, Accelerator::Tcg);
        assert_eq!(spec.disk_interface, DiskInterface::VirtioScsi);
        assert_eq!(spec.format, Format::Raw);
        let err = serde_json::from_str::<MachineSpec>(r#"{"memroy": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `memroy`"), "{err}");
        let err = serde_json::from_str::<MachineSpec>(r#"{"accelerator": "kqemu"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `kqemu`"), "{err}");
        let err = serde_json::from_str::<MachineSpec>(r#"{"format": "vmdk"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `vmdk`"), "{err}");
    }

    #[test]
    fn accelerator_default_and_override() {
        let spec = MachineSpec::default();
        let r = resolve(&spec, &host(true, true, None)).unwrap();
        assert_eq!((r.spec.accelerator, r.notices.len()), (Accelerator::Kvm, 0));

        let r = resolve(&spec, &host(false, true, None)).unwrap();
        assert_eq!(r.spec.accelerator, Accelerator::Tcg);
        assert!(
            r.notices[0].starts_with("WARNING: /dev/kvm cannot be opened"),
            "{:?}",
            r.notices
        );

        let kvm = MachineSpec {
            accelerator: Accelerator::Kvm,
            ..MachineSpec::default()
        };
        let r = resolve(&kvm, &host(true, true, Some("tcg"))).unwrap();
        assert_eq!(r.spec.accelerator, Accelerator::Tcg);
        assert_eq!(
            r.notices,
            ["KILN_QEMU_ACCELERATOR=tcg overrides the template's accelerator (kvm)"]
        );

        let err = resolve(&kvm, &host(true, true, Some("fast"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KILN_QEMU_ACCELERATOR=\"fast\" is not an accelerator: use kvm, tcg, hvf, whpx, xen, hax or none"
        );
    }

    #[test]
    fn no_screen_means_headless() {
        let spec = MachineSpec {
            accelerator: Accelerator::Tcg,
            ..MachineSpec::default()
        };
        let r = resolve(&spec, &host(false, false, None)).unwrap();
        assert!(r.spec.headless);
        assert!(r.notices[0].contains("no display"), "{:?}", r.notices);

        let r = resolve(&spec, &host(false, true, None)).unwrap();
        assert!(!r.spec.headless);

        for display in ["none", "curses", "vnc=:3"] {
            let spec = MachineSpec {
                display: display.into(),
                ..spec.clone()
            };
            assert!(
                !resolve(&spec, &host(false, false, None))
                    .unwrap()
                    .spec
                    .headless,
                "{display}"
            );
        }
        let sdl = MachineSpec {
            display: "sdl,gl=on".into(),
            ..spec
        };
        assert!(
            resolve(&sdl, &host(false, false, None))
                .unwrap()
                .spec
                .headless
        );
    }

    #[test]
    fn packers_minimums() {
        let spec = MachineSpec {
            memory: 0,
            cpus: 0,
            accelerator: Accelerator::Tcg,
            headless: true,
            ..MachineSpec::default()
        };
        let r = resolve(&spec, &Host::default()).unwrap();
        assert_eq!((r.spec.memory, r.spec.cpus), (512, 1));
    }

    #[test]
    fn invalid_specs() {
        let base = MachineSpec {
            accelerator: Accelerator::Tcg,
            ..MachineSpec::default()
        };
        let cases: Vec<(MachineSpec, &str)> = vec![
            (
                MachineSpec {
                    host_port_min: 5000,
                    host_port_max: 4000,
                    ..base.clone()
                },
                "host_port_min (5000) must not be above host_port_max (4000)",
            ),
            (
                MachineSpec {
                    vnc_port_min: 5000,
                    ..base.clone()
                },
                "vnc_port_min (5000) must be at least 5900: QEMU's -vnc takes a display number, port 5900 + N",
            ),
            (
                MachineSpec {
                    vnc_bind_address: "localhost".into(),
                    ..base.clone()
                },
                "vnc_bind_address \"localhost\" is not an IP address",
            ),
            (
                MachineSpec {
                    qemuargs: vec![vec!["-m".into()], vec![]],
                    ..base.clone()
                },
                "qemuargs[1] is empty: each entry is [\"-switch\", values...]",
            ),
            (
                MachineSpec {
                    efi_firmware_vars: Some("vars.fd".into()),
                    ..base.clone()
                },
                "efi_firmware_vars needs efi_firmware_code and output_directory",
            ),
            (
                MachineSpec {
                    qmp_socket: Some(PathBuf::from("/x".repeat(60))),
                    ..base.clone()
                },
                "is 120 bytes long; a unix socket path must be under 108",
            ),
        ];
        for (spec, message) in cases {
            let err = resolve(&spec, &Host::default()).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
        // With VNC off its ports do not matter.
        let spec = MachineSpec {
            disable_vnc: true,
            vnc_port_min: 1,
            ..base
        };
        assert!(resolve(&spec, &Host::default()).is_ok());
    }
}
