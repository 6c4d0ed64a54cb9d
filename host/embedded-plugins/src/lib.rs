//! kiln's first-party plugins, embedded in the binary.
//!
//! The build script compiles the separate `plugins/` workspace for `wasm32-wasip2` (a nested
//! `cargo build --release --locked`, into `target/wasm-plugins`) and embeds each
//! `plugins/<kind>-<name>` component here, so a fresh clone builds and tests with plain
//! `cargo`. The hostile test plugins (`plugins/test/`) are not embedded: they are copied to
//! [`test_plugin_dir`] as `kiln-<kind>-<name>.wasm`, where `KILN_PLUGIN_PATH` can point.
//!
//! ```
//! use kiln_embedded_plugins::{Kind, find};
//!
//! let null = find(Kind::Builder, "null").unwrap();
//! assert!(null.bytes.starts_with(b"\0asm"));
//! ```

/// The plugin kinds, as the worlds of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `builder-plugin`
    Builder,
    /// `provisioner-plugin`
    Provisioner,
    /// `post-processor-plugin`
    PostProcessor,
}

impl Kind {
    /// `builder`, `provisioner`, `post-processor`: as in plugin file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Builder => "builder",
            Kind::Provisioner => "provisioner",
            Kind::PostProcessor => "post-processor",
        }
    }
}

/// A first-party component.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedPlugin {
    pub kind: Kind,
    /// The template `type` it implements (`null`, `shell-local`, `checksum`).
    pub name: &'static str,
    /// The component's bytes.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// Every first-party plugin, ordered by kind and name.
pub fn all() -> &'static [EmbeddedPlugin] {
    ALL
}

/// The first-party plugin of a kind and template type.
pub fn find(kind: Kind, name: &str) -> Option<&'static EmbeddedPlugin> {
    ALL.iter().find(|p| p.kind == kind && p.name == name)
}

/// Where the build script copied the test plugins (`kiln-provisioner-trap.wasm`, ...): a
/// directory under `target/`, for `KILN_PLUGIN_PATH` in integration tests.
pub fn test_plugin_dir() -> &'static str {
    TEST_PLUGIN_DIR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_is_a_component_and_unique() {
        for (i, p) in all().iter().enumerate() {
            // A component's preamble: magic, then version 0x0d and layer 1.
            assert_eq!(
                &p.bytes[..8],
                b"\0asm\x0d\0\x01\0",
                "{} {}",
                p.kind.as_str(),
                p.name
            );
            assert!(
                all()[..i]
                    .iter()
                    .all(|q| (q.kind, q.name) != (p.kind, p.name)),
                "{} {} twice",
                p.kind.as_str(),
                p.name
            );
        }
    }

    #[test]
    fn test_plugins_are_copied_under_their_plugin_file_names() {
        let hello = std::path::Path::new(test_plugin_dir()).join("kiln-provisioner-hello.wasm");
        assert!(hello.is_file(), "{}", hello.display());
    }
}
