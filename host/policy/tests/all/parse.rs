//! Policy files: every section parses, and each error is placed at line:column.

use std::time::Duration;

use kiln_policy::{ByteSize, Layer, LayerKind, Mode, PolicyFile, RhaiRule, Sha256Pattern};

use crate::{PINNED, TRUSTED_KEY, fixture, layer, parse_error};

#[test]
fn every_section_parses() {
    let file = layer(LayerKind::System, "full.toml").file;
    assert_eq!(file.locked, Some(true));
    assert_eq!(file.mode, Some(Mode::Audit));

    let l = &file.limits;
    assert_eq!(l.memory, Some(ByteSize(512 << 20)));
    assert_eq!(l.wall_time, Some(Duration::from_secs(1800)));
    assert_eq!(l.builder_wall_time, Some(Duration::from_secs(7200)));
    assert_eq!(l.fuel, Some(1_000_000));
    assert_eq!(l.output_bytes, Some(ByteSize(16 << 20)));

    let p = &file.plugins;
    assert_eq!(
        p.allowed_sha256,
        Some(vec![Sha256Pattern::Exact(PINNED.parse().unwrap())])
    );
    let sources: Vec<String> = p
        .allowed_sources
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        sources,
        [
            "oci://registry.example.com/kiln/*",
            "https://plugins.example.com/*",
            "file:///opt/kiln/*"
        ]
    );
    assert_eq!(p.trusted_keys.as_ref().unwrap()[0].to_string(), TRUSTED_KEY);
    assert_eq!(p.allow_unsigned, Some(false));
    assert_eq!(p.rhai, Some(RhaiRule::SignedOnly));

    let c = &file.capabilities;
    let names = |list: &Option<Vec<kiln_policy::Wildcard>>| -> Vec<String> {
        list.iter().flatten().map(ToString::to_string).collect()
    };
    assert_eq!(names(&c.hypervisors), ["qemu", "docker"]);
    assert_eq!(c.network.as_ref().unwrap().len(), 4);
    assert_eq!(
        c.communicator.as_ref().unwrap()[1].to_string(),
        "127.0.0.1:*"
    );
    assert_eq!(c.read_only.as_ref().unwrap()[0].as_str(), "${TEMPLATE_DIR}");
    assert_eq!(c.read_write.as_ref().unwrap()[0].as_str(), "${OUTPUT_DIR}");
    assert_eq!(
        c.http_bind.as_ref().unwrap()[1].to_string(),
        "0.0.0.0:8000-9000"
    );
    assert_eq!(c.env.as_ref().unwrap()[1].as_str(), "AWS_*");
    assert_eq!(c.local_exec, Some(false));

    let o = &file.overrides[0];
    assert_eq!(o.sha256.to_string(), PINNED);
    assert_eq!(o.capabilities.local_exec, Some(true));
    assert_eq!(
        o.capabilities.network.as_ref().unwrap()[0].to_string(),
        "https://uploads.partner.test:443"
    );
    assert_eq!(o.limits.memory, Some(ByteSize(2 << 30)));
}

#[test]
fn only_the_version_is_required() {
    let file = PolicyFile::parse("p.toml".as_ref(), "version = 1\n").unwrap();
    assert_eq!(file, PolicyFile::default());
}

#[test]
fn sizes_are_numbers_or_texts_with_units() {
    let limits = |text: &str| {
        PolicyFile::parse(
            "p.toml".as_ref(),
            &format!("version = 1\n[limits]\n{text}\n"),
        )
        .unwrap()
        .limits
    };
    assert_eq!(limits("memory = 4096").memory, Some(ByteSize(4096)));
    assert_eq!(
        limits("memory = \"64MB\"").memory,
        Some(ByteSize(64_000_000))
    );
    assert_eq!(limits("memory = \"1GiB\"").memory, Some(ByteSize(1 << 30)));
    assert_eq!(
        limits("output_bytes = \"16 MiB\"").output_bytes,
        Some(ByteSize(16 << 20))
    );
    assert_eq!(limits("fuel = 0").fuel, Some(0));
}

/// `path:line:column: message` for `text`.
fn error(text: &str) -> String {
    parse_error(text).to_string()
}

#[test]
fn version_errors() {
    assert_eq!(
        error("[limits]\nmemory = 1\n"),
        "/etc/kiln/policy.toml:1:1: missing `version = 1` (every policy file states its format version)"
    );
    assert_eq!(
        error("# policy\nversion = 2\n"),
        "/etc/kiln/policy.toml:2:11: unsupported policy version 2: this kiln reads version 1"
    );
}

#[test]
fn unknown_keys_suggest_the_known_one() {
    let path = fixture("unknown-key.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let e = Layer::parse(LayerKind::User, &path, &text).unwrap_err();
    assert_eq!((e.line, e.column), (4, 1));
    assert_eq!(e.path, path);
    assert!(
        e.message
            .starts_with("unknown key `memroy`, expected one of `memory`"),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with("; did you mean `memory`?"),
        "{}",
        e.message
    );

    assert!(error("version = 1\n[capabilites]\n").ends_with("did you mean `capabilities`?"));
    assert_eq!(
        error("version = 1\nmode = \"enforced\"\n"),
        "/etc/kiln/policy.toml:2:8: unknown variant `enforced`, expected `enforce` or `audit`; did you mean `enforce`?"
    );
    assert!(
        error("version = 1\n[plugins]\nrhai = \"signed_only\"\n")
            .contains("did you mean `signed-only`?")
    );
    let far = error("version = 1\n[capabilities]\nnothing_like_it = 1\n");
    assert!(
        far.starts_with("/etc/kiln/policy.toml:3:1: unknown key `nothing_like_it`"),
        "{far}"
    );
    assert!(!far.contains("did you mean"), "{far}");
}

#[test]
fn an_error_in_a_list_points_at_the_entry() {
    let path = fixture("bad-cidr.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let e = Layer::parse(LayerKind::System, &path, &text).unwrap_err();
    assert_eq!((e.line, e.column), (6, 3));
    assert_eq!(
        e.message,
        "capabilities.network: \"10.0.0.5/8\" has bits set past its prefix; did you mean 10.0.0.0/8?"
    );
}

#[test]
fn limits_errors() {
    assert_eq!(
        error("version = 1\n[limits]\nmemory = \"12 parsecs\"\n"),
        "/etc/kiln/policy.toml:3:10: limits.memory: \"12 parsecs\": unknown unit \"parsecs\" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
    );
    assert_eq!(
        error("version = 1\n[limits]\nmemory = 0\n"),
        "/etc/kiln/policy.toml:3:10: limits.memory: must be more than zero"
    );
    assert_eq!(
        error("version = 1\n[limits]\nwall_time = \"1d\"\n"),
        "/etc/kiln/policy.toml:3:13: limits.wall_time: \"1d\": unknown unit \"d\" (use h, m, s, ms, us or ns)"
    );
    assert_eq!(
        error("version = 1\n[limits]\nwall_time = \"30\"\n"),
        "/etc/kiln/policy.toml:3:13: limits.wall_time: \"30\" needs a unit (like \"30m\" or \"4h\")"
    );
    assert_eq!(
        error("version = 1\n[limits]\nfuel = -1\n"),
        "/etc/kiln/policy.toml:3:8: limits.fuel: cannot be negative (0 turns fuel off)"
    );
    assert!(
        error("version = 1\n[limits]\noutput_bytes = true\n").contains("a size: a number of bytes")
    );
}

#[test]
fn plugins_errors() {
    assert_eq!(
        error("version = 1\n[plugins]\nallowed_sha256 = [\"*\", \"abc\"]\n"),
        "/etc/kiln/policy.toml:3:24: plugins.allowed_sha256: \"abc\" is not a sha256 (64 hex digits)"
    );
    assert_eq!(
        error("version = 1\n[plugins]\nallowed_sources = [\"ftp://x/*\"]\n"),
        "/etc/kiln/policy.toml:3:20: plugins.allowed_sources: \"ftp://x/*\": a source starts with oci://, https:// or file:// (or is *)"
    );
    assert!(
        error("version = 1\n[plugins]\ntrusted_keys = [\"ed25519:AAAA\"]\n")
            .ends_with("an ed25519 public key is 32 bytes, this one is 3")
    );
    assert!(error("version = 1\n[plugins]\nallow_unsigned = \"yes\"\n").contains("3:18"));
}

#[test]
fn capabilities_errors() {
    let cases = [
        (
            "network = [\"https://deb.debian.org:https\"]",
            "3:12: capabilities.network: \"https\" is not a port, a range like 8000-9000, or *",
        ),
        (
            "network = [\"https://deb.debian.org/debian\"]",
            "3:12: capabilities.network: \"deb.debian.org/debian\": a pattern is [scheme://]host[:port] (a host may be a CIDR block), without a path",
        ),
        (
            "communicator = [\"ssh://10.0.0.0/8:22\"]",
            "3:17: capabilities.communicator: \"ssh://10.0.0.0/8:22\": a communicator target is host[:port], without a scheme",
        ),
        (
            "read_only = [\"images\"]",
            "3:14: capabilities.read_only: \"images\": a path must be absolute or start with ${TEMPLATE_DIR} or ${OUTPUT_DIR}",
        ),
        (
            "read_write = [\"${HOME}/out\"]",
            "3:15: capabilities.read_write: \"${HOME}/out\": a path must be absolute or start with ${TEMPLATE_DIR} or ${OUTPUT_DIR}",
        ),
        (
            "http_bind = [\"localhost:8080\"]",
            "3:14: capabilities.http_bind: \"localhost:8080\": an HTTP bind pattern takes an IP address, a CIDR block or *, not a name",
        ),
        (
            "env = [\"AWS-*\"]",
            "3:8: capabilities.env: \"AWS-*\" is not a name or a * pattern",
        ),
        (
            "hypervisors = [\"\"]",
            "3:16: capabilities.hypervisors: \"\" is not a name or a * pattern",
        ),
        (
            "network = [\"10.0.0.0/40\"]",
            "3:12: capabilities.network: \"10.0.0.0/40\": the prefix length must be 0 to 32",
        ),
    ];
    for (line, expected) in cases {
        let got = error(&format!("version = 1\n[capabilities]\n{line}\n"));
        assert_eq!(got, format!("/etc/kiln/policy.toml:{expected}"));
    }
    assert!(error("version = 1\n[capabilities]\nlocal_exec = \"no\"\n").contains("3:14"));
}

#[test]
fn override_errors() {
    assert_eq!(
        error(&format!(
            "version = 1\n[[override]]\nsha256 = \"{PINNED}\"\n[override.capabilities]\nlocal_exec = false\n"
        )),
        "/etc/kiln/policy.toml:5:14: override.capabilities.local_exec: an override only adds to the policy, so false has no effect here"
    );
    assert_eq!(
        error("version = 1\n[[override]]\nsha256 = \"nope\"\n"),
        "/etc/kiln/policy.toml:3:10: override.sha256: \"nope\" is not a sha256 (64 hex digits)"
    );
    assert!(
        error(&format!(
            "version = 1\n[[override]]\nsha256 = \"{PINNED}\"\n[override.plugins]\n"
        ))
        .contains("unknown key `plugins`")
    );
    assert!(error("version = 1\n[[override]]\n").contains("missing field `sha256`"));
    assert_eq!(
        error(&format!(
            "version = 1\n[[override]]\nsha256 = \"{PINNED}\"\n[override.capabilities]\nnetwork = [\"*.*\"]\n"
        )),
        "/etc/kiln/policy.toml:5:12: override.capabilities.network: \"*.*\": a wildcard is allowed only as a whole host (*) or a leading *."
    );
}

#[test]
fn toml_syntax_errors_are_placed_too() {
    let e = parse_error("version = 1\n[limits\n");
    assert_eq!(e.line, 2);
    let dup = parse_error("version = 1\nversion = 1\n");
    assert_eq!((dup.line, dup.column), (2, 1));
    assert!(dup.message.contains("duplicate key"), "{}", dup.message);
}
