//! Component load and instantiate times: cold (compile), warm (deserialize from the cache),
//! and a fresh sandboxed instance plus one call, which is what every plugin call pays.
//!
//! `cargo bench -p kiln-wasm` prints medians. The component is a minimal one written in the
//! component text format; first-party plugins (Rust, with WASI) are larger and will be
//! measured here too once they exist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use kiln_wasm::{LoadOrigin, Runtime, Sandbox};

const COUNTER: &str = include_str!("../testdata/counter.wat");

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let bytes = wat::parse_str(COUNTER).unwrap();
    let scratch = tempfile::tempdir().unwrap();

    let cold: Vec<Duration> = (0..10)
        .map(|i| {
            let rt = Runtime::new(scratch.path().join(format!("cold-{i}"))).unwrap();
            let t = Instant::now();
            let plugin = rt.load(&bytes).unwrap();
            assert_eq!(plugin.origin(), LoadOrigin::Compiled);
            t.elapsed()
        })
        .collect();

    let warm_dir = scratch.path().join("warm");
    Runtime::new(warm_dir.clone())
        .unwrap()
        .load(&bytes)
        .unwrap();
    let warm: Vec<Duration> = (0..50)
        .map(|_| {
            let rt = Runtime::new(warm_dir.clone()).unwrap();
            let t = Instant::now();
            let plugin = rt.load(&bytes).unwrap();
            assert_eq!(plugin.origin(), LoadOrigin::Cached);
            t.elapsed()
        })
        .collect();

    let rt = Runtime::new(warm_dir).unwrap();
    let plugin = rt.load(&bytes).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls: Vec<Duration> = tokio.block_on(async {
        let mut samples = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            let mut call = rt.instantiate(&plugin, Sandbox::default()).await.unwrap();
            let (n,): (u32,) = call.call("bump", ()).await.unwrap();
            assert_eq!(n, 1);
            drop(call);
            samples.push(t.elapsed());
        }
        samples
    });

    println!("component load and instantiate (median)");
    println!(
        "  cold load (compile + write cache): {:>10.3} ms",
        median(cold).as_secs_f64() * 1e3
    );
    println!(
        "  warm load (deserialize from cache): {:>9.3} ms",
        median(warm).as_secs_f64() * 1e3
    );
    println!(
        "  fresh store + instantiate + call:   {:>9.3} ms",
        median(calls).as_secs_f64() * 1e3
    );
}
