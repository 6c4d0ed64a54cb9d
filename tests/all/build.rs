//! `kiln build` end to end, through real components (kiln's own, embedded in the binary, and
//! hostile test plugins from `KILN_PLUGIN_PATH`) and Rhai scripts. Each test runs in a fresh
//! working directory, which is where builds write their output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::kiln::{Kiln, Run, workspace};

/// Writes `template.json` into `dir` and builds it there.
pub(crate) fn build(dir: &Path, template: &serde_json::Value, args: &[&str]) -> Run {
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string_pretty(template).unwrap(),
    )
    .unwrap();
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push("template.json");
    let tmp = private_tmp(dir);
    let run = Kiln::new(dir)
        .env("KILN_CACHE_DIR", &cache_dir())
        .env("KILN_PLUGIN_PATH", kiln_embedded_plugins::test_plugin_dir())
        .env("TMPDIR", tmp.to_str().unwrap())
        .args(&all)
        .run();
    assert_nothing_left_in(&tmp);
    run
}

/// A TMPDIR of the test's own, to prove the build's temporary directory is gone afterwards.
fn private_tmp(dir: &Path) -> std::path::PathBuf {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

fn assert_nothing_left_in(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// One compiled-component cache for the whole test run: compiling is the slow part.
pub(crate) fn cache_dir() -> String {
    workspace()
        .join("target/test-component-cache")
        .display()
        .to_string()
}

fn null_build(name: &str) -> serde_json::Value {
    serde_json::json!({"type": "null", "name": name, "communicator": "none"})
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at its state too.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    !status.is_empty()
        && !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
}

fn wait_for_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not appear within {limit:?}", path.display());
}

#[test]
fn hello_example_runs_through_components_and_rhai() {
    let dir = tempfile::tempdir().unwrap();
    let template = workspace().join("examples/hello/template.json");
    let run = Kiln::new(dir.path())
        .env("KILN_CACHE_DIR", &cache_dir())
        .args(&["build", template.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.transcript());
    // shell-local (a component) ran the template's inline commands on the host.
    assert!(
        run.stdout.contains("    hello: Hello from kiln"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("    hello: This is build hello"),
        "{}",
        run.stdout
    );
    // The Rhai provisioner ran too.
    assert!(
        run.stdout.contains("==> hello: Hello from Rhai"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Build 'hello' finished after"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("--> hello: Did not export anything. This is the null builder"),
        "{}",
        run.stdout
    );
    // The manifest post-processor wrote Packer's schema in the working directory.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("output/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["builds"][0]["name"], "hello");
    assert_eq!(manifest["builds"][0]["builder_type"], "null");
    assert_eq!(manifest["builds"][0]["artifact_id"], "Null");
    assert_eq!(
        manifest["last_run_uuid"],
        manifest["builds"][0]["packer_run_uuid"]
    );
}

#[test]
fn provisioner_failure_names_build_step_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("first")],
        "provisioners": [
            {"type": "shell-local", "inline": ["true"]},
            {"type": "shell-local", "inline": ["echo failing; exit 3"]}
        ]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("--> first: provisioners[1] (shell-local): "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("exit code 3"), "{}", run.stderr);
    assert!(run.stdout.contains("    first: failing"), "{}", run.stdout);
}

#[test]
fn builds_run_in_parallel_and_one_at_a_time_when_asked() {
    // Build "a" waits for a file that build "b" writes: only parallel builds can both pass.
    // Up to 30 s: a VM test on the other core can hold "b" back for seconds.
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("a"), null_build("b")],
        "provisioners": [
            {"type": "shell-local", "only": ["a"], "inline": [
                "for i in $(seq 1 300); do [ -f b-was-here ] && exit 0; sleep 0.1; done; exit 7"
            ]},
            {"type": "shell-local", "only": ["b"], "inline": ["touch b-was-here"]}
        ]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("a: output will be in this color."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Build 'a' finished"), "{}", run.stdout);
    assert!(run.stdout.contains("Build 'b' finished"), "{}", run.stdout);

    std::fs::remove_file(dir.path().join("b-was-here")).unwrap();
    let serial = build(dir.path(), &template, &["-parallel-builds=1"]);
    assert_eq!(serial.code, 1, "{}", serial.transcript());
    assert!(serial.stderr.contains("exit code 7"), "{}", serial.stderr);
}

/// A template whose provisioner fails and whose error-cleanup-provisioner leaves a mark.
fn failing_with_cleanup() -> serde_json::Value {
    serde_json::json!({
        "builders": [null_build("x")],
        "provisioners": [{"type": "shell-local", "inline": ["exit 1"]}],
        "error-cleanup-provisioner": {"type": "shell-local", "inline": ["touch cleaned-up"]}
    })
}

#[test]
fn on_error_cleanup_runs_the_cleanup_provisioner() {
    let dir = tempfile::tempdir().unwrap();
    let run = build(dir.path(), &failing_with_cleanup(), &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("Running the cleanup provisioner"),
        "{}",
        run.stdout
    );
    assert!(dir.path().join("cleaned-up").exists());
}

#[test]
fn on_error_abort_skips_the_cleanup_provisioner() {
    let dir = tempfile::tempdir().unwrap();
    let run = build(dir.path(), &failing_with_cleanup(), &["-on-error=abort"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(!dir.path().join("cleaned-up").exists(), "{}", run.stdout);
    assert!(run.stdout.contains("Aborting"), "{}", run.stdout);
}

#[test]
fn on_error_run_cleanup_provisioner_runs_it_then_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let run = build(
        dir.path(),
        &failing_with_cleanup(),
        &["-on-error=run-cleanup-provisioner"],
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(dir.path().join("cleaned-up").exists(), "{}", run.stdout);
    assert!(run.stdout.contains("Aborting"), "{}", run.stdout);
}

#[test]
fn on_error_ask_without_a_terminal_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    // setsid: no controlling terminal, as in CI, whatever runs the tests.
    let run = build_detached(dir.path(), &failing_with_cleanup(), &["-on-error=ask"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("No terminal to ask on: cleaning up"),
        "{}",
        run.stdout
    );
    assert!(dir.path().join("cleaned-up").exists());
}

/// `build`, in a new session without a controlling terminal.
fn build_detached(dir: &Path, template: &serde_json::Value, args: &[&str]) -> Run {
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string_pretty(template).unwrap(),
    )
    .unwrap();
    let out = Command::new("setsid")
        .arg("--wait")
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .arg("build")
        .args(args)
        .arg("template.json")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KILN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn max_retries_reruns_a_failing_provisioner() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("r")],
        "provisioners": [{"type": "shell-local", "max_retries": 2, "inline": [
            "echo x >> attempts; [ $(wc -l < attempts) -ge 3 ]"
        ]}]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let attempts = std::fs::read_to_string(dir.path().join("attempts")).unwrap();
    assert_eq!(attempts.lines().count(), 3);
}

#[test]
fn a_plugin_that_traps_fails_its_build_with_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("t")],
        "provisioners": [{"type": "trap"}]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("--> t: provisioners[0] (trap): the plugin crashed"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_plugin_that_spins_is_stopped_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("s")],
        "provisioners": [{"type": "spin", "timeout": "2s"}]
    });
    let started = Instant::now();
    let run = build(dir.path(), &template, &[]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("timeout of 2 seconds"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn config_errors_of_a_plugin_are_reported_together_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("c")],
        "provisioners": [{"type": "bad-config"}]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("alpha: "), "{}", run.stderr);
    assert!(run.stderr.contains("beta[1]: "), "{}", run.stderr);
}

#[test]
fn the_ledger_ends_a_process_left_by_a_plugin_that_trapped() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("leaked.pid");
    let template = serde_json::json!({
        "builders": [null_build("l")],
        "provisioners": [{"type": "leak", "pid_file": pid_file.display().to_string()}]
    });
    let run = build(dir.path(), &template, &["--allow-local-exec", "leak"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("crashed"), "{}", run.stderr);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "process {pid} outlived its build");
}

#[test]
fn third_party_plugins_may_not_run_host_commands_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("leaked.pid");
    let template = serde_json::json!({
        "builders": [null_build("d")],
        "provisioners": [{"type": "leak", "pid_file": pid_file.display().to_string()}]
    });
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("denied: local exec of \"/bin/sh\" not allowed by capabilities.local_exec (kiln's default policy) for provisioner leak"),
        "{}",
        run.stderr
    );
    assert!(!pid_file.exists());
}

#[test]
fn ctrl_c_cancels_the_build_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("long")],
        "provisioners": [{"type": "shell-local", "inline": [
            "sleep 300 & echo $! > background.pid; echo $$ > shell.pid; sleep 300"
        ]}]
    });
    std::fs::write(
        dir.path().join("template.json"),
        serde_json::to_string(&template).unwrap(),
    )
    .unwrap();
    let tmp = private_tmp(dir.path());
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "template.json"])
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env("NO_COLOR", "1")
        .env("KILN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let background: i32 =
        wait_for_file(&dir.path().join("background.pid"), Duration::from_secs(120))
            .trim()
            .parse()
            .unwrap();
    let shell: i32 = wait_for_file(&dir.path().join("shell.pid"), Duration::from_secs(10))
        .trim()
        .parse()
        .unwrap();
    let kiln_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(kiln_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stderr.contains("Cancelling build after receiving interrupt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Cleanly cancelled builds after being interrupted."),
        "{stderr}"
    );
    assert!(!alive(background), "background sleep {background} survived");
    assert!(!alive(shell), "shell {shell} survived");
    assert_nothing_left_in(&tmp);
}

/// Builds a template whose one provisioner is the Rhai script `script`, and returns what the
/// user sees, with durations masked.
fn rhai_transcript(script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("step.rhai"), script).unwrap();
    let template = serde_json::json!({
        "builders": [null_build("r")],
        "provisioners": [{"type": "rhai", "script": "step.rhai", "name_to_greet": "world"}]
    });
    let run = build(dir.path(), &template, &[]);
    mask_durations(&run.transcript())
}

/// `after 12 milliseconds 3 microseconds` → `after [duration]`.
fn mask_durations(text: &str) -> String {
    text.lines()
        .map(|line| match line.find(" after ") {
            Some(i) => {
                let rest = &line[i + 7..];
                let end = rest.find([':', '.']).unwrap_or(rest.len());
                let (duration, tail) = rest.split_at(end);
                if duration.split(' ').all(|w| {
                    w.chars().all(|c| c.is_ascii_digit())
                        || w.trim_end_matches('s').ends_with("second")
                        || w.trim_end_matches('s').ends_with("minute")
                        || w.trim_end_matches('s').ends_with("hour")
                }) {
                    format!("{} after [duration]{tail}", &line[..i])
                } else {
                    line.to_owned()
                }
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rhai_parse_error_names_script_line_and_column() {
    insta::assert_snapshot!(rhai_transcript(
        "fn provision(session, data) {\n    let greeting = ;\n}\n"
    ));
}

#[test]
fn rhai_runtime_error_names_script_line_and_column() {
    insta::assert_snapshot!(rhai_transcript(
        "fn provision(session, data) {\n    say(`hello ${config.name_to_greet}`);\n    frobnicate(\"x\");\n}\n"
    ));
}

#[test]
fn a_background_process_neither_holds_up_nor_outlives_its_build() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("bg")],
        "provisioners": [{"type": "shell-local", "inline": [
            "sleep 300 & echo $! > background.pid"
        ]}]
    });
    let started = Instant::now();
    let run = build(dir.path(), &template, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the build waited for its background process"
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("background.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "background process {pid} outlived its build");
}

#[test]
fn machine_readable_build_reports_artifacts_as_packer_does() {
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("m")],
        "provisioners": [{"type": "shell-local", "inline": ["echo a,b"]}]
    });
    let run = build(dir.path(), &template, &["-machine-readable"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest))
        .collect();
    assert!(
        lines.contains(&",ui,message,    m: a%!(PACKER_COMMA)b"),
        "{lines:#?}"
    );
    let artifact: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("m,artifact"))
        .collect();
    assert_eq!(
        artifact,
        [
            "m,artifact-count,1",
            "m,artifact,0,builder-id,fnoeding.null",
            "m,artifact,0,id,Null",
            "m,artifact,0,string,Did not export anything. This is the null builder",
            "m,artifact,0,files-count,0",
            "m,artifact,0,end",
        ]
    );
}

#[test]
fn on_error_ask_retries_the_failed_step_when_told_to_on_the_terminal() {
    // `script` gives kiln a terminal; the answer typed there is `r` (retry), and the retried
    // provisioner passes because its first attempt left a mark.
    let dir = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [null_build("q")],
        "provisioners": [{"type": "shell-local", "inline": [
            "if [ -f tried ]; then echo second try; else touch tried; exit 1; fi"
        ]}]
    });
    std::fs::write(
        dir.path().join("template.json"),
        serde_json::to_string(&template).unwrap(),
    )
    .unwrap();
    let command = format!(
        "{} build -on-error=ask template.json",
        env!("CARGO_BIN_EXE_kiln")
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("KILN_CACHE_DIR", cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Answer once the question is on the terminal (the tried mark shows the step failed).
    let _ = wait_for_file_exists(&dir.path().join("tried"), Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    std::io::Write::write_all(&mut stdin, b"r\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("[r] retry step"), "{stdout}");
    assert!(stdout.contains("q: second try"), "{stdout}");
}

fn wait_for_file_exists(path: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
