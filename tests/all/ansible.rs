//! The `ansible` and `ansible-local` provisioners with real Ansible (Debian's `ansible`): the
//! machine is this host, reached through the sshd fixture (kiln-test-peers), so what a
//! playbook does is checked on disk afterwards. `ansible` runs `ansible-playbook` on the host
//! straight against the fixture's address with the session's credential (key or password);
//! `ansible-local` uploads a playbook, a role and vars over the session and runs
//! `ansible-playbook -c local` there. A differential test runs Packer 1.6.6 and kiln on the
//! same template with a recording stand-in for `ansible-playbook` and compares what each ran.
//!
//! Without `ansible-playbook` the tests skip, saying why; `KILN_REQUIRE_ANSIBLE=1` (CI) turns
//! that into a failure.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_test_peers::{Sshd, skip_without_sshd};

use crate::build::build;
use crate::kiln::Run;

/// The environment variable that turns a missing Ansible into failed tests.
const REQUIRE_ANSIBLE: &str = "KILN_REQUIRE_ANSIBLE";

/// Whether the test must skip: sshd or Ansible is missing (a failure under the
/// `KILN_REQUIRE_*` variables).
fn skip(test: &str) -> bool {
    if skip_without_sshd(test) {
        return true;
    }
    let found = Command::new("ansible-playbook")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return false;
    }
    if std::env::var(REQUIRE_ANSIBLE).is_ok_and(|v| v == "1") {
        panic!(
            "{test}: ansible-playbook is not installed (apt-get install ansible; {REQUIRE_ANSIBLE}=1)"
        );
    }
    eprintln!(
        "{test}: skipped: ansible-playbook is not installed (apt-get install ansible; set {REQUIRE_ANSIBLE}=1 to make this an error)"
    );
    true
}

/// A null builder that connects to `sshd` with its client key.
fn ssh_builder(sshd: &Sshd) -> serde_json::Value {
    serde_json::json!({
        "type": "null",
        "name": "host",
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "ssh_username": sshd.user(),
        "ssh_private_key_file": sshd.client_key(),
        "ssh_timeout": "30s",
    })
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.transcript());
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn mode(path: impl AsRef<Path>) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Processes whose command line mentions `needle` (an ssh ControlPersist master names its
/// control socket), waiting up to 5 s for them to go.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(needle))
            .collect();
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A playbook that writes a file, renders a template and records the groups, under `out`.
fn write_playbook(dir: &Path) {
    write(
        dir.join("site.yml"),
        r#"- hosts: all
  gather_facts: false
  vars:
    greeting: hello
  tasks:
    - name: a file
      copy:
        dest: "{{ out }}/copied.txt"
        content: "build={{ packer_build_name }} type={{ packer_builder_type }}\n"
    - name: a template
      template:
        src: motd.j2
        dest: "{{ out }}/motd"
        mode: "0640"
    - name: the inventory as Ansible saw it
      copy:
        dest: "{{ out }}/groups.txt"
        content: "{{ group_names | join(',') }} {{ inventory_hostname }} {{ ansible_user }}\n"
"#,
    );
    write(
        dir.join("motd.j2"),
        "Welcome to {{ inventory_hostname }} ({{ greeting }})\n",
    );
}

#[test]
fn ansible_runs_a_playbook_against_the_machine_straight_over_ssh() {
    if skip("ansible_runs_a_playbook_against_the_machine_straight_over_ssh") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_playbook(dir);
    let out = sshd.dir().join("remote");
    std::fs::create_dir(&out).unwrap();
    let known_hosts_before = std::fs::read_to_string("/root/.ssh/known_hosts").unwrap_or_default();
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd)],
        "provisioners": [{
            "type": "ansible",
            "playbook_file": "site.yml",
            "groups": ["web", "db"],
            "empty_groups": ["spare"],
            "extra_arguments": ["--extra-vars", format!("out={}", out.display())],
        }],
    });
    let run = build(dir, &template, &[]);
    ok(&run);
    assert_eq!(read(out.join("copied.txt")), "build=host type=null\n");
    assert_eq!(read(out.join("motd")), "Welcome to default (hello)\n");
    assert_eq!(mode(out.join("motd")), 0o640);
    assert_eq!(
        read(out.join("groups.txt")),
        format!("db,web default {}\n", sshd.user())
    );
    let stdout = &run.stdout;
    let executing = format!(
        "==> host: Executing Ansible: ansible-playbook -e packer_build_name=\"host\" -e packer_builder_type=null --ssh-extra-args '-o IdentitiesOnly=yes' --extra-vars out={} -e ansible_ssh_private_key_file=",
        out.display()
    );
    for expected in [
        "==> host: Provisioning with Ansible...",
        &format!(
            "    host: Connecting Ansible straight to 127.0.0.1:{} (kiln has no proxy adapter):",
            sshd.port()
        ),
        "    host: \tUsing ssh keys from Packer communicator...",
        &executing,
        "    host: PLAY [all] ***",
        "    host: TASK [a template] ***",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    let line = stdout.lines().find(|l| l.starts_with(&executing)).unwrap();
    let inventory = line
        .split(" -i ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(inventory.contains("/packer-provisioner-ansible"), "{line}");
    assert!(
        line.ends_with(&format!(" {}", dir.join("site.yml").display())),
        "{line}"
    );
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    // The key file, the inventory and the SSH state went with the build (`build` checks the
    // private TMPDIR is empty); Ansible's ControlPersist master was stopped with the login.
    let tmp = dir.join("tmp").display().to_string();
    assert_eq!(processes_mentioning(&tmp), Vec::<String>::new());
    // Ansible kept its host keys beside the login, not in the user's known_hosts.
    let known_hosts_after = std::fs::read_to_string("/root/.ssh/known_hosts").unwrap_or_default();
    assert_eq!(known_hosts_before, known_hosts_after);
}

#[test]
fn a_sensitive_extra_var_never_shows() {
    if skip("a_sensitive_extra_var_never_shows") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let secret = "Kiln-Ansible-Secret-8f3c1e9b2d-Qx";
    let out = sshd.dir().join("secret.txt");
    write(
        dir.join("secret.yml"),
        &format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "the token is {{{{ token }}}}"
    - copy:
        dest: {}
        content: "{{{{ token }}}}"
"#,
            out.display()
        ),
    );
    let template = serde_json::json!({
        "variables": {"token": secret},
        "sensitive-variables": ["token"],
        "builders": [ssh_builder(&sshd)],
        "provisioners": [{
            "type": "ansible",
            "playbook_file": "secret.yml",
            "extra_arguments": ["-e", "token={{user `token`}}"],
        }],
    });
    for args in [&[][..], &["-machine-readable"][..]] {
        let run = build(dir, &template, args);
        ok(&run);
        // Ansible got the real value...
        assert_eq!(read(&out), secret);
        // ...and nothing kiln printed has it.
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{}",
            run.transcript()
        );
        assert!(
            run.stdout.contains("-e token=<sensitive>"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("the token is <sensitive>"),
            "{}",
            run.stdout
        );
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn a_failing_playbook_fails_the_build_with_packers_words() {
    if skip("a_failing_playbook_fails_the_build_with_packers_words") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(
        dir.join("fail.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: /bin/false\n",
    );
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd)],
        "provisioners": [
            {"type": "ansible", "playbook_file": "fail.yml"},
            {"type": "shell-local", "inline": ["echo never"]},
        ],
    });
    let run = build(dir, &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("Error executing Ansible: Non-zero exit status: exit status 2"),
        "{}",
        run.transcript()
    );
    assert!(
        run.stdout.contains("    host: fatal: [default]: FAILED!"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("never"));
}

#[test]
fn ansible_logs_in_with_the_communicators_password() {
    if skip("ansible_logs_in_with_the_communicators_password") {
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
    let dir = work.path();
    let out = sshd.dir().join("by-password.txt");
    write(
        dir.join("whoami.yml"),
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: id -un > {}\n",
            out.display()
        ),
    );
    let template = serde_json::json!({
        "builders": [{
            "type": "null", "name": "host", "ssh_host": sshd.host(), "ssh_port": sshd.port(),
            "ssh_username": user, "ssh_password": password, "ssh_timeout": "30s",
        }],
        "provisioners": [{"type": "ansible", "playbook_file": "whoami.yml", "use_proxy": false}],
    });
    let run = build(dir, &template, &[]);
    ok(&run);
    assert_eq!(read(&out), format!("{user}\n"));
    assert!(
        run.stdout
            .contains("    host: Not using Proxy adapter for Ansible run:")
            && run
                .stdout
                .contains("    host: \tUsing the password from Packer communicator...")
            && run.stdout.contains(" --connection-password-file "),
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
fn ansible_local_runs_a_playbook_with_a_role_on_the_machine() {
    if skip("ansible_local_runs_a_playbook_with_a_role_on_the_machine") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let out = sshd.dir().join("local");
    std::fs::create_dir(&out).unwrap();
    write(
        dir.join("local.yml"),
        "- hosts: all\n  gather_facts: false\n  roles: [hello]\n",
    );
    write(
        dir.join("roles/hello/tasks/main.yml"),
        "- template:\n    src: hello.j2\n    dest: \"{{ out }}/hello.txt\"\n",
    );
    write(
        dir.join("roles/hello/templates/hello.j2"),
        "{{ greeting }} from {{ packer_build_name }} ({{ packer_builder_type }}) as {{ inventory_hostname }} in {{ group_names | join(',') }}\n",
    );
    write(dir.join("group_vars/all.yml"), "greeting: Hello\n");
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd)],
        "provisioners": [{
            "type": "ansible-local",
            "playbook_file": "local.yml",
            "role_paths": ["roles/hello"],
            "group_vars": "group_vars",
            "inventory_groups": ["images"],
            "extra_arguments": ["--extra-vars", format!("out={}", out.display())],
            "clean_staging_directory": true,
        }],
    });
    let run = build(dir, &template, &[]);
    ok(&run);
    assert_eq!(
        read(out.join("hello.txt")),
        "Hello from host (null) as 127.0.0.1 in images\n"
    );
    let stdout = &run.stdout;
    let executing = stdout
        .lines()
        .find(|l| {
            l.starts_with("    host: Executing Ansible: cd /tmp/packer-provisioner-ansible-local/")
        })
        .unwrap_or_else(|| panic!("no Executing line:\n{stdout}"));
    let staging = executing
        .trim_start_matches("    host: Executing Ansible: cd ")
        .split(' ')
        .next()
        .unwrap();
    let uuid = staging.rsplit('/').next().unwrap();
    assert_eq!(
        uuid.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{uuid}"
    );
    // Packer's command, word for word, up to the inventory's random number.
    assert_eq!(
        executing.trim_end_matches(|c: char| c.is_ascii_digit()),
        format!(
            "    host: Executing Ansible: cd {staging} && ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook {staging}/local.yml --extra-vars \"packer_build_name=host packer_builder_type=null packer_http_addr=ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER -o IdentitiesOnly=yes\" --extra-vars out={} -c local -i {staging}/packer-provisioner-ansible-local",
            out.display()
        )
    );
    for expected in [
        "==> host: Provisioning with Ansible...",
        "    host: Creating Ansible staging directory...",
        "    host: Uploading main Playbook file...",
        "    host: Uploading inventory file...",
        "    host: Uploading group_vars directory...",
        "    host: Uploading role directories...",
        "    host: Removing staging directory...",
        "PLAY RECAP",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    assert!(!Path::new(staging).exists(), "{staging} is still there");
}

#[test]
fn a_failing_ansible_local_playbook_fails_the_build_with_packers_words() {
    if skip("a_failing_ansible_local_playbook_fails_the_build_with_packers_words") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(
        dir.join("fail.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: /bin/false\n",
    );
    let staging = sshd.dir().join("stage");
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd)],
        "provisioners": [{
            "type": "ansible-local", "playbook_file": "fail.yml",
            "staging_directory": staging,
        }],
    });
    let run = build(dir, &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("Error executing Ansible: Non-zero exit status: 2"),
        "{}",
        run.transcript()
    );
    // Not cleaned: clean_staging_directory was not asked for.
    assert!(staging.join("fail.yml").is_file());
}

#[test]
fn a_missing_playbook_is_a_config_error_at_its_key() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let template = serde_json::json!({
        "builders": [{"type": "null", "communicator": "none"}],
        "provisioners": [
            {"type": "ansible", "playbook_file": "nowhere.yml", "skip_version_check": true},
            {"type": "ansible-local"},
        ],
    });
    std::fs::write(
        dir.join("template.json"),
        serde_json::to_string(&template).unwrap(),
    )
    .unwrap();
    let run = crate::kiln::Kiln::new(dir)
        .env("KILN_CACHE_DIR", &crate::build::cache_dir())
        .args(&["validate", "template.json"])
        .run();
    assert_eq!(run.code, 1, "{}", run.transcript());
    for expected in [
        "playbook_file: nowhere.yml is invalid: No such file or directory",
        "Either playbook_file or playbook_files must be specified",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected:?}:\n{}",
            run.transcript()
        );
    }
}

/// A stand-in for `ansible-playbook` that records its arguments (one per line), the
/// `ANSIBLE_*` environment and the inventory it was given into `record`.
fn recorder(path: &Path, record: &Path) {
    write(
        path,
        &format!(
            r#"#!/bin/sh
[ "$1" = --version ] && {{ echo "ansible-playbook 2.9.6"; exit 0; }}
out={record}
for a in "$@"; do printf 'arg %s\n' "$a"; done >> "$out"
env | grep '^ANSIBLE_' | sort | sed 's/^/env /' >> "$out"
prev=
for a in "$@"; do
  if [ "$prev" = -i ]; then sed 's/^/inventory /' "$a" >> "$out"; fi
  prev=$a
done
echo "stand-in ran"
"#,
            record = record.display()
        ),
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A recording with the paths each tool chooses for itself (the key file, the inventory, the
/// login's SSH state) replaced by names, and kiln's own environment additions dropped.
fn normalized(record: &str) -> Vec<String> {
    let mut previous = String::new();
    record
        .lines()
        .filter(|l| {
            !l.starts_with("env ANSIBLE_SSH_CONTROL_PATH_DIR=")
                && !l.starts_with("env ANSIBLE_SSH_COMMON_ARGS=")
        })
        .map(|l| {
            let line = if l.starts_with("arg ansible_ssh_private_key_file=") {
                "arg ansible_ssh_private_key_file=KEY".to_owned()
            } else if previous == "arg -i" {
                "arg INVENTORY".to_owned()
            } else {
                l.to_owned()
            };
            previous = l.to_owned();
            line
        })
        .collect()
}

#[test]
fn packer_and_kiln_run_ansible_the_same_way() {
    if skip_without_sshd("packer_and_kiln_run_ansible_the_same_way") {
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
    write(dir.join("site.yml"), "- hosts: all\n  tasks: []\n");
    write(dir.join("roles/r/tasks/main.yml"), "- debug: msg=r\n");
    let template = |tool: &str| {
        let record = dir.join(format!("{tool}.record"));
        let local_record = dir.join(format!("{tool}-local.record"));
        recorder(&dir.join(format!("{tool}-ansible")), &record);
        recorder(&dir.join(format!("{tool}-ansible-local")), &local_record);
        serde_json::json!({
            "builders": [ssh_builder(&sshd)],
            "provisioners": [
                {
                    "type": "ansible",
                    "command": dir.join(format!("{tool}-ansible")),
                    "playbook_file": "site.yml",
                    "use_proxy": false,
                    "host_alias": "target",
                    "groups": ["web"],
                    "empty_groups": ["spare"],
                    "ansible_env_vars": ["ANSIBLE_NOCOLOR=True"],
                    "ansible_ssh_extra_args": ["-o ForwardAgent=no"],
                    "extra_arguments": ["-e", "x=1", "-v"],
                },
                {
                    "type": "ansible-local",
                    "command": dir.join(format!("{tool}-ansible-local")),
                    "playbook_file": "site.yml",
                    "role_paths": ["roles/r"],
                    "staging_directory": sshd.dir().join(format!("{tool}-stage")),
                    "extra_arguments": ["-v"],
                },
            ],
        })
    };
    ok(&build(dir, &template("kiln"), &[]));
    std::fs::write(
        dir.join("packer.json"),
        serde_json::to_string_pretty(&template("packer")).unwrap(),
    )
    .unwrap();
    let run = crate::packer_differential::run_packer(&packer, dir, &["build", "packer.json"]);
    assert_eq!(run.code, 0, "packer: {}", run.transcript());

    let kiln = normalized(&read(dir.join("kiln.record")));
    let packer = normalized(&read(dir.join("packer.record")));
    assert_eq!(kiln, packer);
    for expected in [
        "arg packer_build_name=\"host\"".to_owned(),
        "arg '-o ForwardAgent=no'".to_owned(),
        "env ANSIBLE_HOST_KEY_CHECKING=False".to_owned(),
        "env ANSIBLE_NOCOLOR=True".to_owned(),
        format!(
            "inventory target ansible_host=127.0.0.1 ansible_user={} ansible_port={}",
            sshd.user(),
            sshd.port()
        ),
        "inventory [spare]".to_owned(),
    ] {
        assert!(kiln.contains(&expected), "{expected:?} not in {kiln:#?}");
    }

    // ansible-local: the same command on the machine, staging and inventory names aside.
    let local = |tool: &str| -> Vec<String> {
        let stage = sshd
            .dir()
            .join(format!("{tool}-stage"))
            .display()
            .to_string();
        read(dir.join(format!("{tool}-local.record")))
            .lines()
            .map(|l| {
                let l = l.replace(&stage, "STAGE");
                match l.strip_prefix("arg STAGE/packer-provisioner-ansible-local") {
                    Some(_) => "arg STAGE/INVENTORY".to_owned(),
                    None => l,
                }
            })
            .filter(|l| !l.starts_with("env ") && !l.starts_with("inventory "))
            .collect()
    };
    assert_eq!(local("kiln"), local("packer"));
    assert!(
        local("kiln").contains(&"arg STAGE/site.yml".to_owned()),
        "{:?}",
        local("kiln")
    );
    for tool in ["kiln", "packer"] {
        assert!(
            sshd.dir()
                .join(format!("{tool}-stage/roles/r/tasks/main.yml"))
                .is_file()
        );
    }
}

#[test]
fn the_ansible_example_provisions_a_host() {
    if skip("the_ansible_example_provisions_a_host") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let remote = sshd.dir().join("example");
    let example = crate::kiln::workspace().join("examples/ansible/template.json");
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let run = crate::kiln::Kiln::new(work.path())
        .env("KILN_CACHE_DIR", &crate::build::cache_dir())
        .env("TMPDIR", tmp.to_str().unwrap())
        .args(&[
            "build",
            &format!("-var=ssh_port={}", sshd.port()),
            &format!("-var=ssh_username={}", sshd.user()),
            &format!("-var=ssh_private_key_file={}", sshd.client_key().display()),
            &format!("-var=remote_dir={}", remote.display()),
            example.to_str().unwrap(),
        ])
        .run();
    ok(&run);
    for via in ["ansible", "ansible-local"] {
        assert_eq!(
            read(remote.join(format!("motd-{via}"))),
            format!(
                "Hello from Ansible: build existing-host (null), provisioned by {via} as {}\n",
                if via == "ansible" {
                    "default"
                } else {
                    "127.0.0.1"
                }
            )
        );
    }
    assert!(
        run.stdout
            .contains("    existing-host: Removing staging directory..."),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "TMPDIR left behind"
    );
}

#[test]
fn without_an_ssh_communicator_ansible_says_why_and_what_to_use() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(dir.join("site.yml"), "- hosts: all\n  tasks: []\n");
    let template = serde_json::json!({
        "builders": [{"type": "null", "name": "nothing", "communicator": "none"}],
        "provisioners": [{"type": "ansible", "playbook_file": "site.yml", "skip_version_check": true}],
    });
    let run = build(dir, &template, &[]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains(
            "the ansible provisioner connects Ansible to the machine over SSH, and this build's communicator is \"none\""
        ) && run.stderr.contains("run Ansible on the machine with ansible-local instead"),
        "{}",
        run.transcript()
    );
}

#[test]
fn galaxy_roles_and_a_kept_inventory_beside_its_group_vars() {
    if skip("galaxy_roles_and_a_kept_inventory_beside_its_group_vars") {
        return;
    }
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let out = sshd.dir().join("galaxy.txt");
    // A role as a local tarball, so ansible-galaxy needs no network.
    write(
        dir.join("src/greet/tasks/main.yml"),
        &format!(
            "- copy:\n    content: \"{{{{ greeting }}}} from a galaxy role\\n\"\n    dest: {}\n",
            out.display()
        ),
    );
    write(
        dir.join("src/greet/meta/main.yml"),
        "galaxy_info:\n  author: kiln\n  description: test\n  license: MIT\n  min_ansible_version: \"2.9\"\n  platforms: []\ndependencies: []\n",
    );
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir.join("src"))
        .args(["-czf", "greet.tar.gz", "greet"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(tar.success());
    write(
        dir.join("requirements.yml"),
        &format!(
            "- src: file://{}\n  name: greet\n",
            dir.join("greet.tar.gz").display()
        ),
    );
    write(
        dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  roles: [greet]\n",
    );
    write(dir.join("inventory/group_vars/all.yml"), "greeting: Hi\n");
    let template = serde_json::json!({
        "builders": [ssh_builder(&sshd)],
        "provisioners": [{
            "type": "ansible",
            "playbook_file": "site.yml",
            "galaxy_file": "requirements.yml",
            "galaxy_force_install": true,
            "roles_path": "roles",
            "ansible_env_vars": [format!("ANSIBLE_ROLES_PATH={}", dir.join("roles").display())],
            "inventory_directory": "inventory",
            "keep_inventory_file": true,
        }],
    });
    let run = build(dir, &template, &[]);
    ok(&run);
    assert!(
        run.stdout.contains("    host: Executing Ansible Galaxy"),
        "{}",
        run.stdout
    );
    assert!(dir.join("roles/greet/tasks/main.yml").is_file());
    assert_eq!(read(&out), "Hi from a galaxy role\n");
    let kept: Vec<_> = std::fs::read_dir(dir.join("inventory"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("packer-provisioner-ansible"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        read(dir.join("inventory").join(&kept[0])),
        format!(
            "default ansible_host=127.0.0.1 ansible_user={} ansible_port={}\n",
            sshd.user(),
            sshd.port()
        )
    );
}
