//! Load a deploy directory (SPEC S1): `ingresses/*.yaml`, `components/*.wasm`,
//! `seed/*.json` and `sluice.yaml`.
//!
//! A bad file is reported with its name and the reason and skipped; every ingress that is
//! fine is served. Each component is compiled and pre-instantiated once, however many
//! ingresses use it.

pub mod actors;
pub mod check;
pub mod demo;
pub mod manifest;
mod seed;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use check::{Checked, check};
pub use manifest::{BodyMode, IngressSpec};
pub use seed::seed_store;

use crate::capabilities::{Backends, IngressContext};
use crate::route::RouteTable;
use crate::runtime::bindings::IngressPre;
use crate::runtime::{InstanceState, Runtime};

/// One servable ingress: its spec, its pre-instantiated component, its capabilities and
/// its own connection cap.
pub struct Ingress {
    pub spec: IngressSpec,
    pub pre: IngressPre<InstanceState>,
    pub context: Arc<IngressContext>,
    /// One permit per request in flight, when `maxConnections` is set.
    connections: Option<Arc<Semaphore>>,
}

/// The ingress is serving `maxConnections` requests already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ingress is at its connection cap")]
pub struct AtCapacity;

impl Ingress {
    pub fn new(
        spec: IngressSpec,
        pre: IngressPre<InstanceState>,
        context: Arc<IngressContext>,
    ) -> Self {
        let connections = spec
            .max_connections
            .map(|cap| Arc::new(Semaphore::new(cap as usize)));
        Self {
            spec,
            pre,
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

/// Load every ingress in `dir`. Problems are returned, not fatal; only an unreadable
/// `ingresses/` folder is.
pub fn load(
    dir: &Path,
    runtime: &Runtime,
    backends: &Backends,
) -> std::io::Result<(Deployment, Vec<Problem>)> {
    let mut problems = Vec::new();
    let mut compiled: HashMap<String, Result<IngressPre<InstanceState>, Problem>> = HashMap::new();
    let mut deployment = Deployment {
        routes: RouteTable::new(),
        ingresses: Vec::new(),
    };
    for file in files_with_extension(&dir.join("ingresses"), &["yaml", "yml"])? {
        let spec = match std::fs::read_to_string(&file)
            .map_err(|err| err.to_string())
            .and_then(|text| IngressSpec::parse(&text).map_err(|err| err.to_string()))
        {
            Ok(spec) => spec,
            Err(reason) => {
                problems.push(Problem::new(&file, reason));
                continue;
            }
        };
        let pre = compiled
            .entry(spec.component_id.clone())
            .or_insert_with(|| compile(dir, &spec.component_id, runtime));
        let pre = match pre {
            Ok(pre) => pre.clone(),
            Err(problem) => {
                let reason = format!("component '{}' is unusable ({problem})", spec.component_id);
                problems.push(Problem::new(&file, reason));
                continue;
            }
        };
        let context = Arc::new(IngressContext {
            ingress_id: spec.id.clone(),
            acl: spec.acl.clone(),
            backends: backends.clone(),
        });
        let (method, route) = (spec.method.clone(), spec.route.clone());
        let ingress = Arc::new(Ingress::new(spec, pre, context));
        match deployment.routes.insert(method, &route, ingress.clone()) {
            Ok(()) => deployment.ingresses.push(ingress),
            Err(err) => problems.push(Problem::new(&file, format!("spec.properties.route: {err}"))),
        }
    }
    Ok((deployment, problems))
}

fn compile(
    dir: &Path,
    component_id: &str,
    runtime: &Runtime,
) -> Result<IngressPre<InstanceState>, Problem> {
    let file = dir.join("components").join(format!("{component_id}.wasm"));
    let wasm = std::fs::read(&file).map_err(|err| Problem::new(&file, err))?;
    runtime
        .prepare(&wasm)
        .map_err(|err| Problem::new(&file, err))
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
