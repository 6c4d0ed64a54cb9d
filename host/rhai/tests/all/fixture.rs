//! A build for scripts to run in: a template directory, an output directory granted
//! read-write, a recording UI and real [`Capabilities`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use kiln_core::capabilities::{BuildHooks, Capabilities, Grant};
use kiln_core::ledger::Ledger;
use kiln_core::plugin::{BuildInfo, PluginError};
use kiln_core::session::Session;
use kiln_core::ui::{BuildLog, Progress, Ui};
use kiln_rhai::{Limits, RhaiPlugin};
use kiln_template::interpolate::Globals;

/// Everything the build showed, one `kind: text` line each.
#[derive(Default)]
pub struct RecordingUi {
    lines: Mutex<Vec<String>>,
}

impl RecordingUi {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn push(&self, kind: &str, text: &str) {
        self.lines.lock().unwrap().push(format!("{kind}: {text}"));
    }
}

struct NoBar;

impl Progress for NoBar {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl Ui for RecordingUi {
    fn say(&self, _: &str, text: &str) {
        self.push("say", text);
    }
    fn message(&self, _: &str, text: &str) {
        self.push("message", text);
    }
    fn error(&self, _: &str, text: &str) {
        self.push("error", text);
    }
    fn machine(&self, _: &str, _: &str, _: &[&str]) {}
    fn progress(&self, _: &str, _: &str, _: u64) -> Box<dyn Progress> {
        Box::new(NoBar)
    }
    fn ask(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// Records the sessions the builder asked to provision.
#[derive(Default)]
pub struct RecordingHooks {
    pub provisioned: Mutex<Vec<String>>,
}

#[async_trait]
impl BuildHooks for RecordingHooks {
    async fn provision(
        &self,
        _caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        _data: &[(String, String)],
    ) -> Result<(), PluginError> {
        self.provisioned
            .lock()
            .unwrap()
            .push(session.kind().to_owned());
        Ok(())
    }
}

pub struct Build {
    template: PathBuf,
    _template_dir: Option<tempfile::TempDir>,
    pub output: tempfile::TempDir,
    pub ui: Arc<RecordingUi>,
    pub cancel: CancellationToken,
    pub hooks: Arc<RecordingHooks>,
    pub local_exec: bool,
}

impl Build {
    /// A build whose plugins may run local commands.
    pub fn new() -> Build {
        let dir = tempfile::tempdir().unwrap();
        Build {
            template: dir.path().to_path_buf(),
            _template_dir: Some(dir),
            output: tempfile::tempdir().unwrap(),
            ui: Arc::default(),
            cancel: CancellationToken::new(),
            hooks: Arc::default(),
            local_exec: true,
        }
    }

    /// A build whose grant forbids local commands.
    pub fn without_local_exec() -> Build {
        Build {
            local_exec: false,
            ..Build::new()
        }
    }

    /// A build of a template in `dir` (which it must not write to).
    pub fn of_template(dir: &Path) -> Build {
        Build {
            template: dir.to_path_buf(),
            _template_dir: None,
            ..Build::new()
        }
    }

    pub fn template_dir(&self) -> &Path {
        &self.template
    }

    pub fn output_dir(&self) -> PathBuf {
        self.output.path().to_path_buf()
    }

    /// Writes a file of the template directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.template.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn caps(&self) -> Arc<Capabilities> {
        let build = BuildInfo {
            name: "test".into(),
            builder_type: "null".into(),
            run_id: "run-1".into(),
            template_dir: self.template.clone(),
            output_dir: self.output_dir(),
            temp_dir: self.output.path().join("tmp"),
            force: false,
            debug: false,
        };
        let identity = kiln_policy::PluginIdentity {
            kind: kiln_policy::PluginKind::Provisioner,
            type_name: "rhai".into(),
            origin: kiln_policy::Origin::Rhai {
                script_path: self.template.join("script.rhai"),
                signed_by: None,
            },
        };
        let ctx = kiln_policy::Context {
            template_dir: self.template.clone(),
            output_dir: self.output_dir(),
            temp_dir: self.output.path().join("tmp"),
        };
        let mut grant: Grant = kiln_policy::EffectivePolicy::default().grant_for(&identity, &ctx);
        grant.local_exec = kiln_policy::Sourced {
            value: self.local_exec,
            source: kiln_policy::Source::CommandLine,
        };
        let log = BuildLog::new(self.ui.clone(), "test");
        let caps = Capabilities::new(
            build,
            log,
            Arc::new(Ledger::new()),
            grant,
            self.cancel.clone(),
            Arc::new(Globals::fixed_for_tests()),
        )
        .with_hooks(self.hooks.clone());
        Arc::new(caps)
    }
}

/// The template entry of a script.
pub fn entry(script: &str) -> String {
    serde_json::json!({"type": "rhai", "script": script}).to_string()
}

/// A script under kiln's default limits.
pub fn script(name: &str, text: &str) -> RhaiPlugin {
    RhaiPlugin::from_source(name, text, Limits::default()).unwrap()
}
