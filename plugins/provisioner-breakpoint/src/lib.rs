//! The `breakpoint` provisioner: pauses the build until the user presses enter. Without a
//! terminal (CI, `-machine-readable`) there is no one to press it, so the build continues.

use kiln_plugin_sdk::config::weak;
use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session, log};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "weak::bool")]
    disable: bool,
    #[serde(default, deserialize_with = "weak::string")]
    note: String,
}

struct Breakpoint;

impl Provisioner for Breakpoint {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "breakpoint",
            env!("CARGO_PKG_VERSION"),
            "Pauses the build until enter is pressed.",
        )
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
        let note = if config.note.is_empty() {
            String::new()
        } else {
            format!(" with note \"{}\"", config.note)
        };
        if config.disable {
            log::say(format!(
                "Breakpoint provisioner{note} disabled; continuing..."
            ));
            return Ok(());
        }
        log::say(format!("Pausing at breakpoint provisioner{note}."));
        if log::ask("Press enter to continue.").is_none() {
            log::say("No terminal to wait for enter on; continuing...");
        }
        Ok(())
    }
}

kiln_plugin_sdk::export_provisioner!(Breakpoint);
