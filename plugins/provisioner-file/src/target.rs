//! Where each transfer lands: Packer's trailing-slash rules, decided here so that the host's
//! `upload` and `download` only ever copy a file to a file or a directory's contents into a
//! directory.

/// The name `content` is given when `destination` is a directory (Packer's temp file prefix).
pub const CONTENT_NAME: &str = "pkr-file-content";

/// The remote path a local source is uploaded to. A directory without a trailing `/` goes
/// into `destination/<name>`, with one its contents go into `destination`; a file goes to
/// `destination`, or `destination<name>` when that ends in `/`.
pub fn upload(source: &str, is_dir: bool, destination: &str) -> Result<String, String> {
    if is_dir {
        if source.ends_with('/') {
            return Ok(destination.to_owned());
        }
        return match base(source) {
            "." => Ok(destination.to_owned()),
            ".." => Err(format!(
                "cannot name the directory '{source}' on the machine: write '{source}/' to \
                 upload its contents into '{destination}'"
            )),
            name => Ok(join(destination, name)),
        };
    }
    Ok(if destination.ends_with('/') {
        format!("{destination}{}", base(source))
    } else {
        destination.to_owned()
    })
}

/// The remote path `content` is written to.
pub fn content(destination: &str) -> String {
    upload(CONTENT_NAME, false, destination).unwrap_or_else(|_| destination.to_owned())
}

/// What a download source is, as Packer tells from its spelling alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Download {
    /// A file, to the local path.
    File { local: String },
    /// A directory (`src/`): its contents into the local directory.
    Dir { local: String },
    /// A remote shell pattern (`*`, `?`, `[`): each match into the local directory, by name.
    Glob { into: String },
}

/// Packer's download rules: a source ending in `/` is a directory, one with a pattern character
/// a glob, anything else a file; a destination ending in `/` is a directory, and a file lands
/// in it by its name.
pub fn download(source: &str, destination: &str) -> Download {
    if is_glob(source) {
        return Download::Glob {
            into: destination.to_owned(),
        };
    }
    if source.ends_with('/') {
        return Download::Dir {
            local: destination.to_owned(),
        };
    }
    Download::File {
        local: if destination.ends_with('/') {
            join(destination, base(source))
        } else {
            destination.to_owned()
        },
    }
}

/// Where a glob's match goes in its directory.
pub fn glob_match(into: &str, matched: &str) -> String {
    join(into, base(matched))
}

pub fn is_glob(source: &str) -> bool {
    source.contains(['*', '?', '['])
}

/// Several sources with a destination that is not a directory: every file would overwrite the
/// last (Packer uploads them all to the same path), so the destination must end in `/`.
pub fn several_into_one(sources: usize, destination: &str, any_file: bool) -> Option<String> {
    (sources > 1 && any_file && !destination.ends_with('/')).then(|| {
        format!(
            "With several sources, destination must be a directory ending in '/' \
             ('{destination}/'): each file would overwrite the one before it at \
             '{destination}'."
        )
    })
}

/// A path without its trailing slashes (the root stays `/`), for the host's transfers.
pub fn trimmed(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        trimmed => trimmed,
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored.
pub fn base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let path = trimmed(path);
    if path == "/" {
        return "/";
    }
    path.rsplit('/').next().unwrap_or(path)
}

/// `dir/name`, without doubling a trailing slash.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_upload_by_name_without_a_slash_and_by_contents_with_one() {
        assert_eq!(upload("files", true, "/opt"), Ok("/opt/files".into()));
        assert_eq!(upload("a/files", true, "/opt/"), Ok("/opt/files".into()));
        assert_eq!(upload("/abs/files", true, "/"), Ok("/files".into()));
        assert_eq!(upload("files/", true, "/opt"), Ok("/opt".into()));
        assert_eq!(upload("files/", true, "/opt/"), Ok("/opt/".into()));
        assert_eq!(upload(".", true, "/opt"), Ok("/opt".into()));
        assert!(upload("..", true, "/opt").unwrap_err().contains("'../'"));
    }

    #[test]
    fn files_upload_to_the_destination_or_into_it_by_name() {
        assert_eq!(
            upload("a/app.conf", false, "/etc/app.conf"),
            Ok("/etc/app.conf".into())
        );
        assert_eq!(
            upload("a/app.conf", false, "/etc/"),
            Ok("/etc/app.conf".into())
        );
        assert_eq!(upload("app.conf", false, "/etc"), Ok("/etc".into()));
        assert_eq!(content("/etc/motd"), "/etc/motd");
        assert_eq!(content("/etc/"), "/etc/pkr-file-content");
    }

    #[test]
    fn downloads_follow_the_spelling_of_source_and_destination() {
        let file = |local: &str| Download::File {
            local: local.into(),
        };
        assert_eq!(
            download("/var/log/syslog", "out/syslog.txt"),
            file("out/syslog.txt")
        );
        assert_eq!(download("/var/log/syslog", "out/"), file("out/syslog"));
        assert_eq!(
            download("/etc/app/", "out/app"),
            Download::Dir {
                local: "out/app".into()
            }
        );
        assert_eq!(
            download("/etc/app/", "out/"),
            Download::Dir {
                local: "out/".into()
            }
        );
        assert_eq!(
            download("/var/log/*.log", "logs"),
            Download::Glob {
                into: "logs".into()
            }
        );
        assert!(is_glob("/var/log/syslog.[0-9]") && is_glob("a?c"));
        assert_eq!(glob_match("logs", "/var/log/a.log"), "logs/a.log");
        assert_eq!(glob_match("logs/", "b.log"), "logs/b.log");
    }

    #[test]
    fn several_files_need_a_directory() {
        assert!(several_into_one(2, "/opt", true).is_some());
        assert_eq!(several_into_one(2, "/opt/", true), None);
        assert_eq!(
            several_into_one(2, "/opt", false),
            None,
            "directories go by name"
        );
        assert_eq!(several_into_one(1, "/opt", true), None);
    }

    #[test]
    fn base_and_trim_as_go() {
        assert_eq!(base("a/b.txt"), "b.txt");
        assert_eq!(base("a/b/"), "b");
        assert_eq!(base("b"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(base(""), ".");
        assert_eq!(trimmed("dir//"), "dir");
        assert_eq!(trimmed("/"), "/");
        assert_eq!(trimmed("a"), "a");
    }
}
