//! The qemu builder's extra media: `cd_files`/`cd_label` (an ISO from xorriso, the CD-ROM
//! drive after the installation ISO) and `floppy_files`/`floppy_dirs`/`floppy_label` (a
//! FAT12 image written by kiln, `-fda`), seen from inside a real guest under TCG (the small
//! Debian disk fixture), and the images gone with the build's temporary directory whether the
//! build succeeds or fails.
//!
//! Without QEMU, xorriso or the fixture the tests skip, saying why; `KILN_REQUIRE_QEMU=1` (CI)
//! turns that into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::build::cache_dir;
use crate::kiln::{Kiln, Run, workspace};

fn fixture_disk() -> PathBuf {
    workspace().join("target/fixtures/debian-12-sshd.qcow2")
}

fn installed(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether the tests can run here; otherwise why not (a failure under KILN_REQUIRE_QEMU).
fn skip(test: &str, needs_vm: bool) -> bool {
    let missing = if !installed("qemu-img", "--version") {
        Some("qemu-img is not installed".to_owned())
    } else if !installed("xorriso", "-version") {
        Some("xorriso is not installed (Debian's xorriso package)".to_owned())
    } else if needs_vm && !installed("qemu-system-x86_64", "--version") {
        Some("qemu-system-x86_64 is not installed".to_owned())
    } else if needs_vm && !fixture_disk().exists() {
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

/// Builds `template` in `dir` under TCG with a TMPDIR of the test's own, and checks that the
/// build's temporary directory (where the floppy and the CD were) is gone afterwards.
fn build_in(dir: &Path, template: &serde_json::Value) -> Run {
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string_pretty(template).unwrap(),
    )
    .unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = Kiln::new(dir)
        .env("KILN_CACHE_DIR", &cache_dir())
        .env("KILN_QEMU_ACCELERATOR", "tcg")
        .env("TMPDIR", tmp.to_str().unwrap())
        .args(&["build", "template.json"])
        .run();
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "left behind: {left:?}\n{}",
        run.transcript()
    );
    run
}

/// The files both media are made from, in the working directory.
fn media_files(dir: &Path) {
    for (path, content) in [
        ("seed/user-data", "#cloud-config\n"),
        ("seed/meta-data", "instance-id: kiln-media\n"),
        ("cd-extra/deep/note.txt", "a tree kept on the CD\n"),
        ("answers/Autounattend.xml", "<unattend/>\n"),
        ("scripts/one.ps1", "Write-Host one\n"),
        ("scripts/more/two.ps1", "Write-Host two\n"),
        ("drivers/net/netkvm.inf", "[Version]\n"),
    ] {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

fn media_options() -> serde_json::Value {
    serde_json::json!({
        "cd_files": ["seed/*", "cd-extra"],
        "cd_label": "kiln-seed",
        "floppy_files": ["answers/Autounattend.xml", "scripts"],
        "floppy_dirs": ["drivers"],
        "floppy_label": "KILNFLOPPY",
    })
}

fn with(mut builder: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(all), Some(extra)) = (builder.as_object_mut(), extra.as_object()) {
        all.extend(extra.clone());
    }
    builder
}

#[test]
fn the_guest_sees_the_cd_files_and_the_floppy_files() {
    let test = "qemu_media::the_guest_sees_the_cd_files_and_the_floppy_files";
    if skip(test, true) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    media_files(dir);
    let fixture = fixture_disk();
    let builder = with(
        serde_json::json!({
            "type": "qemu", "name": "vm",
            "iso_url": fixture.display().to_string(), "iso_checksum": "none",
            "disk_image": true, "use_backing_file": true, "skip_resize_disk": true,
            "headless": true, "memory": 1024, "cpus": 2, "vm_name": "disk.qcow2",
            "boot_wait": "-1s",
            "ssh_username": "kiln", "ssh_password": "kiln-fixture", "ssh_timeout": "5m",
            "shutdown_command": "sudo shutdown -P now",
        }),
        media_options(),
    );
    // What each medium holds, as `find` lists it, and their labels: the CD mounted by its
    // label, as cloud-init finds its seed; the floppy once the floppy driver is loaded.
    let check = [
        "set -e",
        "sudo mkdir -p /mnt/cd /mnt/floppy",
        "for i in $(seq 30); do [ -e /dev/disk/by-label/kiln-seed ] && break; sleep 1; done",
        "ls /dev/disk/by-label/",
        "sudo mount -o ro /dev/disk/by-label/kiln-seed /mnt/cd",
        "echo \"cd: $(cd /mnt/cd && find . -type f | sort | tr '\\n' ' ')\"",
        "echo \"cd user-data: $(cat /mnt/cd/user-data)\"",
        "sudo modprobe floppy",
        "for i in $(seq 30); do [ -b /dev/fd0 ] && break; sleep 1; done",
        "sudo mount -o ro -t vfat /dev/fd0 /mnt/floppy",
        // udev gives floppies no /dev/disk/by-label link: ask blkid itself.
        "echo \"floppy label: $(sudo blkid -p -s LABEL -o value /dev/fd0)\"",
        "echo \"floppy: $(cd /mnt/floppy && find . -type f | sort | tr '\\n' ' ')\"",
        "echo \"floppy two.ps1: $(cat /mnt/floppy/two.ps1)\"",
        "sudo umount /mnt/cd /mnt/floppy",
    ];
    let template = serde_json::json!({
        "builders": [builder],
        "provisioners": [{"type": "shell", "inline": check}],
    });
    let run = build_in(dir, &template);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for line in [
        // Packer's words for what it copies.
        "Creating floppy disk...",
        "Copying files flatly from floppy_files",
        "Copying file: answers/Autounattend.xml",
        "Copying directory: scripts",
        "Adding file: scripts/more/two.ps1",
        "Resulting paths from floppy_dirs : [drivers]",
        "Recursively copying : drivers",
        "Creating CD disk...",
        "Done copying paths from CD_dirs",
        // What the guest saw.
        "cd: ./cd-extra/deep/note.txt ./meta-data ./user-data",
        "cd user-data: #cloud-config",
        "floppy label: KILNFLOPPY",
        "floppy: ./Autounattend.xml ./drivers/net/netkvm.inf ./one.ps1 ./two.ps1",
        "floppy two.ps1: Write-Host two",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    // The output directory holds the disk alone: the media were the build's own.
    let left: Vec<_> = std::fs::read_dir(dir.join("output-vm"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["disk.qcow2"], "{left:?}");
}

/// The media are made before the disks and the machine; a build that fails after them (here,
/// QEMU cannot start) leaves neither image behind. No VM is needed.
#[test]
fn a_failed_build_leaves_no_media_behind() {
    let test = "qemu_media::a_failed_build_leaves_no_media_behind";
    if skip(test, false) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    media_files(dir);
    std::fs::write(dir.join("source.img"), vec![0u8; 1 << 20]).unwrap();
    let builder = with(
        serde_json::json!({
            "type": "qemu", "name": "vm", "iso_url": "source.img", "iso_checksum": "none",
            "disk_image": true, "skip_resize_disk": true, "headless": true,
            "communicator": "none", "qemu_binary": "/nonexistent/qemu-system-x86_64",
        }),
        media_options(),
    );
    let run = build_in(dir, &serde_json::json!({"builders": [builder]}));
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("Creating floppy disk...")
            && run.stdout.contains("Creating CD disk..."),
        "{}",
        run.transcript()
    );
    assert!(
        run.stderr
            .contains("/nonexistent/qemu-system-x86_64 not found"),
        "{}",
        run.transcript()
    );
    assert!(!dir.join("output-vm").exists(), "{}", run.transcript());
}

/// A file the policy does not let the builder read is denied by name, before anything is made.
#[test]
fn a_floppy_file_outside_the_policy_is_denied() {
    let test = "qemu_media::a_floppy_file_outside_the_policy_is_denied";
    if skip(test, false) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("work");
    let outside = work.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(dir.join("source.img"), vec![0u8; 1 << 20]).unwrap();
    // Through a link in the working directory, so validation (which sees the link) passes.
    std::fs::write(outside.join("secret.cfg"), "not for the guest").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.cfg"), dir.join("answers.cfg")).unwrap();
    let builder = serde_json::json!({
        "type": "qemu", "name": "vm", "iso_url": "source.img", "iso_checksum": "none",
        "disk_image": true, "skip_resize_disk": true, "headless": true,
        "communicator": "none", "floppy_files": ["answers.cfg"],
    });
    let run = build_in(&dir, &serde_json::json!({"builders": [builder]}));
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("secret.cfg not in capabilities.read_only")
            && run.stderr.contains("(through the link "),
        "{}",
        run.transcript()
    );
}
