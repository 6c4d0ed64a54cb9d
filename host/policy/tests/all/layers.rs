//! Combining layers: replacement while unlocked, narrowing under a lock, overrides, flags,
//! and where the files are.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_policy::{
    ByteSize, Decision, EffectivePolicy, Flags, LayerError, LayerKind, LoadError, Mode, PluginKind,
    Source, Sources, Use,
};

use crate::{
    PINNED, TRUSTED_KEY, combine, ctx, denial_text, first_party, fixture, inline, layer, rhai,
    third_party,
};

fn system(name: &str) -> kiln_policy::Layer {
    layer(LayerKind::System, name)
}

fn user(name: &str) -> kiln_policy::Layer {
    layer(LayerKind::User, name)
}

fn locked_path() -> String {
    fixture("locked.toml").display().to_string()
}

#[test]
fn locked_narrowing_is_accepted() {
    let policy = combine([system("locked.toml"), user("narrow.toml")]);
    let narrow = Source::file(LayerKind::User, fixture("narrow.toml"));
    assert_eq!(
        policy.locked_by(),
        Some(&Source::file(LayerKind::System, fixture("locked.toml")))
    );

    let builder = first_party(PluginKind::Builder, "qemu");
    let limits = policy.limits_for(&builder);
    assert_eq!(limits.memory.value, ByteSize(256 << 20));
    assert_eq!(limits.memory.source, narrow);
    // The user's wall_time narrows builders too, since it is below theirs.
    assert_eq!(limits.wall_time.value, Duration::from_secs(20 * 60));
    assert_eq!(limits.fuel.value, Some(100));

    let grant = policy.grant_for(&builder, &ctx());
    let connect = |host, port| {
        grant.check(&Use::Connect {
            scheme: Some("https"),
            host,
            port,
        })
    };
    assert_eq!(connect("api.example.com", 443), Decision::Allow);
    assert_eq!(
        denial_text(&connect("deb.debian.org", 443)),
        format!(
            "denied: network https://deb.debian.org:443 not in capabilities.network ({})",
            fixture("narrow.toml").display()
        )
    );
    assert!(
        grant
            .check(&Use::Connect {
                scheme: None,
                host: "10.1.2.3",
                port: 80
            })
            .is_allowed()
    );
    assert!(
        !grant
            .check(&Use::Connect {
                scheme: None,
                host: "10.2.0.1",
                port: 80
            })
            .is_allowed()
    );
    assert!(
        grant
            .check(&Use::Communicator {
                host: "10.20.3.4",
                port: 22
            })
            .is_allowed()
    );
    assert!(
        !grant
            .check(&Use::Communicator {
                host: "10.30.3.4",
                port: 22
            })
            .is_allowed()
    );
    assert!(grant.check(&Use::Hypervisor("qemu")).is_allowed());
    assert!(!grant.check(&Use::Hypervisor("docker")).is_allowed());
    assert!(grant.check(&Use::Env("AWS_REGION")).is_allowed());
    assert!(!grant.check(&Use::Env("AWS_SECRET_ACCESS_KEY")).is_allowed());
    assert!(
        grant
            .check(&Use::Read(Path::new("/home/me/debian/http/preseed.cfg")))
            .is_allowed()
    );
    assert!(
        !grant
            .check(&Use::Read(Path::new("/home/me/debian/template.json")))
            .is_allowed()
    );
    assert!(
        !grant
            .check(&Use::LocalExec(&["true".to_string()]))
            .is_allowed()
    );
    assert_eq!(
        policy
            .admits(&rhai(Some(TRUSTED_KEY)))
            .denial()
            .unwrap()
            .rule,
        "plugins.rhai"
    );
}

#[test]
fn narrowing_narrows_the_overrides_too() {
    let pinned = third_party(
        PINNED,
        "oci://registry.example.com/kiln/x:1",
        Some(TRUSTED_KEY),
    );
    let locked_only = combine([system("locked.toml")]);
    let wide = locked_only.grant_for(&pinned, &ctx());
    assert!(
        wide.check(&Use::Connect {
            scheme: Some("https"),
            host: "api.partner.test",
            port: 443
        })
        .is_allowed()
    );
    assert!(wide.check(&Use::Env("PARTNER_TOKEN")).is_allowed());
    assert_eq!(
        locked_only.limits_for(&pinned).memory.value,
        ByteSize(4 << 30)
    );

    let narrowed = combine([system("locked.toml"), user("narrow.toml")]);
    let grant = narrowed.grant_for(&pinned, &ctx());
    assert!(
        !grant
            .check(&Use::Connect {
                scheme: Some("https"),
                host: "api.partner.test",
                port: 443
            })
            .is_allowed()
    );
    assert!(!grant.check(&Use::Env("PARTNER_TOKEN")).is_allowed());
    assert_eq!(
        narrowed.limits_for(&pinned).memory.value,
        ByteSize(256 << 20)
    );
}

#[test]
fn locked_widening_names_both_files() {
    let e = EffectivePolicy::from_layers(
        [system("locked.toml"), user("widen-network.toml")],
        &Flags::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: capabilities.network adds \"0.0.0.0/0\" but {} is locked",
            fixture("widen-network.toml").display(),
            locked_path()
        )
    );
    assert!(matches!(e, LayerError::Widens { ref key, .. } if key == "capabilities.network"));
}

#[test]
fn every_kind_of_widening_is_refused() {
    let user = "/home/me/.config/kiln/policy.toml";
    let locked = locked_path();
    let cases = [
        ("mode = \"audit\"", "mode sets \"audit\" over \"enforce\""),
        (
            "[limits]\nmemory = \"2GiB\"",
            "limits.memory raises 1GiB to 2GiB",
        ),
        (
            "[limits]\nwall_time = \"2h\"",
            "limits.wall_time raises 1h to 2h",
        ),
        (
            "[limits]\nbuilder_wall_time = \"2h\"",
            "limits.builder_wall_time raises 1h to 2h",
        ),
        ("[limits]\nfuel = 0", "limits.fuel turns fuel metering off"),
        ("[limits]\nfuel = 6000", "limits.fuel raises 5000 to 6000"),
        (
            "[limits]\noutput_bytes = \"1GiB\"",
            "limits.output_bytes raises 64MiB to 1GiB",
        ),
        (
            "[plugins]\nallow_unsigned = true",
            "plugins.allow_unsigned allows unsigned plugins",
        ),
        (
            "[plugins]\nrhai = \"allowed\"",
            "plugins.rhai relaxes \"signed-only\" to \"allowed\"",
        ),
        (
            "[plugins]\ntrusted_keys = [\"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
            "plugins.trusted_keys adds \"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
        ),
        (
            "[plugins]\nallowed_sources = [\"https://plugins.example.com/*\"]",
            "",
        ),
        (
            "[capabilities]\nhypervisors = [\"*\"]",
            "capabilities.hypervisors adds \"*\"",
        ),
        (
            "[capabilities]\nnetwork = [\"*.debian.org:443\"]",
            "capabilities.network adds \"*.debian.org:443\"",
        ),
        (
            "[capabilities]\nnetwork = [\"http://deb.debian.org:443\"]",
            "capabilities.network adds \"http://deb.debian.org:443\"",
        ),
        (
            "[capabilities]\ncommunicator = [\"10.0.0.0/8:2222\"]",
            "capabilities.communicator adds \"10.0.0.0/8:2222\"",
        ),
        (
            "[capabilities]\nread_only = [\"/home/me\"]",
            "capabilities.read_only adds \"/home/me\"",
        ),
        (
            "[capabilities]\nread_write = [\"${TEMPLATE_DIR}\"]",
            "capabilities.read_write adds \"${TEMPLATE_DIR}\"",
        ),
        ("[capabilities]\nhttp_bind = [\"0.0.0.0:80\"]", ""),
        (
            "[capabilities]\nenv = [\"HOME\"]",
            "capabilities.env adds \"HOME\"",
        ),
    ];
    for (text, change) in cases {
        let result = EffectivePolicy::from_layers(
            [
                system("locked.toml"),
                inline(LayerKind::User, user, &format!("version = 1\n{text}\n")),
            ],
            &Flags::default(),
        );
        if change.is_empty() {
            // locked.toml leaves allowed_sources and http_bind at kiln's default ("*"), which
            // any list narrows.
            assert!(result.is_ok(), "{text}: {:?}", result.err());
        } else {
            assert_eq!(
                result.unwrap_err().to_string(),
                format!("{user}: {change} but {locked} is locked"),
                "{text}"
            );
        }
    }
}

#[test]
fn locking_locks_the_defaults_it_leaves() {
    let locked = inline(
        LayerKind::System,
        "/etc/kiln/policy.toml",
        "version = 1\nlocked = true\n",
    );
    let widen = inline(
        LayerKind::Project,
        "/home/me/debian/kiln.policy.toml",
        "version = 1\n[capabilities]\nenv = [\"HOME\"]\nlocal_exec = true\n",
    );
    let e = EffectivePolicy::from_layers([locked.clone(), widen], &Flags::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/home/me/debian/kiln.policy.toml: capabilities.env adds \"HOME\" but /etc/kiln/policy.toml is locked"
    );
    let exec = inline(
        LayerKind::Project,
        "/p/kiln.policy.toml",
        "version = 1\n[capabilities]\nlocal_exec = true\n",
    );
    assert_eq!(
        EffectivePolicy::from_layers([locked.clone(), exec], &Flags::default())
            .unwrap_err()
            .to_string(),
        "/p/kiln.policy.toml: capabilities.local_exec turns local exec on but /etc/kiln/policy.toml is locked"
    );
    // Narrowing the default network (first-party only) keeps it first-party only.
    let mirror = inline(
        LayerKind::User,
        "/u.toml",
        "version = 1\n[capabilities]\nnetwork = [\"https://deb.debian.org:443\"]\n",
    );
    let policy = combine([locked, mirror]);
    let download = Use::Connect {
        scheme: Some("https"),
        host: "deb.debian.org",
        port: 443,
    };
    assert!(
        policy
            .grant_for(&first_party(PluginKind::Builder, "qemu"), &ctx())
            .check(&download)
            .is_allowed()
    );
    assert_eq!(
        denial_text(
            &policy
                .grant_for(&third_party(PINNED, "file:///x.wasm", None), &ctx())
                .check(&download)
        ),
        "denied: network https://deb.debian.org:443 not in capabilities.network (/u.toml)"
    );
}

#[test]
fn each_later_layer_narrows_what_is_in_force() {
    let project = inline(
        LayerKind::Project,
        "/home/me/debian/kiln.policy.toml",
        "version = 1\n[capabilities]\ncommunicator = [\"10.0.0.0/8:22\"]\n",
    );
    let e = EffectivePolicy::from_layers(
        [project, user("narrow.toml"), system("locked.toml")],
        &Flags::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "/home/me/debian/kiln.policy.toml: capabilities.communicator adds \"10.0.0.0/8:22\" but {} is locked",
            locked_path()
        )
    );
}

#[test]
fn unlocked_layers_replace_what_they_name() {
    let policy = combine([system("unlocked.toml"), user("user-replace.toml")]);
    let replaced = Source::file(LayerKind::User, fixture("user-replace.toml"));
    assert_eq!(policy.mode().value, Mode::Audit);
    assert_eq!(policy.mode().source, replaced);
    let foreign = third_party(PINNED, "file:///x.wasm", None);
    let limits = policy.limits_for(&foreign);
    assert_eq!(limits.memory.value, ByteSize(8 << 30));
    let grant = policy.grant_for(&foreign, &ctx());
    assert_eq!(
        grant.check(&Use::Connect {
            scheme: None,
            host: "example.org",
            port: 1
        }),
        Decision::Allow
    );
    assert!(grant.local_exec.value);
    assert_eq!(grant.local_exec.source, replaced);
    // What the user file does not name stays the system file's.
    let outside = grant.check(&Use::Communicator {
        host: "192.168.1.1",
        port: 22,
    });
    assert!(matches!(outside, Decision::AuditDenied(_)), "{outside:?}");
    assert_eq!(
        denial_text(&grant.check(&Use::Communicator {
            host: "192.168.1.1",
            port: 22
        })),
        format!(
            "denied: communicator 192.168.1.1:22 not in capabilities.communicator ({})",
            fixture("unlocked.toml").display()
        )
    );
    // An unlocked user file may override too.
    assert!(grant.check(&Use::Env("GITHUB_TOKEN")).is_allowed());
    assert_eq!(
        grant.env.entries[0].source.to_string(),
        format!("{} [[override]]", fixture("user-replace.toml").display())
    );
}

#[test]
fn overrides_only_from_the_admin_layer() {
    let e = EffectivePolicy::from_layers(
        [system("locked.toml"), user("user-override.toml")],
        &Flags::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: [[override]] widens the policy, which only the system policy may do while {} is locked",
            fixture("user-override.toml").display(),
            locked_path()
        )
    );
    // The system file's own overrides count.
    let policy = combine([system("locked.toml")]);
    let pinned = third_party(PINNED, "file:///x.wasm", Some(TRUSTED_KEY));
    let other = third_party(&"a".repeat(64), "file:///x.wasm", Some(TRUSTED_KEY));
    let token = Use::Env("PARTNER_TOKEN");
    assert!(policy.grant_for(&pinned, &ctx()).check(&token).is_allowed());
    assert_eq!(
        denial_text(&policy.grant_for(&other, &ctx()).check(&token)),
        format!(
            "denied: environment variable PARTNER_TOKEN not in capabilities.env ({})",
            locked_path()
        )
    );
    // And so do a user file's when nothing is locked.
    let unlocked = combine([user("user-override.toml")]);
    assert!(unlocked.grant_for(&pinned, &ctx()).local_exec.value);
    assert!(!unlocked.grant_for(&other, &ctx()).local_exec.value);
}

#[test]
fn locked_belongs_to_the_system_layer() {
    for text in [
        "version = 1\nlocked = true\n",
        "version = 1\nlocked = false\n",
    ] {
        let e = EffectivePolicy::from_layers(
            [inline(LayerKind::User, "/u.toml", text)],
            &Flags::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/u.toml: `locked` belongs in the system policy only"
        );
    }
}

#[test]
fn flags_add_local_exec_unless_locked() {
    let flags = Flags {
        allow_local_exec: vec!["ansible-remote".into()],
        mode: None,
    };
    let foreign = third_party(PINNED, "file:///x.wasm", None);
    let policy = EffectivePolicy::from_layers([], &flags).unwrap();
    let grant = policy.grant_for(&foreign, &ctx());
    assert!(grant.local_exec.value);
    assert_eq!(grant.local_exec.source, Source::CommandLine);

    let locked = inline(
        LayerKind::System,
        "/etc/kiln/policy.toml",
        "version = 1\nlocked = true\n",
    );
    assert_eq!(
        EffectivePolicy::from_layers([locked.clone()], &flags)
            .unwrap_err()
            .to_string(),
        "command line: --allow-local-exec adds \"ansible-remote\" but /etc/kiln/policy.toml is locked"
    );
    // Under a lock that already allows everyone, the flag changes nothing.
    assert!(EffectivePolicy::from_layers([system("locked.toml")], &flags).is_ok());

    let audit = Flags {
        allow_local_exec: vec![],
        mode: Some(Mode::Audit),
    };
    assert_eq!(
        EffectivePolicy::from_layers([locked.clone()], &audit)
            .unwrap_err()
            .to_string(),
        "command line: mode sets \"audit\" over \"enforce\" but /etc/kiln/policy.toml is locked"
    );
    let unlocked = EffectivePolicy::from_layers([], &audit).unwrap();
    assert_eq!(unlocked.mode().value, Mode::Audit);
    assert_eq!(unlocked.mode().source, Source::CommandLine);
    let enforce = Flags {
        allow_local_exec: vec![],
        mode: Some(Mode::Enforce),
    };
    assert!(EffectivePolicy::from_layers([locked], &enforce).is_ok());
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let vars: Vec<(String, OsString)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn where_the_files_are() {
    let template = Path::new("/home/me/debian");
    let s = Sources::locate(env(&[("HOME", "/home/me")]), Some(template));
    assert_eq!(s.system, Some(PathBuf::from("/etc/kiln/policy.toml")));
    assert_eq!(
        s.user,
        Some(PathBuf::from("/home/me/.config/kiln/policy.toml"))
    );
    assert_eq!(
        s.project,
        Some(PathBuf::from("/home/me/debian/kiln.policy.toml"))
    );

    let s = Sources::locate(
        env(&[
            ("HOME", "/home/me"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("KILN_SYSTEM_POLICY", "/t/p.toml"),
        ]),
        None,
    );
    assert_eq!(s.system, Some(PathBuf::from("/t/p.toml")));
    assert_eq!(s.user, Some(PathBuf::from("/xdg/kiln/policy.toml")));
    assert_eq!(s.project, None);

    // Empty and relative values are ignored, as XDG says.
    let s = Sources::locate(
        env(&[
            ("HOME", "/home/me"),
            ("XDG_CONFIG_HOME", "relative"),
            ("KILN_SYSTEM_POLICY", ""),
        ]),
        None,
    );
    assert_eq!(s.system, Some(PathBuf::from("/etc/kiln/policy.toml")));
    assert_eq!(
        s.user,
        Some(PathBuf::from("/home/me/.config/kiln/policy.toml"))
    );
    assert_eq!(Sources::locate(env(&[]), None).user, None);
}

#[test]
fn load_reads_the_files_that_exist() {
    let sources = Sources {
        system: Some(fixture("locked.toml")),
        user: Some(fixture("no-such-file.toml")),
        project: Some(fixture("narrow.toml")),
        flags: Flags::default(),
    };
    let policy = EffectivePolicy::load(&sources).unwrap();
    let limits = policy.limits_for(&first_party(PluginKind::Provisioner, "shell"));
    assert_eq!(limits.memory.value, ByteSize(256 << 20));
    assert_eq!(
        limits.memory.source,
        Source::file(LayerKind::Project, fixture("narrow.toml"))
    );

    let bad = Sources {
        user: Some(fixture("bad-cidr.toml")),
        ..Sources::default()
    };
    assert!(matches!(EffectivePolicy::load(&bad), Err(LoadError::File(e)) if e.line == 6));
    let dir = Sources {
        system: Some(fixture("")),
        ..Sources::default()
    };
    let e = EffectivePolicy::load(&dir).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }), "{e}");
    assert!(e.to_string().starts_with("cannot read policy file "), "{e}");
    let widen = Sources {
        system: Some(fixture("locked.toml")),
        user: Some(fixture("widen-network.toml")),
        ..Sources::default()
    };
    assert!(matches!(
        EffectivePolicy::load(&widen),
        Err(LoadError::Layer(_))
    ));
}
