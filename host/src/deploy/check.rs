//! `sluice check`: validate a whole deploy directory without serving it.
//!
//! The same code as a start reads everything: `sluice.yaml` (with its auth files, CORS and
//! bus settings), the seed files (loaded into a private in-memory store), every actor and
//! ingress file, every component they name (compiled and checked against its world), and
//! the route table. Then every `acl` grant is checked against what exists:
//!
//! - `actors/<type>:<message>` (any action but `read`) needs actor type `<type>` in
//!   `actors/`; `actors/<type>:read` is a subscription to that type's topics, which anything
//!   may publish on, so it needs no actor;
//! - a one-segment `<name>:read` is a read of edge `<name>`, which a seed file must create
//!   (skipped when the store is PostgreSQL: its edges are not known without connecting);
//! - any other path is a bus topic, which is only ever read.
//!
//! Nothing is listened on, no PostgreSQL or NATS is contacted, and no file is written
//! (compiled components may land in wasmtime's cache when `compileCache` is on).

use std::path::Path;
use std::sync::Arc;

use super::actors::ActorSpec;
use super::{IngressSpec, Problem, files_with_extension};
use crate::auth::{AuthSetupError, Authenticator};
use crate::backends::bus::memory::{InMemoryBus, InMemoryBusConfig};
use crate::backends::store::{SqliteStore, Store};
use crate::capabilities::acl::Permission;
use crate::capabilities::{Acl, Backends};
use crate::config::HostConfig;
use crate::cors::CorsPolicy;
use crate::runtime::Runtime;

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Every problem, `file: reason`; none means the directory would deploy whole.
    pub problems: Vec<Problem>,
    /// What was deliberately not checked, and why.
    pub notes: Vec<String>,
    /// The ingress ids that would be served.
    pub ingresses: Vec<String>,
    /// The actor types that would be served.
    pub actor_types: Vec<String>,
    /// The store's edges after seeding (`None` when the store is PostgreSQL).
    pub edges: Option<Vec<String>>,
}

/// Validate deploy directory `dir`. Problems are collected, never fatal.
pub async fn check(dir: &Path) -> Checked {
    let mut checked = Checked::default();
    if !dir.is_dir() {
        checked.problems.push(Problem::new(dir, "not a directory"));
        return checked;
    }
    let config_file = dir.join("sluice.yaml");
    let config = host_config(dir, &config_file, &mut checked);

    let store = match SqliteStore::open_in_memory() {
        Ok(store) => Arc::new(store),
        Err(err) => {
            checked.problems.push(Problem::new(
                dir,
                format!("cannot open an in-memory store: {err}"),
            ));
            return checked;
        }
    };
    match super::seed_store(dir, store.as_ref()).await {
        Ok(problems) => checked.problems.extend(problems),
        Err(err) => checked.problems.push(Problem::new(&dir.join("seed"), err)),
    }
    let edges = store.edges().await.unwrap_or_default();
    if let Some(pg) = config.postgres() {
        checked.notes.push(format!(
            "store {} (PostgreSQL) was not connected to; edge grants are not checked against it",
            crate::boot::redact(&pg.url)
        ));
    } else {
        checked.edges = Some(edges);
    }

    let runtime = match Runtime::new(config.runtime()) {
        Ok(runtime) => Arc::new(runtime),
        Err(err) => {
            checked.problems.push(Problem::new(&config_file, err));
            return checked;
        }
    };
    let bus = Arc::new(InMemoryBus::new(InMemoryBusConfig::default()));
    let (actors, problems) =
        super::actors::load(dir, &runtime, store.clone(), store.clone(), bus.clone()).await;
    checked.problems.extend(problems);
    checked.actor_types = actors.type_names();
    let backends = Backends {
        actors: Arc::new(actors),
        bus,
        store,
    };
    // A throwaway registry: nothing is served, so nothing is scraped.
    let metrics = Arc::new(crate::metrics::Metrics::new());
    match super::Deployer::load(dir, runtime, backends, metrics).await {
        Ok((deployer, problems)) => {
            checked.problems.extend(problems);
            checked.ingresses = deployer
                .current()
                .ingress_ids()
                .into_iter()
                .map(str::to_owned)
                .collect();
        }
        Err(err) => checked
            .problems
            .push(Problem::new(&dir.join("ingresses"), err)),
    }
    check_grants(dir, &mut checked);
    checked.problems.sort_by(|a, b| a.file.cmp(&b.file));
    checked
}

/// `sluice.yaml` and what it points at; the defaults when it is absent or broken.
fn host_config(dir: &Path, config_file: &Path, checked: &mut Checked) -> HostConfig {
    let config = match std::fs::read_to_string(config_file) {
        Ok(text) => HostConfig::parse(&text).unwrap_or_else(|err| {
            checked.problems.push(Problem::new(config_file, err));
            HostConfig::default()
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => HostConfig::default(),
        Err(err) => {
            checked.problems.push(Problem::new(config_file, err));
            HostConfig::default()
        }
    };
    if let Some(auth) = &config.auth
        && let Err(AuthSetupError::File { file, reason }) = Authenticator::load(auth, dir)
    {
        checked
            .problems
            .push(Problem::new(Path::new(&file), reason));
    }
    if let Err(reason) = CorsPolicy::from_config(&config.cors) {
        checked.problems.push(Problem::new(config_file, reason));
    }
    if let Some(bus) = &config.bus {
        match bus.validate() {
            Ok(()) => checked.notes.push(format!(
                "bus {} (NATS JetStream) was not connected to",
                bus.url
            )),
            Err(reason) => checked.problems.push(Problem::new(config_file, reason)),
        }
    }
    config
}

/// Check the grants of every ingress and actor file that parses (the others are reported
/// by the loaders already).
fn check_grants(dir: &Path, checked: &mut Checked) {
    let mut problems = Vec::new();
    let specs = |folder: &str| files_with_extension(&dir.join(folder), &["yaml", "yml"]);
    for file in specs("ingresses").unwrap_or_default() {
        if let Some(spec) = read(&file, |text| IngressSpec::parse(text).ok()) {
            grant_problems(&file, &spec.acl, checked, &mut problems);
        }
    }
    for file in specs("actors").unwrap_or_default() {
        if let Some(spec) = read(&file, |text| ActorSpec::parse(text).ok()) {
            grant_problems(&file, &spec.acl, checked, &mut problems);
        }
    }
    checked.problems.extend(problems);
}

fn read<T>(file: &Path, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    std::fs::read_to_string(file)
        .ok()
        .as_deref()
        .and_then(parse)
}

fn grant_problems(file: &Path, acl: &Acl, checked: &Checked, problems: &mut Vec<Problem>) {
    for grant in acl.grants() {
        if let Some(reason) = grant_problem(grant, checked.edges.as_deref(), &checked.actor_types) {
            problems.push(Problem::new(file, format!("acl grant '{grant}' {reason}")));
        }
    }
}

/// Why `grant` can never allow anything, given the edges (`None`: unknown) and actor types
/// that exist; `None` when it can.
pub fn grant_problem(
    grant: &Permission,
    edges: Option<&[String]>,
    actor_types: &[String],
) -> Option<String> {
    let action = grant.action();
    let reads = action == "read" || action == "*";
    match grant.segments() {
        [first, actor_type] if first == "actors" => {
            let message = action != "read";
            let known = actor_type == "*" || actor_types.iter().any(|t| t == actor_type);
            (message && !known).then(|| {
                format!(
                    "names actor type '{actor_type}', which actors/ does not declare (declared: {})",
                    list(actor_types)
                )
            })
        }
        [first, _, ..] if first == "actors" => Some(
            "can never match: actor topics are checked as 'actors/<type>:read' and messages as \
             'actors/<type>:<message>'"
                .into(),
        ),
        [edge] if edge != "*" => {
            if !reads {
                return Some(format!(
                    "can never match: edges and topics are only read (a message grant is \
                     'actors/<type>:{action}')"
                ));
            }
            let edges = edges?;
            (!edges.iter().any(|e| e == edge)).then(|| {
                format!(
                    "names edge '{edge}', which the store does not have (seed/*.json creates: {})",
                    list(edges)
                )
            })
        }
        _ => (!reads).then(|| "can never match: bus topics are only read".to_owned()),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(grant: &str, edges: Option<&[&str]>) -> Option<String> {
        let grant: Permission = grant.parse().expect("valid grant");
        let edges: Option<Vec<String>> =
            edges.map(|edges| edges.iter().map(|e| e.to_string()).collect());
        grant_problem(&grant, edges.as_deref(), &["sku".to_owned()])
    }

    #[test]
    fn grants_on_what_exists_are_fine() {
        for grant in [
            "skus:read",
            "skus:*",
            "actors/sku:calculateAvailableStock",
            "actors/sku:*",
            "actors/*:create",
            "actors/order:read",
            "feeds/*:read",
            "feeds/news:*",
            "*:read",
            "*/*:read",
        ] {
            assert_eq!(problem(grant, Some(&["skus"])), None, "{grant}");
        }
    }

    #[test]
    fn a_message_to_an_actor_type_that_is_not_declared_is_a_problem() {
        let reason = problem("actors/order:cancel", Some(&[])).expect("problem");
        assert_eq!(
            reason,
            "names actor type 'order', which actors/ does not declare (declared: sku)"
        );
        assert!(problem("actors/order:*", Some(&[])).is_some());
    }

    #[test]
    fn a_read_of_an_edge_the_store_lacks_is_a_problem_unless_edges_are_unknown() {
        let reason = problem("orders:read", Some(&["skus"])).expect("problem");
        assert_eq!(
            reason,
            "names edge 'orders', which the store does not have (seed/*.json creates: skus)"
        );
        assert!(
            problem("orders:read", Some(&[]))
                .expect("problem")
                .ends_with("creates: none)")
        );
        assert_eq!(problem("orders:read", None), None);
    }

    #[test]
    fn grants_that_can_never_match_are_problems() {
        for (grant, reason) in [
            ("skus:write", "edges and topics are only read"),
            ("feeds/news:write", "bus topics are only read"),
            ("actors/sku/S1:read", "actor topics are checked as"),
        ] {
            let found = problem(grant, Some(&["skus"])).expect(grant);
            assert!(found.contains(reason), "{grant}: {found}");
        }
    }
}
