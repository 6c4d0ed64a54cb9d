//! `kiln version`.

use kiln_template::interpolate::PACKER_COMPAT_VERSION;

use super::Env;

pub fn run(env: &Env) {
    let version = env!("CARGO_PKG_VERSION");
    env.ui.machine("", "version", &[version]);
    env.ui
        .machine("", "packer-compatible-version", &[PACKER_COMPAT_VERSION]);
    env.ui.say(&format!(
        "kiln v{version} (templates compatible with Packer {PACKER_COMPAT_VERSION})"
    ));
}
