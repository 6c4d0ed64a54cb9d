//! The qemu builder end to end under TCG (Linux guests hang under this machine's nested KVM):
//! a real VM from the small Debian disk fixture (`scripts/fixtures/debian-disk-image`), a boot
//! command typed at its GRUB prompt, the HTTP server, shell and file provisioners over SSH,
//! shutdown and compaction; the vagrant post-processor's libvirt box of that disk, added to
//! real Vagrant (`vagrant.rs`); then the produced qcow2 booted by plain QEMU, without kiln, and
//! checked over SSH.
//!
//! Without QEMU or the fixture the tests skip, saying why; `KILN_REQUIRE_QEMU=1` (CI) turns
//! that into a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::build::cache_dir;
use crate::kiln::{Kiln, Run, workspace};
use crate::vagrant;

fn fixture_disk() -> PathBuf {
    workspace().join("target/fixtures/debian-12-sshd.qcow2")
}

/// Whether the VM tests can run here; otherwise why not (a failure under KILN_REQUIRE_QEMU).
fn skip_without_qemu(test: &str) -> bool {
    let missing = if Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        Some("qemu-system-x86_64 is not installed".to_owned())
    } else if !fixture_disk().exists() {
        Some(format!(
            "{} is missing: run scripts/fixtures/debian-disk-image as root",
            fixture_disk().display()
        ))
    } else {
        None
    };
    match missing {
        None => false,
        Some(why) if std::env::var("KILN_REQUIRE_QEMU").is_ok_and(|v| v == "1") => {
            panic!("{test}: {why} (KILN_REQUIRE_QEMU=1)")
        }
        Some(why) => {
            eprintln!("skipping {test}: {why}");
            true
        }
    }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn kiln_build(dir: &Path, template: &serde_json::Value) -> Run {
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string_pretty(template).unwrap(),
    )
    .unwrap();
    Kiln::new(dir)
        .env("KILN_CACHE_DIR", &cache_dir())
        .env("KILN_QEMU_ACCELERATOR", "tcg")
        .args(&["build", "template.json"])
        .run()
}

/// Printable ASCII that both GRUB's command line and the kernel keep as typed: no spaces or
/// quotes (split or stripped), nothing GRUB's script parser treats specially (`$`, `;`,
/// `{`, `*`, ...), and no `<` (the start of a Packer key name). Repeated to `len`.
fn typed_text(len: usize) -> String {
    let alphabet: Vec<char> = ('!'..='~')
        .filter(|c| {
            !matches!(
                c,
                '"' | '\''
                    | '\\'
                    | '<'
                    | '>'
                    | '`'
                    | '$'
                    | ';'
                    | '&'
                    | '|'
                    | '#'
                    | '{'
                    | '}'
                    | '*'
                    | '?'
                    | '['
                    | ']'
            )
        })
        .collect();
    (0..len)
        .map(|i| alphabet[(i * 7) % alphabet.len()])
        .collect()
}

/// QEMU running a disk by itself (no kiln), with SSH forwarded to a free host port; killed on
/// drop.
struct PlainVm {
    child: Child,
    port: u16,
}

impl PlainVm {
    fn boot(disk: &Path) -> PlainVm {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-machine",
                "pc,accel=tcg",
                "-m",
                "1024",
                "-smp",
                "2",
                "-display",
                "none",
            ])
            .args(["-snapshot", "-drive"])
            .arg(format!("file={},if=virtio,format=qcow2", disk.display()))
            .args(["-netdev"])
            .arg(format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22"))
            .args(["-device", "virtio-net,netdev=n0", "-serial", "null"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        PlainVm { child, port }
    }
}

impl Drop for PlainVm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_disk_image_build_types_provisions_compacts_boxes_for_vagrant_and_boots_by_itself() {
    let test =
        "qemu::a_disk_image_build_types_provisions_compacts_boxes_for_vagrant_and_boots_by_itself";
    if skip_without_qemu(test) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(dir.join("files/motd"), "built by kiln\n").unwrap();
    let typed = typed_text(400);
    let fixture = fixture_disk();
    let template = serde_json::json!({
        "builders": [{
            "type": "qemu",
            "name": "vm",
            "iso_url": fixture.display().to_string(),
            "iso_checksum": format!("sha256:{}", sha256(&fixture)),
            "disk_image": true,
            "disk_size": "3G",
            "format": "qcow2",
            "headless": true,
            "memory": 1024,
            "cpus": 2,
            "vm_name": "disk.qcow2",
            "http_content": {"/hello.txt": "served to {{ .Name }}\n"},
            // At GRUB's menu (shown for 8 s, a second or two after start): its command line,
            // a kernel with the typed text as an argument.
            "boot_wait": "5s",
            "boot_command": [
                "c<wait>",
                // GRUB reads no keys while it loads a file: wait for the kernel and initrd.
                format!("linux /vmlinuz root=LABEL=kiln-root ro console=ttyS0,115200 kiln.typed={typed}<enter><wait5>"),
                "initrd /initrd.img<enter><wait10>",
                "boot<enter>"
            ],
            "ssh_username": "kiln",
            "ssh_password": "kiln-fixture",
            "ssh_timeout": "5m",
            "shutdown_command": "sudo shutdown -P now",
        }],
        "provisioners": [
            // bash: /dev/tcp reaches the build's HTTP server without curl or wget in the guest.
            {"type": "shell", "inline_shebang": "/bin/bash -e", "inline": [
                "tr ' ' '\\n' < /proc/cmdline | sed -n 's/^kiln.typed=//p' > /tmp/typed",
                "echo \"typed $(wc -c < /tmp/typed) bytes\"",
                "exec 3<>/dev/tcp/${PACKER_HTTP_IP}/${PACKER_HTTP_PORT}; printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' >&3; tail -n 1 <&3 > /tmp/fetched",
                "cat /tmp/fetched",
            ]},
            {"type": "file", "direction": "download", "source": "/tmp/typed", "destination": "typed.txt"},
            {"type": "file", "source": "files/motd", "destination": "/tmp/motd"},
            {"type": "shell", "inline": [
                "sudo install -m 0644 /tmp/motd /etc/kiln-motd",
                "sudo install -m 0644 /tmp/fetched /etc/kiln-fetched",
            ]},
        ],
        // Kept: the disk is booted below. The box lands in the working directory.
        "post-processors": [{"type": "vagrant", "keep_input_artifact": true}],
    });
    let started = Instant::now();
    let run = kiln_build(dir, &template);
    assert_eq!(run.code, 0, "{}", run.transcript());
    eprintln!("qemu build: {:?}", started.elapsed());

    // Typed without a dropped or repeated key.
    let got = std::fs::read_to_string(dir.join("typed.txt")).unwrap();
    assert_eq!(got.trim_end(), typed, "{}", run.transcript());
    // The installer-facing server answered, and said so.
    assert!(
        run.stdout.contains("served to disk.qcow2"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("HTTP server: GET /hello.txt -> 200"),
        "{}",
        run.stdout
    );
    for step in [
        "Retrieving disk image",
        "Copying hard drive...",
        "Resizing hard drive...",
        "Typing the boot command...",
        "Gracefully halting virtual machine...",
        "Converting hard drive...",
    ] {
        assert!(run.stdout.contains(step), "{step}\n{}", run.stdout);
    }
    let disk = dir.join("output-vm/disk.qcow2");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 3u64 << 30);
    // Nothing but the disk is left in the output directory, and no QEMU is left running.
    let left: Vec<_> = std::fs::read_dir(dir.join("output-vm"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["disk.qcow2"], "{left:?}");

    // The libvirt box: the disk as box.img, Packer's metadata and Vagrantfile (TCG: the
    // "qemu" driver), accepted by Vagrant.
    let vagrant_box = dir.join("packer_vm_libvirt.box");
    let boxed = vagrant::box_contents(&vagrant_box);
    assert_eq!(boxed.members, ["Vagrantfile", "box.img", "metadata.json"]);
    assert_eq!(
        boxed.metadata,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 3})
    );
    assert_eq!(boxed.vagrantfile, vagrant::libvirt_vagrantfile("qemu", ""));
    assert_eq!(boxed.image["format"], "qcow2");
    let disk_sha256 = sha256(&disk);
    assert_eq!(boxed.image_sha256, disk_sha256);
    drop(boxed);
    vagrant::assert_vagrant_adds(test, &vagrant_box, &disk_sha256);

    // The image boots by itself, with the provisioned changes in it.
    let vm = PlainVm::boot(&disk);
    let check = serde_json::json!({
        "builders": [{"type": "null", "name": "check", "ssh_host": "127.0.0.1",
                      "ssh_port": vm.port, "ssh_username": "kiln", "ssh_password": "kiln-fixture",
                      "ssh_timeout": "5m"}],
        "provisioners": [{"type": "shell", "inline": [
            "echo \"motd: $(cat /etc/kiln-motd)\"",
            "echo \"fetched: $(cat /etc/kiln-fetched)\"",
        ]}],
    });
    let check_dir = dir.join("check");
    std::fs::create_dir_all(&check_dir).unwrap();
    let run = kiln_build(&check_dir, &check);
    drop(vm);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("motd: built by kiln"), "{}", run.stdout);
    assert!(
        run.stdout.contains("fetched: served to disk.qcow2"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_build_that_fails_leaves_no_vm_and_no_output() {
    if skip_without_qemu("qemu::a_build_that_fails_leaves_no_vm_and_no_output") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let fixture = fixture_disk();
    let template = serde_json::json!({
        "builders": [{
            "type": "qemu", "name": "vm",
            "iso_url": fixture.display().to_string(), "iso_checksum": "none",
            "disk_image": true, "use_backing_file": true, "skip_resize_disk": true,
            "headless": true, "boot_wait": "-1s",
            "ssh_username": "kiln", "ssh_password": "wrong-password",
            "ssh_timeout": "20s", "ssh_handshake_attempts": 1,
        }],
    });
    let run = kiln_build(dir, &template);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(!dir.join("output-vm").exists(), "{}", run.transcript());
    // No QEMU of this build is left.
    let ps = Command::new("pgrep")
        .args(["-f", &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

/// Packer's `stepPrepareOutputDir`: an existing output directory is an error naming it unless
/// `--force`, and is kept. No QEMU is needed to get there.
#[test]
fn an_existing_output_directory_is_an_error_unless_forced() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("source.qcow2"), "not really a disk").unwrap();
    std::fs::create_dir_all(dir.join("output-vm")).unwrap();
    std::fs::write(dir.join("output-vm/keep.txt"), "mine").unwrap();
    let template = serde_json::json!({
        "builders": [{
            "type": "qemu", "name": "vm", "iso_url": "source.qcow2", "iso_checksum": "none",
            "disk_image": true, "headless": true, "communicator": "none",
        }],
    });
    let run = kiln_build(dir, &template);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("Output directory exists: ")
            && run
                .stderr
                .contains("Use the force flag to delete it prior to building."),
        "{}",
        run.transcript()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("output-vm/keep.txt")).unwrap(),
        "mine"
    );
}
