//! Evaluating a policy for one plugin: every use kind, audit mode, admission, overrides, and
//! what `kiln policy explain` prints.

use std::path::{Path, PathBuf};

use kiln_policy::{
    Decision, EffectivePolicy, Flags, Grant, LayerKind, Mode, PluginKind, Source, Use,
};

use crate::{
    PINNED, TRUSTED_KEY, ctx, denial_text, first_party, fixture, inline, layer, rhai, third_party,
};

/// full.toml, enforced.
fn full() -> EffectivePolicy {
    let enforce = Flags {
        allow_local_exec: vec![],
        mode: Some(Mode::Enforce),
    };
    EffectivePolicy::from_layers([layer(LayerKind::System, "full.toml")], &enforce).unwrap()
}

fn full_path() -> String {
    fixture("full.toml").display().to_string()
}

fn pinned() -> kiln_policy::PluginIdentity {
    third_party(
        PINNED,
        "oci://registry.example.com/kiln/ansible:1.2",
        Some(TRUSTED_KEY),
    )
}

fn builder_grant() -> Grant {
    full().grant_for(&first_party(PluginKind::Builder, "qemu"), &ctx())
}

#[test]
fn every_use_kind_allowed_and_denied() {
    let g = builder_grant();
    let file = full_path();
    let argv = ["rm".to_string(), "-rf".to_string()];
    let cases: Vec<(Use<'_>, Use<'_>, String)> = vec![
        (
            Use::Read(Path::new("/opt/images/debian.iso")),
            Use::Read(Path::new("/etc/shadow")),
            format!(
                "denied: read /etc/shadow not in capabilities.read_only or capabilities.read_write ({file})"
            ),
        ),
        (
            Use::Write(Path::new("/home/me/debian/output-qemu/disk.raw")),
            Use::Write(Path::new("/opt/images/debian.iso")),
            format!("denied: write /opt/images/debian.iso not in capabilities.read_write ({file})"),
        ),
        (
            Use::Connect {
                scheme: Some("https"),
                host: "deb.debian.org",
                port: 443,
            },
            Use::Connect {
                scheme: None,
                host: "10.0.0.5",
                port: 22,
            },
            format!("denied: network 10.0.0.5:22 not in capabilities.network ({file})"),
        ),
        (
            Use::Communicator {
                host: "10.1.2.3",
                port: 22,
            },
            Use::Communicator {
                host: "192.168.1.1",
                port: 22,
            },
            format!(
                "denied: communicator 192.168.1.1:22 not in capabilities.communicator ({file})"
            ),
        ),
        (
            Use::LocalExec(&[]),
            Use::LocalExec(&argv),
            format!("denied: local exec of \"rm\" not allowed by capabilities.local_exec ({file})"),
        ),
        (
            Use::Env("AWS_REGION"),
            Use::Env("HOME"),
            format!("denied: environment variable HOME not in capabilities.env ({file})"),
        ),
        (
            Use::Hypervisor("docker"),
            Use::Hypervisor("virtualbox"),
            format!("denied: hypervisor virtualbox not in capabilities.hypervisors ({file})"),
        ),
        (
            Use::HttpBind("0.0.0.0:8100".parse().unwrap()),
            Use::HttpBind("0.0.0.0:80".parse().unwrap()),
            format!("denied: http bind 0.0.0.0:80 not in capabilities.http_bind ({file})"),
        ),
    ];
    for (allowed, denied, text) in cases {
        if let Use::LocalExec(_) = allowed {
            // full.toml turns local exec off for everyone but its override.
            let o = full().grant_for(&pinned(), &ctx());
            assert_eq!(o.check(&allowed), Decision::Allow);
        } else {
            assert_eq!(g.check(&allowed), Decision::Allow, "{allowed:?}");
        }
        let decision = g.check(&denied);
        assert!(matches!(decision, Decision::Deny(_)), "{denied:?}");
        assert_eq!(denial_text(&decision), text);
        assert!(decision.clone().into_result().is_err());
    }
    assert_eq!(
        denial_text(&g.check(&Use::LocalExec(&[]))),
        format!("denied: local exec not allowed by capabilities.local_exec ({file})")
    );
}

#[test]
fn audit_mode_allows_and_reports() {
    let policy =
        EffectivePolicy::from_layers([layer(LayerKind::User, "audit.toml")], &Flags::default())
            .unwrap();
    let grant = policy.grant_for(&first_party(PluginKind::Builder, "qemu"), &ctx());
    let decision = grant.check(&Use::Connect {
        scheme: None,
        host: "10.0.0.5",
        port: 22,
    });
    assert!(decision.is_allowed());
    let Decision::AuditDenied(denial) = &decision else {
        panic!("{decision:?}")
    };
    assert_eq!(
        denial.to_string(),
        format!(
            "denied: network 10.0.0.5:22 not in capabilities.network ({})",
            fixture("audit.toml").display()
        )
    );
    assert_eq!(decision.into_result(), Ok(()));
    assert_eq!(
        grant.check(&Use::Connect {
            scheme: Some("https"),
            host: "deb.debian.org",
            port: 443
        }),
        Decision::Allow
    );
    // Admission is audited too.
    let deny_rhai = inline(
        LayerKind::User,
        "/u.toml",
        "version = 1\nmode = \"audit\"\n[plugins]\nrhai = \"denied\"\n",
    );
    let audited = EffectivePolicy::from_layers([deny_rhai], &Flags::default()).unwrap();
    assert!(matches!(
        audited.admits(&rhai(None)),
        Decision::AuditDenied(_)
    ));
}

#[test]
fn cidr_wildcard_and_port_ranges() {
    let g = builder_grant();
    let net = |scheme, host, port| g.check(&Use::Connect { scheme, host, port }).is_allowed();
    // "ssh://10.0.0.0/8:22"
    assert!(net(Some("ssh"), "10.200.0.1", 22));
    assert!(!net(Some("https"), "10.200.0.1", 22));
    // "192.168.0.0/16", any port, any scheme
    assert!(net(None, "192.168.44.2", 5000));
    assert!(!net(None, "192.169.0.1", 5000));
    // "*.example.com:443"
    assert!(net(Some("https"), "mirror.example.com", 443));
    assert!(!net(Some("https"), "example.com", 443));
    assert!(!net(Some("https"), "mirror.example.com", 8443));
    // http_bind "0.0.0.0:8000-9000" and "127.0.0.1"
    let bind = |a: &str| g.check(&Use::HttpBind(a.parse().unwrap())).is_allowed();
    assert!(bind("0.0.0.0:8000"));
    assert!(bind("0.0.0.0:9000"));
    assert!(!bind("0.0.0.0:9001"));
    assert!(bind("127.0.0.1:1"));
    assert!(!bind("10.0.0.1:8500"));
    // communicator "127.0.0.1:*"
    assert!(
        g.check(&Use::Communicator {
            host: "127.0.0.1",
            port: 2222
        })
        .is_allowed()
    );
}

#[test]
fn template_and_output_dirs_are_substituted() {
    let g = builder_grant();
    let read_only: Vec<&PathBuf> = g.read_only.values().collect();
    assert_eq!(
        read_only,
        [Path::new("/home/me/debian"), Path::new("/opt/images")]
    );
    let read_write: Vec<&PathBuf> = g.read_write.values().collect();
    assert_eq!(
        read_write,
        [
            Path::new("/home/me/debian/output-qemu"),
            Path::new("/tmp/kiln-1234")
        ]
    );
    assert_eq!(g.read_write.entries[1].source, Source::Build);
    assert_eq!(g.readable_dirs().count(), 4);
    assert_eq!(
        g.writable_dirs().collect::<Vec<_>>(),
        [
            Path::new("/home/me/debian/output-qemu"),
            Path::new("/tmp/kiln-1234")
        ]
    );
    let moved = g.map_dirs(|p| Path::new("/real").join(p.strip_prefix("/").unwrap()));
    assert!(
        moved
            .check(&Use::Read(Path::new("/real/opt/images/x")))
            .is_allowed()
    );
    assert!(
        !moved
            .check(&Use::Read(Path::new("/opt/images/x")))
            .is_allowed()
    );
}

#[test]
fn traversal_is_denied() {
    let g = builder_grant();
    let file = full_path();
    assert_eq!(
        denial_text(&g.check(&Use::Read(Path::new("/home/me/debian/../../../etc/shadow")))),
        format!(
            "denied: read /etc/shadow not in capabilities.read_only or capabilities.read_write ({file})"
        )
    );
    assert_eq!(
        denial_text(&g.check(&Use::Write(Path::new(
            "/home/me/debian/output-qemu/../template.json"
        )))),
        format!(
            "denied: write /home/me/debian/template.json not in capabilities.read_write ({file})"
        )
    );
    assert!(
        !g.check(&Use::Read(Path::new("/opt/images-private/key")))
            .is_allowed()
    );
    assert!(!g.check(&Use::Read(Path::new("relative/path"))).is_allowed());
    assert!(
        g.check(&Use::Write(Path::new(
            "/home/me/debian/output-qemu/./a/../b"
        )))
        .is_allowed()
    );
}

#[test]
fn admission() {
    let policy = full();
    let file = full_path();
    assert_eq!(
        policy.admits(&first_party(PluginKind::Builder, "qemu")),
        Decision::Allow
    );
    assert_eq!(policy.admits(&pinned()), Decision::Allow);
    let other = "b".repeat(64);
    let cases = [
        (
            third_party(
                &other,
                "oci://registry.example.com/kiln/x:1",
                Some(TRUSTED_KEY),
            ),
            format!("denied: plugin sha256 {other} not in plugins.allowed_sha256 ({file})"),
        ),
        (
            third_party(
                PINNED,
                "oci://registry.elsewhere.test/kiln/x:1",
                Some(TRUSTED_KEY),
            ),
            format!(
                "denied: plugin source oci://registry.elsewhere.test/kiln/x:1 not in plugins.allowed_sources ({file})"
            ),
        ),
        (
            third_party(
                PINNED,
                "file:///opt/kiln/../../home/me/x.wasm",
                Some(TRUSTED_KEY),
            ),
            format!(
                "denied: plugin source file:///opt/kiln/../../home/me/x.wasm not in plugins.allowed_sources ({file})"
            ),
        ),
        (
            third_party(PINNED, "file:///opt/kiln/x.wasm", None),
            format!("denied: unsigned plugin not allowed by plugins.allow_unsigned ({file})"),
        ),
        (
            third_party(
                PINNED,
                "https://plugins.example.com/x.wasm",
                Some("ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ),
            format!(
                "denied: plugin signing key ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= not in plugins.trusted_keys ({file})"
            ),
        ),
        (
            rhai(None),
            format!(
                "denied: unsigned Rhai script /home/me/debian/setup.rhai not allowed by plugins.rhai ({file})"
            ),
        ),
        (
            rhai(Some("ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            format!(
                "denied: Rhai script signed by an untrusted key /home/me/debian/setup.rhai not allowed by plugins.rhai ({file})"
            ),
        ),
    ];
    for (plugin, text) in cases {
        assert_eq!(denial_text(&policy.admits(&plugin)), text, "{plugin}");
    }
    assert_eq!(policy.admits(&rhai(Some(TRUSTED_KEY))), Decision::Allow);
    let no_rhai = inline(
        LayerKind::System,
        "/etc/kiln/policy.toml",
        "version = 1\n[plugins]\nrhai = \"denied\"\n",
    );
    let denied = EffectivePolicy::from_layers([no_rhai], &Flags::default()).unwrap();
    assert_eq!(
        denial_text(&denied.admits(&rhai(Some(TRUSTED_KEY)))),
        "denied: Rhai script /home/me/debian/setup.rhai not allowed by plugins.rhai (/etc/kiln/policy.toml)"
    );
}

#[test]
fn overrides_widen_for_their_component_only() {
    let policy = full();
    let api = Use::Connect {
        scheme: Some("https"),
        host: "uploads.partner.test",
        port: 443,
    };
    let grant = policy.grant_for(&pinned(), &ctx());
    assert_eq!(grant.check(&api), Decision::Allow);
    assert!(grant.local_exec.value);
    let from = &grant.network.entries.last().unwrap().source;
    assert_eq!(from.to_string(), format!("{} [[override]]", full_path()));
    assert_eq!(from.layer(), Some(LayerKind::System));
    assert_eq!(
        policy.limits_for(&pinned()).memory.value,
        kiln_policy::ByteSize(2 << 30)
    );

    let builder = builder_grant();
    assert!(!builder.local_exec.value);
    assert!(!builder.check(&api).is_allowed());
    assert_eq!(
        policy
            .limits_for(&first_party(PluginKind::Builder, "qemu"))
            .memory
            .value,
        kiln_policy::ByteSize(512 << 20)
    );
    // Builders get builder_wall_time; others wall_time.
    assert_eq!(
        policy
            .limits_for(&first_party(PluginKind::Builder, "qemu"))
            .wall_time
            .value
            .as_secs(),
        7200
    );
    assert_eq!(policy.limits_for(&pinned()).wall_time.value.as_secs(), 1800);
    assert_eq!(policy.limits_for(&pinned()).fuel.value, Some(1_000_000));
}

#[test]
fn explain_prints_the_grant_with_sources() {
    let shown = full().grant_for(&pinned(), &ctx()).to_string();
    let file = full_path();
    assert!(
        shown.starts_with(&format!(
            "# provisioner ansible-remote: third-party sha256 {PINNED} from oci://registry.example.com/kiln/ansible:1.2, signed by {TRUSTED_KEY}\n"
        )),
        "{shown}"
    );
    for line in [
        "mode = \"enforce\"".to_string(),
        "    \"/tmp/kiln-1234\",".to_string(),
        "# the build's temporary directory".to_string(),
        format!("# {file}"),
        "local_exec = true".to_string(),
        "memory = \"2GiB\"".to_string(),
        "    \"https://uploads.partner.test:443\",".to_string(),
    ] {
        assert!(shown.contains(&line), "{line:?} missing from\n{shown}");
    }
    assert!(shown.contains("mode = \"enforce\""));
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("mode = ") && l.ends_with("# command line")),
        "{shown}"
    );
}

#[test]
fn show_prints_each_value_with_its_file() {
    let policy = EffectivePolicy::from_layers(
        [
            layer(LayerKind::System, "locked.toml"),
            layer(LayerKind::User, "narrow.toml"),
        ],
        &Flags::default(),
    )
    .unwrap();
    let shown = policy.to_string();
    let locked = fixture("locked.toml").display().to_string();
    let narrow = fixture("narrow.toml").display().to_string();
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in\n{shown}"))
            .to_string()
    };
    assert!(line("locked").ends_with(&format!("# {locked}")));
    assert!(line("memory").starts_with("memory = \"256MiB\""));
    assert!(line("memory").ends_with(&format!("# {narrow}")));
    assert!(line("allow_unsigned").ends_with(&format!("# {locked}")));
    assert!(line("output_bytes").ends_with("# kiln's default policy"));
    assert!(line("local_exec").starts_with("local_exec = false"));
    assert!(shown.contains("[[override]]"), "{shown}");
    assert!(shown.contains(&format!("sha256 = \"{PINNED}\"")), "{shown}");
}
