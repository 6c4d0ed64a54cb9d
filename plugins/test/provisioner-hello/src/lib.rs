//! Test plugin `hello`: says a line and a message with its `greeting`, for smoke tests.

use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session, log};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_greeting")]
    greeting: String,
}

fn default_greeting() -> String {
    "hello".to_owned()
}

struct Hello;

impl Provisioner for Hello {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "hello",
            env!("CARGO_PKG_VERSION"),
            "Says hello (test plugin).",
        )
    }

    fn prepare(_config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        _data: &[(String, String)],
    ) -> Result<(), Error> {
        log::say(format!("hello provisioner in build {}", build.name));
        log::message(format!(
            "greeting: {} (communicator {})",
            config.greeting,
            session.kind()
        ));
        Ok(())
    }
}

kiln_plugin_sdk::export_provisioner!(Hello);
