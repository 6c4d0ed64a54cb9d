//! The `ansible-local` provisioner (Packer 1.6.6 `provisioner/ansible-local`): uploads the
//! playbooks, roles, group and host vars, galaxy file and an inventory to a staging directory
//! on the machine, then runs Packer's command there over the session,
//! `cd <staging> && ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook <playbook>
//! --extra-vars "packer_build_name=... packer_builder_type=... packer_http_addr=... -o
//! IdentitiesOnly=yes" <extra_arguments> -c local -i <inventory>`, word for word (the
//! `-o IdentitiesOnly=yes` inside the extra vars is Packer's, and harmless). Ansible must be
//! installed on the machine.

mod config;

use std::path::{Path, PathBuf};

use kiln_plugin_sdk::host::communicator::{Command, Exit};
use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session, log};

use crate::config::{Checks, Config};

/// Packer's `PackerHTTPAddr` when the builder serves no HTTP.
const HTTP_ADDR_NOT_IMPLEMENTED: &str = "ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER";

/// The exit status Packer reports for a command cut off by a dropped connection.
const DISCONNECTED: i32 = 2_300_218;

struct AnsibleLocal;

impl Provisioner for AnsibleLocal {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "ansible-local",
            env!("CARGO_PKG_VERSION"),
            "Uploads Ansible playbooks and roles to the machine and runs ansible-playbook there.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(&Host(build))
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        let http_addr = kiln_shell_local::env_vars::environment(build, data, &[])
            .into_iter()
            .find(|(k, _)| k == "PACKER_HTTP_ADDR")
            .map_or_else(|| HTTP_ADDR_NOT_IMPLEMENTED.to_owned(), |(_, v)| v);
        let resolve = |path: &str| build.resolve(path);
        log::say("Provisioning with Ansible...");
        stage_and_run(
            &config,
            &Run {
                build_name: &build.name,
                builder_type: &build.builder_type,
                http_addr: &http_addr,
                random: kiln_plugin_sdk::random_u64(),
                resolve: &resolve,
            },
            session,
        )
    }
}

kiln_plugin_sdk::export_provisioner!(AnsibleLocal);

struct Host<'a>(&'a BuildInfo);

impl Checks for Host<'_> {
    fn stat(&self, path: &str) -> Result<config::Local, String> {
        match std::fs::metadata(self.0.resolve(path)) {
            Ok(meta) if meta.is_dir() => Ok(config::Local::Dir),
            Ok(_) => Ok(config::Local::File),
            Err(e) => Err(kiln_plugin_sdk::io_reason(&e)),
        }
    }

    fn absolute(&self, path: &str) -> String {
        self.0.resolve(path).display().to_string()
    }

    fn uuid(&self) -> String {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        time_ordered_uuid(
            seconds,
            kiln_plugin_sdk::random_u64(),
            kiln_plugin_sdk::random_u64(),
        )
    }
}

/// Packer's `uuid.TimeOrderedUUID`: the Unix time in seconds, then 12 random bytes.
fn time_ordered_uuid(seconds: u64, a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}",
        seconds & 0xffff_ffff,
        a & 0xffff,
        (a >> 16) & 0xffff,
        (a >> 32) & 0xffff,
        (a >> 48) & 0xffff,
        b & 0xffff_ffff
    )
}

/// What the provisioner does to the machine and the UI; [`Session`] with the build's UI is
/// the real one.
trait Guest {
    fn message(&self, text: &str);
    /// Runs a line in the remote shell, its output streaming to the UI.
    fn exec(&self, line: &str) -> Result<Exit, Error>;
    /// A host file to a remote file, or a host directory's contents into a remote directory.
    fn upload(&self, host_path: &Path, remote: &str) -> Result<(), Error>;
    fn upload_content(&self, content: &[u8], remote: &str) -> Result<(), Error>;
}

impl Guest for Session {
    fn message(&self, text: &str) {
        log::message(text);
    }

    fn exec(&self, line: &str) -> Result<Exit, Error> {
        Session::exec(
            self,
            &Command {
                line: line.to_owned(),
                env: Vec::new(),
                stdin: None,
            },
        )
    }

    fn upload(&self, host_path: &Path, remote: &str) -> Result<(), Error> {
        Session::upload(self, &host_path.display().to_string(), remote)
    }

    fn upload_content(&self, content: &[u8], remote: &str) -> Result<(), Error> {
        Session::upload_content(self, content, remote, 0o644)
    }
}

/// One run's facts: the build, the builder's HTTP address (Packer's placeholder when there is
/// none), the inventory's random name, and how a config path becomes a host path.
struct Run<'a> {
    build_name: &'a str,
    builder_type: &'a str,
    http_addr: &'a str,
    random: u64,
    resolve: &'a dyn Fn(&str) -> PathBuf,
}

/// Everything after the heading, in Packer's order with Packer's messages.
fn stage_and_run(config: &Config, run: &Run<'_>, guest: &dyn Guest) -> Result<(), Error> {
    let staging = config.staging_directory.as_str();
    let host = |path: &str| (run.resolve)(path);
    let failed = |what: &str, e: Error| Error::failed(format!("{what}: {}", e.message()));
    if config.playbook_dir.is_empty() {
        guest.message("Creating Ansible staging directory...");
        create_dir(guest, staging).map_err(|e| failed("Error creating staging directory", e))?;
    } else {
        guest.message("Uploading Playbook directory to Ansible staging directory...");
        upload_dir(guest, staging, &host(&config.playbook_dir))
            .map_err(|e| failed("Error uploading playbook_dir directory", e))?;
    }

    // Each playbook as it is run: `<staging>/<path>`.
    let mut playbooks: Vec<String> = Vec::new();
    if config.playbook_file.is_empty() {
        let playbook_dir = (!config.playbook_dir.is_empty())
            .then(|| host(&config.playbook_dir).display().to_string());
        for playbook in &config.playbooks {
            if let Some(rest) = playbook_dir
                .as_deref()
                .and_then(|dir| playbook.strip_prefix(dir))
            {
                playbooks.push(join(staging, rest));
                continue;
            }
            guest.message(&format!("Uploading playbook file: {playbook}"));
            let remote_dir = join(staging, parent(playbook));
            let remote = join(staging, playbook);
            create_dir(guest, &remote_dir).map_err(|e| {
                Error::failed(format!(
                    "Error uploading playbook file: {playbook} [{}]",
                    e.message()
                ))
            })?;
            upload_file(guest, &remote, Path::new(playbook)).map_err(|e| {
                Error::failed(format!(
                    "Error uploading playbook: {playbook} [{}]",
                    e.message()
                ))
            })?;
            playbooks.push(remote);
        }
    } else {
        guest.message("Uploading main Playbook file...");
        let remote = join(staging, base(&config.playbook_file));
        upload_file(guest, &remote, &host(&config.playbook_file))
            .map_err(|e| failed("Error uploading main playbook", e))?;
        playbooks.insert(0, remote);
    }

    let (inventory_name, inventory_content) = if config.inventory_file.is_empty() {
        let content = if config.inventory_groups.is_empty() {
            "127.0.0.1".to_owned()
        } else {
            config
                .inventory_groups
                .iter()
                .map(|g| format!("[{g}]\n127.0.0.1\n"))
                .collect()
        };
        // Go's ioutil.TempFile name, as Packer uploads it.
        let name = format!(
            "packer-provisioner-ansible-local{}",
            run.random % 10_000_000_000
        );
        (name, Some(content))
    } else {
        (base(&config.inventory_file).to_owned(), None)
    };

    if !config.galaxy_file.is_empty() {
        guest.message("Uploading galaxy file...");
        let remote = join(staging, base(&config.galaxy_file));
        upload_file(guest, &remote, &host(&config.galaxy_file))
            .map_err(|e| failed("Error uploading galaxy file", e))?;
    }

    guest.message("Uploading inventory file...");
    let inventory = join(staging, &inventory_name);
    match &inventory_content {
        Some(content) => guest.upload_content(content.as_bytes(), &inventory),
        None => upload_file(guest, &inventory, &host(&config.inventory_file)),
    }
    .map_err(|e| failed("Error uploading inventory file", e))?;

    for (key, path) in [
        ("group_vars", &config.group_vars),
        ("host_vars", &config.host_vars),
    ] {
        if !path.is_empty() {
            guest.message(&format!("Uploading {key} directory..."));
            upload_dir(guest, &join(staging, key), &host(path))
                .map_err(|e| failed(&format!("Error uploading {key} directory"), e))?;
        }
    }

    if !config.role_paths.is_empty() {
        guest.message("Uploading role directories...");
        for role in &config.role_paths {
            let remote = join(&join(staging, "roles"), base(role));
            upload_dir(guest, &remote, &host(role))
                .map_err(|e| failed("Error uploading roles", e))?;
        }
    }

    if !config.playbook_paths.is_empty() {
        guest.message("Uploading additional Playbooks...");
        let playbook_dir = join(staging, "playbooks");
        create_dir(guest, &playbook_dir)
            .map_err(|e| failed("Error creating playbooks directory", e))?;
        for path in &config.playbook_paths {
            let remote = join(&playbook_dir, base(path));
            upload_dir(guest, &remote, &host(path))
                .map_err(|e| failed("Error uploading playbooks", e))?;
        }
    }

    execute(config, run, &inventory, &playbooks, guest)
        .map_err(|e| failed("Error executing Ansible", e))?;

    if config.clean_staging_directory {
        guest.message("Removing staging directory...");
        guest.message(&format!("Removing directory: {staging}"));
        match guest.exec(&format!("rm -rf '{staging}'")) {
            Ok(Exit::Status(0)) => {}
            Ok(_) => {
                return Err(Error::failed(
                    "Error removing staging directory: Non-zero exit status. See output above for more information.",
                ));
            }
            Err(e) => return Err(failed("Error removing staging directory", e)),
        }
    }
    Ok(())
}

/// Packer's `executeAnsible`: the galaxy file's roles first, then each playbook.
fn execute(
    config: &Config,
    run: &Run<'_>,
    inventory: &str,
    playbooks: &[String],
    guest: &dyn Guest,
) -> Result<(), Error> {
    let staging = config.staging_directory.as_str();
    let mut extra_args = format!(
        " --extra-vars \"packer_build_name={} packer_builder_type={} packer_http_addr={} -o IdentitiesOnly=yes\" ",
        run.build_name, run.builder_type, run.http_addr,
    );
    extra_args.push_str(&config.extra_arguments.join(" "));

    if !config.galaxy_file.is_empty() {
        let command = format!(
            "cd {staging} && {} install -r {} -p {}",
            config.galaxy_command,
            join(staging, base(&config.galaxy_file)),
            join(staging, "roles")
        );
        guest.message(&format!("Executing Ansible Galaxy: {command}"));
        let status = exit_status(guest.exec(&command)?);
        if status != 0 {
            return Err(Error::failed(format!(
                "Error executing Ansible Galaxy: Non-zero exit status: {status}"
            )));
        }
    }

    for playbook in playbooks {
        let command = format!(
            "cd {staging} && {} {playbook}{extra_args} -c local -i {inventory}",
            config.command
        );
        guest.message(&format!("Executing Ansible: {command}"));
        match exit_status(guest.exec(&command)?) {
            0 => {}
            127 => {
                return Err(Error::failed(format!(
                    "{} could not be found. Verify that it is available on the\nPATH after connecting to the machine.",
                    config.command
                )));
            }
            status => {
                return Err(Error::failed(format!("Non-zero exit status: {status}")));
            }
        }
    }
    Ok(())
}

fn exit_status(exit: Exit) -> i32 {
    match exit {
        Exit::Status(status) => status,
        Exit::Disconnected => DISCONNECTED,
    }
}

/// Packer's `createDir`.
fn create_dir(guest: &dyn Guest, dir: &str) -> Result<(), Error> {
    guest.message(&format!("Creating directory: {dir}"));
    match guest.exec(&format!("mkdir -p '{dir}'"))? {
        Exit::Status(0) => Ok(()),
        _ => Err(Error::failed(
            "Non-zero exit status. See output above for more information.",
        )),
    }
}

/// Packer's `uploadDir`: the directory created, then the host directory's contents into it.
fn upload_dir(guest: &dyn Guest, remote: &str, host: &Path) -> Result<(), Error> {
    create_dir(guest, remote)?;
    guest.upload(host, remote)
}

/// Packer's `uploadFile`.
fn upload_file(guest: &dyn Guest, remote: &str, host: &Path) -> Result<(), Error> {
    guest.upload(host, remote).map_err(|e| {
        Error::failed(format!(
            "Error uploading {}: {}",
            host.display(),
            e.message()
        ))
    })
}

/// Go's `filepath.Join` for the remote side: one slash between the parts.
fn join(dir: &str, rest: &str) -> String {
    let dir = dir.trim_end_matches('/');
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        dir.to_owned()
    } else if dir.is_empty() {
        format!("/{rest}")
    } else {
        format!("{dir}/{rest}")
    }
}

/// Go's `filepath.Base`.
fn base(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Go's `filepath.Dir` for an absolute path.
fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records every message and call; exec answers from `statuses` in turn (0 when none is
    /// left).
    #[derive(Default)]
    struct Fake {
        log: RefCell<Vec<String>>,
        statuses: RefCell<Vec<i32>>,
    }

    impl Guest for Fake {
        fn message(&self, text: &str) {
            self.log.borrow_mut().push(format!("message {text}"));
        }

        fn exec(&self, line: &str) -> Result<Exit, Error> {
            self.log.borrow_mut().push(format!("exec {line}"));
            let mut statuses = self.statuses.borrow_mut();
            Ok(Exit::Status(if statuses.is_empty() {
                0
            } else {
                statuses.remove(0)
            }))
        }

        fn upload(&self, host_path: &Path, remote: &str) -> Result<(), Error> {
            self.log
                .borrow_mut()
                .push(format!("upload {} {remote}", host_path.display()));
            Ok(())
        }

        fn upload_content(&self, content: &[u8], remote: &str) -> Result<(), Error> {
            self.log.borrow_mut().push(format!(
                "content {remote} {:?}",
                String::from_utf8_lossy(content)
            ));
            Ok(())
        }
    }

    fn config(json: &str, staging: &str) -> Config {
        let mut config: Config = kiln_plugin_sdk::config::decode(json).unwrap_or_default();
        config.command = config::DEFAULT_COMMAND.to_owned();
        config.galaxy_command = "ansible-galaxy".to_owned();
        config.staging_directory = staging.to_owned();
        config
    }

    fn resolve(path: &str) -> PathBuf {
        Path::new("/work").join(path)
    }

    fn run() -> Run<'static> {
        Run {
            build_name: "null",
            builder_type: "null",
            http_addr: HTTP_ADDR_NOT_IMPLEMENTED,
            random: 3_786_223_317,
            resolve: &resolve,
        }
    }

    const STAGE: &str =
        "/tmp/packer-provisioner-ansible-local/6b0ecd80-7215-73d0-3e82-96da7fb26b20";

    /// The sequence Packer 1.6.6 printed and ran for the same options (its messages verbatim).
    #[test]
    fn staging_and_the_command_are_packers() {
        let c = config(
            r#"{"playbook_file": "local.yml", "role_paths": ["roles/hello"], "group_vars": "gv",
                "extra_arguments": ["-v", "--extra-vars", "a=b"], "inventory_groups": ["g1", "g2"]}"#,
            STAGE,
        );
        let fake = Fake::default();
        assert!(stage_and_run(&c, &run(), &fake).is_ok());
        let expected: Vec<String> = [
            "message Creating Ansible staging directory...".to_owned(),
            format!("message Creating directory: {STAGE}"),
            format!("exec mkdir -p '{STAGE}'"),
            "message Uploading main Playbook file...".to_owned(),
            format!("upload /work/local.yml {STAGE}/local.yml"),
            "message Uploading inventory file...".to_owned(),
            format!(
                "content {STAGE}/packer-provisioner-ansible-local3786223317 \"[g1]\\n127.0.0.1\\n[g2]\\n127.0.0.1\\n\""
            ),
            "message Uploading group_vars directory...".to_owned(),
            format!("message Creating directory: {STAGE}/group_vars"),
            format!("exec mkdir -p '{STAGE}/group_vars'"),
            format!("upload /work/gv {STAGE}/group_vars"),
            "message Uploading role directories...".to_owned(),
            format!("message Creating directory: {STAGE}/roles/hello"),
            format!("exec mkdir -p '{STAGE}/roles/hello'"),
            format!("upload /work/roles/hello {STAGE}/roles/hello"),
            format!(
                "message Executing Ansible: cd {STAGE} && ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook {STAGE}/local.yml --extra-vars \"packer_build_name=null packer_builder_type=null packer_http_addr=ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER -o IdentitiesOnly=yes\" -v --extra-vars a=b -c local -i {STAGE}/packer-provisioner-ansible-local3786223317"
            ),
        ]
        .into_iter()
        .collect();
        let log = fake.log.borrow();
        assert_eq!(log[..expected.len()], expected[..]);
        assert_eq!(log.len(), expected.len() + 1);
        assert!(
            log[expected.len()].starts_with(&format!("exec cd {STAGE} && ANSIBLE_FORCE_COLOR=1"))
        );
    }

    #[test]
    fn playbook_files_in_the_playbook_dir_run_in_place_and_the_staging_dir_is_cleaned() {
        let mut c = config(
            r#"{"playbook_files": ["local.yml", "/elsewhere/pb.yml"], "playbook_dir": ".",
                "clean_staging_directory": true, "galaxy_file": "requirements.yml",
                "playbook_paths": ["more"]}"#,
            "/tmp/pk/stage",
        );
        c.playbooks = vec!["/work/local.yml".to_owned(), "/elsewhere/pb.yml".to_owned()];
        let fake = Fake::default();
        let mut r = run();
        r.http_addr = "10.0.2.2:8100";
        r.resolve = &|path: &str| {
            if path == "." {
                PathBuf::from("/work")
            } else {
                resolve(path)
            }
        };
        assert!(stage_and_run(&c, &r, &fake).is_ok());
        let log = fake.log.borrow().join("\n");
        for expected in [
            "message Uploading Playbook directory to Ansible staging directory...\n\
             message Creating directory: /tmp/pk/stage\n\
             exec mkdir -p '/tmp/pk/stage'\n\
             upload /work /tmp/pk/stage\n\
             message Uploading playbook file: /elsewhere/pb.yml\n\
             message Creating directory: /tmp/pk/stage/elsewhere\n\
             exec mkdir -p '/tmp/pk/stage/elsewhere'\n\
             upload /elsewhere/pb.yml /tmp/pk/stage/elsewhere/pb.yml\n\
             message Uploading galaxy file...\n\
             upload /work/requirements.yml /tmp/pk/stage/requirements.yml\n\
             message Uploading inventory file...\n\
             content /tmp/pk/stage/packer-provisioner-ansible-local3786223317 \"127.0.0.1\"\n\
             message Uploading additional Playbooks...\n\
             message Creating directory: /tmp/pk/stage/playbooks\n\
             exec mkdir -p '/tmp/pk/stage/playbooks'\n\
             message Creating directory: /tmp/pk/stage/playbooks/more\n\
             exec mkdir -p '/tmp/pk/stage/playbooks/more'\n\
             upload /work/more /tmp/pk/stage/playbooks/more\n\
             message Executing Ansible Galaxy: cd /tmp/pk/stage && ansible-galaxy install -r /tmp/pk/stage/requirements.yml -p /tmp/pk/stage/roles\n\
             exec cd /tmp/pk/stage && ansible-galaxy install -r /tmp/pk/stage/requirements.yml -p /tmp/pk/stage/roles\n\
             message Executing Ansible: cd /tmp/pk/stage && ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook /tmp/pk/stage/local.yml --extra-vars \"packer_build_name=null packer_builder_type=null packer_http_addr=10.0.2.2:8100 -o IdentitiesOnly=yes\"  -c local -i /tmp/pk/stage/packer-provisioner-ansible-local3786223317",
            "message Executing Ansible: cd /tmp/pk/stage && ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook /tmp/pk/stage/elsewhere/pb.yml --extra-vars",
            "message Removing staging directory...\n\
             message Removing directory: /tmp/pk/stage\n\
             exec rm -rf '/tmp/pk/stage'",
        ] {
            assert!(log.contains(expected), "{expected}\nnot in:\n{log}");
        }
    }

    #[test]
    fn failures_use_packers_words() {
        let c = config(r#"{"playbook_file": "local.yml"}"#, "/s");
        let failing = |statuses: Vec<i32>| {
            let fake = Fake {
                statuses: RefCell::new(statuses),
                ..Fake::default()
            };
            stage_and_run(&c, &run(), &fake)
                .err()
                .map(|e| e.message())
                .unwrap_or_default()
        };
        assert_eq!(
            failing(vec![0, 2]),
            "Error executing Ansible: Non-zero exit status: 2"
        );
        assert_eq!(
            failing(vec![0, 127]),
            "Error executing Ansible: ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook could not be found. Verify that it is available on the\nPATH after connecting to the machine."
        );
        assert_eq!(
            failing(vec![1]),
            "Error creating staging directory: Non-zero exit status. See output above for more information."
        );
    }

    #[test]
    fn go_paths_and_uuids() {
        assert_eq!(join("/tmp/stage", "/abs/pb.yml"), "/tmp/stage/abs/pb.yml");
        assert_eq!(join("/tmp/stage/", "roles"), "/tmp/stage/roles");
        assert_eq!(base("roles/hello/"), "hello");
        assert_eq!(base("/x/inventory.ini"), "inventory.ini");
        assert_eq!(parent("/home/u/pb.yml"), "/home/u");
        assert_eq!(parent("/pb.yml"), "/");
        let uuid = time_ordered_uuid(1_796_132_224, 0x1122_3344_5566_7788, 0x99aa_bbcc);
        assert_eq!(uuid, "6b0ecd80-7788-5566-3344-112299aabbcc");
    }
}
