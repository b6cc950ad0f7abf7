//! Load a deploy directory (SPEC S1): `ingresses/*.yaml`, `components/*.wasm`,
//! `seed/*.json` and `sluice.yaml`.
//!
//! A bad file is reported with its name and the reason and skipped; every ingress that is
//! fine is served. Each component is compiled and pre-instantiated once, however many
//! ingresses use it. [`live`] serves the ingresses and reloads them while the host runs,
//! on a [`watch`] of the directory or when asked (`sluice deploy`).

pub mod actors;
pub mod check;
pub mod demo;
pub mod live;
pub mod manifest;
pub mod report;
mod seed;
pub mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use check::{Checked, check};
pub use live::Deployer;
pub use manifest::{BodyMode, IngressSpec};
pub use report::ReloadReport;
pub use seed::seed_store;

use crate::capabilities::IngressContext;
use crate::route::RouteTable;
use crate::runtime::bindings::IngressPre;
use crate::runtime::{InstanceState, Needs, Prepared};

/// One servable ingress: its spec, its pre-instantiated component, its capabilities and
/// its own connection cap.
pub struct Ingress {
    pub spec: IngressSpec,
    pub pre: IngressPre<InstanceState>,
    /// What each of its instances takes from the pool.
    pub needs: Needs,
    pub context: Arc<IngressContext>,
    /// One permit per request in flight, when `maxConnections` is set.
    connections: Option<Arc<Semaphore>>,
}

/// The ingress is serving `maxConnections` requests already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ingress is at its connection cap")]
pub struct AtCapacity;

impl Ingress {
    pub fn new(spec: IngressSpec, prepared: Prepared, context: Arc<IngressContext>) -> Self {
        let connections = spec
            .max_connections
            .map(|cap| Arc::new(Semaphore::new(cap as usize)));
        Self {
            spec,
            pre: prepared.pre,
            needs: prepared.needs,
            context,
            connections,
        }
    }

    /// A place among this ingress's connections (`None` when it has no cap of its own),
    /// held until the request's instance is dropped.
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, AtCapacity> {
        match &self.connections {
            Some(connections) => connections
                .clone()
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| AtCapacity),
            None => Ok(None),
        }
    }
}

/// Everything a deploy directory serves.
pub struct Deployment {
    pub routes: RouteTable<Arc<Ingress>>,
    /// Every ingress served, in file order.
    pub ingresses: Vec<Arc<Ingress>>,
}

impl Deployment {
    /// Serves nothing.
    pub fn empty() -> Self {
        Self {
            routes: RouteTable::new(),
            ingresses: Vec::new(),
        }
    }

    pub fn ingress_ids(&self) -> Vec<&str> {
        self.ingresses
            .iter()
            .map(|ingress| ingress.spec.id.as_str())
            .collect()
    }
}

/// A file that could not be deployed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.reason)
    }
}

impl Problem {
    fn new(file: &Path, reason: impl fmt::Display) -> Self {
        Self {
            file: file.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// The files directly in `dir` with one of `extensions`, sorted; none if `dir` is absent.
fn files_with_extension(dir: &Path, extensions: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let wanted = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| extensions.contains(&ext));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
