//! The inventory Packer generates (1.6.6 `createInventoryFile`): the host line, then the line
//! again under each of `groups`, then each of `empty_groups` with nothing under it.

use std::path::{Path, PathBuf};

/// `DefaultSSHInventoryFilev2`: the host line for Ansible 2 and later.
pub const DEFAULT_TEMPLATE: &str =
    "{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}\n";

/// The file's text, from the rendered host line.
pub fn text(host: &str, groups: &[String], empty_groups: &[String]) -> String {
    let mut out = host.to_owned();
    for group in groups {
        out.push_str(&format!("[{group}]\n{host}"));
    }
    for group in empty_groups {
        out.push_str(&format!("[{group}]\n"));
    }
    out
}

/// A new `packer-provisioner-ansible<N>` in `dir`, as Go's `ioutil.TempFile` names it.
pub fn create(
    dir: &Path,
    content: &str,
    mut random: impl FnMut() -> u64,
) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    let mut last = None;
    for _ in 0..10_000 {
        let path = dir.join(format!(
            "packer-provisioner-ansible{}",
            random() % 10_000_000_000
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(content.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free file name")))
}

/// The generated inventory, removed when dropped unless `keep_inventory_file` asked to keep it.
pub struct Generated {
    pub path: PathBuf,
    pub keep: bool,
}

impl Drop for Generated {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_repeat_the_host_and_empty_groups_stay_empty() {
        let host = "default ansible_host=127.0.0.1 ansible_user=root ansible_port=42222\n";
        let groups = ["web".to_owned(), "db".to_owned()];
        let empty = ["empty".to_owned()];
        // Packer 1.6.6 wrote exactly this for these options.
        assert_eq!(
            text(host, &groups, &empty),
            "default ansible_host=127.0.0.1 ansible_user=root ansible_port=42222\n\
             [web]\n\
             default ansible_host=127.0.0.1 ansible_user=root ansible_port=42222\n\
             [db]\n\
             default ansible_host=127.0.0.1 ansible_user=root ansible_port=42222\n\
             [empty]\n"
        );
        assert_eq!(text(host, &[], &[]), host);
    }
}
