//! The `shell-local` provisioner: runs commands or scripts on the host during the build.

use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};
use kiln_shell_local::Config;

struct ShellLocal;

impl Provisioner for ShellLocal {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "shell-local",
            env!("CARGO_PKG_VERSION"),
            "Runs commands and scripts on the machine running kiln.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(build)
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        _session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        kiln_shell_local::run(&config, build, data)
    }
}

kiln_plugin_sdk::export_provisioner!(ShellLocal);
