//! examples/policy: the locked corporate policy and the user file that narrows it.

use std::path::{Path, PathBuf};

use kiln_policy::{
    ByteSize, Decision, EffectivePolicy, Flags, LayerKind, Mode, PluginKind, Source, Sources, Use,
};

use crate::{ctx, denial_text, first_party, inline, rhai};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policy")
        .join(name)
}

fn corporate() -> EffectivePolicy {
    let sources = Sources {
        system: Some(example("system.toml")),
        user: Some(example("user.toml")),
        project: None,
        flags: Flags::default(),
    };
    EffectivePolicy::load(&sources).unwrap()
}

#[test]
fn the_user_file_narrows_the_locked_policy() {
    let policy = corporate();
    let system = Source::file(LayerKind::System, example("system.toml"));
    let user = Source::file(LayerKind::User, example("user.toml"));
    assert_eq!(policy.locked_by(), Some(&system));
    assert_eq!(policy.mode().value, Mode::Enforce);

    let builder = first_party(PluginKind::Builder, "qemu");
    let limits = policy.limits_for(&builder);
    assert_eq!(limits.memory.value, ByteSize(512 << 20));
    assert_eq!(limits.memory.source, user);
    assert_eq!(limits.wall_time.value.as_secs(), 6 * 3600);
    assert_eq!(limits.wall_time.source, system);

    let grant = policy.grant_for(&builder, &ctx());
    assert_eq!(
        grant.check(&Use::Communicator {
            host: "10.20.1.9",
            port: 22
        }),
        Decision::Allow
    );
    // Inside the system's 10.0.0.0/8 but outside the user's 10.20.0.0/16.
    assert_eq!(
        denial_text(&grant.check(&Use::Communicator {
            host: "10.30.1.9",
            port: 22
        })),
        format!(
            "denied: communicator 10.30.1.9:22 not in capabilities.communicator ({})",
            example("user.toml").display()
        )
    );
    assert_eq!(
        denial_text(&grant.check(&Use::Connect {
            scheme: Some("https"),
            host: "deb.debian.org",
            port: 443
        })),
        format!(
            "denied: network https://deb.debian.org:443 not in capabilities.network ({})",
            example("system.toml").display()
        )
    );
    assert!(
        grant
            .check(&Use::Connect {
                scheme: Some("https"),
                host: "mirror.corp.example",
                port: 443
            })
            .is_allowed()
    );
    assert!(!grant.check(&Use::Hypervisor("virtualbox")).is_allowed());
    let system_file = example("system.toml").display().to_string();
    let shell_local =
        policy.grant_for(&first_party(PluginKind::Provisioner, "shell-local"), &ctx());
    assert_eq!(
        denial_text(&shell_local.check(&Use::LocalExec(&["make".into()]))),
        format!(
            "denied: local exec of \"make\" not allowed by capabilities.local_exec ({system_file})"
        )
    );
    assert_eq!(
        denial_text(&policy.admits(&rhai(None))),
        format!(
            "denied: unsigned Rhai script /home/me/debian/setup.rhai not allowed by plugins.rhai ({system_file})"
        )
    );
}

#[test]
fn the_user_cannot_turn_audit_on() {
    let system = std::fs::read_to_string(example("system.toml")).unwrap();
    let system =
        kiln_policy::Layer::parse(LayerKind::System, example("system.toml"), &system).unwrap();
    let user = inline(
        LayerKind::User,
        "/home/me/.config/kiln/policy.toml",
        "version = 1\nmode = \"audit\"\n",
    );
    assert_eq!(
        EffectivePolicy::from_layers([system, user], &Flags::default())
            .unwrap_err()
            .to_string(),
        format!(
            "/home/me/.config/kiln/policy.toml: mode sets \"audit\" over \"enforce\" but {} is locked",
            example("system.toml").display()
        )
    );
}
