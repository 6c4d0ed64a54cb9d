//! Hostile test plugin `spin`: loops forever in `provision` without a single host call, so only
//! the host's deadline (epoch interruption) or a cancellation can stop it.

use std::hint::black_box;

use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};

struct Spin;

impl Provisioner for Spin {
    type Config = serde::de::IgnoredAny;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "spin",
            env!("CARGO_PKG_VERSION"),
            "Never returns (test plugin).",
        )
    }

    fn prepare(_config: &mut Self::Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn provision(
        _config: Self::Config,
        _build: &BuildInfo,
        _session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        let mut n: u64 = 0;
        loop {
            // black_box keeps the optimiser from proving the loop away.
            n = black_box(n.wrapping_add(1));
        }
    }
}

kiln_plugin_sdk::export_provisioner!(Spin);
