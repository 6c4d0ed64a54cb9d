//! Compiled components on disk, so the second run of a plugin deserializes in microseconds
//! instead of compiling for seconds.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a load compiled the component or found it compiled already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOrigin {
    Compiled,
    Cached,
}

/// A directory of `<sha256>-<engine>.cwasm` files.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// Lower-case hex sha256 of a component's bytes: its identity everywhere in kiln.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ComponentCache {
    pub fn new(dir: PathBuf) -> Self {
        ComponentCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for these bytes under this engine. The engine part changes with the
    /// wasmtime version and every codegen setting, so an incompatible artifact is never tried.
    pub fn path_for(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
    }

    /// Loads a component, from the cache when it holds a compatible compiled copy.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, String, LoadOrigin)> {
        let sha256 = sha256_hex(bytes);
        let path = self.path_for(engine, &sha256);
        if path.is_file() {
            // SAFETY: wasmtime requires that the file was produced by `Component::serialize`
            // for a compatible engine and not modified since. kiln writes these files itself
            // (below), in the user's own cache directory, under a name that includes the
            // engine's compatibility hash; anyone able to rewrite them could already run code
            // as this user. A file that fails to deserialize is recompiled and replaced.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, sha256, LoadOrigin::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding an unusable compiled component")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            // A read-only or full cache costs speed, not correctness.
            tracing::warn!(path = %path.display(), error = %e, "could not cache the compiled component");
        }
        Ok((component, sha256, LoadOrigin::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        // Write beside the final name and rename, so a concurrent reader never sees half a file.
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, path)?;
        Ok(())
    }
}
