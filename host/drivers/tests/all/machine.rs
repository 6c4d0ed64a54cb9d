//! Starting, inspecting and stopping a real QEMU.

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_drivers::qemu::Error;
use kiln_drivers::{Machine, MachineSpec};
use tokio::io::AsyncReadExt;

use crate::support::{Recorder, qemu_available, tcg_host, tcg_spec};

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn machine_runs_in_seabios_and_is_killed_with_its_ports() {
    if !qemu_available("machine_runs_in_seabios_and_is_killed_with_its_ports") {
        return;
    }
    let recorder = Recorder::new();
    let machine = Machine::start_on(tcg_spec(), &tcg_host(), recorder.clone())
        .await
        .unwrap();
    assert_eq!(machine.status().await.unwrap(), "running");

    let ssh = machine.ssh_host_port().unwrap();
    assert!((2222..=4444).contains(&ssh), "{ssh}");
    let vnc = machine.vnc_address().unwrap();
    assert!((5900..=6000).contains(&vnc.port()), "{vnc}");
    assert_eq!(vnc.ip().to_string(), "127.0.0.1");

    // QEMU's VNC server greets; the forward accepts on loopback.
    let mut stream = tokio::net::TcpStream::connect(vnc).await.unwrap();
    let mut banner = [0u8; 12];
    stream.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"RFB 003.008\n");
    drop(stream);
    tokio::net::TcpStream::connect(("127.0.0.1", ssh))
        .await
        .unwrap();

    assert!(recorder.has(
        "say",
        &format!("Found port for communicator (SSH, WinRM, etc): {ssh}.")
    ));
    assert!(recorder.has(
        "say",
        "Looking for available port between 5900 and 6000 on 127.0.0.1"
    ));
    assert!(recorder.has("say", "Starting VM, booting disk image"));
    assert!(recorder.has(
        "message",
        &format!(
            "The VM will be run headless, without a GUI. If you want to\n\
             view the screen of the VM, connect via VNC without a password to\n\
             vnc://127.0.0.1:{}",
            vnc.port()
        )
    ));
    let executing = recorder.find("debug", "Executing ").unwrap();
    assert!(
        executing.contains("\"-machine\", \"type=pc,accel=tcg\""),
        "{executing}"
    );
    let line = machine.command_line();
    assert!(line[0].ends_with("qemu-system-x86_64"), "{line:?}");
    assert!(line.contains(&format!("user,id=user.0,hostfwd=tcp:127.0.0.1:{ssh}-:22")));

    // SeaBIOS has no ACPI handler: the button is pressed, nothing stops.
    machine.powerdown().await.unwrap();
    assert!(
        machine
            .qmp()
            .wait_for_event("POWERDOWN", Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(!machine.wait_stopped(Duration::from_millis(500)).await);

    let pid = machine.pid();
    machine.kill().await.unwrap();
    assert!(machine.has_exited());
    assert!(gone(pid), "pid {pid} still exists");
    // Both ports are free again.
    std::net::TcpListener::bind(("127.0.0.1", ssh)).unwrap();
    std::net::TcpListener::bind(vnc).unwrap();
}

#[tokio::test]
async fn quit_stops_qemu_and_drop_kills_it() {
    if !qemu_available("quit_stops_qemu_and_drop_kills_it") {
        return;
    }
    let spec = MachineSpec {
        ssh_guest_port: 0,
        disable_vnc: true,
        ..tcg_spec()
    };
    let recorder = Recorder::new();
    let machine = Machine::start_on(spec.clone(), &tcg_host(), recorder.clone())
        .await
        .unwrap();
    assert_eq!(
        (machine.ssh_host_port(), machine.vnc_address()),
        (None, None)
    );
    assert!(recorder.has(
        "message",
        "The VM will be run headless, without a GUI, as configured.\n\
         If the run isn't succeeding as you expect, please enable the GUI\n\
         to inspect the progress of the build."
    ));
    machine.quit().await.unwrap();
    assert!(machine.exit_status().unwrap().success());

    // Machine::start probes this host for itself.
    let machine = Machine::start(spec, Recorder::new()).await.unwrap();
    let pid = machine.pid();
    drop(machine);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(Instant::now() < deadline, "pid {pid} outlived its Machine");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_qemuargs_fail_with_qemus_stderr() {
    if !qemu_available("bad_qemuargs_fail_with_qemus_stderr") {
        return;
    }
    let spec = MachineSpec {
        qemuargs: vec![vec!["-no-such-switch".into(), String::new()]],
        ..tcg_spec()
    };
    let recorder = Recorder::new();
    let err = Machine::start_on(spec, &tcg_host(), recorder.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Exited { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("QEMU exited during start-up (exit status: 1): "),
        "{message}"
    );
    assert!(
        message.contains("-no-such-switch: invalid option"),
        "{message}"
    );
    assert!(recorder.has(
        "say",
        "Overriding default Qemu arguments with qemuargs template option..."
    ));

    let spec = MachineSpec {
        qemuargs: vec![vec!["-m".into(), "lots".into()]],
        ..tcg_spec()
    };
    let message = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("lots"), "{message}");
}

#[tokio::test]
async fn a_missing_binary_or_port_is_a_clear_error() {
    let spec = MachineSpec {
        binary: "qemu-system-kiln-absent".into(),
        ..tcg_spec()
    };
    let err = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "qemu-system-kiln-absent not found: install QEMU or set qemu_binary to its path"
    );
    let spec = MachineSpec {
        binary: "/nonexistent/qemu-system-x86_64".into(),
        ..tcg_spec()
    };
    let err = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/qemu-system-x86_64 not found: install Debian's qemu-system-x86 package (or \
         your system's QEMU) or set qemu_binary to its path"
    );

    if !qemu_available("a_missing_binary_or_port_is_a_clear_error") {
        return;
    }
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = MachineSpec {
        host_port_min: port,
        host_port_max: port,
        ..tcg_spec()
    };
    let err = Machine::start_on(spec, &tcg_host(), Recorder::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no free port between {port} and {port} on 127.0.0.1")
    );
}

#[tokio::test]
async fn a_port_lost_to_another_process_is_picked_again() {
    if !qemu_available("a_port_lost_to_another_process_is_picked_again") {
        return;
    }
    // A QEMU that loses the race for its forward port once, then starts.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("qemu-loses-a-port");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n\
         if [ ! -e \"$KILN_TEST_MARKER\" ]; then\n\
           touch \"$KILN_TEST_MARKER\"\n\
           echo \"qemu-system-x86_64: -netdev user: Could not set up host forwarding rule 'tcp:127.0.0.1:2222-:22'\" >&2\n\
           exit 1\n\
         fi\n\
         exec qemu-system-x86_64 \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let marker = dir.path().join("lost-once");
    let spec = MachineSpec {
        binary: wrapper.to_str().unwrap().to_owned(),
        extra_env: [(
            "KILN_TEST_MARKER".to_owned(),
            marker.to_str().unwrap().to_owned(),
        )]
        .into(),
        ..tcg_spec()
    };
    let recorder = Recorder::new();
    let machine = Machine::start_on(spec, &tcg_host(), recorder.clone())
        .await
        .unwrap();
    assert!(marker.exists());
    assert!(recorder.has(
        "message",
        "QEMU could not use the ports chosen (qemu-system-x86_64: -netdev user: Could not set up \
         host forwarding rule 'tcp:127.0.0.1:2222-:22'); choosing others"
    ));
    let found = recorder
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| line.starts_with("Found port for communicator"))
        .count();
    assert_eq!(found, 2);
    assert_eq!(machine.status().await.unwrap(), "running");
}
