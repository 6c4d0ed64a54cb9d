//! The `sleep` provisioner: waits for `duration` (a Go duration, `1m30s`).

use std::time::Duration;

use kiln_plugin_sdk::config::weak;
use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::duration")]
    duration: Duration,
}

struct Sleep;

impl Provisioner for Sleep {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("sleep", env!("CARGO_PKG_VERSION"), "Waits for a duration.")
    }

    fn prepare(_config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn provision(
        config: Config,
        _build: &BuildInfo,
        _session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        // A WASI clock wait: the host can still cancel the call or end it at its deadline.
        std::thread::sleep(config.duration);
        Ok(())
    }
}

kiln_plugin_sdk::export_provisioner!(Sleep);
