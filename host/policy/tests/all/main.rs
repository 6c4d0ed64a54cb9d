//! kiln-policy's integration tests: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod defaults;
mod evaluate;
mod examples;
mod layers;
mod parse;

use std::path::{Path, PathBuf};

use kiln_policy::{
    Context, EffectivePolicy, FileError, Flags, Layer, LayerKind, Origin, PluginIdentity,
    PluginKind, PublicKey, Sha256,
};

/// The sha256 the fixtures pin and override.
pub const PINNED: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The key the fixtures trust: 32 bytes of 7.
pub const TRUSTED_KEY: &str = "ed25519:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture as the layer `kind`.
pub fn layer(kind: LayerKind, name: &str) -> Layer {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Layer::parse(kind, path, &text).unwrap()
}

/// An inline file as the layer `kind`, at a made-up path.
pub fn inline(kind: LayerKind, path: &str, text: &str) -> Layer {
    Layer::parse(kind, path, text).unwrap()
}

pub fn combine(layers: impl IntoIterator<Item = Layer>) -> EffectivePolicy {
    EffectivePolicy::from_layers(layers, &Flags::default()).unwrap()
}

pub fn parse_error(text: &str) -> FileError {
    Layer::parse(LayerKind::System, "/etc/kiln/policy.toml", text).unwrap_err()
}

pub fn ctx() -> Context {
    Context {
        template_dir: "/home/me/debian".into(),
        output_dir: "/home/me/debian/output-qemu".into(),
        temp_dir: "/tmp/kiln-1234".into(),
    }
}

pub fn first_party(kind: PluginKind, type_name: &str) -> PluginIdentity {
    PluginIdentity::first_party(kind, type_name)
}

pub fn third_party(sha256: &str, source: &str, signed_by: Option<&str>) -> PluginIdentity {
    PluginIdentity {
        kind: PluginKind::Provisioner,
        type_name: "ansible-remote".into(),
        origin: Origin::ThirdParty {
            sha256: sha256.parse::<Sha256>().unwrap(),
            source: source.into(),
            signed_by: signed_by.map(|k| k.parse::<PublicKey>().unwrap()),
        },
    }
}

pub fn rhai(signed_by: Option<&str>) -> PluginIdentity {
    PluginIdentity {
        kind: PluginKind::Provisioner,
        type_name: "rhai".into(),
        origin: Origin::Rhai {
            script_path: "/home/me/debian/setup.rhai".into(),
            signed_by: signed_by.map(|k| k.parse::<PublicKey>().unwrap()),
        },
    }
}

/// The text of a decision's denial, or "allowed".
pub fn denial_text(decision: &kiln_policy::Decision) -> String {
    decision
        .denial()
        .map_or_else(|| "allowed".to_string(), ToString::to_string)
}
