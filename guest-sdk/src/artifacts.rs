//! Files a plugin produces: registered so the host removes them if the build fails and lists
//! them in the artifact; digests computed natively by the host.

use std::path::Path;

use crate::Error;
use crate::bindings::kiln::plugin::artifacts as host;

/// Records a file or directory the plugin created.
pub fn register(path: impl AsRef<Path>) -> Result<(), Error> {
    host::register(&path.as_ref().to_string_lossy())
}

/// A file's digest as lowercase hex: `md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`.
pub fn digest(path: impl AsRef<Path>, algorithm: &str) -> Result<String, Error> {
    host::digest(&path.as_ref().to_string_lossy(), algorithm)
}
