//! `kiln build` over SSH: the null builder connecting to a real OpenSSH server on loopback
//! (kiln-test-peers), the shell and file provisioners and Rhai scripts working through the
//! session. Each test gets its own sshd, stopped even when the test fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use kiln_test_peers::{Sshd, skip_without_sshd};

use crate::build::build;
use crate::kiln::{Run, workspace};

/// A null builder that connects to `sshd` with its client key.
fn ssh_builder(sshd: &Sshd, extra: serde_json::Value) -> serde_json::Value {
    let mut builder = serde_json::json!({
        "type": "null",
        "name": "host",
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "ssh_username": sshd.user(),
        "ssh_private_key_file": sshd.client_key(),
        "ssh_timeout": "30s",
    });
    let object = builder.as_object_mut().unwrap();
    object.extend(extra.as_object().unwrap().clone());
    builder
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.transcript());
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mode(path: impl AsRef<Path>) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A small tree the file provisioner uploads.
fn make_site(dir: &Path) {
    std::fs::create_dir_all(dir.join("site/conf")).unwrap();
    std::fs::write(dir.join("site/index.html"), "<h1>kiln</h1>\n").unwrap();
    std::fs::write(dir.join("site/conf/app.conf"), "port = 8080\n").unwrap();
    std::fs::write(dir.join("site/start.sh"), "#!/bin/sh\necho started\n").unwrap();
    std::fs::set_permissions(
        dir.join("site/start.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

fn shell_and_file(method: &str) {
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    make_site(dir);
    std::fs::write(
        dir.join("setup.sh"),
        format!("#!/bin/sh\r\necho \"script sees $GREETING\" # {method}\r\n"),
    )
    .unwrap();
    let remote = sshd.dir().join("remote");
    let r = remote.display().to_string();
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({"ssh_file_transfer_method": method}))],
        "provisioners": [
            {"type": "shell", "inline": [
                format!("mkdir -p {r}/with-name {r}/contents"),
                "echo \"name=$PACKER_BUILD_NAME type=$PACKER_BUILDER_TYPE kiln=$KILN_BUILDER_TYPE\"",
                "printf 'value=[%s]\\n' \"$TRICKY\"",
            ],
             "environment_vars": ["TRICKY=it's \"quoted\" $HOME `x` a  b"]},
            {"type": "file", "source": "site", "destination": format!("{r}/with-name")},
            {"type": "file", "source": "site/", "destination": format!("{r}/contents")},
            {"type": "file", "content": "written by kiln\n", "destination": format!("{r}/motd")},
            {"type": "shell", "script": "setup.sh", "environment_vars": ["GREETING=hello there"]},
            {"type": "file", "direction": "download", "source": format!("{r}/with-name/site/"),
             "destination": "back/"},
        ],
    });
    let run = build(dir, &template, &[]);
    ok(&run);
    let out = &run.stdout;
    for expected in [
        "==> host: Waiting for SSH to become available...",
        "==> host: Connected to SSH!",
        "==> host: Provisioning with shell script: setup.sh",
        "    host: name=host type=null kiln=null",
        "    host: value=[it's \"quoted\" $HOME `x` a  b]",
        "    host: script sees hello there",
    ] {
        assert!(out.contains(expected), "{expected:?} missing:\n{out}");
    }
    // A directory without a trailing slash lands under its name; with one, its contents.
    assert_eq!(
        read(remote.join("with-name/site/index.html")),
        "<h1>kiln</h1>\n"
    );
    assert_eq!(read(remote.join("contents/conf/app.conf")), "port = 8080\n");
    assert_eq!(mode(remote.join("contents/start.sh")), 0o755);
    assert_eq!(read(remote.join("motd")), "written by kiln\n");
    // The download brought the tree back, modes kept.
    assert_eq!(read(dir.join("back/conf/app.conf")), "port = 8080\n");
    assert_eq!(mode(dir.join("back/start.sh")), 0o755);
    // The scripts were cleaned up on the machine.
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("script_") && read(e.path()).contains(&format!("# {method}"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn shell_and_file_provision_a_host_over_scp() {
    if skip_without_sshd("shell_and_file_provision_a_host_over_scp") {
        return;
    }
    shell_and_file("scp");
}

#[test]
fn shell_and_file_provision_a_host_over_sftp() {
    if skip_without_sshd("shell_and_file_provision_a_host_over_sftp") {
        return;
    }
    shell_and_file("sftp");
}

#[test]
fn password_auth_and_the_password_never_shows() {
    if skip_without_sshd("password_auth_and_the_password_never_shows") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let Some((user, password)) = sshd.password_user() else {
        assert!(
            !kiln_test_peers::require_sshd(),
            "run scripts/test-peers/setup"
        );
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [{
            "type": "null", "name": "host", "ssh_host": sshd.host(), "ssh_port": sshd.port(),
            "ssh_username": user, "ssh_password": password, "ssh_timeout": "30s",
        }],
        "provisioners": [{"type": "shell", "inline": [
            "echo \"user=$(id -un)\"",
            format!("echo 'the password is {password}'"),
        ]}],
    });
    let run = build(work.path(), &template, &["-machine-readable"]);
    ok(&run);
    assert!(run.stdout.contains("user=kiln-ssh-test"), "{}", run.stdout);
    assert!(
        run.stdout.contains("the password is <sensitive>"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "{}",
        run.transcript()
    );
}

#[test]
fn wrong_credentials_fail_clearly_without_hanging() {
    if skip_without_sshd("wrong_credentials_fail_clearly_without_hanging") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [{
            "type": "null", "name": "host", "ssh_host": sshd.host(), "ssh_port": sshd.port(),
            "ssh_username": "nobody-here", "ssh_password": "not-this-one",
            "ssh_handshake_attempts": 3, "ssh_timeout": "1m",
        }],
        "provisioners": [{"type": "shell", "inline": ["true"]}],
    });
    let started = Instant::now();
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(started.elapsed() < Duration::from_secs(30));
    let expected = format!(
        "SSH to nobody-here@127.0.0.1:{} failed 3 handshake attempts (ssh_handshake_attempts); the last one: authentication as \"nobody-here\" failed",
        sshd.port()
    );
    assert!(
        run.stderr.contains(&expected) || run.stdout.contains(&expected),
        "{}",
        run.transcript()
    );
}

#[test]
fn a_failing_command_fails_the_build_with_packers_words() {
    if skip_without_sshd("a_failing_command_fails_the_build_with_packers_words") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [
            {"type": "shell", "inline": ["echo before", "exit 3"]},
            {"type": "shell", "inline": ["echo never"]},
        ],
    });
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"),
        "{}",
        run.transcript()
    );
    assert!(run.stdout.contains("    host: before"));
    assert!(!run.stdout.contains("never"));
    // valid_exit_codes accepts it.
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [{"type": "shell", "inline": ["exit 3"], "valid_exit_codes": [0, 3]}],
    });
    ok(&build(work.path(), &template, &[]));
}

#[test]
fn expect_disconnect_survives_a_dropped_connection() {
    if skip_without_sshd("expect_disconnect_survives_a_dropped_connection") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    // Killing the sshd process that serves this connection drops it, as a reboot does.
    let drop_connection = "kill -9 $PPID; sleep 10";
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [
            {"type": "shell", "inline": [drop_connection], "expect_disconnect": true},
            {"type": "shell", "inline": ["echo after the reconnect"]},
        ],
    });
    let run = build(work.path(), &template, &[]);
    ok(&run);
    assert!(
        run.stdout.contains("    host: after the reconnect"),
        "{}",
        run.stdout
    );

    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [{"type": "shell", "inline": [drop_connection]}],
    });
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("Script disconnected unexpectedly."),
        "{}",
        run.transcript()
    );
}

#[test]
fn many_files_and_a_large_file_upload() {
    if skip_without_sshd("many_files_and_a_large_file_upload") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for i in 0..600 {
        let sub = dir.join(format!("many/d{}", i % 12));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let big: Vec<u8> = (0..48 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let remote = sshd.dir().join("up");
    let r = remote.display().to_string();
    for method in ["scp", "sftp"] {
        let template = serde_json::json!({
            "builders": [ssh_builder(&sshd, serde_json::json!({"ssh_file_transfer_method": method}))],
            "provisioners": [
                {"type": "shell", "inline": [format!("rm -rf {r} && mkdir -p {r}")]},
                {"type": "file", "source": "many", "destination": &r},
                {"type": "file", "source": "big.bin", "destination": format!("{r}/big.bin")},
            ],
        });
        let run = build(dir, &template, &[]);
        ok(&run);
        // A large upload reports its size and speed when it is done.
        let progress = format!(
            "    host: Uploading {}: 48.0 MiB in ",
            dir.join("big.bin").display()
        );
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&progress) && l.ends_with(" MiB/s)")),
            "{progress:?}:\n{}",
            run.stdout
        );
        for i in [0, 299, 599] {
            assert_eq!(
                read(remote.join(format!("many/d{}/f{i}.txt", i % 12))),
                format!("file {i}\n")
            );
        }
        let count: usize = (0..12)
            .map(|d| {
                std::fs::read_dir(remote.join(format!("many/d{d}")))
                    .unwrap()
                    .count()
            })
            .sum();
        assert_eq!(count, 600, "{method}");
        assert!(
            std::fs::read(remote.join("big.bin")).unwrap() == big,
            "{method}"
        );
    }
}

#[test]
fn agent_auth_uses_the_running_agent() {
    if skip_without_sshd("agent_auth_uses_the_running_agent") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _stop = Stop(&mut agent);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(sshd.client_key())
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let template = serde_json::json!({
        "builders": [{
            "type": "null", "name": "host", "ssh_host": sshd.host(), "ssh_port": sshd.port(),
            "ssh_username": sshd.user(), "ssh_agent_auth": true, "ssh_timeout": "30s",
        }],
        "provisioners": [{"type": "shell", "inline": ["echo via the agent"]}],
    });
    std::fs::write(
        work.path().join("template.json"),
        serde_json::to_string(&template).unwrap(),
    )
    .unwrap();
    let run = crate::kiln::Kiln::new(work.path())
        .env("SSH_AUTH_SOCK", socket.to_str().unwrap())
        .args(&["build", "template.json"])
        .run();
    ok(&run);
    assert!(
        run.stdout.contains("    host: via the agent"),
        "{}",
        run.stdout
    );
}

/// Kills a helper process when the test ends, however it ends.
struct Stop<'a>(&'a mut std::process::Child);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_rhai_builder_uses_the_temporary_key_and_clears_it_afterwards() {
    if skip_without_sshd("a_rhai_builder_uses_the_temporary_key") {
        return;
    }
    // The password user's own ~/.ssh/authorized_keys, which ssh_clear_authorized_keys edits
    // with Packer's command.
    let (user, _) = kiln_test_peers::PASSWORD_USER;
    let home = Path::new("/home").join(user);
    if !home.is_dir() {
        assert!(
            !kiln_test_peers::require_sshd(),
            "run scripts/test-peers/setup"
        );
        return;
    }
    let _ = std::fs::remove_dir_all(home.join(".ssh"));
    let sshd = Sshd::builder()
        .config("AuthorizedKeysFile .ssh/authorized_keys")
        .start()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    // The builder authorises the build's temporary key (as a preseed file would, through
    // {{ .SSHPublicKey }}), then connects with no password or key of its own.
    std::fs::write(
        work.path().join("builder.rhai"),
        r#"
fn run(hooks) {
    let key = temporary_public_key();
    let code = local_exec(["/bin/sh", "-c",
        "mkdir -p \"$HOME_DIR/.ssh\" && printf '%s\n' \"$KEY\" >> \"$HOME_DIR/.ssh/authorized_keys\" && chown -R \"$USER_NAME\" \"$HOME_DIR/.ssh\""],
        #{env: #{KEY: key, HOME_DIR: config.home, USER_NAME: config.user}});
    if code != 0 { throw "could not authorise the key"; }
    let session = hooks.connect(#{ssh_host: config.host, ssh_port: config.port,
                                  ssh_username: config.user, ssh_timeout: "30s",
                                  ssh_clear_authorized_keys: true});
    hooks.provision(session);
    #{builder_id: "kiln.test", id: "temporary-key"}
}
"#,
    )
    .unwrap();
    let template = serde_json::json!({
        "builders": [{
            "type": "rhai", "name": "host", "script": "builder.rhai",
            "host": sshd.host(), "port": sshd.port(), "user": user, "home": home,
        }],
        "provisioners": [{"type": "shell", "inline": [
            "echo connected as $(id -un) with $(grep -c kiln_ ~/.ssh/authorized_keys) temporary key",
        ]}],
    });
    let run = build(work.path(), &template, &[]);
    ok(&run);
    for expected in [
        "==> host: Creating a temporary ed25519 SSH key for this build...",
        "    host: connected as kiln-ssh-test with 1 temporary key",
        "==> host: Trying to remove ephemeral keys from authorized_keys files",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?}:\n{}",
            run.stdout
        );
    }
    let authorized = read(home.join(".ssh/authorized_keys"));
    assert!(
        !authorized.contains("kiln_"),
        "the temporary key is still authorised: {authorized}"
    );
    let _ = std::fs::remove_dir_all(home.join(".ssh"));
}

#[test]
fn the_rhai_example_creates_a_user_and_its_config_over_ssh() {
    if skip_without_sshd("the_rhai_example_creates_a_user_and_its_config_over_ssh") {
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            !kiln_test_peers::require_sshd(),
            "needs root to create a user"
        );
        return;
    }
    let sshd = Sshd::start().unwrap();
    let user = format!("kiln-rhai-{}", std::process::id() % 100_000);
    let _remove = RemoveUser(user.clone());
    let config_file = sshd.dir().join("etc/app.conf");
    let example = workspace().join("examples/rhai-provisioner");
    let tmp = tempfile::tempdir().unwrap();
    let run = crate::kiln::Kiln::new(tmp.path())
        .args(&[
            "build",
            &format!("-var=ssh_port={}", sshd.port()),
            &format!("-var=ssh_username={}", sshd.user()),
            &format!("-var=ssh_private_key_file={}", sshd.client_key().display()),
            &format!("-var=user={user}"),
            &format!("-var=config_file={}", config_file.display()),
            example.join("ssh.json").to_str().unwrap(),
        ])
        .run();
    ok(&run);
    assert!(
        run.stdout.contains(&format!(
            "Checked: {user} exists and owns {} (mode 640, 3 settings)",
            config_file.display()
        )),
        "{}",
        run.stdout
    );
    let text = read(&config_file);
    assert!(
        text.contains("listen = 127.0.0.1:8080\n") && text.contains(&format!("/var/lib/{user}")),
        "{text}"
    );
    assert_eq!(mode(&config_file), 0o640);
}

/// Removes a user the test created, however the test ends.
struct RemoveUser(String);

impl Drop for RemoveUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .args(["-r", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn the_ssh_host_example_provisions_a_host() {
    if skip_without_sshd("the_ssh_host_example_provisions_a_host") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let remote = sshd.dir().join("example");
    let example = workspace().join("examples/ssh-host/template.json");
    for method in ["scp", "sftp"] {
        let _ = std::fs::remove_dir_all(&remote);
        let run = crate::kiln::Kiln::new(work.path())
            .args(&[
                "build",
                "-force",
                &format!("-var=ssh_port={}", sshd.port()),
                &format!("-var=ssh_username={}", sshd.user()),
                &format!("-var=ssh_private_key_file={}", sshd.client_key().display()),
                &format!("-var=ssh_file_transfer_method={method}"),
                &format!("-var=remote_dir={}", remote.display()),
                example.to_str().unwrap(),
            ])
            .run();
        ok(&run);
        assert!(
            run.stdout
                .contains("    existing-host: Hello from kiln: build existing-host (null) on "),
            "{}",
            run.stdout
        );
        let report = read(work.path().join("report.txt"));
        assert!(
            report.contains("build: existing-host\n")
                && report.contains("./etc/app.conf\n")
                && report.contains("./motd\n"),
            "{report}"
        );
    }
}

#[test]
fn a_link_out_of_the_template_directory_is_not_uploaded() {
    if skip_without_sshd("a_link_out_of_the_template_directory_is_not_uploaded") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("site")).unwrap();
    std::fs::write(work.path().join("site/index.html"), "ok\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", work.path().join("site/hostname")).unwrap();
    let remote = sshd.dir().join("linked");
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [{"type": "file", "source": "site/", "destination": remote}],
    });
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("denied: read /etc/hostname not in capabilities.read_only or capabilities.read_write (kiln's default policy) for provisioner file")
            && run.stderr.contains("(through the link "),
        "{}",
        run.transcript()
    );
    assert!(!remote.join("hostname").exists());
}

/// Lists a tree as `path mode [content]` lines, for comparing what two tools made.
fn tree_listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.push(format!("{rel}/ {:o}", mode(&path)));
                stack.push(path);
            } else {
                out.push(format!("{rel} {:o} {:?}", mode(&path), read(&path)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn packer_and_kiln_provision_a_host_the_same_way() {
    if skip_without_sshd("packer_and_kiln_provision_a_host_the_same_way") {
        return;
    }
    let Some(packer) = crate::packer_differential::packer() else {
        eprintln!(
            "skipped: packer is not installed (set KILN_REQUIRE_PACKER=1 to make this an error)"
        );
        return;
    };
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    make_site(dir);
    std::fs::write(dir.join("one.txt"), "one\n").unwrap();
    std::fs::write(
        dir.join("env.sh"),
        "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$PACKER_BUILD_NAME\" \"$PACKER_BUILDER_TYPE\" \"$TRICKY\" > \"$OUT/env.txt\"\n",
    )
    .unwrap();
    // The same template for both tools, writing under a root each run chooses.
    let template = |root: &Path, down: &str| {
        let r = root.display().to_string();
        serde_json::json!({
            "builders": [ssh_builder(&sshd, serde_json::json!({}))],
            "provisioners": [
                {"type": "shell", "inline": [format!("mkdir -p {r}/dir-no-slash {r}/dir-slash {r}/into")]},
                {"type": "file", "source": "site", "destination": format!("{r}/dir-no-slash")},
                {"type": "file", "source": "site/", "destination": format!("{r}/dir-slash")},
                {"type": "file", "source": "one.txt", "destination": format!("{r}/into/")},
                {"type": "file", "source": "one.txt", "destination": format!("{r}/renamed.txt")},
                {"type": "shell", "script": "env.sh",
                 "environment_vars": [format!("OUT={r}"), "TRICKY=it's \"q\" $HOME `x` a  b"]},
                {"type": "shell", "inline": [format!("echo inline > {r}/inline.txt")],
                 "execute_command": "chmod +x {{.Path}}; {{.Vars}} sh -c '{{.Path}}'"},
                {"type": "file", "direction": "download", "source": format!("{r}/dir-slash/conf/app.conf"),
                 "destination": format!("{down}/")},
            ],
        })
    };
    let (kiln_root, packer_root) = (sshd.dir().join("kiln"), sshd.dir().join("packer"));
    ok(&build(dir, &template(&kiln_root, "kiln-down"), &[]));
    std::fs::write(
        dir.join("packer.json"),
        serde_json::to_string_pretty(&template(&packer_root, "packer-down")).unwrap(),
    )
    .unwrap();
    let run = crate::packer_differential::run_packer(&packer, dir, &["build", "packer.json"]);
    assert_eq!(run.code, 0, "packer: {}", run.transcript());
    assert_eq!(tree_listing(&kiln_root), tree_listing(&packer_root));
    assert_eq!(
        tree_listing(&dir.join("kiln-down")),
        tree_listing(&dir.join("packer-down"))
    );
    assert_eq!(
        read(kiln_root.join("env.txt")),
        "host|null|it's \"q\" $HOME `x` a  b\n"
    );
}

#[test]
fn a_rhai_provisioner_execs_uploads_and_downloads_over_ssh() {
    if skip_without_sshd("a_rhai_provisioner_execs_uploads_and_downloads_over_ssh") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let remote = sshd.dir().join("rhai");
    std::fs::write(work.path().join("input.txt"), "from the host\n").unwrap();
    std::fs::write(
        work.path().join("provision.rhai"),
        r##"
fn provision(session, data) {
    let dir = config.remote;
    if session.exec(`mkdir -p ${dir}`) != 0 { throw "mkdir failed"; }
    session.upload("input.txt", `${dir}/input.txt`);
    session.upload_content("#!/bin/sh\ntr a-z A-Z < \"$1\"\n", `${dir}/upper.sh`, 0o755);
    let r = session.exec_captured(`${dir}/upper.sh ${dir}/input.txt`);
    if r.status != 0 || r.stdout != "FROM THE HOST\n" { throw `unexpected: ${r}`; }
    let code = session.exec(`cat > ${dir}/piped.txt; printf '%s' "$WHO" >> ${dir}/piped.txt`,
                            #{env: #{WHO: "it's me"}, stdin: "piped "});
    if code != 0 { throw "exec with stdin failed"; }
    session.download(`${dir}/piped.txt`, "piped.txt");
    say(`kind ${session.kind()}`);
}
"##,
    )
    .unwrap();
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [{"type": "rhai", "script": "provision.rhai", "remote": remote}],
    });
    let run = build(work.path(), &template, &[]);
    ok(&run);
    assert!(run.stdout.contains("==> host: kind ssh"), "{}", run.stdout);
    assert_eq!(read(remote.join("input.txt")), "from the host\n");
    assert_eq!(mode(remote.join("upper.sh")), 0o755);
    assert_eq!(read(work.path().join("piped.txt")), "piped it's me");
}

#[test]
fn a_download_through_a_planted_link_is_denied() {
    if skip_without_sshd("a_download_through_a_planted_link_is_denied") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    // (A path *through* the link, `planted/x.txt`, is already stopped by the component's WASI
    // sandbox; the link itself as the destination reaches the host's check.)
    std::os::unix::fs::symlink(elsewhere.path(), work.path().join("planted")).unwrap();
    std::fs::write(sshd.dir().join("secret.txt"), "from the machine\n").unwrap();
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd, serde_json::json!({}))],
        "provisioners": [{"type": "file", "direction": "download",
                          "source": sshd.dir().join("secret.txt"), "destination": "planted"}],
    });
    let run = build(work.path(), &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("not in capabilities.read_write (kiln's default policy) for provisioner file (through the link "),
        "{}",
        run.transcript()
    );
    assert!(!elsewhere.path().join("secret.txt").exists());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}
