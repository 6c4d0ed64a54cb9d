//! The `vagrant` post-processor: libvirt boxes checked member by member and accepted by real
//! Vagrant (Debian's `vagrant`), `vagrant box add` and `vagrant box list` under a private
//! `VAGRANT_HOME`. The qemu VM test (`qemu.rs`) boxes a real build's disk with [`check_box`];
//! the tests here need no VM: a Rhai builder stands in for the qemu builder's artifact (a disk
//! made by `qemu-img create` and the data a qemu build carries), and the refusals need neither.
//!
//! Without `vagrant` or `qemu-img` the tests that need them skip, saying why;
//! `KILN_REQUIRE_VAGRANT=1` (CI) turns that into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::build::build;
use crate::kiln::Run;

/// Whether `program` runs here; otherwise why the test skips (a failure when `require` is
/// set to 1).
fn skip_without(test: &str, program: &str, require: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return false;
    }
    if std::env::var(require).is_ok_and(|v| v == "1") {
        panic!("{test}: {program} is not installed ({require}=1)");
    }
    eprintln!("skipping {test}: {program} is not installed");
    true
}

pub(crate) fn skip_without_vagrant(test: &str) -> bool {
    skip_without(test, "vagrant", "KILN_REQUIRE_VAGRANT")
}

fn output(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sha256(path: &Path) -> String {
    output(Command::new("sha256sum").arg(path))[..64].to_owned()
}

/// What a libvirt box holds, extracted with the system's tar.
pub(crate) struct BoxContents {
    /// The members as `tar -t` lists them, in order.
    pub members: Vec<String>,
    pub metadata: serde_json::Value,
    pub vagrantfile: String,
    /// `qemu-img info` of `box.img`.
    pub image: serde_json::Value,
    pub image_sha256: String,
    /// The first bytes of the box: gzip's magic or a tar header.
    pub gzipped: bool,
    _dir: tempfile::TempDir,
}

/// Extracts `path` and reads what a libvirt box must hold.
pub(crate) fn box_contents(path: &Path) -> BoxContents {
    let head = std::fs::read(path).map(|b| b[..2] == [0x1f, 0x8b]).unwrap();
    let members: Vec<String> = output(Command::new("tar").arg("-tf").arg(path))
        .lines()
        .map(str::to_owned)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    output(
        Command::new("tar")
            .arg("-xf")
            .arg(path)
            .arg("-C")
            .arg(dir.path()),
    );
    let image = dir.path().join("box.img");
    let info = output(
        Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&image),
    );
    BoxContents {
        members,
        metadata: serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("metadata.json")).unwrap(),
        )
        .unwrap(),
        vagrantfile: std::fs::read_to_string(dir.path().join("Vagrantfile")).unwrap(),
        image: serde_json::from_str(&info).unwrap(),
        image_sha256: sha256(&image),
        gzipped: head,
        _dir: dir,
    }
}

/// Packer's libvirt Vagrantfile for `driver`, with `custom` after it.
pub(crate) fn libvirt_vagrantfile(driver: &str, custom: &str) -> String {
    format!(
        "\n# The contents below were provided by the Packer Vagrant post-processor\n\n\
         Vagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    \
         libvirt.driver = \"{driver}\"\n  end\nend\n\n\n\
         # The contents below (if any) are custom contents provided by the\n\
         # Packer template during image build.\n{custom}\n"
    )
}

/// Real Vagrant with a `VAGRANT_HOME` of its own, removed on drop.
pub(crate) struct Vagrant {
    home: tempfile::TempDir,
}

impl Vagrant {
    pub fn new() -> Vagrant {
        Vagrant {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("vagrant");
        c.args(args)
            .env("VAGRANT_HOME", self.home.path())
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("NO_COLOR", "1")
            .current_dir(self.home.path());
        c
    }

    /// `vagrant box add --name NAME BOX`; its output.
    pub fn add(&self, name: &str, path: &Path) -> String {
        output(
            self.command(&["box", "add", "--name", name])
                .arg(path.canonicalize().unwrap()),
        )
    }

    /// `vagrant box list`.
    pub fn list(&self) -> String {
        output(&mut self.command(&["box", "list"]))
    }

    /// Where Vagrant unpacked a box (`boxes/NAME/0/PROVIDER`).
    pub fn unpacked(&self, name: &str, provider: &str) -> PathBuf {
        self.home
            .path()
            .join("boxes")
            .join(name)
            .join("0")
            .join(provider)
    }
}

/// Adds `path` to a fresh Vagrant as `kiln-test`; asserts `vagrant box list` shows it with the
/// libvirt provider and that Vagrant unpacked the same disk. Skips (or fails, as configured)
/// without Vagrant.
pub(crate) fn assert_vagrant_adds(test: &str, path: &Path, image_sha256: &str) {
    if skip_without_vagrant(test) {
        return;
    }
    let vagrant = Vagrant::new();
    let added = vagrant.add("kiln-test", path);
    assert!(
        added.contains("Successfully added box 'kiln-test' (v0) for 'libvirt'!"),
        "{added}"
    );
    let list = vagrant.list();
    assert!(
        list.lines()
            .any(|l| l.starts_with("kiln-test ") && l.contains("(libvirt, 0)")),
        "vagrant box list: {list}"
    );
    assert_eq!(
        sha256(&vagrant.unpacked("kiln-test", "libvirt").join("box.img")),
        image_sha256
    );
}

fn qemu_img_create(path: &Path, size: &str) {
    output(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(path)
            .arg(size),
    );
}

/// A Rhai builder returning what the qemu builder's artifact carries, for `disk`.
const QEMU_STAND_IN: &str = r#"
fn run(hooks) {
    #{builder_id: config.builder_id, id: "VM",
      description: "VM files in directory: output-vm",
      files: [config.disk],
      data: #{diskName: "disk.qcow2", diskType: "qcow2", diskSize: "1537",
              diskPath: config.disk, domainType: "kvm"}}
}
"#;

fn stand_in_build(dir: &Path, builder_id: &str, disk: &Path) -> serde_json::Value {
    std::fs::write(dir.join("builder.rhai"), QEMU_STAND_IN).unwrap();
    serde_json::json!({
        "type": "rhai", "name": "stand-in", "script": "builder.rhai",
        "builder_id": builder_id, "disk": disk.display().to_string(),
    })
}

fn failed_with(run: &Run, text: &str) {
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains(text), "{text:?}\n{}", run.transcript());
}

#[test]
fn a_qemu_artifact_makes_a_libvirt_box_that_vagrant_adds() {
    let test = "vagrant::a_qemu_artifact_makes_a_libvirt_box_that_vagrant_adds";
    if skip_without(test, "qemu-img", "KILN_REQUIRE_QEMU") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("output-vm")).unwrap();
    let disk = dir.join("output-vm/disk.qcow2");
    qemu_img_create(&disk, "1537M");
    let disk_sha256 = sha256(&disk);
    std::fs::write(dir.join("notes.txt"), "read me\n").unwrap();
    std::fs::write(
        dir.join("custom.rb"),
        "# {{ .Provider }} box of {{ .BuildName }} ({{ .ArtifactId }})\n",
    )
    .unwrap();
    let template = serde_json::json!({
        "builders": [stand_in_build(dir, "transcend.qemu", &disk)],
        "post-processors": [
            {"type": "vagrant", "include": ["notes.txt"], "vagrantfile_template": "custom.rb"},
            {"type": "vagrant", "compression_level": 0,
             "override": {"libvirt": {"output": "boxes/{{.Provider}}-plain.box"}}},
        ],
    });
    let run = build(dir, &template, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for line in [
        "==> stand-in: Creating Vagrant box for 'libvirt' provider",
        "    stand-in: Copying from include: notes.txt",
        &format!("    stand-in: Copying from artifact: {}", disk.display()),
        "    stand-in: Using custom Vagrantfile: custom.rb",
        "    stand-in: Compressing: box.img",
        "--> stand-in: 'libvirt' provider box: packer_stand-in_libvirt.box",
        "--> stand-in: 'libvirt' provider box: boxes/libvirt-plain.box",
    ] {
        assert!(run.stdout.contains(line), "{line:?}\n{}", run.stdout);
    }
    // Packer's libvirt provider does not keep its input: the box holds the disk.
    assert!(!disk.exists(), "{}", run.transcript());

    let gzipped = dir.join("packer_stand-in_libvirt.box");
    let boxed = box_contents(&gzipped);
    assert!(boxed.gzipped);
    assert_eq!(
        boxed.members,
        ["Vagrantfile", "box.img", "metadata.json", "notes.txt"]
    );
    assert_eq!(
        boxed.metadata,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 2})
    );
    assert_eq!(
        boxed.vagrantfile,
        libvirt_vagrantfile("kvm", "# libvirt box of stand-in (VM)\n")
    );
    assert_eq!(boxed.image["format"], "qcow2");
    assert_eq!(boxed.image["virtual-size"], 1537u64 << 20);
    assert_eq!(boxed.image_sha256, disk_sha256);

    // compression_level 0 is a plain tar, as Packer's flate.NoCompression.
    let plain = box_contents(&dir.join("boxes/libvirt-plain.box"));
    assert!(!plain.gzipped);
    assert_eq!(plain.members, ["Vagrantfile", "box.img", "metadata.json"]);
    assert_eq!(plain.vagrantfile, libvirt_vagrantfile("kvm", ""));
    assert_eq!(plain.image_sha256, disk_sha256);

    assert_vagrant_adds(test, &gzipped, &disk_sha256);
}

#[test]
fn vagrant_refuses_artifacts_it_cannot_box_in_packers_words() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("disk.qcow2"), "not looked at").unwrap();
    let artifice = |vagrant: serde_json::Value| {
        serde_json::json!({
            "builders": [{"type": "null", "name": "files", "communicator": "none"}],
            "post-processors": [[{"type": "artifice", "files": ["disk.qcow2"]}, vagrant]],
        })
    };
    // An artifice artifact names no builder Packer maps to a provider.
    let run = build(dir, &artifice(serde_json::json!({"type": "vagrant"})), &[]);
    failed_with(
        &run,
        "Unknown artifact type, can't build box: packer.post-processor.artifice",
    );
    assert!(
        run.stderr
            .contains("you need to set the provider_override option"),
        "{}",
        run.stderr
    );
    // With provider_override libvirt, Packer 1.6.6 crashes on the missing qemu data
    // (`interface conversion: interface {} is nil, not string`); kiln names what is missing.
    let run = build(
        dir,
        &artifice(serde_json::json!({"type": "vagrant", "provider_override": "libvirt"})),
        &[],
    );
    failed_with(
        &run,
        "The 'libvirt' provider boxes a qemu build's disk, but this artifact \
         (packer.post-processor.artifice) has no diskName, diskType, diskSize, domainType in its \
         data",
    );
    // A provider whose builder kiln does not have yet is not faked.
    let template = serde_json::json!({
        "builders": [stand_in_build(dir, "mitchellh.virtualbox", &dir.join("disk.qcow2"))],
        "post-processors": [{"type": "vagrant", "keep_input_artifact": true}],
    });
    let run = build(dir, &template, &[]);
    failed_with(
        &run,
        "Vagrant boxes for the 'virtualbox' provider are not available in kiln yet",
    );
    assert!(!dir.join("packer_stand-in_virtualbox.box").exists());
}

#[test]
fn vagrant_config_errors_are_reported_together_before_the_build() {
    let work = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [{"type": "null", "name": "files", "communicator": "none"}],
        "post-processors": [{
            "type": "vagrant", "compression_level": 10, "provider_override": "libvrt",
            "vagrantfile_template": "missing.rb",
            "override": {"libvirt": {"compression_level": -2}},
        }],
    });
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for text in [
        "compression_level: Invalid compression level. Expected an integer from -1 to 9.",
        "provider_override: The given provider_override libvrt is not valid. Please choose from \
         one of aws, azure, digitalocean, docker, google, hyperv, libvirt, lxc, parallels, \
         scaleway, virtualbox, vmware",
        "vagrantfile_template: vagrantfile_template 'missing.rb' does not exist",
        "override.libvirt.compression_level: Invalid compression level.",
    ] {
        assert!(run.stderr.contains(text), "{text:?}\n{}", run.transcript());
    }
    assert!(
        !run.stdout.contains("Running post-processor"),
        "{}",
        run.stdout
    );
}
