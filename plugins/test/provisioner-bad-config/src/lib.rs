//! Test plugin `bad-config`: `prepare` always fails with two config errors, at `alpha` and
//! `beta[1]`, so tests can check that every error reaches the user with its key.

use kiln_plugin_sdk::config::Problems;
use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};

struct BadConfig;

impl Provisioner for BadConfig {
    type Config = serde::de::IgnoredAny;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "bad-config",
            env!("CARGO_PKG_VERSION"),
            "Rejects every config (test plugin).",
        )
    }

    fn prepare(_config: &mut Self::Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        problems.add("alpha", "alpha is always wrong");
        problems.add("beta[1]", "the second beta is always wrong");
        problems.finish()?;
        Ok(Vec::new())
    }

    fn provision(
        _config: Self::Config,
        _build: &BuildInfo,
        _session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        Err(Error::failed("bad-config cannot provision"))
    }
}

kiln_plugin_sdk::export_provisioner!(BadConfig);
