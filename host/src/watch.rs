//! Debounced file watches that wake on changes only, shared by hot deploy and the TLS
//! certificate reload.
//!
//! notify reports opening a file as an event on Linux (inotify `OPEN`), so a watch that
//! reads what it watches would wake itself forever: every reload's own reads would start the
//! next. Access events are therefore dropped here, before anything else sees them. What is
//! left is debounced on a tokio task: one save, or one copy of several files, is one change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A running watch; dropping it stops it, and [`Changes::next`] then returns `None`.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
}

/// The changes a [`FileWatch`] sees, debounced.
pub struct Changes {
    changed: mpsc::Receiver<()>,
    quiet: Duration,
}

impl Changes {
    /// Wait for a change, then until `quiet` has passed without another. `None` once the
    /// watch has stopped.
    pub async fn next(&mut self) -> Option<()> {
        self.changed.recv().await?;
        // A stopped watch after a change still reports that change.
        while let Ok(Some(())) = tokio::time::timeout(self.quiet, self.changed.recv()).await {}
        Some(())
    }
}

/// Watch each `(path, mode)`; a change (not a read) to a path for which `concerns` says
/// `true` is reported through [`Changes`] once `quiet` has passed without another.
pub fn watch(
    paths: &[(PathBuf, RecursiveMode)],
    quiet: Duration,
    concerns: impl Fn(&Path) -> bool + Send + 'static,
) -> notify::Result<(FileWatch, Changes)> {
    // One slot: changes while one is pending are the same change.
    let (changed, receiver) = mpsc::channel(1);
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if is_change(&event.kind) && event.paths.iter().any(|p| concerns(p)) => {
                let _ = changed.try_send(());
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "file watch failed"),
        })?;
    for (path, mode) in paths {
        watcher.watch(path, *mode)?;
    }
    let changes = Changes {
        changed: receiver,
        quiet,
    };
    Ok((FileWatch { _watcher: watcher }, changes))
}

/// Whether an event can have changed what a file holds or where it is: everything but
/// opening, reading and closing it.
fn is_change(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};

    const QUIET: Duration = Duration::from_millis(50);

    #[test]
    fn opening_and_reading_are_not_changes() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(
            notify::event::RemoveKind::File
        )));
    }

    #[tokio::test]
    async fn a_watch_wakes_on_a_write_and_not_on_its_own_reads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("watched.txt");
        std::fs::write(&file, "one").expect("write");
        let (_watch, mut changes) = watch(
            &[(dir.path().to_owned(), RecursiveMode::NonRecursive)],
            QUIET,
            |_| true,
        )
        .expect("watch");
        std::fs::write(&file, "two").expect("write");
        tokio::time::timeout(Duration::from_secs(30), changes.next())
            .await
            .expect("the write is seen")
            .expect("the watch runs");
        // Reading is what a reload does after each change: it must not be a change itself.
        for _ in 0..5 {
            std::fs::read(&file).expect("read");
        }
        let woke = tokio::time::timeout(QUIET * 20, changes.next()).await;
        assert!(woke.is_err(), "reads woke the watch");
    }

    #[tokio::test]
    async fn changes_to_paths_of_no_concern_are_not_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_watch, mut changes) = watch(
            &[(dir.path().to_owned(), RecursiveMode::NonRecursive)],
            QUIET,
            |path| path.extension().is_some_and(|ext| ext == "yaml"),
        )
        .expect("watch");
        std::fs::write(dir.path().join("store.db"), "rows").expect("write");
        std::fs::write(dir.path().join("ingress.yaml"), "uri: x").expect("write");
        tokio::time::timeout(Duration::from_secs(30), changes.next())
            .await
            .expect("the yaml write is seen")
            .expect("the watch runs");
        std::fs::write(dir.path().join("store.db"), "more rows").expect("write");
        let woke = tokio::time::timeout(QUIET * 20, changes.next()).await;
        assert!(woke.is_err(), "a change of no concern woke the watch");
    }
}
