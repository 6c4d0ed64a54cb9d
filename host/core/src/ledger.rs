//! Everything a build opened on the host, so that nothing outlives it.
//!
//! Capabilities record what they create (a process group, a temp directory, an artifact file,
//! later a VM, a server, a cloud instance) the moment they create it, before a plugin can trap.
//! [`Ledger::release`] undoes it all in reverse order when the build ends, whether it succeeded,
//! failed, timed out, crashed or was cancelled.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

/// How a build ended, which decides what is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Artifacts stay; processes and temporary things go.
    Success,
    /// Everything goes, artifacts included (Packer deletes output on failure).
    Failure,
    /// `--on-error=abort`: artifacts and machines stay for inspection; processes still end,
    /// because nothing would be left to stop them.
    Abort,
}

/// Something released by code rather than by the ledger's built-in kinds (a VM, a server).
#[async_trait]
pub trait Release: Send + Sync {
    fn describe(&self) -> String;
    /// Whether an `--on-error=abort` run leaves it in place.
    fn kept_on_abort(&self) -> bool {
        true
    }
    async fn release(self: Box<Self>);
}

enum Entry {
    /// A process group started by local exec; every member is signalled.
    ProcessGroup {
        pgid: i32,
        label: String,
    },
    TempDir(PathBuf),
    /// A file made for the build's own use (a floppy or CD image): removed however it ends.
    TempFile(PathBuf),
    /// A file or directory a plugin produced: removed unless the build succeeded.
    Artifact(PathBuf),
    Custom(Box<dyn Release>),
}

impl Entry {
    fn describe(&self) -> String {
        match self {
            Entry::ProcessGroup { pgid, label } => format!("process group {pgid} ({label})"),
            Entry::TempDir(p) => format!("temporary directory {}", p.display()),
            Entry::TempFile(p) => format!("temporary file {}", p.display()),
            Entry::Artifact(p) => format!("artifact {}", p.display()),
            Entry::Custom(r) => r.describe(),
        }
    }
}

/// A handle to one entry, to release it early or forget it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryId(u64);

#[derive(Default)]
pub struct Ledger {
    entries: Mutex<Vec<(EntryId, Entry)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Ledger {
    pub fn new() -> Self {
        Ledger::default()
    }

    fn push(&self, entry: Entry) -> EntryId {
        let id = EntryId(self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        tracing::debug!(entry = %entry.describe(), "ledger: recorded");
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((id, entry));
        }
        id
    }

    pub fn record_process_group(&self, pgid: i32, label: impl Into<String>) -> EntryId {
        self.push(Entry::ProcessGroup {
            pgid,
            label: label.into(),
        })
    }

    pub fn record_temp_dir(&self, path: PathBuf) -> EntryId {
        self.push(Entry::TempDir(path))
    }

    pub fn record_temp_file(&self, path: PathBuf) -> EntryId {
        self.push(Entry::TempFile(path))
    }

    pub fn record_artifact(&self, path: PathBuf) -> EntryId {
        self.push(Entry::Artifact(path))
    }

    pub fn record(&self, release: Box<dyn Release>) -> EntryId {
        self.push(Entry::Custom(release))
    }

    /// Drops an entry without releasing it (its owner released it already).
    pub fn forget(&self, id: EntryId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(i, _)| *i != id);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Releases everything, newest first, as `outcome` decides. Returns what was released,
    /// for the debug log. Safe to call more than once: released entries are gone.
    pub async fn release(&self, outcome: Outcome) -> Vec<String> {
        let entries = match self.entries.lock() {
            Ok(mut entries) => std::mem::take(&mut *entries),
            Err(_) => return Vec::new(),
        };
        let mut released = Vec::new();
        let mut kept = Vec::new();
        for (id, entry) in entries.into_iter().rev() {
            let description = entry.describe();
            let keep = match (&entry, outcome) {
                (Entry::Artifact(_), Outcome::Success | Outcome::Abort) => true,
                (Entry::Custom(r), Outcome::Abort) => r.kept_on_abort(),
                _ => false,
            };
            if keep {
                kept.push((id, entry));
                continue;
            }
            match entry {
                Entry::ProcessGroup { pgid, .. } => end_process_group(pgid).await,
                Entry::TempDir(path) | Entry::TempFile(path) | Entry::Artifact(path) => {
                    remove_path(&path).await;
                }
                Entry::Custom(release) => release.release().await,
            }
            tracing::debug!(entry = %description, "ledger: released");
            released.push(description);
        }
        if let Ok(mut entries) = self.entries.lock() {
            kept.reverse();
            entries.extend(kept);
        }
        released
    }
}

async fn remove_path(path: &std::path::Path) {
    let result = match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(_) => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!("could not remove {}: {e}", path.display());
    }
}

/// SIGTERM to the whole group, then SIGKILL to whatever is left after two seconds.
pub(crate) async fn end_process_group(pgid: i32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let group = Pid::from_raw(pgid);
    if killpg(group, Signal::SIGTERM).is_err() {
        return; // nothing left in the group
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if killpg(group, None).is_err() {
            return;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records the order it was released in.
    struct Marker(&'static str, Arc<Mutex<Vec<&'static str>>>);

    #[async_trait]
    impl Release for Marker {
        fn describe(&self) -> String {
            self.0.to_owned()
        }
        async fn release(self: Box<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[tokio::test]
    async fn success_keeps_artifacts_and_failure_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let artifact = dir.path().join("image.qcow2");
        std::fs::create_dir(&scratch).unwrap();
        std::fs::write(&artifact, b"disk").unwrap();
        let floppy = dir.path().join("floppy.img");
        std::fs::write(&floppy, b"fat").unwrap();
        let ledger = Ledger::new();
        ledger.record_temp_dir(scratch.clone());
        ledger.record_artifact(artifact.clone());
        ledger.record_temp_file(floppy.clone());

        ledger.release(Outcome::Success).await;
        assert!(!scratch.exists());
        assert!(!floppy.exists());
        assert!(artifact.exists());
        assert_eq!(ledger.len(), 1, "the artifact stays recorded");

        ledger.release(Outcome::Failure).await;
        assert!(!artifact.exists());
        assert!(ledger.is_empty());
    }

    #[tokio::test]
    async fn releases_newest_first_and_abort_keeps_what_asks_to_be_kept() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let ledger = Ledger::new();
        ledger.record(Box::new(Marker("vm", Arc::clone(&order))));
        ledger.record(Box::new(Marker("server", Arc::clone(&order))));
        let forgotten = ledger.record(Box::new(Marker("released early", Arc::clone(&order))));
        ledger.forget(forgotten);

        ledger.release(Outcome::Abort).await;
        assert!(order.lock().unwrap().is_empty(), "abort keeps machines");
        assert_eq!(ledger.len(), 2);

        ledger.release(Outcome::Failure).await;
        assert_eq!(*order.lock().unwrap(), ["server", "vm"]);
    }
}
