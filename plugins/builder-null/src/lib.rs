//! The `null` builder (Packer's, builder id `fnoeding.null`): no machine, it connects with the
//! communicator settings (or `communicator: none`) and runs the provisioners.

use kiln_plugin_sdk::host::{build_hooks, connector};
use kiln_plugin_sdk::{Artifact, BuildInfo, Builder, Error, PluginInfo, config::Problems};

use kiln_communicator::Communicator;

pub const BUILDER_ID: &str = "fnoeding.null";

struct Null;

impl Builder for Null {
    type Config = Communicator;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "null",
            env!("CARGO_PKG_VERSION"),
            "Connects to an existing machine (or none) and runs the provisioners; no image.",
        )
    }

    fn prepare(config: &mut Communicator, _build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        config.prepare(&mut problems);
        // The null builder's own checks (Packer's words, at the key to fix).
        let prefix = if config.kind() == "winrm" {
            "winrm"
        } else {
            "ssh"
        };
        if config.kind() != "none" {
            if config.host().is_empty() {
                problems.add(
                    format!("{prefix}_host"),
                    "a Host must be specified, please reference your communicator documentation",
                );
            }
            if config.user().is_empty() {
                problems.add(
                    format!("{prefix}_username"),
                    "a Username must be specified, please reference your communicator documentation",
                );
            }
            let password = !config.password().is_empty();
            let key_file = !config.ssh_private_key_file.is_empty();
            if !config.ssh_agent_auth && !password && !key_file {
                problems.add(
                    format!("{prefix}_password"),
                    "one authentication method must be specified, please reference your communicator documentation",
                );
            }
            if (config.ssh_agent_auth && (password || key_file)) || (password && key_file) {
                problems.add(
                    "ssh_agent_auth",
                    "only one of ssh_agent_auth, ssh_password, and ssh_private_key_file must be specified",
                );
            }
        }
        problems.finish()?;
        Ok(Vec::new())
    }

    fn run(config: Communicator, _build: &BuildInfo) -> Result<Artifact, Error> {
        let options = serde_json::to_string(&config)
            .map_err(|e| Error::failed(format!("encoding the communicator options: {e}")))?;
        let session = connector::connect(&options, &config.endpoint())?;
        build_hooks::provision(&session, &[])?;
        Ok(Artifact {
            builder_id: BUILDER_ID.to_owned(),
            id: "Null".to_owned(),
            description: "Did not export anything. This is the null builder".to_owned(),
            files: Vec::new(),
            data: Vec::new(),
        })
    }
}

kiln_plugin_sdk::export_builder!(Null);
