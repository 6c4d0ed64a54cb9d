//! The `vagrant` post-processor (Packer's, builder id `mitchellh.post-processor.vagrant`): a
//! Vagrant box from a build's artifact. The provider follows the artifact's builder id
//! (`provider`), or `provider_override`; kiln boxes `libvirt` (qemu builds, `libvirt`) so far.
//!
//! A box is a tar, gzipped unless `compression_level` is 0, of the provider's files, a
//! `metadata.json` and a Vagrantfile. Packer copies the disk into a temporary directory and
//! tars that; here the host's `archive.create` (streaming, multi-threaded gzip) reads the disk
//! where the build left it, under the name `box.img`, so a multi-GiB disk is never copied.
//! Only `metadata.json` and the Vagrantfile are written, into the build's scratch directory.

mod config;
mod libvirt;
mod provider;

use std::path::{Path, PathBuf};

use kiln_plugin_sdk::config::Problems;
use kiln_plugin_sdk::host::archive;
use kiln_plugin_sdk::{
    Artifact, BuildInfo, Context, Error, PluginInfo, PostProcessor, Processed, artifacts, log,
    template,
};

use config::Config;

const BUILDER_ID: &str = "mitchellh.post-processor.vagrant";

struct Vagrant;

impl PostProcessor for Vagrant {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "vagrant",
            env!("CARGO_PKG_VERSION"),
            "Makes a Vagrant box from the artifact (libvirt, from qemu builds).",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.set_defaults();
        let mut problems = Problems::new();
        let warnings = config.check(&mut problems, |path| build.resolve(path).exists());
        // Rendered now only to find a broken template early; the real data comes later.
        let provider = match config.provider_override.as_str() {
            "" => "libvirt",
            name => name,
        };
        let data = [
            ("BuildName", build.name.as_str()),
            ("Provider", provider),
            ("ArtifactId", ""),
        ];
        if let Err(e) = template::render(&config.output, &data) {
            problems.add(
                "output",
                format!("Error parsing output template: {}", e.message()),
            );
        }
        problems.finish()?;
        Ok(warnings)
    }

    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        let provider = match config.provider_override.as_str() {
            "" => provider::for_builder_id(&input.builder_id).map_err(Error::failed)?,
            name => name,
        };
        provider::check_available(provider).map_err(Error::failed)?;
        let settings = config.settings(provider).map_err(Error::failed)?;
        log::say(format!("Creating Vagrant box for '{provider}' provider"));

        // What `output` and the Vagrantfile template see: the artifact's generated data, then
        // Packer's three.
        let mut data: Vec<(&str, &str)> = input
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        data.extend([
            ("ArtifactId", input.id.as_str()),
            ("BuildName", build.name.as_str()),
            ("Provider", provider),
        ]);
        let target = template::render(&settings.output, &data)
            .context("Error interpolating output value")?;
        let output = build.resolve(&target);

        let mut members: Vec<Member> = Vec::new();
        for src in &settings.include {
            log::message(format!("Copying from include: {src}"));
            members.push(Member::new(build.resolve(src), base_name(src)));
        }

        let contents = libvirt::contents(&input).map_err(Error::failed)?;
        log::message(format!("Copying from artifact: {}", contents.disk));
        if let Some(warning) = &contents.warning {
            log::message(format!("Warning: {warning}"));
        }
        let custom = if settings.vagrantfile_template.is_empty() {
            String::new()
        } else {
            log::message(format!(
                "Using custom Vagrantfile: {}",
                settings.vagrantfile_template
            ));
            let path = build.resolve(&settings.vagrantfile_template);
            let text = std::fs::read_to_string(&path)
                .context(format!("reading {}", settings.vagrantfile_template))?;
            template::render(&text, &data).context(format!(
                "rendering vagrantfile_template {}",
                settings.vagrantfile_template
            ))?
        };

        let scratch = Scratch::create(build, provider)?;
        let vagrantfile = scratch.write(
            "Vagrantfile",
            &box_vagrantfile(&contents.vagrantfile, &custom),
        )?;
        let metadata = scratch.write("metadata.json", &contents.metadata)?;
        let members = box_members(
            members,
            Member::new(build.resolve(&contents.disk), "box.img".into()),
            Member::new(vagrantfile, "Vagrantfile".into()),
            Member::new(metadata, "metadata.json".into()),
        );
        for member in &members {
            log::message(format!("Compressing: {}", member.name));
        }

        if let Some(parent) = output.parent() {
            std::fs::create_dir_all(parent)
                .context(format!("Unable to create dir for box {target}"))?;
        }
        let (format, level) = settings.compression.archive();
        artifacts::register(&output)?;
        archive::create(&archive::Request {
            entries: members
                .into_iter()
                .map(|m| (m.source.display().to_string(), m.name))
                .collect(),
            output: output.display().to_string(),
            format: format.to_owned(),
            level,
        })
        .context(format!("Error creating box {target}"))?;
        drop(scratch);

        // Packer's libvirt provider does not keep its input by default: the box holds the
        // disk. Its "force keep" applies only to providers that keep by default (aws, ...),
        // so the user's keep_input_artifact decides here.
        Ok(Processed::new(Artifact {
            builder_id: BUILDER_ID.to_owned(),
            id: provider.to_owned(),
            description: format!("'{provider}' provider box: {target}"),
            files: vec![target],
            data: Vec::new(),
        }))
    }
}

/// The box's Vagrantfile, as Packer's `boxVagrantfileContents` lays it out.
fn box_vagrantfile(provider: &str, custom: &str) -> String {
    format!(
        "\n# The contents below were provided by the Packer Vagrant post-processor\n{provider}\n\n\
         # The contents below (if any) are custom contents provided by the\n\
         # Packer template during image build.\n{custom}\n"
    )
}

/// A file in the box: its host path and its name in the box's root.
#[derive(Debug, PartialEq, Eq)]
struct Member {
    source: PathBuf,
    name: String,
}

impl Member {
    fn new(source: PathBuf, name: String) -> Self {
        Member { source, name }
    }
}

/// The box's files by name, as Packer's copies into one directory resolve clashes: a later
/// include replaces an earlier one of the same name, the disk and the Vagrantfile replace an
/// include, and an included `metadata.json` is kept instead of the generated one. Sorted, the
/// order both tars list them in.
fn box_members(
    includes: Vec<Member>,
    disk: Member,
    vagrantfile: Member,
    metadata: Member,
) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    let mut put = |m: Member, replace: bool| match members.iter_mut().find(|e| e.name == m.name) {
        Some(existing) if replace => *existing = m,
        Some(_) => {}
        None => members.push(m),
    };
    for include in includes {
        put(include, true);
    }
    put(disk, true);
    put(vagrantfile, true);
    put(metadata, false);
    members.sort_by(|a, b| a.name.cmp(&b.name));
    members
}

/// A directory of the build's scratch space for one box's generated files, removed when done.
struct Scratch(PathBuf);

impl Scratch {
    fn create(build: &BuildInfo, provider: &str) -> Result<Scratch, Error> {
        // Several vagrant post-processors may run in one build.
        let mut n = 1;
        loop {
            let dir = build.temp_path(format!("vagrant-{provider}-{n}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => {
                    return Err(Error::failed(format!("creating {}: {e}", dir.display())));
                }
            }
        }
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf, Error> {
        let path = self.0.join(name);
        std::fs::write(&path, text).context(format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The name an include gets in the box's root (Go's `filepath.Base`).
fn base_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned())
}

kiln_plugin_sdk::export_post_processor!(Vagrant);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vagrantfile_is_packers_provider_block_then_the_custom_part() {
        let provider = "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"qemu\"\n  end\nend\n";
        assert_eq!(
            box_vagrantfile(provider, "config.vm.hostname = \"web\""),
            "
# The contents below were provided by the Packer Vagrant post-processor

Vagrant.configure(\"2\") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = \"qemu\"
  end
end


# The contents below (if any) are custom contents provided by the
# Packer template during image build.
config.vm.hostname = \"web\"
"
        );
    }

    #[test]
    fn generated_files_replace_includes_except_metadata() {
        let m = |src: &str, name: &str| Member::new(PathBuf::from(src), name.to_owned());
        let members = box_members(
            vec![
                m("/w/a/notes.txt", "notes.txt"),
                m("/w/box.img", "box.img"),
                m("/w/metadata.json", "metadata.json"),
                m("/w/Vagrantfile", "Vagrantfile"),
                m("/w/b/notes.txt", "notes.txt"),
            ],
            m("/w/out/disk.qcow2", "box.img"),
            m("/tmp/s/Vagrantfile", "Vagrantfile"),
            m("/tmp/s/metadata.json", "metadata.json"),
        );
        assert_eq!(
            members,
            [
                m("/tmp/s/Vagrantfile", "Vagrantfile"),
                m("/w/out/disk.qcow2", "box.img"),
                m("/w/metadata.json", "metadata.json"),
                m("/w/b/notes.txt", "notes.txt"),
            ]
        );
    }

    #[test]
    fn includes_are_named_by_their_base_name() {
        assert_eq!(base_name("files/info.json"), "info.json");
        assert_eq!(base_name("/abs/README"), "README");
    }
}
