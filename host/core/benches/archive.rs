//! tar.gz throughput: single-threaded flate2 against kiln's parallel gzip writer, on one
//! semi-compressible file (256 MiB unless `KILN_BENCH_MIB` says otherwise) at level 6, the
//! level Packer's compress and vagrant post-processors use. A baseline for comparing with
//! Packer's pgzip.
//!
//! `cargo bench -p kiln-core --bench archive` prints input MB/s and the compressed size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::archive::{self, ArchiveFormat, ArchiveRequest, ParallelGzEncoder};
use kiln_core::ui::{BuildLog, Progress, Ui};

const LEVEL: u32 = 6;

/// Half pseudo-random bytes, half repeated text, in 4 KiB runs: compresses to roughly 55%,
/// about what a VM disk with data on it does.
fn write_sample(path: &Path, bytes: u64) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let text =
        b"The quick brown fox jumps over the lazy dog; packer build -only=qemu jessie.json\n";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut run = vec![0u8; 4096];
    let mut written = 0u64;
    let mut i = 0u64;
    while written < bytes {
        if i.is_multiple_of(2) {
            for chunk in run.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
        } else {
            for (j, b) in run.iter_mut().enumerate() {
                *b = text[(j + i as usize) % text.len()];
            }
        }
        out.write_all(&run).unwrap();
        written += run.len() as u64;
        i += 1;
    }
    out.flush().unwrap();
}

fn tar_into<W: Write>(out: W, input: &Path) -> W {
    let mut tar = tar::Builder::new(out);
    tar.append_path_with_name(input, "disk.img").unwrap();
    tar.into_inner().unwrap()
}

fn report(name: &str, input: u64, output: &Path, elapsed: Duration) {
    let out = std::fs::metadata(output).unwrap().len();
    println!(
        "{name:<44} {:>7.1} MB/s  {:>6.2} s  {:>5.1}% of input",
        input as f64 / 1e6 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        out as f64 / input as f64 * 100.0,
    );
}

struct Quiet;

impl Progress for Quiet {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl Ui for Quiet {
    fn say(&self, _: &str, _: &str) {}
    fn message(&self, _: &str, _: &str) {}
    fn error(&self, _: &str, _: &str) {}
    fn machine(&self, _: &str, _: &str, _: &[&str]) {}
    fn progress(&self, _: &str, _: &str, _: u64) -> Box<dyn Progress> {
        Box::new(Quiet)
    }
    fn ask(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and should not
    // spend a minute compressing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mib: u64 = std::env::var("KILN_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("disk.img");
    let bytes = mib << 20;
    write_sample(&input, bytes);
    println!("tar.gz of a {mib} MiB semi-compressible file, level {LEVEL}, {threads} cores");

    let output = dir.path().join("flate2.tar.gz");
    let t = Instant::now();
    let file = BufWriter::with_capacity(1 << 20, File::create(&output).unwrap());
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(LEVEL));
    tar_into(gz, &input).finish().unwrap().flush().unwrap();
    report("flate2 GzEncoder, 1 thread", bytes, &output, t.elapsed());

    for n in [1, threads] {
        let output = dir.path().join(format!("parallel-{n}.tar.gz"));
        let t = Instant::now();
        let file = BufWriter::with_capacity(1 << 20, File::create(&output).unwrap());
        let gz = ParallelGzEncoder::new(file, LEVEL, n).unwrap();
        tar_into(gz, &input).finish().unwrap().flush().unwrap();
        report(
            &format!("ParallelGzEncoder, {n} worker thread(s)"),
            bytes,
            &output,
            t.elapsed(),
        );
    }

    let output = dir.path().join("create.tar.gz");
    let log = BuildLog::new(Arc::new(Quiet), "bench");
    let request = ArchiveRequest {
        entries: vec![(input.clone(), "disk.img".to_owned())],
        output: output.clone(),
        format: ArchiveFormat::TarGz,
        level: Some(LEVEL),
    };
    let t = Instant::now();
    archive::create(&request, &log).unwrap();
    report(
        "archive::create (tar.gz, with fsync)",
        bytes,
        &output,
        t.elapsed(),
    );
}
