//! The `file` provisioner (Packer 1.6.6 `provisioner/file`, with 1.7.5's `content`): copies
//! local files and directories to the machine, or the machine's to the host with
//! `direction: download`. Packer's trailing-slash rules are applied here (`target`), so the
//! host's transfers only copy a file to a file or a directory's contents into a directory.

mod config;
mod glob;
mod target;

use std::path::Path;

use kiln_plugin_sdk::{BuildInfo, Context, Error, PluginInfo, Provisioner, Session, log, template};

use crate::config::{Config, Local};
use crate::target::Download;

struct File;

impl Provisioner for File {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "file",
            env!("CARGO_PKG_VERSION"),
            "Copies files and directories to the machine being built, or from it.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(|source| stat(build, source))
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        let destination =
            render(&config.destination, data).context("Error interpolating destination")?;
        let mut sources = Vec::with_capacity(config.sources.len());
        for source in &config.sources {
            sources.push(render(source, data).context("Error interpolating source")?);
        }
        if config.downloads() {
            return download(build, session, &sources, &destination);
        }
        if !config.content.is_empty() {
            let content = render(&config.content, data).context("Error interpolating content")?;
            let remote = target::content(&destination);
            log::say(format!(
                "Uploading {} => {destination}",
                target::CONTENT_NAME
            ));
            return session
                .upload_content(content.as_bytes(), &remote, 0o644)
                .inspect_err(|e| log::error(format!("Upload failed: {}", e.message())));
        }
        upload(build, session, &sources, &destination)
    }
}

kiln_plugin_sdk::export_provisioner!(File);

fn upload(
    build: &BuildInfo,
    session: &Session,
    sources: &[String],
    destination: &str,
) -> Result<(), Error> {
    let mut kinds = Vec::with_capacity(sources.len());
    for source in sources {
        let kind = stat(build, source)
            .map_err(|e| Error::failed(format!("Bad source '{source}': {e}")))?;
        kinds.push(kind);
    }
    // A generated source is known only now.
    let any_file = kinds.contains(&Local::File);
    if let Some(message) = target::several_into_one(sources.len(), destination, any_file) {
        return Err(Error::invalid_config("destination", message));
    }
    for (source, kind) in sources.iter().zip(kinds) {
        log::say(format!("Uploading {source} => {destination}"));
        let remote =
            target::upload(source, kind == Local::Dir, destination).map_err(Error::failed)?;
        let local = build.resolve(target::trimmed(source));
        log::debug(format!("[file] upload {} -> {remote}", local.display()));
        session
            .upload(&local.to_string_lossy(), &remote)
            .inspect_err(|e| log::error(format!("Upload failed: {}", e.message())))?;
    }
    Ok(())
}

fn download(
    build: &BuildInfo,
    session: &Session,
    sources: &[String],
    destination: &str,
) -> Result<(), Error> {
    for source in sources {
        log::say(format!("Downloading {source} => {destination}"));
        let plan = target::download(source, destination);
        let local_dir = match &plan {
            Download::File { local } => {
                let local = build.resolve(local);
                local.parent().map(Path::to_path_buf).unwrap_or(local)
            }
            Download::Dir { local } | Download::Glob { into: local } => {
                build.resolve(target::trimmed(local))
            }
        };
        std::fs::create_dir_all(&local_dir).map_err(|e| {
            Error::failed(format!(
                "creating {}: {}",
                local_dir.display(),
                kiln_plugin_sdk::io_reason(&e)
            ))
        })?;
        let transfers = match &plan {
            Download::File { local } | Download::Dir { local } => {
                vec![(
                    target::trimmed(source).to_owned(),
                    build.resolve(target::trimmed(local)),
                )]
            }
            Download::Glob { into } => glob::expand(session, source)?
                .into_iter()
                .map(|m| {
                    let local = build.resolve(target::glob_match(into, &m));
                    (m, local)
                })
                .collect(),
        };
        for (remote, local) in transfers {
            log::debug(format!("[file] download {remote} -> {}", local.display()));
            session
                .download(&remote, &local.to_string_lossy())
                .inspect_err(|e| log::error(format!("Download failed: {}", e.message())))?;
        }
    }
    Ok(())
}

/// What a local source is, relative paths from the working directory as in Packer.
fn stat(build: &BuildInfo, source: &str) -> Result<Local, String> {
    match std::fs::metadata(build.resolve(source)) {
        Ok(m) if m.is_dir() => Ok(Local::Dir),
        Ok(_) => Ok(Local::File),
        Err(e) => Err(kiln_plugin_sdk::io_reason(&e)),
    }
}

/// Build-time template text (`{{.HTTPIP}}`) rendered with the builder's data.
fn render(text: &str, data: &[(String, String)]) -> Result<String, Error> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    template::render(text, &data)
}
