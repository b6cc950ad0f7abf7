//! The file watch behind live deploys: a change under `ingresses/` or `components/` of the
//! deploy directory, debounced, starts a [`Deployer::reload`].
//!
//! The whole directory is watched (recursively), so an `ingresses/` or `components/` folder
//! created or replaced later is seen too; changes elsewhere (the SQLite store, `seed/`,
//! `actors/`, `public/`, `sluice.yaml`) start nothing. Changes that come during a reload
//! start one more reload after it, however many they are.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;

use super::live::Deployer;
use crate::watch::FileWatch;

/// Quiet time after a change before reloading: one save, or one copy of several files,
/// makes one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// A running watch; dropping it stops it.
pub struct Watch {
    _watch: FileWatch,
}

/// Watch `deployer`'s directory and reload it on changes, for as long as the deployer lives.
pub fn start(deployer: &Arc<Deployer>) -> Result<Watch, notify::Error> {
    // Events name absolute paths; compare against the same spelling.
    let dir = deployer
        .dir()
        .canonicalize()
        .map_err(|err| notify::Error::io(err).add_path(deployer.dir().to_owned()))?;
    let watched = [dir.join("ingresses"), dir.join("components")];
    let (watch, mut changes) = crate::watch::watch(
        &[(dir.clone(), RecursiveMode::Recursive)],
        DEBOUNCE,
        move |path| is_watched(&watched, path),
    )?;
    // Weak: the watch must not keep a dropped host's deployer alive.
    let deployer = Arc::downgrade(deployer);
    tokio::spawn(async move {
        while changes.next().await.is_some() {
            let Some(deployer) = deployer.upgrade() else {
                break;
            };
            tracing::info!("deploy directory changed: reloading");
            deployer.reload().await;
        }
    });
    tracing::info!(dir = %dir.display(), "watching the deploy directory");
    Ok(Watch { _watch: watch })
}

/// Whether a change to `path` concerns the served ingresses: it is one of `watched` or
/// lies under one.
fn is_watched(watched: &[PathBuf], path: &Path) -> bool {
    watched.iter().any(|folder| path.starts_with(folder))
}

#[cfg(test)]
mod tests {
    use super::is_watched;
    use std::path::{Path, PathBuf};

    fn watched() -> [PathBuf; 2] {
        [
            PathBuf::from("/d/ingresses"),
            PathBuf::from("/d/components"),
        ]
    }

    #[test]
    fn ingress_and_component_files_and_their_folders_are_watched() {
        for path in [
            "/d/ingresses/a.yaml",
            "/d/ingresses/.a.yaml.swp",
            "/d/components/hello.wasm",
            "/d/ingresses",
            "/d/components",
        ] {
            assert!(is_watched(&watched(), Path::new(path)), "{path}");
        }
    }

    #[test]
    fn the_store_seed_actors_and_config_start_no_reload() {
        for path in [
            "/d/sluice.db",
            "/d/sluice.db-wal",
            "/d/sluice.yaml",
            "/d/seed/skus.json",
            "/d/actors/sku.yaml",
            "/d/public/index.html",
            "/d/ingresses-old/a.yaml",
            "/d",
        ] {
            assert!(!is_watched(&watched(), Path::new(path)), "{path}");
        }
    }
}
