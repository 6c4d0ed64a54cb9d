//! The qemu builder's options (Packer 1.6.6 `builder/qemu/config.go`, plus the EFI and CPU
//! topology options of the qemu plugin that followed), its defaults and its checks, in
//! Packer's words at the key to fix.

use std::collections::BTreeMap;
use std::time::Duration;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{BuildInfo, duration};
use serde::Deserialize;

/// `qemu_img_args`: extra arguments per qemu-img subcommand.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuImgArgs {
    #[serde(default, deserialize_with = "weak::strings")]
    pub create: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub convert: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub resize: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    // ---- the ISO (or disk image) to start from
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_url: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub iso_urls: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_checksum: String,
    /// Packer ≤ 1.5: the type of a bare `iso_checksum`.
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_checksum_type: String,
    /// Packer ≤ 1.5: a SUMS file, now `iso_checksum: "file:<url>"`.
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_checksum_url: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_target_path: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub iso_target_extension: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub iso_skip_cache: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub disk_image: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_backing_file: bool,

    // ---- output
    #[serde(default, deserialize_with = "weak::string")]
    pub output_directory: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub vm_name: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub format: String,

    // ---- the machine
    #[serde(default, deserialize_with = "weak::string")]
    pub qemu_binary: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub accelerator: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub machine_type: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub cpu_model: String,
    #[serde(default, deserialize_with = "weak::int")]
    pub memory: u32,
    #[serde(default, deserialize_with = "weak::int")]
    pub cpus: u32,
    #[serde(default, deserialize_with = "weak::string")]
    pub net_device: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub net_bridge: String,
    #[serde(default)]
    pub qemuargs: Vec<Vec<String>>,
    #[serde(default, deserialize_with = "weak::string")]
    pub firmware: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub efi_boot: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub efi_firmware_code: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub efi_firmware_vars: String,

    // ---- disks
    #[serde(default, deserialize_with = "weak::string")]
    pub disk_size: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub disk_additional_size: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub disk_interface: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub disk_cache: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub disk_discard: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub disk_detect_zeroes: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub skip_resize_disk: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub skip_compaction: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub disk_compression: bool,
    #[serde(default)]
    pub qemu_img_args: QemuImgArgs,
    #[serde(default, deserialize_with = "weak::string")]
    pub cdrom_interface: String,

    // ---- display and control
    #[serde(default, deserialize_with = "weak::bool")]
    pub headless: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub display: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_default_display: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub vnc_bind_address: String,
    #[serde(default, deserialize_with = "weak::int")]
    pub vnc_port_min: u16,
    #[serde(default, deserialize_with = "weak::int")]
    pub vnc_port_max: u16,
    #[serde(default, deserialize_with = "weak::bool")]
    pub vnc_use_password: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub disable_vnc: bool,
    /// Accepted for Packer's templates: kiln always controls QEMU through QMP.
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "weak::bool")]
    pub qmp_enable: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub qmp_socket_path: String,

    // ---- the communicator's port on the host
    #[serde(default, deserialize_with = "weak::int")]
    pub host_port_min: u16,
    #[serde(default, deserialize_with = "weak::int")]
    pub host_port_max: u16,
    /// Old names of `host_port_min`/`_max`, still accepted by Packer.
    #[serde(default, deserialize_with = "weak::int")]
    pub ssh_host_port_min: u16,
    #[serde(default, deserialize_with = "weak::int")]
    pub ssh_host_port_max: u16,
    #[serde(default, deserialize_with = "weak::bool")]
    pub skip_nat_mapping: bool,

    // ---- the HTTP server
    #[serde(default, deserialize_with = "weak::string")]
    pub http_directory: String,
    #[serde(default)]
    pub http_content: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "weak::int")]
    pub http_port_min: u16,
    #[serde(default, deserialize_with = "weak::int")]
    pub http_port_max: u16,
    #[serde(default, deserialize_with = "weak::string")]
    pub http_bind_address: String,

    // ---- extra media: a floppy and a CD made from files (`media.rs`)
    /// Files, directories and patterns, each file at the floppy's root.
    #[serde(default, deserialize_with = "weak::strings")]
    pub floppy_files: Vec<String>,
    /// Directories (and patterns) copied with their trees.
    #[serde(default, deserialize_with = "weak::strings")]
    pub floppy_dirs: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub floppy_label: String,
    /// Files at the CD's root, directories with their trees, patterns.
    #[serde(default, deserialize_with = "weak::strings")]
    pub cd_files: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub cd_label: String,

    // ---- boot
    #[serde(default, deserialize_with = "weak::string")]
    pub boot_wait: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub boot_command: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub boot_key_interval: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub boot_keygroup_interval: String,

    // ---- shutdown
    #[serde(default, deserialize_with = "weak::string")]
    pub shutdown_command: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub shutdown_timeout: String,
    /// Deprecated in Packer 1.6.6 and ignored.
    #[serde(default, deserialize_with = "weak::bool")]
    pub run_once: bool,
}

/// The checked config, with Packer's defaults and the durations and sizes parsed.
#[derive(Debug)]
pub struct Checked {
    /// `iso_url`, or `iso_urls`.
    pub urls: Vec<String>,
    pub boot_wait: Duration,
    pub boot_key_interval: Option<Duration>,
    pub shutdown_timeout: Duration,
    /// `disk_size` in bytes.
    pub disk_size: u64,
    pub additional_sizes: Vec<u64>,
}

const ACCELERATORS: &[&str] = &["none", "kvm", "tcg", "xen", "hax", "hvf", "whpx"];
const DISK_INTERFACES: &[&str] = &["ide", "scsi", "virtio", "virtio-scsi"];
const DISK_CACHES: &[&str] = &["writethrough", "writeback", "none", "unsafe", "directsync"];
const DISK_DISCARDS: &[&str] = &["unmap", "ignore"];
const DISK_DETECT_ZEROES: &[&str] = &["unmap", "on", "off"];

/// Packer's sizes: a bare number is megabytes; `K`, `M`, `G`, `T` (with an optional `B` or
/// `iB`) are powers of 1024, as qemu-img reads them.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a size (a number of megabytes, or with K, M, G or T)")
    })?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" | "M" => 20,
        "K" => 10,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?} has an unknown unit (use K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn check_duration(problems: &mut Problems, key: &str, text: &str, default: Duration) -> Duration {
    if text.is_empty() {
        return default;
    }
    match duration::parse(text) {
        Ok(d) => d,
        // Packer: "Use a negative value for 0" (boot_wait = "-1s" waits not at all).
        Err(_) if text.starts_with('-') && duration::parse(&text[1..]).is_ok() => Duration::ZERO,
        Err(e) => {
            problems.add(key, format!("Failed parsing {key}: {e}"));
            default
        }
    }
}

fn one_of(problems: &mut Problems, key: &str, value: &str, allowed: &[&str], message: &str) {
    if !allowed.contains(&value) {
        problems.add(key, message);
    }
}

/// The wildcards that make a path a pattern to Packer (`strings.ContainsAny(path, "*?[")`).
fn is_pattern(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether `pattern` is well formed as Go's `filepath.Match` reads it (the host expands it):
/// `\` escapes a character; a class `[...]`/`[^...]` holds one or more characters or ranges
/// `a-z`, where an unescaped `-` or `]` cannot start or end a range; each `/`-separated
/// component on its own.
fn is_valid_pattern(pattern: &str) -> bool {
    pattern
        .split('/')
        .all(|component| valid_component(component).is_some())
}

/// `Some` when `component` is well formed.
fn valid_component(component: &str) -> Option<()> {
    let mut chars = component.chars().peekable();
    // One character of a class: escaped, or anything but the `-` and `]` around ranges.
    let class_char = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next().map(drop),
        _ => Some(()),
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '[' => {
                chars.next_if_eq(&'^');
                let mut ranges = 0;
                while ranges == 0 || chars.next_if_eq(&']').is_none() {
                    class_char(&mut chars)?;
                    if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?;
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Some(())
}

/// Whether this component can see `path` to check it: it lies in the template, output or
/// temporary directory (`..` resolved as written), the directories every build grants. Of
/// any other path WASI would say "No such file or directory" where the truth may be "not
/// granted"; the host checks those against the policy, and says which, when it makes the
/// medium.
fn visible(build: &BuildInfo, path: &str) -> bool {
    use std::path::{Component, PathBuf};
    let mut normal = PathBuf::new();
    for component in build.resolve(path).components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    [&build.template_dir, &build.output_dir, &build.temp_dir]
        .into_iter()
        .any(|dir| !dir.is_empty() && normal.starts_with(dir))
}

impl Config {
    /// Packer's `FloppyConfig.Prepare` and `CDConfig.Prepare`: each path exists, each pattern
    /// is well formed (what it matches is the build's business, as in Packer); and the labels
    /// fit their file systems, which Packer leaves to the build to find out. A path this
    /// component cannot see (outside the build's directories, or a link out of them) is the
    /// host's to check when it makes the medium.
    fn check_media(&self, build: &BuildInfo, problems: &mut Problems) {
        for (key, what, paths) in [
            ("floppy_files", "Bad Floppy disk file", &self.floppy_files),
            (
                "floppy_dirs",
                "Bad Floppy disk directory",
                &self.floppy_dirs,
            ),
            ("cd_files", "Bad CD disk file", &self.cd_files),
        ] {
            for (i, path) in paths.iter().enumerate() {
                let problem = if is_pattern(path) {
                    (!is_valid_pattern(path)).then(|| "syntax error in pattern".to_owned())
                } else if visible(build, path) {
                    std::fs::metadata(build.resolve(path))
                        .err()
                        .filter(|e| e.kind() != std::io::ErrorKind::PermissionDenied)
                        .map(|e| kiln_plugin_sdk::io_reason(&e))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    problems.add(format!("{key}[{i}]"), format!("{what} '{path}': {problem}"));
                }
            }
        }
        let fat_label = |b: u8| b.is_ascii_alphanumeric() || b" !#$%&'()-@^_`{}~".contains(&b);
        if !(self.floppy_files.is_empty() && self.floppy_dirs.is_empty())
            && (self.floppy_label.len() > 11
                || self.floppy_label.starts_with(' ')
                || !self.floppy_label.bytes().all(fat_label))
        {
            problems.add(
                "floppy_label",
                "floppy_label is a FAT volume label: at most 11 ASCII letters, digits, spaces or !#$%&'()-@^_`{}~",
            );
        }
        if !self.cd_files.is_empty() && self.cd_label.chars().count() > 32 {
            problems.add(
                "cd_label",
                "cd_label is an ISO 9660 volume id: at most 32 characters",
            );
        }
    }

    /// Packer's `Prepare`: defaults, then every check at once. Idempotent: each call of the
    /// component prepares the config again before its work.
    pub fn prepare(&mut self, build: &BuildInfo, problems: &mut Problems) -> Checked {
        let name = &build.name;
        let default = |field: &mut String, value: &str| {
            if field.is_empty() {
                *field = value.to_owned();
            }
        };
        default(&mut self.output_directory, &format!("output-{name}"));
        default(&mut self.vm_name, &format!("packer-{name}"));
        default(&mut self.format, "qcow2");
        default(&mut self.qemu_binary, "qemu-system-x86_64");
        default(&mut self.machine_type, "pc");
        default(&mut self.net_device, "virtio-net");
        default(&mut self.disk_interface, "virtio");
        default(&mut self.disk_cache, "writeback");
        default(&mut self.disk_discard, "ignore");
        default(&mut self.disk_detect_zeroes, "off");
        default(&mut self.vnc_bind_address, "127.0.0.1");
        default(&mut self.http_bind_address, "0.0.0.0");
        default(&mut self.iso_target_extension, "iso");
        // Packer's StepCreateFloppy and StepCreateCD label their media "packer".
        default(&mut self.floppy_label, "packer");
        default(&mut self.cd_label, "packer");
        default(&mut self.disk_size, "40960M");
        if self.memory < 10 {
            self.memory = 512;
        }
        if self.cpus < 1 {
            self.cpus = 1;
        }
        if self.vnc_port_min == 0 {
            self.vnc_port_min = 5900;
        }
        if self.vnc_port_max == 0 {
            self.vnc_port_max = 6000;
        }
        if self.ssh_host_port_min != 0 && self.host_port_min == 0 {
            self.host_port_min = self.ssh_host_port_min;
        }
        if self.ssh_host_port_max != 0 && self.host_port_max == 0 {
            self.host_port_max = self.ssh_host_port_max;
        }
        if self.host_port_min == 0 {
            self.host_port_min = 2222;
        }
        if self.host_port_max == 0 {
            self.host_port_max = 4444;
        }
        if self.http_port_min == 0 {
            self.http_port_min = 8000;
        }
        if self.http_port_max == 0 {
            self.http_port_max = 9000;
        }
        if self.use_backing_file {
            self.skip_compaction = true;
        }
        if !self.iso_checksum_type.is_empty()
            && !self.iso_checksum.is_empty()
            && !self.iso_checksum.contains(':')
            && self.iso_checksum_type != "none"
        {
            self.iso_checksum = format!(
                "{}:{}",
                self.iso_checksum_type.to_ascii_lowercase(),
                self.iso_checksum
            );
        }
        if self.iso_checksum_type == "none" {
            self.iso_checksum = "none".to_owned();
        }
        if self.iso_checksum.is_empty() && !self.iso_checksum_url.is_empty() {
            self.iso_checksum = format!("file:{}", self.iso_checksum_url);
        }

        // ---- the ISO
        match (self.iso_url.is_empty(), self.iso_urls.is_empty()) {
            (true, true) => problems.add("iso_url", "One of iso_url or iso_urls must be specified"),
            (false, false) => problems.add(
                "iso_url",
                "Only one of iso_url or iso_urls must be specified",
            ),
            _ => {}
        }
        if self.iso_checksum.is_empty() {
            problems.add("iso_checksum", "A checksum must be specified");
        }
        if self.iso_skip_cache {
            problems.add(
                "iso_skip_cache",
                "iso_skip_cache (reading the ISO through QEMU's curl driver) is not available in this version of kiln; the ISO is downloaded into the cache",
            );
        }

        // ---- choices
        if self.format != "qcow2" && self.format != "raw" {
            problems.add(
                "format",
                "invalid format, only 'qcow2' or 'raw' are allowed",
            );
        }
        if !self.accelerator.is_empty() {
            one_of(
                problems,
                "accelerator",
                &self.accelerator,
                ACCELERATORS,
                "invalid accelerator, only 'kvm', 'tcg', 'xen', 'hax', 'hvf', 'whpx', or 'none' are allowed",
            );
        }
        one_of(
            problems,
            "disk_interface",
            &self.disk_interface,
            DISK_INTERFACES,
            "unrecognized disk interface type",
        );
        one_of(
            problems,
            "disk_cache",
            &self.disk_cache,
            DISK_CACHES,
            "unrecognized disk cache type",
        );
        one_of(
            problems,
            "disk_discard",
            &self.disk_discard,
            DISK_DISCARDS,
            "unrecognized disk discard type",
        );
        one_of(
            problems,
            "disk_detect_zeroes",
            &self.disk_detect_zeroes,
            DISK_DETECT_ZEROES,
            "unrecognized disk detect zeroes setting",
        );
        if self.use_backing_file && !(self.disk_image && self.format == "qcow2") {
            problems.add(
                "use_backing_file",
                "use_backing_file can only be enabled for QCOW2 images and when disk_image is true",
            );
        }
        if self.disk_image && !self.disk_additional_size.is_empty() && self.format != "qcow2" {
            problems.add(
                "disk_additional_size",
                "disk_additional_size can only be used with the qcow2 format",
            );
        }

        // ---- ports
        if self.host_port_min > self.host_port_max {
            problems.add(
                "host_port_min",
                "host_port_min must be less than host_port_max",
            );
        }
        if self.vnc_port_min > self.vnc_port_max {
            problems.add(
                "vnc_port_min",
                "vnc_port_min must be less than vnc_port_max",
            );
        }
        if self.http_port_min > self.http_port_max {
            problems.add(
                "http_port_min",
                "http_port_min must be less than http_port_max",
            );
        }

        // ---- the HTTP server
        if !self.http_directory.is_empty() && !self.http_content.is_empty() {
            problems.add(
                "http_content",
                "Don't set http_content and http_directory both",
            );
        }

        // ---- boot
        if !self.boot_command.is_empty() && self.disable_vnc {
            problems.add(
                "boot_command",
                "A boot command cannot be used when vnc is disabled.",
            );
        }
        let boot_wait = check_duration(
            problems,
            "boot_wait",
            &self.boot_wait,
            Duration::from_secs(10),
        );
        let boot_key_interval = (!self.boot_key_interval.is_empty()).then(|| {
            check_duration(
                problems,
                "boot_key_interval",
                &self.boot_key_interval,
                Duration::ZERO,
            )
        });
        check_duration(
            problems,
            "boot_keygroup_interval",
            &self.boot_keygroup_interval,
            Duration::ZERO,
        );
        let shutdown_timeout = check_duration(
            problems,
            "shutdown_timeout",
            &self.shutdown_timeout,
            Duration::from_secs(5 * 60),
        );

        // ---- sizes
        let disk_size = parse_size(&self.disk_size).unwrap_or_else(|e| {
            problems.add("disk_size", e);
            0
        });
        let additional_sizes = self
            .disk_additional_size
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match parse_size(s) {
                Ok(n) => Some(n),
                Err(e) => {
                    problems.add(format!("disk_additional_size[{i}]"), e);
                    None
                }
            })
            .collect();

        // ---- the floppy and the CD
        self.check_media(build, problems);

        // ---- what this version cannot do, said rather than ignored
        for (set, key, what) in [
            (
                !self.net_bridge.is_empty(),
                "net_bridge",
                "bridged networking (net_bridge)",
            ),
            (
                self.vnc_use_password,
                "vnc_use_password",
                "a VNC password (vnc_use_password)",
            ),
            (
                !self.iso_target_path.is_empty(),
                "iso_target_path",
                "a download path of your own (iso_target_path); the ISO goes to the cache (KILN_CACHE_DIR)",
            ),
        ] {
            if set {
                problems.add(
                    key,
                    format!("{what} is not available in this version of kiln"),
                );
            }
        }
        if self.efi_boot && self.efi_firmware_code.is_empty() {
            self.efi_firmware_code = "/usr/share/OVMF/OVMF_CODE_4M.fd".to_owned();
            if self.efi_firmware_vars.is_empty() {
                self.efi_firmware_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd".to_owned();
            }
        }
        if !self.firmware.is_empty() && self.efi_boot {
            problems.add("firmware", "firmware and efi_boot cannot be used together");
        }

        let urls = if self.iso_url.is_empty() {
            self.iso_urls.clone()
        } else {
            vec![self.iso_url.clone()]
        };
        Checked {
            urls,
            boot_wait,
            boot_key_interval,
            shutdown_timeout,
            disk_size,
            additional_sizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own for a test, removed after it.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("kiln-builder-qemu-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn build(output_dir: &std::path::Path) -> BuildInfo {
        BuildInfo {
            name: "vm".into(),
            builder_type: "qemu".into(),
            run_id: "r".into(),
            template_dir: "/t".into(),
            output_dir: output_dir.display().to_string(),
            temp_dir: "/tmp/x".into(),
            force: false,
            debug: false,
        }
    }

    /// The config with an ISO and `extra`, prepared in `dir`: the problems, as `key: message`.
    fn prepared(dir: &std::path::Path, extra: serde_json::Value) -> (Config, Vec<String>) {
        let mut value = serde_json::json!({"iso_url": "d.iso", "iso_checksum": "none"});
        if let (Some(all), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            all.extend(extra.clone());
        }
        let mut config: Config = serde_json::from_value(value).unwrap();
        let mut problems = Problems::new();
        config.prepare(&build(dir), &mut problems);
        let problems = match problems.finish() {
            Ok(()) => Vec::new(),
            Err(list) => list
                .into_iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        };
        (config, problems)
    }

    #[test]
    fn media_labels_default_to_packers() {
        let dir = Scratch::new("labels");
        let (config, problems) = prepared(dir.path(), serde_json::json!({}));
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(config.floppy_label, "packer");
        assert_eq!(config.cd_label, "packer");
        let (config, _) = prepared(
            dir.path(),
            serde_json::json!({"floppy_label": "WINDRIVERS", "cd_label": "cidata"}),
        );
        assert_eq!(config.floppy_label, "WINDRIVERS");
        assert_eq!(config.cd_label, "cidata");
    }

    #[test]
    fn media_files_must_exist_and_patterns_be_well_formed() {
        let dir = Scratch::new("files");
        std::fs::create_dir_all(dir.path().join("http")).unwrap();
        std::fs::write(dir.path().join("http/preseed.cfg"), "d-i").unwrap();
        let (config, problems) = prepared(
            dir.path(),
            serde_json::json!({
                "floppy_files": ["http/preseed.cfg", "http/*.cfg", "http", "missing.cfg", "bad["],
                "floppy_dirs": ["http", "nodir", "no-match-is-fine/*"],
                "cd_files": ["meta-data", "http/[a-]"],
            }),
        );
        assert_eq!(
            problems,
            [
                "floppy_files[3]: Bad Floppy disk file 'missing.cfg': No such file or directory",
                "floppy_files[4]: Bad Floppy disk file 'bad[': syntax error in pattern",
                "floppy_dirs[1]: Bad Floppy disk directory 'nodir': No such file or directory",
                "cd_files[0]: Bad CD disk file 'meta-data': No such file or directory",
                "cd_files[1]: Bad CD disk file 'http/[a-]': syntax error in pattern",
            ]
        );
        // The patterns go to the host as written: it expands them.
        assert_eq!(config.floppy_files[1], "http/*.cfg");
        // What lies outside the build's directories is the host's to check (against the
        // policy): to this component it would only look missing.
        let (_, problems) = prepared(
            dir.path(),
            serde_json::json!({"floppy_files": ["/etc/hostname", "../elsewhere/x.cfg"],
                               "cd_files": ["/nonexistent/meta-data"]}),
        );
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn media_labels_fit_their_file_systems() {
        let dir = Scratch::new("fit");
        std::fs::write(dir.path().join("a.cfg"), "a").unwrap();
        let (_, problems) = prepared(
            dir.path(),
            serde_json::json!({
                "floppy_files": ["a.cfg"], "floppy_label": "twelve_chars",
                "cd_files": ["a.cfg"], "cd_label": "x".repeat(33),
            }),
        );
        assert_eq!(
            problems,
            [
                "floppy_label: floppy_label is a FAT volume label: at most 11 ASCII letters, digits, spaces or !#$%&'()-@^_`{}~",
                "cd_label: cd_label is an ISO 9660 volume id: at most 32 characters",
            ]
        );
        // Unused, a label is not checked; within bounds, it is fine.
        let (_, problems) = prepared(
            dir.path(),
            serde_json::json!({"floppy_label": "twelve_chars", "cd_label": "x".repeat(33)}),
        );
        assert_eq!(problems, Vec::<String>::new());
        let (_, problems) = prepared(
            dir.path(),
            serde_json::json!({"floppy_files": ["a.cfg"], "floppy_label": "kiln-answer",
                               "cd_files": ["a.cfg"], "cd_label": "x".repeat(32)}),
        );
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn patterns_as_go_reads_them() {
        for good in [
            "*.cfg",
            "a?c",
            "[abc]",
            "[^a-z]",
            "[\\-]",
            "a\\*b",
            "dir/[0-9]*/x",
        ] {
            assert!(is_valid_pattern(good), "{good}");
        }
        for bad in [
            "[", "[]", "[]a]", "[-a]", "[a-]", "[a-b-c]", "a\\", "[^]", "a[/b]",
        ] {
            assert!(!is_valid_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn sizes_are_megabytes_unless_they_say_otherwise() {
        assert_eq!(parse_size("40960M"), Ok(40960 << 20));
        assert_eq!(parse_size("2048"), Ok(2048 << 20));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10X").is_err());
    }
}
