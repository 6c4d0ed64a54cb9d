//! Kiln's default policy, with no file at all.

use std::path::Path;
use std::time::Duration;

use kiln_policy::{ByteSize, Decision, EffectivePolicy, Mode, PluginKind, Source, Use};

use crate::{PINNED, ctx, denial_text, first_party, rhai, third_party};

#[test]
fn no_file_at_all_is_kilns_default() {
    let loaded = EffectivePolicy::load(&kiln_policy::Sources::default()).unwrap();
    assert_eq!(loaded, EffectivePolicy::default());
    assert_eq!(loaded.mode().value, Mode::Enforce);
    assert_eq!(loaded.locked_by(), None);
}

#[test]
fn every_plugin_is_admitted() {
    let policy = EffectivePolicy::default();
    for plugin in [
        first_party(PluginKind::Builder, "qemu"),
        third_party(PINNED, "file:///home/me/plugins/x.wasm", None),
        rhai(None),
    ] {
        assert_eq!(policy.admits(&plugin), Decision::Allow, "{plugin}");
    }
}

#[test]
fn paths_are_the_template_and_the_output() {
    let grant =
        EffectivePolicy::default().grant_for(&first_party(PluginKind::Provisioner, "file"), &ctx());
    let read = |p: &str| grant.check(&Use::Read(Path::new(p)));
    let write = |p: &str| grant.check(&Use::Write(Path::new(p)));
    assert!(read("/home/me/debian/http/preseed.cfg").is_allowed());
    assert!(read("/home/me/debian/output-qemu/disk.qcow2").is_allowed());
    assert!(write("/home/me/debian/output-qemu/disk.qcow2").is_allowed());
    assert!(write("/tmp/kiln-1234/key").is_allowed());
    assert_eq!(
        denial_text(&write("/home/me/debian/template.json")),
        "denied: write /home/me/debian/template.json not in capabilities.read_write (kiln's default policy)"
    );
    assert_eq!(
        denial_text(&read("/home/me/.ssh/id_ed25519")),
        "denied: read /home/me/.ssh/id_ed25519 not in capabilities.read_only or capabilities.read_write (kiln's default policy)"
    );
}

#[test]
fn first_party_builders_download_and_third_party_plugins_do_not() {
    let policy = EffectivePolicy::default();
    let download = Use::Connect {
        scheme: Some("https"),
        host: "deb.debian.org",
        port: 443,
    };
    let builder = policy.grant_for(&first_party(PluginKind::Builder, "qemu"), &ctx());
    assert_eq!(builder.check(&download), Decision::Allow);
    let foreign = policy.grant_for(&third_party(PINNED, "file:///x.wasm", None), &ctx());
    assert_eq!(
        denial_text(&foreign.check(&download)),
        "denied: network https://deb.debian.org:443 not in capabilities.network (kiln's default policy)"
    );
    let script = policy.grant_for(&rhai(None), &ctx());
    assert!(!script.check(&download).is_allowed());
}

#[test]
fn local_exec_is_for_shell_local_ansible_and_rhai() {
    let policy = EffectivePolicy::default();
    let argv = ["make".to_string()];
    let exec = Use::LocalExec(&argv);
    for plugin in [
        first_party(PluginKind::Provisioner, "shell-local"),
        first_party(PluginKind::PostProcessor, "shell-local"),
        first_party(PluginKind::Provisioner, "ansible"),
        rhai(None),
    ] {
        assert_eq!(
            policy.grant_for(&plugin, &ctx()).check(&exec),
            Decision::Allow,
            "{plugin}"
        );
    }
    for plugin in [
        first_party(PluginKind::Provisioner, "shell"),
        third_party(PINNED, "file:///x.wasm", None),
    ] {
        assert_eq!(
            denial_text(&policy.grant_for(&plugin, &ctx()).check(&exec)),
            "denied: local exec of \"make\" not allowed by capabilities.local_exec (kiln's default policy)"
        );
    }
}

#[test]
fn an_ssh_login_goes_only_to_plugins_that_may_run_host_commands() {
    let policy = EffectivePolicy::default();
    let login = Use::SshLogin {
        host: "127.0.0.1",
        port: 2222,
    };
    let ansible = policy.grant_for(&first_party(PluginKind::Provisioner, "ansible"), &ctx());
    assert_eq!(ansible.check(&login), Decision::Allow);
    let shell = policy.grant_for(&first_party(PluginKind::Provisioner, "shell"), &ctx());
    assert_eq!(
        denial_text(&shell.check(&login)),
        "denied: handing the SSH login to 127.0.0.1:2222 to host commands not allowed by capabilities.local_exec (kiln's default policy)"
    );
}

#[test]
fn communicator_and_http_bind_go_anywhere_env_is_empty() {
    let grant =
        EffectivePolicy::default().grant_for(&first_party(PluginKind::Builder, "qemu"), &ctx());
    assert!(
        grant
            .check(&Use::Communicator {
                host: "203.0.113.7",
                port: 2222
            })
            .is_allowed()
    );
    assert!(
        grant
            .check(&Use::Communicator {
                host: "build.example.com",
                port: 22
            })
            .is_allowed()
    );
    assert!(
        grant
            .check(&Use::HttpBind("0.0.0.0:8080".parse().unwrap()))
            .is_allowed()
    );
    assert!(grant.check(&Use::Hypervisor("qemu")).is_allowed());
    assert_eq!(
        denial_text(&grant.check(&Use::Env("AWS_SECRET_ACCESS_KEY"))),
        "denied: environment variable AWS_SECRET_ACCESS_KEY not in capabilities.env (kiln's default policy)"
    );
}

#[test]
fn limits() {
    let policy = EffectivePolicy::default();
    let provisioner = policy.limits_for(&first_party(PluginKind::Provisioner, "shell"));
    assert_eq!(provisioner.memory.value, ByteSize(1 << 30));
    assert_eq!(provisioner.wall_time.value, Duration::from_secs(4 * 3600));
    assert_eq!(provisioner.fuel.value, None);
    assert_eq!(provisioner.output_bytes.value, ByteSize(64 << 20));
    assert_eq!(provisioner.memory.source, Source::Default);
    let builder = policy.limits_for(&first_party(PluginKind::Builder, "qemu"));
    assert_eq!(builder.wall_time.value, Duration::from_secs(24 * 3600));
    let post = policy.limits_for(&first_party(PluginKind::PostProcessor, "compress"));
    assert_eq!(post.wall_time.value, Duration::from_secs(4 * 3600));
}

#[test]
fn show_names_the_default_everywhere() {
    let shown = EffectivePolicy::default().to_string();
    let expected = r#"version = 1
locked = false
mode = "enforce"                 # kiln's default policy

[limits]
memory = "1GiB"                  # kiln's default policy
wall_time = "4h"                 # kiln's default policy
builder_wall_time = "24h"        # kiln's default policy
fuel = 0                         # kiln's default policy
output_bytes = "64MiB"           # kiln's default policy

[plugins]
allowed_sha256 = ["*"]           # kiln's default policy
allowed_sources = ["*"]          # kiln's default policy
trusted_keys = []                # kiln's default policy
allow_unsigned = true            # kiln's default policy
rhai = "allowed"                 # kiln's default policy

[capabilities]
hypervisors = ["*"]              # kiln's default policy
network = [                      # kiln's default policy
    "*",                         # kiln's default policy; first-party plugins only
]
communicator = ["*"]             # kiln's default policy
read_only = ["${TEMPLATE_DIR}"]  # kiln's default policy
read_write = ["${OUTPUT_DIR}"]   # kiln's default policy
http_bind = ["*"]                # kiln's default policy
env = []                         # kiln's default policy
local_exec = ["first-party shell-local", "first-party ansible", "Rhai scripts"]  # kiln's default policy
"#;
    assert_eq!(shown, expected, "\n{shown}");
}
