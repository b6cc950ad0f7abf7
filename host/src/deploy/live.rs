//! Live deploys (SPEC S1, S9): the served [`Deployment`] sits behind an atomic pointer and
//! [`Deployer::reload`] replaces it whole.
//!
//! - A request takes the current deployment once and keeps the [`Ingress`] it found for as
//!   long as it runs, so a stream that is open finishes on the version it started with; new
//!   requests get the new one.
//! - A reload reads, checks and compiles everything off the request path (on blocking
//!   threads), then swaps. Components are compiled in parallel, once per version: compiled
//!   components are kept by the SHA-256 of their bytes, so a reload that changes only YAML
//!   compiles nothing, and one `.wasm` used by several ingresses is compiled once.
//! - An ingress file that is now broken (bad YAML, a broken or missing component, a route or
//!   id that clashes) is reported with file and reason, and the version that file served
//!   before, if any, keeps serving. A removed file stops being served.
//! - Reloads run one at a time.
//!
//! Actors are not reloaded (see [`report::ACTORS_NOT_RELOADED`](super::report)).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use super::report::ReloadReport;
use super::watch::Watch;
use super::{Deployment, Ingress, IngressSpec, Problem, files_with_extension};
use crate::capabilities::{Backends, IngressContext};
use crate::metrics::Metrics;
use crate::route::RouteTable;
use crate::runtime::{Prepared, Runtime};

type Sha256Sum = [u8; 32];

/// A component compiled, or why it does not compile.
type Compiled = Result<Prepared, String>;

/// An ingress file and its spec with the hash of its bytes, or why it cannot be read.
type ReadFile = (PathBuf, Result<(IngressSpec, Sha256Sum), Problem>);

/// A component id's version (the hash of its bytes) and compiled component, or the problem.
type ComponentFor = Result<(Sha256Sum, Prepared), Problem>;

/// What one ingress file served: the file's and its component's bytes, by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    file: Sha256Sum,
    component: Sha256Sum,
}

#[derive(Clone)]
struct Served {
    fingerprint: Fingerprint,
    ingress: Arc<Ingress>,
}

/// What the last reload left, for the next one to start from.
#[derive(Default)]
struct Loaded {
    /// Components by the hash of their bytes: compiled, or why they do not compile.
    components: HashMap<Sha256Sum, Compiled>,
    /// What each ingress file serves now.
    served: BTreeMap<PathBuf, Served>,
}

/// Serves a deploy directory's ingresses and reloads them live.
pub struct Deployer {
    dir: PathBuf,
    runtime: Arc<Runtime>,
    backends: Backends,
    /// Counts each reload and whether every file was accepted.
    metrics: Arc<Metrics>,
    current: ArcSwap<Deployment>,
    /// Held for a whole reload, so reloads run one at a time.
    loaded: Mutex<Loaded>,
    compiled: AtomicU64,
    watch: Mutex<Option<Watch>>,
}

impl Deployer {
    /// Load the ingresses of `dir`. Problems with single files are returned, not fatal;
    /// only an unreadable `ingresses/` folder is.
    pub async fn load(
        dir: &Path,
        runtime: Arc<Runtime>,
        backends: Backends,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Arc<Self>, Vec<Problem>)> {
        let deployer = Arc::new(Self {
            dir: dir.to_owned(),
            runtime,
            backends,
            metrics,
            current: ArcSwap::from_pointee(Deployment::empty()),
            loaded: Mutex::new(Loaded::default()),
            compiled: AtomicU64::new(0),
            watch: Mutex::new(None),
        });
        let (_, problems) = deployer.swap_in_new_version().await?;
        Ok((deployer, problems))
    }

    /// The deploy directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What is served now. Take it once per request and keep it.
    pub fn current(&self) -> Arc<Deployment> {
        self.current.load_full()
    }

    /// How many times a component has been compiled since start.
    pub fn components_compiled(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Read the deploy directory again and serve what it holds now (see the module docs).
    /// Waits for a reload already running.
    pub async fn reload(self: &Arc<Self>) -> ReloadReport {
        let report = match self.swap_in_new_version().await {
            Ok((report, _)) => report,
            Err(err) => {
                let problem = Problem::new(&self.dir.join("ingresses"), err);
                let unchanged = self.versions_served();
                ReloadReport::compare(&unchanged, &unchanged, &[problem], 0)
            }
        };
        reloaded(&report);
        self.metrics.deploy_loaded(report.problems.is_empty());
        report
    }

    /// Reload whenever `ingresses/` or `components/` changes, until the deployer is dropped.
    /// A watch that cannot start is logged; `sluice deploy` still works.
    pub fn watch(self: &Arc<Self>) {
        match super::watch::start(self) {
            Ok(watch) => *lock(&self.watch) = Some(watch),
            Err(err) => tracing::error!(
                dir = %self.dir.display(),
                %err,
                "cannot watch the deploy directory; reload with `sluice deploy`"
            ),
        }
    }

    async fn swap_in_new_version(
        self: &Arc<Self>,
    ) -> std::io::Result<(ReloadReport, Vec<Problem>)> {
        let deployer = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut loaded = lock(&deployer.loaded);
            deployer.load_locked(&mut loaded)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// One reload, with the lock held.
    fn load_locked(&self, loaded: &mut Loaded) -> std::io::Result<(ReloadReport, Vec<Problem>)> {
        let before = self.versions_served();
        let compiled_before = self.components_compiled();
        let files = files_with_extension(&self.dir.join("ingresses"), &["yaml", "yml"])?;
        let read: Vec<ReadFile> = files
            .into_iter()
            .map(|file| {
                let spec = read_spec(&file);
                (file, spec)
            })
            .collect();
        let (components, asked) = self.components_for(&read, loaded);
        let mut problems = Vec::new();
        let mut placed = Placed::default();
        for (file, spec) in read {
            let old = loaded.served.get(&file).cloned();
            let fresh = spec.and_then(|(spec, file_sha)| {
                let max_memory = self
                    .runtime
                    .memory_limit(spec.memory_per_instance_mib)
                    .map_err(|reason| Problem::new(&file, reason))?;
                // `components_for` looked up every component named by a file that parsed.
                let (component, pre) = match components.get(&spec.component_id) {
                    Some(Ok(component)) => component.clone(),
                    Some(Err(problem)) => {
                        let reason =
                            format!("component '{}' is unusable ({problem})", spec.component_id);
                        return Err(Problem::new(&file, reason));
                    }
                    None => return Err(Problem::new(&file, "component not looked up")),
                };
                let fingerprint = Fingerprint {
                    file: file_sha,
                    component,
                };
                match &old {
                    Some(old) if old.fingerprint == fingerprint => Ok(old.clone()),
                    _ => Ok(self.served(spec, pre, fingerprint, max_memory)),
                }
            });
            let fresh = match fresh {
                Ok(fresh) => fresh,
                Err(problem) => {
                    problems.push(problem);
                    match &old {
                        Some(old) => old.clone(),
                        None => continue,
                    }
                }
            };
            if let Err(reason) = placed.place(&file, &fresh) {
                problems.push(Problem::new(&file, reason));
                let older = old.filter(|old| !Arc::ptr_eq(&old.ingress, &fresh.ingress));
                if let Some(older) = older {
                    // The clash is new: the version before it may still fit.
                    let _ = placed.place(&file, &older);
                }
            }
        }
        let Placed {
            routes,
            ingresses,
            served,
            ..
        } = placed;
        // Keep compiled components that are served, and failures that were asked for just
        // now (so a broken file is not compiled again on every reload while it stays).
        let used: HashSet<Sha256Sum> = served
            .values()
            .map(|served| served.fingerprint.component)
            .collect();
        loaded.components.retain(|sha, compiled| {
            used.contains(sha) || (compiled.is_err() && asked.contains(sha))
        });
        loaded.served = served;
        self.current
            .store(Arc::new(Deployment { routes, ingresses }));
        let after = self.versions_served();
        let compiled = self.components_compiled() - compiled_before;
        let report = ReloadReport::compare(&before, &after, &problems, compiled);
        Ok((report, problems))
    }

    /// Hash and (when new) compile the component of every ingress that parsed, each once;
    /// and the versions (hashes) asked for.
    fn components_for(
        &self,
        read: &[ReadFile],
        loaded: &mut Loaded,
    ) -> (HashMap<String, ComponentFor>, HashSet<Sha256Sum>) {
        let mut hashed: HashMap<String, Result<(PathBuf, Sha256Sum), Problem>> = HashMap::new();
        let mut to_compile: HashMap<Sha256Sum, Vec<u8>> = HashMap::new();
        for (spec, _) in read.iter().filter_map(|(_, spec)| spec.as_ref().ok()) {
            let id = &spec.component_id;
            if hashed.contains_key(id) {
                continue;
            }
            let file = self.dir.join("components").join(format!("{id}.wasm"));
            let result = match std::fs::read(&file) {
                Ok(wasm) => {
                    let sha: Sha256Sum = Sha256::digest(&wasm).into();
                    if !loaded.components.contains_key(&sha) {
                        to_compile.insert(sha, wasm);
                    }
                    Ok((file, sha))
                }
                Err(err) => Err(Problem::new(&file, err)),
            };
            hashed.insert(id.clone(), result);
        }
        loaded.components.extend(self.compile_all(to_compile));
        let asked = hashed
            .values()
            .filter_map(|result| result.as_ref().ok().map(|(_, sha)| *sha))
            .collect();
        let components = hashed
            .into_iter()
            .map(|(id, result)| {
                let result = result.and_then(|(file, sha)| match loaded.components.get(&sha) {
                    Some(Ok(pre)) => Ok((sha, pre.clone())),
                    Some(Err(reason)) => Err(Problem::new(&file, reason)),
                    None => Err(Problem::new(&file, "not compiled")),
                });
                (id, result)
            })
            .collect();
        (components, asked)
    }

    /// Compile `components` in parallel, one thread per core.
    fn compile_all(&self, components: HashMap<Sha256Sum, Vec<u8>>) -> Vec<(Sha256Sum, Compiled)> {
        let threads = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(components.len());
        let queue = Mutex::new(components.into_iter());
        let compiled = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let Some((sha, wasm)) = lock(&queue).next() else {
                            break;
                        };
                        self.compiled.fetch_add(1, Ordering::Relaxed);
                        let pre = self.runtime.prepare(&wasm).map_err(|err| err.to_string());
                        lock(&compiled).push((sha, pre));
                    }
                });
            }
        });
        compiled
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn served(
        &self,
        spec: IngressSpec,
        prepared: Prepared,
        fingerprint: Fingerprint,
        max_memory: usize,
    ) -> Served {
        let context = Arc::new(IngressContext {
            ingress_id: spec.id.clone(),
            acl: spec.acl.clone(),
            backends: self.backends.clone(),
            max_memory: Some(max_memory),
        });
        Served {
            fingerprint,
            ingress: Arc::new(Ingress::new(spec, prepared, context)),
        }
    }

    /// Ingress id → which version is served (the address of its `Ingress`, alive as long as
    /// the deployment that holds it).
    fn versions_served(&self) -> BTreeMap<String, usize> {
        self.current()
            .ingresses
            .iter()
            .map(|ingress| (ingress.spec.id.clone(), Arc::as_ptr(ingress) as usize))
            .collect()
    }
}

/// The deployment being built: routes, ingresses in file order, and which file serves what.
#[derive(Default)]
struct Placed {
    routes: RouteTable<Arc<Ingress>>,
    ingresses: Vec<Arc<Ingress>>,
    served: BTreeMap<PathBuf, Served>,
    ids: HashMap<String, PathBuf>,
}

impl Placed {
    /// Serve `served` for `file`, unless its id or route is taken.
    fn place(&mut self, file: &Path, served: &Served) -> Result<(), String> {
        let spec = &served.ingress.spec;
        if let Some(other) = self.ids.get(&spec.id) {
            return Err(format!(
                "uri: ingress id '{}' is already served by {}",
                spec.id,
                other.display()
            ));
        }
        self.routes
            .insert(spec.method.clone(), &spec.route, served.ingress.clone())
            .map_err(|err| format!("spec.properties.route: {err}"))?;
        self.ids.insert(spec.id.clone(), file.to_owned());
        self.ingresses.push(served.ingress.clone());
        self.served.insert(file.to_owned(), served.clone());
        Ok(())
    }
}

/// An ingress file's spec and the hash of its bytes.
fn read_spec(file: &Path) -> Result<(IngressSpec, Sha256Sum), Problem> {
    let bytes = std::fs::read(file).map_err(|err| Problem::new(file, err))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|err| Problem::new(file, format!("not valid UTF-8 ({err})")))?;
    let spec = IngressSpec::parse(text).map_err(|err| Problem::new(file, err))?;
    Ok((spec, Sha256::digest(&bytes).into()))
}

/// Runs after every reload, with its report: logs it.
fn reloaded(report: &ReloadReport) {
    for problem in &report.problems {
        tracing::error!(
            file = %problem.file,
            reason = %problem.reason,
            "not deployed; the version served before, if any, keeps serving"
        );
    }
    tracing::info!(
        added = ?report.added,
        changed = ?report.changed,
        removed = ?report.removed,
        unchanged = report.unchanged.len(),
        problems = report.problems.len(),
        components_compiled = report.components_compiled,
        "deploy directory reloaded"
    );
}

/// A lock that a panicked holder did not spoil: every value guarded here is replaced whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
