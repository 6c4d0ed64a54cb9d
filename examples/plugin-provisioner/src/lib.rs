//! `motd`: an example kiln provisioner. It writes a message of the day on the machine being
//! built, through the session kiln hands it.
//!
//! ```json
//! { "type": "motd", "message": "Built by {{ .BuildName }}", "path": "/etc/motd" }
//! ```

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{BuildInfo, Context, Error, PluginInfo, Provisioner, Session, log, template};

/// The config: a serde type. Unknown keys are refused and every error names its key.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
    #[serde(default = "default_path")]
    path: String,
    /// Packer decodes weakly: `"0644"` from a user variable works as well as `420`.
    #[serde(default = "default_mode", deserialize_with = "weak::int")]
    mode: u32,
}

fn default_path() -> String {
    "/etc/motd".to_owned()
}

fn default_mode() -> u32 {
    0o644
}

struct Motd;

impl Provisioner for Motd {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("motd", env!("CARGO_PKG_VERSION"), "Writes /etc/motd.")
    }

    /// Every problem at once, each at its key.
    fn prepare(config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        problems.check(!config.message.is_empty(), "message", "must not be empty");
        problems.check(
            config.path.starts_with('/'),
            "path",
            "must be an absolute path on the machine",
        );
        problems.check(config.mode <= 0o7777, "mode", "is not a file mode");
        problems.finish()?;
        Ok(Vec::new())
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        // Build-time template text is rendered by kiln, with what this provisioner offers.
        let mut values: Vec<(&str, &str)> =
            data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        values.push(("BuildName", build.name.as_str()));
        let message = template::render(&config.message, &values)?;

        log::say(format!("Writing {}", config.path));
        session
            .upload_content(format!("{message}\n").as_bytes(), &config.path, config.mode)
            .context(format!("writing {}", config.path))?;
        log::message(format!("{} bytes", message.len() + 1));
        Ok(())
    }
}

kiln_plugin_sdk::export_provisioner!(Motd);
