//! Hostile test plugin `trap`: panics in `provision`, which traps the component (the panic
//! message goes to stderr first).

use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session};

struct Trap;

impl Provisioner for Trap {
    type Config = serde::de::IgnoredAny;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "trap",
            env!("CARGO_PKG_VERSION"),
            "Traps in provision (test plugin).",
        )
    }

    fn prepare(_config: &mut Self::Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    #[allow(clippy::panic, reason = "trapping is this plugin's purpose")]
    fn provision(
        _config: Self::Config,
        _build: &BuildInfo,
        _session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        panic!("the trap provisioner traps, as it was built to");
    }
}

kiln_plugin_sdk::export_provisioner!(Trap);
