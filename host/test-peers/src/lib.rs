//! Real peers for kiln's tests, started on loopback and stopped on drop.
//!
//! [`Sshd`] runs Debian's OpenSSH server (`/usr/sbin/sshd`) on `127.0.0.1` and a free port, with
//! its own host key, config, `authorized_keys` and client key in a temp dir. Dropping it (also
//! while a test panics) kills sshd and every process it started, per-connection children
//! included, then removes the temp dir. [`SshdBuilder`] adds sshd_config lines or fixes the port,
//! so a test can start a client before the server ("server starts late").
//!
//! The fixture is plain synchronous std code, usable from tokio tests as is.
//!
//! ```no_run
//! # fn main() -> Result<(), kiln_test_peers::Error> {
//! if kiln_test_peers::skip_without_sshd("my_test") {
//!     return Ok(());
//! }
//! let sshd = kiln_test_peers::Sshd::start()?;
//! let target = format!("{}@{}:{}", sshd.user(), sshd.host(), sshd.port());
//! // ... connect to `target` with the key at sshd.client_key() ...
//! # let _ = target;
//! # Ok(())
//! # }
//! ```
//!
//! Password authentication needs a system user: `scripts/test-peers/setup` (run as root) creates
//! [`PASSWORD_USER`], and [`Sshd::password_user`] answers it only once that user exists.

mod ports;
mod process_tree;
mod sshd;

use std::path::Path;

pub use ports::free_port;
pub use sshd::{Error, Sshd, SshdBuilder};

/// The OpenSSH server the fixture runs. sshd re-executes itself, so it needs an absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";
/// Generates the host and client keys.
pub const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// The user and password for password authentication, created by `scripts/test-peers/setup`
/// (keep the two in step). The space in the password tests quoting.
pub const PASSWORD_USER: (&str, &str) = ("kiln-ssh-test", "kiln-Test-pass 1");

/// The environment variable that turns a missing sshd from a skipped test into a failed one
/// (CI sets it in `.ci/run`).
pub const REQUIRE_SSHD_VAR: &str = "KILN_REQUIRE_SSHD";

/// `Ok` when the programs the sshd fixture runs are installed; otherwise what to install.
pub fn sshd_available() -> Result<(), String> {
    let missing: Vec<&str> = [SSHD, SSH_KEYGEN]
        .into_iter()
        .filter(|program| !Path::new(program).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not found: install openssh-server and openssh-client \
             (apt-get install openssh-server openssh-client), then run scripts/test-peers/setup as root",
            missing.join(" and ")
        ))
    }
}

/// Whether `KILN_REQUIRE_SSHD=1`: tests that need sshd then fail without it instead of skipping.
pub fn require_sshd() -> bool {
    std::env::var(REQUIRE_SSHD_VAR).is_ok_and(|v| v == "1")
}

/// For the first line of a test that needs sshd: `true` (after printing why) when sshd is
/// missing and the test should return early.
///
/// # Panics
/// When sshd is missing and [`require_sshd`] is set, so CI cannot pass by skipping.
#[allow(
    clippy::print_stderr,
    reason = "the note a skipped test leaves in its output"
)]
pub fn skip_without_sshd(test: &str) -> bool {
    match sshd_available() {
        Ok(()) => false,
        Err(why) if require_sshd() => panic!("{test}: {REQUIRE_SSHD_VAR}=1 but {why}"),
        Err(why) => {
            eprintln!("{test}: skipped: {why} (set {REQUIRE_SSHD_VAR}=1 to make this an error)");
            true
        }
    }
}
