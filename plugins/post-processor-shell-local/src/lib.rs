//! The `shell-local` post-processor: runs commands or scripts on the host after the build and
//! passes the artifact on unchanged (kept, since it is also the output).

use kiln_plugin_sdk::{Artifact, BuildInfo, Error, PluginInfo, PostProcessor, Processed};
use kiln_shell_local::Config;

struct ShellLocal;

impl PostProcessor for ShellLocal {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "shell-local",
            env!("CARGO_PKG_VERSION"),
            "Runs commands and scripts on the machine running kiln after a build.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(build)
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        kiln_shell_local::run(&config, build, &input.data)?;
        Ok(Processed::unchanged(input))
    }
}

kiln_plugin_sdk::export_post_processor!(ShellLocal);
