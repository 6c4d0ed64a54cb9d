//! The policy (kiln-policy) in force during `kiln build`: a locked system file, a user file
//! that tries to widen it, a project file that narrows the default, audit mode, and what
//! `kiln policy show` / `explain` print. Every layer's file is the test's own (the system
//! file through `KILN_SYSTEM_POLICY`, the user's through `XDG_CONFIG_HOME`).

use std::path::Path;

use crate::build::cache_dir;
use crate::kiln::{Kiln, Run, workspace};

/// Builds `template` in `dir` with the given policy environment.
fn build_with(dir: &Path, template: &serde_json::Value, system: Option<&Path>) -> Run {
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string_pretty(template).unwrap(),
    )
    .unwrap();
    kiln(dir, system, &["build", "template.json"])
}

fn kiln(dir: &Path, system: Option<&Path>, args: &[&str]) -> Run {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut kiln = Kiln::new(dir)
        .env("KILN_CACHE_DIR", &cache_dir())
        .env("XDG_CONFIG_HOME", config.to_str().unwrap());
    if let Some(system) = system {
        kiln = kiln.env("KILN_SYSTEM_POLICY", system.to_str().unwrap());
    }
    kiln.args(args).run()
}

fn shell_local() -> serde_json::Value {
    serde_json::json!({
        "builders": [{"type": "null", "name": "b", "communicator": "none"}],
        "provisioners": [{"type": "shell-local", "inline": ["echo ran on the host"]}],
    })
}

#[test]
fn a_locked_system_policy_denies_a_communicator_target_and_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system.toml");
    std::fs::write(
        &system,
        "version = 1\nlocked = true\n[capabilities]\ncommunicator = [\"10.0.0.0/8:22\"]\n",
    )
    .unwrap();
    let template = serde_json::json!({
        "builders": [{"type": "null", "name": "b", "ssh_host": "127.0.0.1", "ssh_port": 2222,
                      "ssh_username": "root", "ssh_password": "not-tried-secret", "ssh_timeout": "5s"}],
        "provisioners": [{"type": "shell", "inline": ["true"]}],
    });
    let run = build_with(dir.path(), &template, Some(&system));
    assert_eq!(run.code, 1, "{}", run.transcript());
    let expected = format!(
        "denied: communicator 127.0.0.1:2222 not in capabilities.communicator ({}) for builder null",
        system.display()
    );
    assert!(
        run.stderr.contains(&expected),
        "{expected}\n{}",
        run.transcript()
    );
    // Denied before any attempt to connect.
    assert!(!run.stdout.contains("Waiting for SSH"), "{}", run.stdout);
}

#[test]
fn a_user_file_cannot_widen_a_locked_system_policy() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system.toml");
    std::fs::write(
        &system,
        "version = 1\nlocked = true\n[capabilities]\nlocal_exec = false\n",
    )
    .unwrap();
    let user = dir.path().join("config/kiln/policy.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "version = 1\n[capabilities]\nlocal_exec = true\n").unwrap();
    let run = build_with(dir.path(), &shell_local(), Some(&system));
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains(&user.display().to_string())
            && run.stderr.contains(&system.display().to_string())
            && run.stderr.contains("local_exec"),
        "{}",
        run.transcript()
    );
    assert!(!run.stdout.contains("ran on the host"));
}

#[test]
fn a_project_policy_narrows_the_default_and_audit_mode_only_reports() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("kiln.policy.toml");
    std::fs::write(
        &project,
        "version = 1\n[capabilities]\nlocal_exec = false\n",
    )
    .unwrap();
    let run = build_with(dir.path(), &shell_local(), None);
    assert_eq!(run.code, 1, "{}", run.transcript());
    // shell-local's first host command is the chmod of its script.
    let denial = format!(
        "local exec of \"chmod\" not allowed by capabilities.local_exec ({}) for provisioner shell-local",
        project.display()
    );
    assert!(
        run.stderr.contains(&denial),
        "{denial}\n{}",
        run.transcript()
    );

    std::fs::write(
        &project,
        "version = 1\nmode = \"audit\"\n[capabilities]\nlocal_exec = false\n",
    )
    .unwrap();
    let run = build_with(dir.path(), &shell_local(), None);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("ran on the host"), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("audit: denied: {denial}")),
        "{}",
        run.transcript()
    );
}

#[test]
fn a_bad_policy_file_is_an_error_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kiln.policy.toml"),
        "version = 1\n[capabilities]\nlocal_exek = false\n",
    )
    .unwrap();
    let run = build_with(dir.path(), &shell_local(), None);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let place = format!("{}:3:1", dir.path().join("kiln.policy.toml").display());
    assert!(
        run.stderr.contains(&place) && run.stderr.contains("local_exek"),
        "{place}\n{}",
        run.transcript()
    );
}

#[test]
fn policy_show_and_explain_name_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let system = workspace().join("examples/policy/system.toml");
    let run = kiln(dir.path(), Some(&system), &["policy", "show"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("locked = true"), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("communicator = [\"10.0.0.0/8:22\"]")
                && l.ends_with(&system.display().to_string())),
        "{}",
        run.stdout
    );
    let run = kiln(
        dir.path(),
        Some(&system),
        &["policy", "explain", "--kind", "provisioner", "rhai"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .starts_with("provisioner rhai may not run: denied: "),
        "{}",
        run.stdout
    );
    let run = kiln(dir.path(), None, &["policy", "explain", "shell-local"]);
    assert!(
        run.stdout.starts_with("provisioner shell-local may run.")
            && run.stdout.contains("local_exec = true"),
        "{}",
        run.stdout
    );
}
