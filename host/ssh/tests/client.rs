//! kiln-ssh against a real OpenSSH server on loopback (kiln-test-peers' fixture).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_ssh::{Client, Config, Error, ExitStatus, Observer, Options, Stream};
use kiln_test_peers::{Sshd, skip_without_sshd};

/// Records what the client told the user.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Observer for Notes {
    fn say(&self, text: &str) {
        self.0.lock().unwrap().push(format!("say: {text}"));
    }
    fn message(&self, text: &str) {
        self.0.lock().unwrap().push(format!("message: {text}"));
    }
    fn debug(&self, text: &str) {
        self.0.lock().unwrap().push(format!("debug: {text}"));
    }
}

fn options(json: serde_json::Value) -> Config {
    let options: Options = serde_json::from_value(json).unwrap();
    options
        .into_config(&|p: &str| PathBuf::from(p), None)
        .unwrap()
}

fn key_options(sshd: &Sshd, extra: serde_json::Value) -> Config {
    let mut json = serde_json::json!({
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "ssh_username": sshd.user(),
        "ssh_private_key_file": sshd.client_key(),
        "ssh_timeout": "20s",
    });
    json.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    options(json)
}

async fn connect(config: Config) -> Client {
    Client::connect(config, Arc::new(Notes::default()))
        .await
        .unwrap()
}

async fn run(client: &Client, command: &str) -> (ExitStatus, String, String) {
    let (status, out, err) = client.exec_captured(command, None).await.unwrap();
    (
        status,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[tokio::test]
async fn key_auth_runs_commands_and_streams_both_outputs() {
    if skip_without_sshd("key_auth_runs_commands_and_streams_both_outputs") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let client = connect(key_options(&sshd, serde_json::json!({}))).await;
    let mut chunks = Vec::new();
    let status = client
        .exec(
            "echo out; echo err >&2; exit 7",
            None,
            &mut |stream: Stream, bytes: &[u8]| chunks.push((stream, bytes.to_vec())),
        )
        .await
        .unwrap();
    assert_eq!(status, ExitStatus::Code(7));
    let stdout: Vec<u8> = chunks
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .flat_map(|(_, b)| b.clone())
        .collect();
    let stderr: Vec<u8> = chunks
        .iter()
        .filter(|(s, _)| *s == Stream::Stderr)
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert_eq!(stdout, b"out\n");
    assert_eq!(stderr, b"err\n");
    // stdin is delivered, then closed.
    let (status, out, _) = client.exec_captured("cat", Some(b"piped")).await.unwrap();
    assert_eq!(
        (status, out.as_slice()),
        (ExitStatus::Code(0), &b"piped"[..])
    );
}

#[tokio::test]
async fn password_auth_works_and_a_wrong_password_fails_fast_and_says_why() {
    if skip_without_sshd("password_auth") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let Some((user, password)) = sshd.password_user() else {
        assert!(
            !kiln_test_peers::require_sshd(),
            "the password user is missing: run scripts/test-peers/setup"
        );
        return;
    };
    let base = serde_json::json!({
        "ssh_host": sshd.host(), "ssh_port": sshd.port(), "ssh_username": user, "ssh_timeout": "30s",
    });
    let mut good = base.clone();
    good["ssh_password"] = password.into();
    let client = connect(options(good)).await;
    let (_, out, _) = run(&client, "id -un").await;
    assert_eq!(out.trim(), user);

    let mut bad = base;
    bad["ssh_password"] = "wrong".into();
    bad["ssh_handshake_attempts"] = 2.into();
    let started = Instant::now();
    let err = Client::connect(options(bad), Arc::new(Notes::default()))
        .await
        .err()
        .unwrap();
    let Error::Timeout(text) = err else {
        panic!("{err:?}")
    };
    assert!(
        text.contains("failed 2 handshake attempts")
            && text.contains("authentication as \"kiln-ssh-test\" failed")
            && text.contains("(tried: password)"),
        "{text}"
    );
    assert!(
        !text.contains("wrong"),
        "the password must not be quoted: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// What QEMU's user-mode port forward does while the guest boots: accept, then close (or say
/// nothing) before any SSH banner. That is waiting for the machine, not a failed handshake.
#[tokio::test]
async fn a_port_that_closes_at_once_is_waited_for_not_counted_as_a_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let config = options(serde_json::json!({
        "ssh_host": "127.0.0.1", "ssh_port": port, "ssh_username": "root",
        "ssh_password": "unused-secret", "ssh_timeout": "3s", "ssh_handshake_attempts": 1,
    }));
    let started = Instant::now();
    let err = Client::connect(config, Arc::new(Notes::default()))
        .await
        .err()
        .unwrap();
    closer.abort();
    let Error::Timeout(text) = err else {
        panic!("{err:?}")
    };
    assert!(
        text.starts_with(&format!(
            "Timeout waiting for SSH on root@127.0.0.1:{port} after 3s"
        )) && text.contains("no SSH server answered on it"),
        "{text}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn nothing_listening_times_out_naming_the_refusal() {
    let port = kiln_test_peers::free_port();
    let config = options(serde_json::json!({
        "ssh_host": "127.0.0.1", "ssh_port": port, "ssh_username": "root",
        "ssh_password": "x", "ssh_timeout": "2s",
    }));
    let notes = Arc::new(Notes::default());
    let started = Instant::now();
    let err = Client::connect(config, notes.clone()).await.err().unwrap();
    let elapsed = started.elapsed();
    let Error::Timeout(text) = err else {
        panic!("{err:?}")
    };
    assert!(
        text.starts_with(&format!(
            "Timeout waiting for SSH on root@127.0.0.1:{port} after 2s"
        )) && text.contains("connection refused by 127.0.0.1"),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let notes = notes.0.lock().unwrap();
    assert_eq!(notes[0], "say: Waiting for SSH to become available...");
    assert!(
        notes[1].contains(&format!("root@127.0.0.1:{port} (for up to 2s")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn a_server_that_starts_late_is_waited_for() {
    if skip_without_sshd("a_server_that_starts_late_is_waited_for") {
        return;
    }
    let port = kiln_test_peers::free_port();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        Sshd::builder().port(port).start().unwrap()
    });
    // The key file exists before the server does: make one the late server will accept.
    let early = Sshd::start().unwrap();
    let key = early.client_key().to_path_buf();
    let public = early.client_public_key();
    let config = options(serde_json::json!({
        "ssh_host": "127.0.0.1", "ssh_port": port, "ssh_username": early.user(),
        "ssh_private_key_file": key, "ssh_timeout": "30s",
    }));
    let connecting = tokio::spawn(async move {
        let notes = Arc::new(Notes::default());
        let client = Client::connect(config, notes.clone()).await;
        (client.map(|_| ()), notes)
    });
    let late = tokio::task::spawn_blocking(move || starter.join().unwrap())
        .await
        .unwrap();
    std::fs::write(late.authorized_keys(), format!("{public}\n")).unwrap();
    let (result, notes) = connecting.await.unwrap();
    result.unwrap_or_else(|e| panic!("{e}\n{}", late.log()));
    let notes = notes.0.lock().unwrap();
    assert!(
        notes.iter().any(|n| n.contains("connection refused")),
        "the early attempts were refused: {notes:?}"
    );
    assert!(
        notes.iter().any(|n| n == "say: Connected to SSH!"),
        "{notes:?}"
    );
}

#[tokio::test]
async fn a_bastion_carries_the_connection() {
    if skip_without_sshd("a_bastion_carries_the_connection") {
        return;
    }
    let target = Sshd::start().unwrap();
    let bastion = Sshd::start().unwrap();
    std::fs::write(
        bastion.authorized_keys(),
        format!("{}\n", target.client_public_key()),
    )
    .unwrap();
    let client = connect(key_options(
        &target,
        serde_json::json!({
            "ssh_bastion_host": bastion.host(),
            "ssh_bastion_port": bastion.port(),
            "ssh_bastion_username": bastion.user(),
        }),
    ))
    .await;
    let (status, out, _) = run(&client, "echo through").await;
    assert_eq!((status, out.as_str()), (ExitStatus::Code(0), "through\n"));
    // The bastion's sshd saw us, and a forwarding request to the target's port.
    let log = bastion.log();
    assert!(log.contains("Accepted publickey"), "{log}");
    drop(client);
    let mut stopped = bastion;
    stopped.stop();
    // Without the bastion the target cannot be reached through it.
    let config = key_options(
        &target,
        serde_json::json!({
            "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": stopped.port(),
            "ssh_timeout": "1s",
        }),
    );
    let err = Client::connect(config, Arc::new(Notes::default()))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("through the bastion"), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_is_reported_and_reopened() {
    if skip_without_sshd("a_dropped_connection_is_reported_and_reopened") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let client = connect(key_options(&sshd, serde_json::json!({}))).await;
    // Kill this connection's sshd process, as a reboot would.
    let (status, _, _) = run(&client, "kill -9 $PPID; sleep 5").await;
    assert_eq!(status, ExitStatus::Disconnected);
    let (status, out, _) = run(&client, "echo back").await;
    assert_eq!((status, out.as_str()), (ExitStatus::Code(0), "back\n"));
}

#[tokio::test]
async fn environment_values_with_quotes_and_spaces_arrive_intact() {
    if skip_without_sshd("environment_values") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let client = connect(key_options(&sshd, serde_json::json!({}))).await;
    let value = r#"it's "quoted" $HOME `date` \ ; & | < > * ? ~ tab	end"#;
    let line =
        kiln_ssh::with_environment(r#"printf '%s' "$V""#, &[("V".to_owned(), value.to_owned())]);
    let (status, out, _) = run(&client, &line).await;
    assert_eq!((status, out.as_str()), (ExitStatus::Code(0), value));
}

/// A tree with nested directories, modes and an empty file.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(root.join("sub/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        root.join("sub/run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(root.join("sub/deeper/empty"), "").unwrap();
    std::fs::set_permissions(
        root.join("sub/deeper"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
}

fn listing(root: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                out.push((rel, mode, Vec::new()));
                stack.push(path);
            } else {
                out.push((rel, mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

async fn transfers_round_trip(method: &str) {
    let sshd = Sshd::start().unwrap();
    let client = connect(key_options(
        &sshd,
        serde_json::json!({ "ssh_file_transfer_method": method }),
    ))
    .await;
    let local = tempfile::tempdir().unwrap();
    let remote = sshd.dir().join(format!("remote-{method}"));
    let remote = remote.to_str().unwrap();
    make_tree(&local.path().join("tree"));

    // A directory's contents go into the remote path, which is created.
    client
        .upload(
            &local.path().join("tree"),
            &format!("{remote}/copy"),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        listing(&local.path().join("tree")),
        listing(Path::new(&format!("{remote}/copy")))
    );
    // A file lands exactly at the remote path, its mode kept.
    client
        .upload(
            &local.path().join("tree/sub/run.sh"),
            &format!("{remote}/single.sh"),
            &|_| {},
        )
        .await
        .unwrap();
    let meta = std::fs::metadata(format!("{remote}/single.sh")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o750);
    // Bytes, with the given mode.
    client
        .upload_bytes(b"inline\n", &format!("{remote}/inline"), 0o600)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(format!("{remote}/inline")).unwrap(),
        b"inline\n"
    );
    let meta = std::fs::metadata(format!("{remote}/inline")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Downloads: a directory's contents into a new local directory, a file to a path.
    let back = local.path().join("back");
    client
        .download(&format!("{remote}/copy"), &back, &|_| {})
        .await
        .unwrap();
    assert_eq!(listing(&local.path().join("tree")), listing(&back));
    let file = local.path().join("one.txt");
    client
        .download(&format!("{remote}/copy/a.txt"), &file, &|_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"alpha\n");
    // A missing remote file is an error naming it.
    let err = client
        .download(&format!("{remote}/nope"), &local.path().join("x"), &|_| {})
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("nope"), "{err}");
    // A large file, counted by the progress callback.
    let big = local.path().join("big.bin");
    let data: Vec<u8> = (0..24 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&big, &data).unwrap();
    let counted = std::sync::atomic::AtomicU64::new(0);
    client
        .upload(&big, &format!("{remote}/big.bin"), &|n| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert_eq!(counted.into_inner(), data.len() as u64);
    assert!(std::fs::read(format!("{remote}/big.bin")).unwrap() == data);
}

#[tokio::test]
async fn scp_transfers_round_trip() {
    if skip_without_sshd("scp_transfers_round_trip") {
        return;
    }
    transfers_round_trip("scp").await;
}

#[tokio::test]
async fn sftp_transfers_round_trip() {
    if skip_without_sshd("sftp_transfers_round_trip") {
        return;
    }
    transfers_round_trip("sftp").await;
}

#[tokio::test]
async fn ssh_pty_runs_commands_in_a_terminal() {
    if skip_without_sshd("ssh_pty_runs_commands_in_a_terminal") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let plain = connect(key_options(&sshd, serde_json::json!({}))).await;
    let (_, out, _) = run(&plain, "tty || true").await;
    assert_eq!(out.trim(), "not a tty");
    let with_pty = connect(key_options(&sshd, serde_json::json!({"ssh_pty": true}))).await;
    let (status, out, _) = run(&with_pty, "tty").await;
    assert_eq!(status, ExitStatus::Code(0));
    assert!(out.trim().starts_with("/dev/pts/"), "{out:?}");
}

/// scp uploads are pipelined; a sink that refuses a file or a directory reads on, so nothing
/// after the refusal may be taken for records (a file whose content is an scp record, a child
/// of a directory that could not be made).
#[tokio::test]
async fn a_refused_scp_upload_creates_nothing_from_file_contents() {
    if skip_without_sshd("a_refused_scp_upload_creates_nothing_from_file_contents") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let client = connect(key_options(
        &sshd,
        serde_json::json!({ "ssh_file_transfer_method": "scp" }),
    ))
    .await;
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("a/sub")).unwrap();
    std::fs::write(tree.join("a/record.txt"), "C0644 5 planted\nhello").unwrap();
    std::fs::write(tree.join("a/sub/inner.txt"), "inner").unwrap();
    std::fs::write(tree.join("z.txt"), "z").unwrap();
    for (blocker, refused) in [
        ("a/record.txt", "Is a directory"),
        ("a/sub", "Not a directory"),
    ] {
        let remote = sshd.dir().join(blocker.replace('/', "-"));
        // A directory where the file goes, or a file where the directory goes.
        if blocker.ends_with(".txt") {
            std::fs::create_dir_all(remote.join(blocker)).unwrap();
        } else {
            std::fs::create_dir_all(remote.join("a")).unwrap();
            std::fs::write(remote.join(blocker), "a file").unwrap();
        }
        let err = client
            .upload(&tree, remote.to_str().unwrap(), &|_| {})
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains(refused), "{err}");
        assert!(!remote.join("a/planted").exists());
        assert!(!remote.join("a/inner.txt").exists());
        assert!(!remote.join("inner.txt").exists());
    }
}
