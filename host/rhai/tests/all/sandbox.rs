//! The sandbox: limits, `eval`, cancellation, deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::plugin::{PluginError, Provisioner};
use kiln_core::session::NoSession;
use kiln_rhai::{Limits, RhaiPlugin};

use crate::fixture::{Build, entry, script};

async fn provision(build: &Build, plugin: &RhaiPlugin) -> Result<(), PluginError> {
    plugin
        .provision(
            &entry(plugin.name()),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
}

#[test]
fn eval_is_refused() {
    let err = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) {\n    eval(\"1 + 1\");\n}\n",
        Limits::default(),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"
    provision.rhai:2:5: reserved keyword 'eval' is disabled
      |
    2 |     eval("1 + 1");
      |     ^
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_cannot_be_reached_through_a_function_pointer() {
    let build = Build::new();
    for body in [
        r#"Fn("eval").call("1 + 1")"#,
        r#"call(Fn("eval"), "1 + 1")"#,
    ] {
        let plugin = script(
            "provision.rhai",
            &format!("fn provision(session, data) {{ {body}; }}"),
        );
        let err = provision(&build, &plugin).await.unwrap_err();
        assert!(matches!(err, PluginError::Failed(_)), "{body}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_stops_at_the_operations_limit() {
    let build = Build::new();
    let limits = Limits {
        max_operations: 100_000,
        ..Limits::default()
    };
    let plugin = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) {\n    let i = 0;\n    loop { i += 1; }\n}\n",
        limits,
    )
    .unwrap();
    let err = provision(&build, &plugin).await.unwrap_err();
    assert_eq!(
        err,
        PluginError::Crashed(
            "provision.rhai: the script ran past its limit of 100000 operations (a loop that never ends?)"
                .into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_is_an_error_not_a_crash() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "fn down(n) { let a = [n, n + 1, #{n: n}]; down(n + 1) + a.len() }\nfn provision(session, data) { down(0); }\n",
    );
    let err = provision(&build, &plugin).await.unwrap_err();
    assert_eq!(
        err,
        PluginError::Crashed(
            "provision.rhai: calls nested deeper than the limit of 64 (a recursion that never ends?)"
                .into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_cannot_grow_past_the_limit() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "fn provision(session, data) { let s = \"x\"; loop { s += s; } }",
    );
    let err = provision(&build, &plugin).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Crashed(t) if t.contains("Length of string too large")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_build_stops_a_looping_script() {
    let build = Build::new();
    let limits = Limits {
        max_operations: 0, // unlimited: only the cancellation can stop it
        ..Limits::default()
    };
    let plugin = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) { say(\"looping\"); loop { } }",
        limits,
    )
    .unwrap();
    let cancel = build.cancel.clone();
    let ui = build.ui.clone();
    let canceller = std::thread::spawn(move || {
        while ui.lines().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
    });
    let started = Instant::now();
    assert_eq!(
        provision(&build, &plugin).await,
        Err(PluginError::Cancelled)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_build_ends_a_running_command() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"fn provision(session, data) {
            say("sleeping");
            try { local_exec(["/bin/sleep", "30"]); } catch (e) { say("caught it"); }
            loop { }
        }"#,
    );
    let cancel = build.cancel.clone();
    let ui = build.ui.clone();
    let canceller = std::thread::spawn(move || {
        while ui.lines().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let started = Instant::now();
    assert_eq!(
        provision(&build, &plugin).await,
        Err(PluginError::Cancelled)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_stops_loops_and_commands() {
    let build = Build::new();
    let limits = Limits {
        max_operations: 0,
        time_limit: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let looping = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) { loop { } }",
        limits.clone(),
    )
    .unwrap();
    assert_eq!(
        provision(&build, &looping).await,
        Err(PluginError::Timeout(
            "provision.rhai: provision.rhai ran past its time limit of 300ms".into()
        ))
    );
    let sleeping = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) {\n    local_exec([\"/bin/sleep\", \"30\"]);\n}",
        limits,
    )
    .unwrap();
    let started = Instant::now();
    let err = provision(&build, &sleeping).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Timeout(t) if t.starts_with("provision.rhai:2:5: provision.rhai ran past its time limit of 300ms")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_call_stops_the_script() {
    let build = Build::new();
    let limits = Limits {
        max_operations: 0,
        ..Limits::default()
    };
    let plugin = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) { loop { } }",
        limits,
    )
    .unwrap();
    let caps = build.caps();
    let config = entry("provision.rhai");
    let call = plugin.provision(&config, &caps, Arc::new(NoSession), &[]);
    let timed_out = tokio::time::timeout(Duration::from_millis(100), call).await;
    assert!(timed_out.is_err());
    // The script's thread sees the call's token cancelled, stops and lets go of the
    // capabilities; the build's own token is untouched.
    let started = Instant::now();
    while Arc::strong_count(&caps) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the script still runs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!build.cancel.is_cancelled());
}

#[test]
fn deeply_nested_expressions_are_a_parse_error_not_a_crash() {
    // Parsing happens on the caller's thread (a tokio worker, 2 MiB of stack), so the
    // expression-depth limit is what keeps the parser's recursion in bounds.
    let nested = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    let source = format!("fn provision(session, data) {{ let x = {nested}; }}");
    let err = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || RhaiPlugin::from_source("provision.rhai", &source, Limits::default()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().starts_with("provision.rhai:1:"), "{err}");
    assert!(
        err.to_string()
            .contains("Expression exceeds maximum complexity"),
        "{err}"
    );
}
