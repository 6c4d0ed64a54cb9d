//! The sshd fixture against the system's OpenSSH client: it serves key and password logins,
//! sftp and jump hosts, starts late on a reserved port, and leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kiln_test_peers::{Error, PASSWORD_USER, Sshd, free_port, skip_without_sshd};

/// The OpenSSH client options every test uses: no prompts, no known_hosts.
fn ssh_command(sshd: &Sshd, user: &str) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.arg("-i")
        .arg(sshd.client_key())
        .args(common_options())
        .arg("-p")
        .arg(sshd.port().to_string())
        .arg(format!("{user}@{}", sshd.host()));
    ssh
}

fn common_options() -> [&'static str; 10] {
    [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=5",
    ]
}

fn run(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn assert_success(output: &Output, sshd: &Sshd) {
    assert!(
        output.status.success(),
        "{}\nstderr: {}\nsshd log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        sshd.log()
    );
}

/// Command lines of the running processes that contain `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}

fn refuses_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// A client process that does not outlive a failed test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn key_auth_runs_a_command_as_the_current_user() {
    if skip_without_sshd("key_auth_runs_a_command_as_the_current_user") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    assert_eq!(sshd.host(), "127.0.0.1");
    let mut ssh = ssh_command(&sshd, sshd.user());
    ssh.arg("echo hi; id -un");
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert_eq!(stdout(&output), format!("hi\n{}\n", sshd.user()));
    assert!(
        sshd.log().contains("Accepted publickey for"),
        "{}",
        sshd.log()
    );
}

#[test]
fn the_client_key_is_authorized_for_the_password_user_too() {
    if skip_without_sshd("the_client_key_is_authorized_for_the_password_user_too") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let Some((user, _)) = sshd.password_user() else {
        eprintln!(
            "skipped: {} does not exist (scripts/test-peers/setup)",
            PASSWORD_USER.0
        );
        return;
    };
    let written = sshd.dir().join("from-password-user");
    let mut ssh = ssh_command(&sshd, user);
    ssh.arg(format!("id -un; touch {}", written.display()));
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert_eq!(stdout(&output), format!("{user}\n"));
    assert!(
        written.exists(),
        "the scratch dir is writable by every user"
    );
}

/// OpenSSH's own way to take a password without a terminal: `SSH_ASKPASS_REQUIRE=force` runs
/// the askpass program, here a script printing the password.
#[test]
fn password_auth_through_ssh_askpass() {
    if skip_without_sshd("password_auth_through_ssh_askpass") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let Some((user, password)) = sshd.password_user() else {
        eprintln!(
            "skipped: {} does not exist (scripts/test-peers/setup)",
            PASSWORD_USER.0
        );
        return;
    };
    let askpass = sshd.dir().join("askpass");
    fs::write(
        &askpass,
        format!("#!/bin/sh\nprintf '%s\\n' '{password}'\n"),
    )
    .unwrap();
    fs::set_permissions(&askpass, fs::Permissions::from_mode(0o700)).unwrap();

    let mut ssh = Command::new("ssh");
    ssh.env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .args(&common_options()[2..])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
        ])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .arg("-p")
        .arg(sshd.port().to_string())
        .arg(format!("{user}@127.0.0.1"))
        .arg("id -un");
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert_eq!(stdout(&output), format!("{user}\n"));
    assert!(
        sshd.log().contains("Accepted password for"),
        "{}",
        sshd.log()
    );
}

#[test]
fn password_auth_with_sshpass() {
    if skip_without_sshd("password_auth_with_sshpass") {
        return;
    }
    if Command::new("sshpass").arg("-V").output().is_err() {
        eprintln!("password_auth_with_sshpass: skipped: sshpass is not installed");
        return;
    }
    let sshd = Sshd::start().unwrap();
    let Some((user, password)) = sshd.password_user() else {
        eprintln!(
            "skipped: {} does not exist (scripts/test-peers/setup)",
            PASSWORD_USER.0
        );
        return;
    };
    let mut ssh = Command::new("sshpass");
    ssh.env("SSHPASS", password)
        .args(["-e", "ssh"])
        .args(&common_options()[2..])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
        ])
        .arg("-p")
        .arg(sshd.port().to_string())
        .arg(format!("{user}@127.0.0.1"))
        .arg("id -un");
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert_eq!(stdout(&output), format!("{user}\n"));
    assert!(
        sshd.log().contains("Accepted password for"),
        "{}",
        sshd.log()
    );
}

#[test]
fn a_key_appended_at_run_time_is_accepted() {
    if skip_without_sshd("a_key_appended_at_run_time_is_accepted") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let key = sshd.dir().join("second_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());

    let try_second_key = || {
        let mut ssh = Command::new("ssh");
        ssh.arg("-i")
            .arg(&key)
            .args(["-o", "IdentitiesOnly=yes"])
            .args(common_options())
            .arg("-p")
            .arg(sshd.port().to_string())
            .arg(format!("{}@127.0.0.1", sshd.user()))
            .arg("true");
        run(ssh)
    };
    assert!(!try_second_key().status.success(), "not authorized yet");

    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(sshd.authorized_keys())
        .unwrap();
    file.write_all(public.as_bytes()).unwrap();
    assert_success(&try_second_key(), &sshd);
    assert!(
        fs::read_to_string(sshd.authorized_keys())
            .unwrap()
            .starts_with(&sshd.client_public_key())
    );
}

#[test]
fn sftp_puts_a_file_into_the_scratch_dir() {
    if skip_without_sshd("sftp_puts_a_file_into_the_scratch_dir") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let local = tempfile::NamedTempFile::new().unwrap();
    fs::write(local.path(), "payload\n").unwrap();
    let remote = sshd.dir().join("uploaded");

    let mut sftp = Command::new("sftp");
    sftp.arg("-i")
        .arg(sshd.client_key())
        .args(common_options())
        .arg("-P")
        .arg(sshd.port().to_string())
        .args(["-b", "-"])
        .arg(format!("{}@127.0.0.1", sshd.user()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = sftp.spawn().unwrap();
    writeln!(
        child.stdin.take().unwrap(),
        "put {} {}",
        local.path().display(),
        remote.display()
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_success(&output, &sshd);
    assert_eq!(fs::read_to_string(&remote).unwrap(), "payload\n");
}

#[test]
fn a_second_server_is_a_jump_host() {
    if skip_without_sshd("a_second_server_is_a_jump_host") {
        return;
    }
    let target = Sshd::start().unwrap();
    let bastion = Sshd::start().unwrap();
    assert_ne!(target.port(), bastion.port());

    let proxy = format!(
        "ProxyCommand=ssh -i {} -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p {} -W %h:%p {}@127.0.0.1",
        bastion.client_key().display(),
        bastion.port(),
        bastion.user()
    );
    let mut ssh = ssh_command(&target, target.user());
    ssh.arg("-o").arg(proxy).arg("echo through");
    let output = run(ssh);
    assert_success(&output, &target);
    assert_eq!(stdout(&output), "through\n");
    // sshd logs forwarded channels only at DEBUG; the login shows the bastion was used.
    let log = bastion.log();
    assert!(log.contains("Accepted publickey for"), "{log}");
}

#[test]
fn extra_config_lines_win_over_the_defaults() {
    if skip_without_sshd("extra_config_lines_win_over_the_defaults") {
        return;
    }
    let sshd = Sshd::builder()
        .config("PubkeyAuthentication no")
        .config("Match User nobody")
        .config("  X11Forwarding no")
        .start()
        .unwrap();
    let mut ssh = ssh_command(&sshd, sshd.user());
    ssh.arg("true");
    let output = run(ssh);
    assert!(!output.status.success(), "key auth was switched off");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_quiet_log_level_still_starts() {
    if skip_without_sshd("a_quiet_log_level_still_starts") {
        return;
    }
    let sshd = Sshd::builder().config("LogLevel ERROR").start().unwrap();
    let mut ssh = ssh_command(&sshd, sshd.user());
    ssh.arg("echo quiet");
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}

#[test]
fn a_bad_config_line_fails_with_the_log() {
    if skip_without_sshd("a_bad_config_line_fails_with_the_log") {
        return;
    }
    let error = Sshd::builder()
        .config("NoSuchOption yes")
        .start()
        .unwrap_err();
    assert!(matches!(error, Error::Exited { .. }), "{error:?}");
    assert!(error.to_string().contains("NoSuchOption"), "{error}");
}

#[test]
fn a_server_started_late_on_a_reserved_port_serves_a_waiting_client() {
    if skip_without_sshd("a_server_started_late_on_a_reserved_port_serves_a_waiting_client") {
        return;
    }
    let port = free_port();
    // A client polling the reserved port until something answers with a banner.
    let waiting = thread::spawn(move || {
        let mut refused = 0;
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let mut banner = [0; 8];
                stream.read_exact(&mut banner).unwrap();
                return (refused, banner);
            }
            refused += 1;
            thread::sleep(Duration::from_millis(20));
        }
    });
    thread::sleep(Duration::from_millis(500));

    let sshd = Sshd::builder().port(port).start().unwrap();
    assert_eq!(sshd.port(), port);
    let (refused, banner) = waiting.join().unwrap();
    assert!(
        refused > 0,
        "the port was not served before the fixture started"
    );
    assert_eq!(&banner, b"SSH-2.0-");

    let mut ssh = ssh_command(&sshd, sshd.user());
    ssh.arg("echo late");
    let output = run(ssh);
    assert_success(&output, &sshd);
    assert_eq!(stdout(&output), "late\n");
}

#[test]
fn two_fixtures_at_once_get_different_ports() {
    if skip_without_sshd("two_fixtures_at_once_get_different_ports") {
        return;
    }
    let a = Sshd::start().unwrap();
    let b = Sshd::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    for sshd in [&a, &b] {
        let mut ssh = ssh_command(sshd, sshd.user());
        ssh.arg("echo up");
        let output = run(ssh);
        assert_success(&output, sshd);
        assert_eq!(stdout(&output), "up\n");
    }
}

#[test]
fn drop_ends_sshd_and_its_open_sessions_and_removes_the_temp_dir() {
    if skip_without_sshd("drop_ends_sshd_and_its_open_sessions_and_removes_the_temp_dir") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let port = sshd.port();
    let root = sshd.client_key().parent().unwrap().to_path_buf();
    let config = root.join("sshd_config").display().to_string();
    // The remote shell's command line names the scratch dir, so its process can be found.
    let marker = sshd.dir().display().to_string();
    let mut ssh = ssh_command(&sshd, sshd.user());
    ssh.arg(format!("sleep 300; true {marker}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut client = KillOnDrop(ssh.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    // More than the client itself: the remote bash runs too.
    while processes_mentioning(&marker).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no remote session; log:\n{}",
            sshd.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!processes_mentioning(&config).is_empty());

    drop(sshd);

    assert!(refuses_connections(port));
    assert!(!root.exists());
    assert!(
        wait_for_exit(&mut client.0, Duration::from_secs(10)),
        "the client saw the server go"
    );
    assert_eq!(processes_mentioning(&config), Vec::<String>::new());
    assert_eq!(processes_mentioning(&marker), Vec::<String>::new());
}

#[test]
fn stop_is_immediate_and_idempotent() {
    if skip_without_sshd("stop_is_immediate_and_idempotent") {
        return;
    }
    let mut sshd = Sshd::start().unwrap();
    assert!(sshd.log().contains("Server listening on 127.0.0.1"));
    sshd.stop();
    assert!(refuses_connections(sshd.port()));
    sshd.stop();
    assert!(Path::new(sshd.dir()).is_dir(), "files stay until drop");
}

#[test]
fn drop_during_a_panic_still_stops_sshd() {
    if skip_without_sshd("drop_during_a_panic_still_stops_sshd") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let result = thread::spawn(move || {
        let sshd = Sshd::start().unwrap();
        tx.send(sshd.port()).unwrap();
        panic!("a failing test");
    })
    .join();
    assert!(result.is_err());
    assert!(refuses_connections(rx.recv().unwrap()));
}
