//! The host's operating system, as Go's `runtime.GOOS` names it, for `only_on`. A component
//! cannot see it (`std::env::consts::OS` is `wasi`), so a shell on the host tells it through its
//! exit status.

use kiln_plugin_sdk::host::local_exec;
use kiln_plugin_sdk::{Context, Error};

const PROBE: &str = "case \"$(uname -s)\" in \
    Linux) exit 10;; Darwin) exit 11;; FreeBSD) exit 12;; OpenBSD) exit 13;; SunOS) exit 14;; \
    *) exit 15;; esac";

pub fn host_os() -> Result<&'static str, Error> {
    let status = local_exec::run(&local_exec::Command {
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), PROBE.to_owned()],
        env: Vec::new(),
        cwd: None,
    })
    .context("finding the host's OS for only_on")?;
    Ok(match status {
        10 => "linux",
        11 => "darwin",
        12 => "freebsd",
        13 => "openbsd",
        14 => "solaris",
        _ => "windows",
    })
}
