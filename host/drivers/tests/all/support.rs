//! Fixtures: whether QEMU is here, a TCG machine spec, an observer that records, serial logs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_drivers::qemu::Accelerator;
use kiln_drivers::{Host, MachineSpec, Observer};

/// Makes a missing QEMU a failure rather than a skip.
pub const REQUIRE_QEMU_VAR: &str = "KILN_REQUIRE_QEMU";

/// The bootable Debian image a colleague's script builds (user kiln / password kiln).
pub const DEBIAN_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../target/fixtures/debian-12-sshd.qcow2"
);

/// The boot sector that echoes int 16h keys to COM1 (tests/fixtures/keyecho.S).
pub fn keyecho_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keyecho.bin")
}

/// Whether `qemu-system-x86_64` and `qemu-img` are on PATH; when not, says why the test is
/// skipped, or panics under `KILN_REQUIRE_QEMU=1`.
pub fn qemu_available(test: &str) -> bool {
    let missing: Vec<&str> = ["qemu-system-x86_64", "qemu-img"]
        .into_iter()
        .filter(|p| kiln_drivers::qemu::find_program(p, None).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!("{} not on PATH", missing.join(" and "));
    if std::env::var(REQUIRE_QEMU_VAR).is_ok_and(|v| v == "1") {
        panic!("{test}: {reason}, and {REQUIRE_QEMU_VAR}=1");
    }
    eprintln!("skipping {test}: {reason} (set {REQUIRE_QEMU_VAR}=1 to fail instead)");
    false
}

/// Host facts that make every test machine TCG and headless, whatever this host has.
pub fn tcg_host() -> Host {
    Host {
        kvm_usable: false,
        display_available: false,
        accelerator_override: None,
    }
}

/// A small TCG machine with no disk: it sits in SeaBIOS.
pub fn tcg_spec() -> MachineSpec {
    MachineSpec {
        name: "kiln-test".into(),
        accelerator: Accelerator::Tcg,
        headless: true,
        memory: 64,
        boot_from_cdrom: false,
        ..MachineSpec::default()
    }
}

/// Records what a machine says, by level.
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<(&'static str, String)>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn has(&self, level: &str, line: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|(l, text)| *l == level && text == line)
    }

    pub fn find(&self, level: &str, part: &str) -> Option<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(l, text)| *l == level && text.contains(part))
            .map(|(_, text)| text.clone())
    }
}

impl Observer for Recorder {
    fn say(&self, line: &str) {
        self.lines.lock().unwrap().push(("say", line.to_owned()));
    }
    fn message(&self, line: &str) {
        self.lines
            .lock()
            .unwrap()
            .push(("message", line.to_owned()));
    }
    fn debug(&self, line: &str) {
        self.lines.lock().unwrap().push(("debug", line.to_owned()));
    }
}

/// The file's text (lossy), or empty while it does not exist.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Waits until `pred` holds for the file's text; the text then.
pub async fn wait_for_file(
    path: &Path,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = read_lossy(path);
        if pred(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; {} ends:\n{}",
            path.display(),
            tail(&text, 2000)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Serialises the tests whose guests must keep up with typing: two TCG guests on a 2-core host
/// would measure the host, not the driver.
pub static TYPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Deterministic pseudo-random text over `alphabet` (xorshift; no dependency).
pub fn random_text(alphabet: &str, len: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chars[(state % chars.len() as u64) as usize]
        })
        .collect()
}
