//! The `shell` provisioner (Packer 1.6.6 `provisioner/shell`): uploads each script (or the
//! `inline` commands as one) to the machine and runs it there through `execute_command`, the
//! environment in `{{.Vars}}` or a sourced `{{.EnvVarFile}}`. Upload and run are retried as one
//! until `start_retry_timeout`, so a provisioner after a reboot waits for the machine.

mod config;
mod exit;
mod pause;
mod remote;
mod retry;
mod script;

use std::path::PathBuf;
use std::time::Duration;

use kiln_plugin_sdk::host::communicator::Exit;
use kiln_plugin_sdk::{BuildInfo, Context, Error, PluginInfo, Provisioner, Session, log, template};
use kiln_shell_local::env_vars::{environment, flatten};

use crate::config::Config;
use crate::remote::{Link, Remote};

struct Shell;

impl Provisioner for Shell {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "shell",
            env!("CARGO_PKG_VERSION"),
            "Uploads shell scripts to the machine being built and runs them there.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(
            |script| config::script_exists(build, script),
            kiln_plugin_sdk::random_u64,
        )
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        provision(&config, build, &Remote::new(session), data)
    }
}

kiln_plugin_sdk::export_provisioner!(Shell);

/// Where a script's bytes come from.
enum Source {
    File(PathBuf),
    Inline(String),
}

fn provision(
    config: &Config,
    build: &BuildInfo,
    remote: &Remote<'_>,
    data: &[(String, String)],
) -> Result<(), Error> {
    // Without a communicator nothing can ever succeed: one try gives the host's reason.
    let timeout = if remote.kind() == "none" {
        Duration::ZERO
    } else {
        config.start_retry_timeout
    };
    let remote_path =
        render(&config.remote_path, data, &[]).context("Error interpolating remote_path")?;

    let mut scripts: Vec<(String, Source)> = config
        .scripts
        .iter()
        .map(|s| (s.clone(), Source::File(build.resolve(s))))
        .collect();
    if !config.inline.is_empty() {
        let commands = config
            .inline
            .iter()
            .map(|c| render(c, data, &[]))
            .collect::<Result<Vec<_>, _>>()
            .context("Error interpolating Inline")?;
        let text = script::inline_script(&config.inline_shebang, &commands);
        scripts.push((remote_path.clone(), Source::Inline(text)));
    }

    let vars = flattened_vars(config, build, data)?;
    let env_var_file = if config.use_env_var_file {
        let folder = render(&config.remote_folder, data, &[])
            .context("Error interpolating remote_folder")?;
        let path = config::env_var_file_path(&folder, kiln_plugin_sdk::random_u64());
        let content = line_endings(vars.as_bytes().to_vec(), config.binary);
        retry::until(timeout, || {
            remote
                .upload_content(&content, &path, 0o600)
                .context("Error uploading envVarFile")
        })?;
        path
    } else {
        String::new()
    };

    for (shown, source) in &scripts {
        log::say(format!("Provisioning with shell script: {shown}"));
        let content = match source {
            Source::File(path) => std::fs::read(path).map_err(|e| {
                Error::failed(format!(
                    "Error opening shell script: {}",
                    kiln_plugin_sdk::io_reason(&e)
                ))
            })?,
            Source::Inline(text) => text.clone().into_bytes(),
        };
        let content = line_endings(content, config.binary);
        let command = render(
            &config.execute_command,
            data,
            &[
                ("Vars", &vars),
                ("EnvVarFile", &env_var_file),
                ("Path", &remote_path),
            ],
        )
        .context("Error processing command")?;
        let exit = retry::until(timeout, || {
            upload_and_run(remote, &content, &remote_path, &command)
        })?;
        exit::check(&exit, &config.valid_exit_codes, config.expect_disconnect)
            .map_err(Error::failed)?;
        if !config.skip_clean {
            clean_up(remote, &remote_path, timeout)?;
        }
    }

    if !config.skip_clean && config.use_env_var_file {
        clean_up(remote, &env_var_file, timeout)?;
    }
    pause::after(config.pause_after);
    Ok(())
}

/// `{{.Vars}}` (and the env var file's content): Packer's variables and the user's, each
/// through `env_var_format`.
fn flattened_vars(
    config: &Config,
    build: &BuildInfo,
    data: &[(String, String)],
) -> Result<String, Error> {
    let mut user = Vec::new();
    for kv in &config.environment_vars {
        let kv = render(kv, data, &[]).context("Error interpolating environment_vars")?;
        if let Some((k, v)) = kv.split_once('=') {
            user.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(flatten(
        &config.env_var_format,
        &environment(build, data, &user),
    ))
}

/// Build-time template text (`{{.HTTPIP}}`, `{{.Path}}`) rendered with the builder's data and
/// `extra` on top; text without actions is returned as it is.
fn render(text: &str, data: &[(String, String)], extra: &[(&str, &str)]) -> Result<String, Error> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let mut all: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    template::render(text, &all)
}

fn line_endings(content: Vec<u8>, binary: bool) -> Vec<u8> {
    if binary {
        content
    } else {
        script::unix_line_endings(&content)
    }
}

/// One try at a script: upload and run as one unit, so that a reboot between the two cannot
/// leave a run without its file.
fn upload_and_run<L: Link + ?Sized>(
    remote: &Remote<'_, L>,
    content: &[u8],
    path: &str,
    command: &str,
) -> Result<Exit, Error> {
    remote
        .upload_content(content, path, 0o755)
        .context("Error uploading script")?;
    remote.exec(command)
}

/// Packer's `cleanupRemoteFile`: `rm -f <path>`, retried (the script may have rebooted the
/// machine), its output not shown.
fn clean_up(remote: &Remote<'_>, path: &str, timeout: Duration) -> Result<(), Error> {
    retry::until(timeout, || remove(remote, path))
}

/// One try at removing a remote file.
fn remove<L: Link + ?Sized>(remote: &Remote<'_, L>, path: &str) -> Result<(), Error> {
    match remote.exec_quiet(&format!("rm -f {path}")) {
        Err(e) => Err(e).context(format!("Error removing temporary script at {path}")),
        Ok(Exit::Disconnected) => Err(Error::failed("Disconnect while removing temporary script.")),
        Ok(Exit::Status(0)) => Ok(()),
        Ok(Exit::Status(_)) => Err(Error::failed(format!(
            "Error removing temporary script at {path}!"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    use kiln_plugin_sdk::host::communicator::Captured;
    use kiln_shell_local::env_vars::flatten;

    use super::*;

    enum Answer {
        Done,
        Exit(Exit),
        Fail(Error),
    }

    /// A session that records each call and gives the next scripted answer (success when
    /// none is left).
    #[derive(Default)]
    struct Fake {
        calls: RefCell<Vec<String>>,
        answers: RefCell<VecDeque<Answer>>,
    }

    impl Fake {
        fn new(answers: Vec<Answer>) -> Self {
            Fake {
                calls: RefCell::default(),
                answers: RefCell::new(answers.into()),
            }
        }

        fn answer(&self, call: String) -> Answer {
            self.calls.borrow_mut().push(call);
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or(Answer::Done)
        }

        fn unit(&self, call: String) -> Result<(), Error> {
            match self.answer(call) {
                Answer::Fail(e) => Err(e),
                _ => Ok(()),
            }
        }

        fn exit(&self, call: String) -> Result<Exit, Error> {
            match self.answer(call) {
                Answer::Fail(e) => Err(e),
                Answer::Exit(exit) => Ok(exit),
                Answer::Done => Ok(Exit::Status(0)),
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Link for Fake {
        fn kind(&self) -> String {
            "ssh".to_owned()
        }

        fn upload_content(&self, content: &[u8], path: &str, mode: u32) -> Result<(), Error> {
            self.unit(format!(
                "upload {path} {mode:o} {}",
                String::from_utf8_lossy(content)
            ))
        }

        fn exec(&self, line: &str) -> Result<Exit, Error> {
            self.exit(format!("exec {line}"))
        }

        fn exec_captured(&self, line: &str) -> Result<Captured, Error> {
            self.exit(format!("quiet {line}")).map(|exit| Captured {
                exit,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }

        fn reconnect(&self) -> Result<(), Error> {
            self.unit("reconnect".to_owned())
        }
    }

    /// `retry::until` on a clock that moves only when it waits.
    fn retried<T>(attempt: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
        let clock = Cell::new(Duration::ZERO);
        retry::run(
            Duration::from_secs(300),
            attempt,
            || clock.get(),
            |_| clock.set(clock.get() + retry::DELAY),
        )
    }

    fn lost() -> Answer {
        Answer::Fail(Error::failed("connection lost"))
    }

    #[test]
    fn a_failed_upload_reconnects_and_tries_upload_and_run_again() {
        let fake = Fake::new(vec![lost(), lost(), Answer::Done]);
        let remote = Remote::new(&fake);
        let exit = retried(|| upload_and_run(&remote, b"echo", "/tmp/s.sh", "sh /tmp/s.sh"));
        assert!(matches!(exit, Ok(Exit::Status(0))));
        assert_eq!(
            fake.calls(),
            [
                "upload /tmp/s.sh 755 echo",
                "reconnect",
                "reconnect",
                "upload /tmp/s.sh 755 echo",
                "exec sh /tmp/s.sh",
            ]
        );
    }

    #[test]
    fn after_a_disconnect_the_clean_up_reconnects_first() {
        let fake = Fake::new(vec![Answer::Done, Answer::Exit(Exit::Disconnected), lost()]);
        let remote = Remote::new(&fake);
        let exit = retried(|| upload_and_run(&remote, b"reboot", "/tmp/s.sh", "/tmp/s.sh"));
        assert!(matches!(exit, Ok(Exit::Disconnected)));
        assert!(retried(|| remove(&remote, "/tmp/s.sh")).is_ok());
        assert_eq!(
            fake.calls(),
            [
                "upload /tmp/s.sh 755 reboot",
                "exec /tmp/s.sh",
                "reconnect",
                "reconnect",
                "quiet rm -f /tmp/s.sh",
            ]
        );
    }

    #[test]
    fn a_clean_up_that_keeps_failing_gives_packers_error() {
        let fake = Fake::new((0..200).map(|_| Answer::Exit(Exit::Status(1))).collect());
        let remote = Remote::new(&fake);
        let e = retried(|| remove(&remote, "/tmp/s.sh")).unwrap_err();
        assert_eq!(e.message(), "Error removing temporary script at /tmp/s.sh!");
        assert_eq!(
            fake.calls().len(),
            151,
            "every 2 s for 5 minutes, and once more"
        );
        let fake = Fake::new(vec![Answer::Exit(Exit::Disconnected)]);
        let remote = Remote::new(&fake);
        assert!(retried(|| remove(&remote, "/x")).is_ok());
        assert_eq!(
            fake.calls(),
            ["quiet rm -f /x", "reconnect", "quiet rm -f /x"]
        );
    }

    #[test]
    fn cancellation_is_not_retried() {
        let fake = Fake::new(vec![Answer::Done, Answer::Fail(Error::Cancelled)]);
        let remote = Remote::new(&fake);
        let result = retried(|| upload_and_run(&remote, b"x", "/tmp/s.sh", "/tmp/s.sh"));
        assert!(matches!(result, Err(Error::Cancelled)));
        assert_eq!(fake.calls().len(), 2);
    }

    #[test]
    fn values_are_quoted_for_the_remote_shell() {
        let env = [
            ("GREETING".to_owned(), "it's a test".to_owned()),
            ("PACKER_BUILD_NAME".to_owned(), "web".to_owned()),
        ];
        assert_eq!(
            flatten("%s='%s' ", &env),
            r#"GREETING='it'"'"'s a test' PACKER_BUILD_NAME='web' "#
        );
        assert_eq!(
            flatten("export %s='%s'\n", &env),
            "export GREETING='it'\"'\"'s a test'\nexport PACKER_BUILD_NAME='web'\n"
        );
    }
}
