//! kiln-ssh's transfers on their own, against a real sshd on loopback (kiln-test-peers): the
//! connection, the first command on it and a second, and uploads of one large file, a directory of small files and a tiny
//! file, with scp and with sftp. `scripts/bench/ssh-transfer` measures the same through
//! `kiln build`; this shows how much of that is the library.
//!
//! `cargo bench -p kiln-ssh --bench transfer` prints medians of `KILN_BENCH_RUNS` (5) runs after
//! one warm-up; `KILN_BENCH_BIG_MIB` (256) and `KILN_BENCH_SMALL_FILES` (2000) size the data,
//! `KILN_BENCH_CIPHERS` sets `ssh_ciphers`. Skips when sshd is not installed. Set `TMPDIR=/dev/shm`
//! to keep the remote file system's cost (ext4 creating files it just deleted) out of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_ssh::{Client, Options, Quiet};
use kiln_test_peers::{Sshd, sshd_available};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Bytes that do not compress (an xorshift stream).
fn fill(out: &mut [u8], state: &mut u64) {
    for chunk in out.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// `big.bin`, `small/dNN/fNNNN.dat` (1-8 KiB each, 10 subdirectories) and `tiny.txt`.
fn make_data(root: &Path, big_mib: usize, small_files: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut big = vec![0u8; big_mib << 20];
    fill(&mut big, &mut state);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    for i in 0..small_files {
        let dir = root.join(format!("small/d{:02}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        let size = 1024 + usize::try_from(state % 7169).unwrap();
        let mut bytes = vec![0u8; size];
        fill(&mut bytes, &mut state);
        std::fs::write(dir.join(format!("f{i:04}.dat")), &bytes).unwrap();
    }
    std::fs::write(root.join("tiny.txt"), b"hello\n").unwrap();
}

/// The password user when it exists: a fresh account whose shell starts no profile scripts
/// (the current user's may run slow ones, such as `pyenv init`, before each command).
fn user(sshd: &Sshd) -> &str {
    sshd.password_user().map_or(sshd.user(), |(name, _)| name)
}

/// `KILN_BENCH_CIPHERS` (comma-separated) as `ssh_ciphers`, or russh's preference.
fn ciphers() -> Vec<String> {
    std::env::var("KILN_BENCH_CIPHERS")
        .map(|c| c.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

fn config(sshd: &Sshd, method: &str) -> kiln_ssh::Config {
    let options: Options = serde_json::from_value(serde_json::json!({
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "ssh_username": user(sshd),
        "ssh_private_key_file": sshd.client_key(),
        "ssh_file_transfer_method": method,
        "ssh_ciphers": ciphers(),
    }))
    .unwrap();
    options.into_config(&|p: &str| p.into(), None).unwrap()
}

fn print(label: &str, samples: Vec<Duration>, bytes: u64) {
    let (min, max) = (
        *samples.iter().min().unwrap(),
        *samples.iter().max().unwrap(),
    );
    let med = median(samples);
    let rate = match bytes {
        0 => String::new(),
        _ => format!(
            "  {:7.1} MB/s",
            bytes as f64 / 1e6 / med.as_secs_f64().max(1e-9)
        ),
    };
    println!(
        "  {label:<18} median {:8.1} ms  (min {:.1}, max {:.1}){rate}",
        med.as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

fn main() {
    if let Err(why) = sshd_available() {
        println!("transfer bench skipped: {why}");
        return;
    }
    let runs = env_number("KILN_BENCH_RUNS", 5).max(1);
    let big_mib = env_number("KILN_BENCH_BIG_MIB", 256);
    let small_files = env_number("KILN_BENCH_SMALL_FILES", 2000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sshd = Sshd::start().unwrap();
    let local = tempfile::tempdir().unwrap();
    make_data(local.path(), big_mib, small_files);
    let remote = sshd.dir().join("remote");
    let big_size = (big_mib as u64) << 20;
    let small_size = kiln_ssh::local_size(&local.path().join("small"));
    println!(
        "kiln-ssh uploads to sshd on 127.0.0.1 as {}: {runs} runs after a warm-up; big \
         {big_mib} MiB, dir {small_files} files ({:.1} MB)",
        user(&sshd),
        small_size as f64 / 1e6
    );
    for method in ["scp", "sftp"] {
        println!("{method}:");
        let mut connects = Vec::new();
        let mut execs = Vec::new();
        let mut execs2 = Vec::new();
        let mut uploads: [Vec<Duration>; 3] = Default::default();
        let payloads = [
            ("big.bin", big_size),
            ("small", small_size),
            ("tiny.txt", 6),
        ];
        runtime.block_on(async {
            for run in 0..=runs {
                let start = Instant::now();
                let client = Client::connect(config(&sshd, method), Arc::new(Quiet))
                    .await
                    .unwrap();
                let connected = start.elapsed();
                let start = Instant::now();
                client.exec_captured("true", None).await.unwrap();
                let exec = start.elapsed();
                let start = Instant::now();
                client.exec_captured("true", None).await.unwrap();
                let exec2 = start.elapsed();
                let mut took = [Duration::ZERO; 3];
                for (i, (name, _)) in payloads.iter().enumerate() {
                    let _ = std::fs::remove_dir_all(&remote);
                    std::fs::create_dir_all(&remote).unwrap();
                    // Writable by the user the bench logs in as.
                    std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o777))
                        .unwrap();
                    let target = remote.join(name);
                    let start = Instant::now();
                    client
                        .upload(&local.path().join(name), target.to_str().unwrap(), &|_| {})
                        .await
                        .unwrap();
                    took[i] = start.elapsed();
                    assert_eq!(
                        kiln_ssh::local_size(&target),
                        kiln_ssh::local_size(&local.path().join(name))
                    );
                }
                client.close().await;
                if run > 0 {
                    connects.push(connected);
                    execs.push(exec);
                    execs2.push(exec2);
                    for (all, one) in uploads.iter_mut().zip(took) {
                        all.push(one);
                    }
                }
            }
        });
        print("connect", connects, 0);
        print("first exec `true`", execs, 0);
        print("second exec", execs2, 0);
        let [big, dir, tiny] = uploads;
        print("upload big", big, big_size);
        print("upload dir", dir, small_size);
        print("upload tiny", tiny, 0);
    }
}
