//! Real components (written in the component text format) against the runtime's limits.

use std::time::{Duration, Instant};

use crate::{CallError, CallLimits, LoadOrigin, Runtime, Sandbox};

/// A component whose `bump` increments a global and returns it: shows each call's store is new.
const COUNTER: &str = include_str!("../testdata/counter.wat");

/// Loops forever: only the deadline stops it.
const SPIN: &str = r#"
(component
  (core module $m (func (export "run") (loop $l (br $l))))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

/// Grows its memory 1 MiB at a time until refused.
const HOG: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "run")
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

/// Traps at once.
const CRASH: &str = r#"
(component
  (core module $m (func (export "run") unreachable))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid component text")
}

fn runtime(dir: &tempfile::TempDir) -> Runtime {
    Runtime::new(dir.path().join("components")).expect("runtime")
}

fn limited(memory_bytes: usize, wall_time: Duration) -> Sandbox {
    Sandbox {
        limits: CallLimits {
            memory_bytes,
            wall_time,
        },
        ..Sandbox::default()
    }
}

#[tokio::test]
async fn second_load_deserializes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm(COUNTER);
    let first = runtime(&dir).load(&bytes).unwrap();
    assert_eq!(first.origin(), LoadOrigin::Compiled);
    // A new runtime (a second `kiln` run) finds the compiled file.
    let rt = runtime(&dir);
    let second = rt.load(&bytes).unwrap();
    assert_eq!(second.origin(), LoadOrigin::Cached);
    assert_eq!(first.sha256(), second.sha256());
    assert_eq!(first.sha256().len(), 64);
    let cached: Vec<_> = std::fs::read_dir(rt.cache().dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with(first.sha256()) && cached[0].ends_with(".cwasm"),
        "{cached:?}"
    );
    // And the cached component runs.
    let mut call = rt.instantiate(&second, Sandbox::default()).await.unwrap();
    assert_eq!(call.call::<(), (u32,)>("bump", ()).await, Ok((1,)));
}

#[tokio::test]
async fn a_corrupt_cache_file_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm(COUNTER);
    let rt = runtime(&dir);
    let plugin = rt.load(&bytes).unwrap();
    let entry = std::fs::read_dir(rt.cache().dir())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(&entry, b"not a compiled component").unwrap();
    let again = runtime(&dir).load(&bytes).unwrap();
    assert_eq!(again.origin(), LoadOrigin::Compiled);
    assert_eq!(again.sha256(), plugin.sha256());
}

#[tokio::test]
async fn every_call_gets_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&dir);
    let plugin = rt.load(&wasm(COUNTER)).unwrap();
    for _ in 0..3 {
        let mut call = rt.instantiate(&plugin, Sandbox::default()).await.unwrap();
        assert_eq!(call.call::<(), (u32,)>("bump", ()).await, Ok((1,)));
    }
    // Within one call the instance keeps its state.
    let mut call = rt.instantiate(&plugin, Sandbox::default()).await.unwrap();
    call.call::<(), (u32,)>("bump", ()).await.unwrap();
    assert_eq!(call.call::<(), (u32,)>("bump", ()).await, Ok((2,)));
}

#[tokio::test]
async fn a_plugin_that_loops_is_stopped_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&dir);
    let plugin = rt.load(&wasm(SPIN)).unwrap();
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let mut call = rt
        .instantiate(&plugin, limited(64 << 20, limit))
        .await
        .unwrap();
    let result = call.call::<(), ()>("run", ()).await;
    let took = started.elapsed();
    assert_eq!(result, Err(CallError::Timeout(limit)));
    assert!(took >= limit, "stopped early: {took:?}");
    assert!(took < Duration::from_secs(5), "stopped late: {took:?}");
}

#[tokio::test]
async fn a_plugin_over_its_memory_cap_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&dir);
    let plugin = rt.load(&wasm(HOG)).unwrap();
    let mut call = rt
        .instantiate(&plugin, limited(8 << 20, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        call.call::<(), ()>("run", ()).await,
        Err(CallError::MemoryLimit(8 << 20))
    );
}

#[tokio::test]
async fn a_trap_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&dir);
    let plugin = rt.load(&wasm(CRASH)).unwrap();
    let mut call = rt.instantiate(&plugin, Sandbox::default()).await.unwrap();
    match call.call::<(), ()>("run", ()).await {
        Err(CallError::Trap(message)) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(
        call.call::<(), ()>("missing", ()).await,
        Err(CallError::MissingExport("missing".into()))
    );
}

#[test]
fn a_non_component_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let core_module = wat::parse_str("(module)").unwrap();
    let err = runtime(&dir)
        .load(&core_module)
        .err()
        .expect("a core module is not a component");
    assert!(
        err.to_string().starts_with("not a usable plugin component"),
        "{err}"
    );
}
