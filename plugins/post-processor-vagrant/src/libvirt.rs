//! The `libvirt` box (vagrant-libvirt's layout, as Packer's `LibVirtProvider` makes it): the
//! qemu build's disk as `box.img`, `metadata.json` with its format and virtual size in GB, and
//! a Vagrantfile choosing the libvirt driver from the accelerator the build ran with.

use kiln_plugin_sdk::Artifact;

/// The artifact data a qemu build carries and this provider needs.
const NEEDED: [&str; 4] = ["diskName", "diskType", "diskSize", "domainType"];

/// What goes into a libvirt box besides the user's files.
#[derive(Debug, PartialEq, Eq)]
pub struct Contents {
    /// The host path of the disk, archived as `box.img`.
    pub disk: String,
    /// `metadata.json`, byte for byte as Packer writes it.
    pub metadata: String,
    /// The provider's part of the Vagrantfile.
    pub vagrantfile: String,
    /// A note for the user when the box will not work as it is.
    pub warning: Option<String>,
}

/// The box contents for a qemu artifact. Packer 1.6.6 crashes on an artifact without the
/// qemu data (an artifice artifact with `provider_override: libvirt`); kiln says what is
/// missing.
pub fn contents(artifact: &Artifact) -> Result<Contents, String> {
    let get = |key: &str| {
        artifact
            .data
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let missing: Vec<&str> = NEEDED.into_iter().filter(|k| get(k).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "The 'libvirt' provider boxes a qemu build's disk, but this artifact ({}) has no {} \
             in its data: give the vagrant post-processor the artifact of a qemu build",
            artifact.builder_id,
            missing.join(", ")
        ));
    }
    let data = |key: &str| get(key).unwrap_or_default();
    let name = data("diskName");
    let disk = disk_file(artifact, name, get("diskPath"))?;
    let format = data("diskType");
    let megabytes = size_in_megabytes(data("diskSize"))?;
    // GB, rounded up so the box never claims a smaller disk than it has.
    let virtual_size = megabytes.div_ceil(1024);
    let driver = driver(data("domainType"))?;
    let warning = (format != "qcow2").then(|| {
        format!("the disk's format is {format:?}: vagrant-libvirt boots qcow2 boxes only")
    });
    Ok(Contents {
        disk,
        metadata: metadata(format, virtual_size),
        vagrantfile: format!(
            "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"{driver}\"\n  end\nend\n"
        ),
        warning,
    })
}

/// The disk among the artifact's files (Packer's lookup: the file named `diskName`), else
/// `diskPath`. Packer makes a box without `box.img` when there is none; kiln refuses.
fn disk_file(artifact: &Artifact, name: &str, path: Option<&str>) -> Result<String, String> {
    let suffix = format!("/{name}");
    if let Some(file) = artifact
        .files
        .iter()
        .find(|f| !name.is_empty() && (f.ends_with(&suffix) || *f == name))
    {
        return Ok(file.clone());
    }
    match path {
        Some(path) if !path.is_empty() => Ok(path.to_owned()),
        _ => Err(format!(
            "The artifact has no disk named {name:?} to box (its files: {})",
            if artifact.files.is_empty() {
                "none".to_owned()
            } else {
                artifact.files.join(", ")
            }
        )),
    }
}

/// `metadata.json` as Go's `json.Encoder` writes Packer's map: keys sorted, a newline after.
fn metadata(format: &str, virtual_size: u64) -> String {
    let value = serde_json::json!({
        "format": format,
        "provider": "libvirt",
        "virtual_size": virtual_size,
    });
    let sorted: std::collections::BTreeMap<String, serde_json::Value> = value
        .as_object()
        .map(|o| o.clone().into_iter().collect())
        .unwrap_or_default();
    let mut text = serde_json::to_string(&sorted).unwrap_or_default();
    text.push('\n');
    text
}

/// Packer's `sizeInMegabytes`: a qemu size (`40960`, `3G`, `512M`, `1T`) in MiB; no unit is M.
fn size_in_megabytes(size: &str) -> Result<u64, String> {
    let invalid = || format!("The artifact's diskSize {size:?} is not a disk size");
    let (digits, unit) = match size.chars().last() {
        None => return Err(invalid()),
        Some(c) if c.is_ascii_digit() => (size, 'm'),
        Some(c) => (&size[..size.len() - c.len_utf8()], c.to_ascii_lowercase()),
    };
    let value: u64 = digits.parse().map_err(|_| invalid())?;
    let scale = |shift: u32| value.checked_mul(1 << shift).ok_or_else(invalid);
    match unit {
        'b' => Ok(value >> 20),
        'k' => Ok(value >> 10),
        'm' => Ok(value),
        'g' => scale(10),
        't' => scale(20),
        'p' => scale(30),
        'e' => scale(40),
        _ => Err(invalid()),
    }
}

/// The libvirt driver for the accelerator: Packer maps `kvm` to `kvm` and `none`, `tcg` and
/// `hvf` to `qemu`. kiln's qemu builder records the driver itself (`kvm` or `qemu`).
fn driver(domain_type: &str) -> Result<&'static str, String> {
    match domain_type {
        "kvm" => Ok("kvm"),
        "none" | "tcg" | "hvf" | "qemu" => Ok("qemu"),
        other => Err(format!("Unknown libvirt domain type: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu_artifact(data: &[(&str, &str)]) -> Artifact {
        Artifact {
            builder_id: "transcend.qemu".into(),
            id: "VM".into(),
            description: String::new(),
            files: vec![
                "/w/output-vm/disk.qcow2".into(),
                "/w/output-vm/disk.qcow2-1".into(),
            ],
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    const QEMU_DATA: [(&str, &str); 5] = [
        ("diskName", "disk.qcow2"),
        ("diskType", "qcow2"),
        ("diskSize", "3073"),
        ("diskPath", "/w/output-vm/disk.qcow2"),
        ("domainType", "kvm"),
    ];

    #[test]
    fn a_qemu_artifact_makes_packers_box_contents() {
        let c = contents(&qemu_artifact(&QEMU_DATA)).unwrap();
        assert_eq!(c.disk, "/w/output-vm/disk.qcow2");
        assert_eq!(
            c.metadata,
            "{\"format\":\"qcow2\",\"provider\":\"libvirt\",\"virtual_size\":4}\n"
        );
        assert_eq!(
            c.vagrantfile,
            "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"kvm\"\n  end\nend\n"
        );
        assert_eq!(c.warning, None);
    }

    #[test]
    fn the_accelerator_picks_the_driver() {
        for (domain, driver) in [
            ("kvm", "kvm"),
            ("tcg", "qemu"),
            ("none", "qemu"),
            ("hvf", "qemu"),
        ] {
            let mut data = QEMU_DATA.to_vec();
            data.push(("domainType", domain));
            let c = contents(&qemu_artifact(&data)).unwrap();
            assert!(
                c.vagrantfile
                    .contains(&format!("libvirt.driver = \"{driver}\"")),
                "{domain}: {}",
                c.vagrantfile
            );
        }
        let mut data = QEMU_DATA.to_vec();
        data.push(("domainType", "xen"));
        assert_eq!(
            contents(&qemu_artifact(&data)).unwrap_err(),
            "Unknown libvirt domain type: xen"
        );
    }

    #[test]
    fn sizes_are_read_as_packer_reads_them() {
        assert_eq!(size_in_megabytes("40960"), Ok(40960));
        assert_eq!(size_in_megabytes("3G"), Ok(3072));
        assert_eq!(size_in_megabytes("512m"), Ok(512));
        assert_eq!(size_in_megabytes("1T"), Ok(1 << 20));
        assert_eq!(size_in_megabytes("2097152K"), Ok(2048));
        assert_eq!(size_in_megabytes("1073741824b"), Ok(1024));
        assert!(size_in_megabytes("").is_err());
        assert!(size_in_megabytes("3X").is_err());
        assert!(size_in_megabytes("lots").is_err());
        // 1024 MiB is 1 GB; a MiB more rounds up.
        let size = |s: &str| {
            let mut data = QEMU_DATA.to_vec();
            data.push(("diskSize", s));
            contents(&qemu_artifact(&data)).unwrap().metadata
        };
        assert!(size("1024").contains("\"virtual_size\":1}"));
        assert!(size("1025").contains("\"virtual_size\":2}"));
    }

    #[test]
    fn an_artifact_without_qemu_data_is_refused_naming_what_is_missing() {
        let artifice = Artifact {
            builder_id: "packer.post-processor.artifice".into(),
            id: String::new(),
            description: String::new(),
            files: vec!["disk.qcow2".into()],
            data: Vec::new(),
        };
        assert_eq!(
            contents(&artifice).unwrap_err(),
            "The 'libvirt' provider boxes a qemu build's disk, but this artifact \
             (packer.post-processor.artifice) has no diskName, diskType, diskSize, domainType in \
             its data: give the vagrant post-processor the artifact of a qemu build"
        );
    }

    #[test]
    fn the_disk_is_found_by_name_then_by_path() {
        let mut a = qemu_artifact(&QEMU_DATA);
        a.files = vec!["/elsewhere/disk.qcow2".into()];
        assert_eq!(contents(&a).unwrap().disk, "/elsewhere/disk.qcow2");
        a.files.clear();
        assert_eq!(contents(&a).unwrap().disk, "/w/output-vm/disk.qcow2");
        a.data.retain(|(k, _)| k != "diskPath");
        assert_eq!(
            contents(&a).unwrap_err(),
            "The artifact has no disk named \"disk.qcow2\" to box (its files: none)"
        );
    }

    #[test]
    fn a_raw_disk_is_boxed_with_a_warning() {
        let mut data = QEMU_DATA.to_vec();
        data.push(("diskType", "raw"));
        let c = contents(&qemu_artifact(&data)).unwrap();
        assert!(
            c.metadata.starts_with("{\"format\":\"raw\""),
            "{}",
            c.metadata
        );
        assert!(c.warning.is_some());
    }
}
