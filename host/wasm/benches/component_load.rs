//! Component load and instantiate times: cold (compile), warm (deserialize from the cache),
//! and a fresh sandboxed instance plus one call, which is what every plugin call pays.
//!
//! `cargo bench -p kiln-wasm` prints medians, for a minimal component written in the component
//! text format and for kiln's own shell-local provisioner (Rust, with WASI, ~200 KiB), whose
//! call is a real `prepare` of a config through the build's capabilities.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use std::sync::Arc;

use kiln_core::capabilities::Capabilities;
use kiln_core::ledger::Ledger;
use kiln_core::plugin::{BuildInfo, Provisioner};
use kiln_core::ui::{BuildLog, Progress, Ui};
use kiln_embedded_plugins::{Kind, find};
use kiln_wasm::{Component, LoadOrigin, Runtime, Sandbox};

const COUNTER: &str = include_str!("../testdata/counter.wat");

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Discards what plugins say.
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
    counter();
    shell_local();
}

fn shell_local() {
    let bytes = find(Kind::Provisioner, "shell-local").unwrap().bytes;
    let scratch = tempfile::tempdir().unwrap();
    let cold: Vec<Duration> = (0..5)
        .map(|i| {
            let rt = Runtime::new(scratch.path().join(format!("cold-{i}"))).unwrap();
            let t = Instant::now();
            rt.load(bytes).unwrap();
            t.elapsed()
        })
        .collect();
    let warm_dir = scratch.path().join("warm");
    Runtime::new(warm_dir.clone()).unwrap().load(bytes).unwrap();
    let warm: Vec<Duration> = (0..50)
        .map(|_| {
            let rt = Runtime::new(warm_dir.clone()).unwrap();
            let t = Instant::now();
            let plugin = rt.load(bytes).unwrap();
            assert_eq!(plugin.origin(), LoadOrigin::Cached);
            t.elapsed()
        })
        .collect();
    let rt = Arc::new(Runtime::new(warm_dir).unwrap());
    let plugin = Arc::new(rt.load(bytes).unwrap());
    let component = Component::new(
        Arc::clone(&rt),
        Arc::clone(&plugin),
        "provisioner shell-local",
    );
    let dir = scratch.path().to_path_buf();
    let caps = Arc::new(Capabilities::new(
        BuildInfo {
            name: "bench".into(),
            builder_type: "null".into(),
            run_id: "bench".into(),
            template_dir: dir.clone(),
            output_dir: dir.clone(),
            temp_dir: dir.clone(),
            force: false,
            debug: false,
        },
        BuildLog::new(Arc::new(Quiet), "bench"),
        Arc::new(Ledger::new()),
        kiln_policy::EffectivePolicy::default().grant_for(
            &kiln_policy::PluginIdentity::first_party(
                kiln_policy::PluginKind::Provisioner,
                "shell-local",
            ),
            &kiln_policy::Context {
                template_dir: dir.clone(),
                output_dir: dir.clone(),
                temp_dir: dir,
            },
        ),
        tokio_util::sync::CancellationToken::new(),
        Arc::new(kiln_template::interpolate::Globals::fixed_for_tests()),
    ));
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = r#"{"inline": ["echo hello"], "environment_vars": ["A=b"]}"#;
    let (instantiate, prepare): (Vec<Duration>, Vec<Duration>) = tokio.block_on(async {
        let mut inst = Vec::new();
        let mut prep = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            drop(
                rt.instantiate(
                    &plugin,
                    Sandbox::for_build(Arc::clone(&caps), Default::default()),
                )
                .await
                .unwrap(),
            );
            inst.push(t.elapsed());
            let t = Instant::now();
            component.prepare(config, &caps).await.unwrap();
            prep.push(t.elapsed());
        }
        (inst, prep)
    });
    println!(
        "kiln's shell-local provisioner ({} KiB), median",
        bytes.len() / 1024
    );
    println!(
        "  cold load (compile + write cache): {:>10.3} ms",
        median(cold).as_secs_f64() * 1e3
    );
    println!(
        "  warm load (deserialize from cache): {:>9.3} ms",
        median(warm).as_secs_f64() * 1e3
    );
    println!(
        "  fresh sandboxed store + instantiate: {:>8.3} ms",
        median(instantiate).as_secs_f64() * 1e3
    );
    println!(
        "  instantiate + prepare(config) call:  {:>8.3} ms",
        median(prepare).as_secs_f64() * 1e3
    );
}

fn counter() {
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

    println!("minimal component (component text format), median");
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
