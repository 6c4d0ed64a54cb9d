//! Hostile test plugin `leak`: starts a background `sleep 300` on the host through local exec,
//! writes its pid to the config's `pid_file`, then traps, so tests can check that the host's
//! ledger ends the process anyway.

use kiln_plugin_sdk::host::local_exec;
use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    pid_file: String,
}

struct Leak;

impl Provisioner for Leak {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "leak",
            env!("CARGO_PKG_VERSION"),
            "Leaves a process behind and traps (test plugin).",
        )
    }

    fn prepare(_config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    #[allow(clippy::panic, reason = "trapping is this plugin's purpose")]
    fn provision(
        config: Config,
        build: &BuildInfo,
        _session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        let pid_file = build.resolve(&config.pid_file);
        local_exec::run(&local_exec::Command {
            argv: vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                "sleep 300 & echo $! > \"$PIDFILE\"".to_owned(),
            ],
            env: vec![("PIDFILE".to_owned(), pid_file.display().to_string())],
            cwd: None,
        })?;
        panic!("the leak provisioner traps with its process still running");
    }
}

kiln_plugin_sdk::export_provisioner!(Leak);
