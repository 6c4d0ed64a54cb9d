//! Typing into real guests at the default pacing: every key arrives once, in order.
//!
//! Three guests, three ways of reading the keyboard: a boot sector reading BIOS int 16h
//! (SeaBIOS drains the PS/2 queue from its interrupt handler), OVMF's UEFI shell (its PS/2
//! driver polls every 20 ms: the slowest reader, the one the default pacing is sized for), and
//! GRUB on the Debian fixture, whose kernel prints the command line typed into it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_drivers::boot_command::{self, Action};
use kiln_drivers::qemu::DiskInterface;
use kiln_drivers::typing::{self, Pacing};
use kiln_drivers::{Format, Machine, MachineSpec, QemuImg};
use tokio_util::sync::CancellationToken;

use crate::support::{
    DEBIAN_FIXTURE, Recorder, TYPING, keyecho_image, qemu_available, random_text, read_lossy,
    tcg_host, tcg_spec, wait_for_file,
};

/// Characters GRUB's command line and the kernel's command line take as they are (no spaces,
/// quotes, `$`, `\`, `;`, `#`, braces), half of them shifted.
const COMMAND_LINE_SAFE: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%*+,-./:=?@[]^_~";

fn types(text: &str) -> Vec<Action> {
    text.chars().map(Action::Type).collect()
}

/// A machine booting the keyecho sector, and its serial log once it said READY.
async fn keyecho(dir: &Path) -> (Machine, PathBuf) {
    let disk = dir.join("keyecho.img");
    std::fs::copy(keyecho_image(), &disk).unwrap();
    let serial = dir.join("serial.log");
    let spec = MachineSpec {
        disks: vec![disk],
        format: Format::Raw,
        disk_interface: DiskInterface::Ide,
        serial_log: Some(serial.clone()),
        ssh_guest_port: 0,
        ..tcg_spec()
    };
    let machine = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap();
    wait_for_file(&serial, Duration::from_secs(30), "READY", |t| {
        t.contains("READY\n")
    })
    .await;
    (machine, serial)
}

fn echoed(serial: &Path) -> String {
    let text = read_lossy(serial);
    text.split_once("READY\n")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default()
}

/// Waits until the echo has stopped growing for a moment.
async fn settled_echo(serial: &Path, expected_len: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = echoed(serial);
        if (now == last && now.len() >= expected_len) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bios_gets_1000_characters_exactly_and_fast() {
    if !qemu_available("bios_gets_1000_characters_exactly_and_fast") {
        return;
    }
    let _serial_guests = TYPING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (machine, serial) = keyecho(dir.path()).await;

    // Every printable ASCII character, in a scrambled order, 1,000 of them.
    let printable: String = (0x20u8..0x7f).map(char::from).collect();
    let text = random_text(&printable, 1000, 7);
    let started = Instant::now();
    let report = machine
        .send_keys(&types(&text), Duration::ZERO, &CancellationToken::new())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let got = settled_echo(&serial, text.len()).await;
    assert_eq!(got.len(), text.len(), "dropped or repeated keys");
    assert_eq!(got, text);
    println!(
        "typed 1000 characters ({} key events in {} QMP commands) in {:.2?} at {:?}; \
         Packer's 100 ms per key event would take {:.0?}",
        report.key_events,
        report.qmp_commands,
        elapsed,
        Pacing::DEFAULT,
        Duration::from_millis(100) * report.key_events as u32
    );
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}");

    // Special keys and held modifiers, through the parser.
    let before = echoed(&serial).len();
    let actions = boot_command::parse(
        "<enter><tab><bs><esc><leftCtrlOn>c<leftCtrlOff><leftShiftOn>abc<leftShiftOff>\
         <AOn><AOff><up><spacebar><wait300ms>x",
    )
    .unwrap();
    machine
        .send_keys(&actions, Duration::ZERO, &CancellationToken::new())
        .await
        .unwrap();
    let got = settled_echo(&serial, before + 12).await;
    assert_eq!(&got[before..], "\r\t\u{8}\u{1b}\u{3}ABCA? x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_typing_promptly_and_packer_pacing_works() {
    if !qemu_available("cancelling_stops_typing_promptly_and_packer_pacing_works") {
        return;
    }
    let _serial_guests = TYPING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (machine, serial) = keyecho(dir.path()).await;

    let text = random_text(COMMAND_LINE_SAFE, 2000, 11);
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let err = machine
        .send_keys(&types(&text), Duration::ZERO, &cancel)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let typing::Error::Cancelled { sent, total } = err else {
        panic!("{err}")
    };
    assert!(sent > 0 && sent < total, "{sent} of {total}");
    assert!(
        elapsed < Duration::from_millis(800),
        "took {elapsed:?} to stop"
    );
    let got = settled_echo(&serial, 1).await;
    assert!(
        !got.is_empty() && text.starts_with(&got),
        "{got:?} is not a prefix"
    );

    // A held key is released on cancellation: what comes next is not shifted.
    let held = boot_command::parse("<leftShiftOn>a<wait10>").unwrap();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
    });
    assert!(
        machine
            .send_keys(&held, Duration::ZERO, &cancel)
            .await
            .is_err()
    );

    // An explicit boot_key_interval: one event per interval, as Packer types.
    let before = got.len() + 1;
    let report = machine
        .send_keys(
            &types("Packer!"),
            Duration::from_millis(5),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!((report.key_events, report.qmp_commands), (18, 18));
    let got = settled_echo(&serial, before + 7).await;
    assert_eq!(&got[before - 1..], "APacker!");
}

/// The text without terminal escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

const OVMF: &str = "/usr/share/qemu/OVMF.fd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uefi_shell_gets_every_character() {
    if !qemu_available("uefi_shell_gets_every_character") {
        return;
    }
    if !Path::new(OVMF).exists() {
        eprintln!("skipping uefi_shell_gets_every_character: no {OVMF} (Debian's ovmf package)");
        return;
    }
    let _serial_guests = TYPING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let serial = dir.path().join("serial.log");
    let spec = MachineSpec {
        firmware: Some(OVMF.into()),
        memory: 256,
        // No NIC, or OVMF spends minutes on network boot before its shell; the id names
        // net_device so that Packer's rule (#6804) does not add the NIC back.
        qemuargs: vec![vec![
            "-device".into(),
            "virtio-rng-pci,id=no-virtio-net".into(),
        ]],
        serial_log: Some(serial.clone()),
        ssh_guest_port: 0,
        ..tcg_spec()
    };
    let machine = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap();
    wait_for_file(&serial, Duration::from_secs(120), "the UEFI shell", |t| {
        t.contains("Shell>")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Lines short enough not to wrap on the 80-column console.
    let lines: Vec<String> = (0..8)
        .map(|i| random_text(COMMAND_LINE_SAFE, 60, 100 + i))
        .collect();
    let command: String = lines.iter().map(|l| format!("echo {l}<enter>")).collect();
    let actions = boot_command::parse(&command).unwrap();
    let started = Instant::now();
    machine
        .send_keys(&actions, Duration::ZERO, &CancellationToken::new())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let last = format!("echo {}", lines[lines.len() - 1]);
    let text = wait_for_file(&serial, Duration::from_secs(20), "the last line", |t| {
        strip_ansi(t).contains(&last)
    })
    .await;
    let clean = strip_ansi(&text);
    let echoed: Vec<&str> = clean
        .split(['\r', '\n'])
        .filter_map(|l| l.trim().strip_prefix("Shell> echo "))
        .collect();
    for line in &lines {
        assert!(
            echoed.contains(&line.as_str()),
            "{line:?} not among {echoed:#?}"
        );
    }
    println!(
        "typed {} keys into the UEFI shell in {elapsed:.2?}",
        actions.len()
    );
}

/// What GRUB has printed "grub>" so many times.
fn prompts(serial: &Path) -> usize {
    read_lossy(serial).matches("grub>").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grub_passes_the_typed_kernel_command_line_to_linux() {
    if !qemu_available("grub_passes_the_typed_kernel_command_line_to_linux") {
        return;
    }
    if !Path::new(DEBIAN_FIXTURE).exists() {
        eprintln!(
            "skipping grub_passes_the_typed_kernel_command_line_to_linux: no {DEBIAN_FIXTURE}"
        );
        return;
    }
    let _serial_guests = TYPING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("debian.qcow2");
    QemuImg::find()
        .unwrap()
        .create_overlay(Path::new(DEBIAN_FIXTURE), &overlay)
        .await
        .unwrap();
    let serial = dir.path().join("serial.log");
    let spec = MachineSpec {
        disks: vec![overlay],
        memory: 512,
        serial_log: Some(serial.clone()),
        ssh_guest_port: 0,
        ..tcg_spec()
    };
    let machine = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap();
    let none = CancellationToken::new();
    let typed = random_text(COMMAND_LINE_SAFE, 300, 42);

    // The menu waits 8 s: take the command line before it boots on its own.
    wait_for_file(&serial, Duration::from_secs(60), "the GRUB menu", |t| {
        t.contains("Press enter to boot the selected OS")
    })
    .await;
    let mut typing_time = Duration::ZERO;
    let mut characters = 0;
    // GRUB reads no keys while it loads a file (keys typed then are lost, under Packer too,
    // which is what <wait>s are for), so each command waits for the prompt after the last.
    for command in [
        "c".to_owned(),
        format!(
            "linux /vmlinuz root=LABEL=kiln-root ro console=ttyS0,115200 kiln.typed={typed}<enter>"
        ),
        "initrd /initrd.img<enter>".to_owned(),
        "boot<enter>".to_owned(),
    ] {
        let before = prompts(&serial);
        let actions = boot_command::parse(&command).unwrap();
        let started = Instant::now();
        machine
            .send_keys(&actions, Duration::ZERO, &none)
            .await
            .unwrap();
        typing_time += started.elapsed();
        characters += actions.len();
        if command != "boot<enter>" {
            wait_for_file(&serial, Duration::from_secs(60), "the grub> prompt", |_| {
                prompts(&serial) > before
            })
            .await;
        }
    }
    let log = wait_for_file(
        &serial,
        Duration::from_secs(120),
        "Linux's command line",
        |t| {
            t.split_once("Command line: ")
                .is_some_and(|(_, rest)| rest.contains('\n'))
        },
    )
    .await;
    let line = log
        .split_once("Command line: ")
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap()
        .trim_end();
    assert_eq!(
        line,
        format!(
            "BOOT_IMAGE=/vmlinuz root=LABEL=kiln-root ro console=ttyS0,115200 kiln.typed={typed}"
        )
    );
    println!(
        "typed {characters} keys into GRUB in {typing_time:.2?} ({:.0} keys/s)",
        characters as f64 / typing_time.as_secs_f64()
    );
    machine.kill().await.unwrap();
}
