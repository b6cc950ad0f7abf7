//! Actor types: `actors/<type>.yaml` names the component of actor type `<type>` and what it
//! may read; `seed/actors/<type>.json` holds initial states.
//!
//! ```yaml
//! uri: /resources/actors/sku
//! spec:
//!   componentId: sku-actor        # components/sku-actor.wasm, a component of the actor world
//!   acl: [skus:read]              # what the actor's own `query` calls may read
//!   queries: [calculateAvailableStock]  # message types that only read (optional)
//! ```
//! A call made only of `queries` runs against the latest committed state without the
//! actor's lock, stores nothing and is computed once per state version (see
//! [`crate::actors::queries`]).
//! Seed files are JSON arrays of `{"id": …, "state": …}`; an actor that already exists is
//! left as it is.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::manifest::is_component_id;
use super::{Problem, files_with_extension};
use crate::actors::{ActorType, WasmActors};
use crate::backends::actors::{ActorStateStore, NoActors};
use crate::backends::bus::EventBus;
use crate::backends::store::Store;
use crate::capabilities::{Acl, Backends, IngressContext};
use crate::runtime::Runtime;

const URI_PREFIX: &str = "/resources/actors/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorFile {
    uri: String,
    spec: ActorSpecFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActorSpecFile {
    component_id: String,
    #[serde(default)]
    acl: Vec<String>,
    #[serde(default)]
    queries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedActor {
    id: String,
    state: Value,
}

/// A validated actor type declaration.
#[derive(Debug, Clone)]
pub struct ActorSpec {
    pub actor_type: String,
    pub component_id: String,
    pub acl: Acl,
    /// The message types that only read.
    pub queries: HashSet<String>,
}

impl ActorSpec {
    pub fn parse(yaml: &str) -> Result<Self, String> {
        let file: ActorFile =
            serde_norway::from_str(yaml).map_err(|err| format!("not a valid actor file: {err}"))?;
        let actor_type = file
            .uri
            .strip_prefix(URI_PREFIX)
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .ok_or_else(|| format!("uri '{}' must be '{URI_PREFIX}<type>' with a type of letters, digits, '-' or '_'", file.uri))?;
        // The same rule as for ingresses: the id names a file in `components/`, never a path.
        if !is_component_id(&file.spec.component_id) {
            return Err(format!(
                "spec.componentId '{}' must be letters, digits, '-', '_' or '.'",
                file.spec.component_id
            ));
        }
        let acl = Acl::parse(&file.spec.acl).map_err(|err| format!("spec.acl: {err}"))?;
        let mut queries = HashSet::new();
        for query in file.spec.queries {
            if query.is_empty() || query.chars().any(char::is_control) {
                return Err(format!(
                    "spec.queries: {query:?} is not a message type (empty or with control characters)"
                ));
            }
            if !queries.insert(query.clone()) {
                return Err(format!("spec.queries: '{query}' is listed twice"));
            }
        }
        Ok(Self {
            actor_type: actor_type.to_owned(),
            component_id: file.spec.component_id,
            acl,
            queries,
        })
    }
}

/// Load every actor type in `dir` and seed their initial states.
pub async fn load(
    dir: &Path,
    runtime: &Arc<Runtime>,
    store: Arc<dyn Store>,
    state: Arc<dyn ActorStateStore>,
    bus: Arc<dyn EventBus>,
) -> (WasmActors, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut types = HashMap::new();
    let files = files_with_extension(&dir.join("actors"), &["yaml", "yml"]).unwrap_or_else(|err| {
        problems.push(Problem::new(&dir.join("actors"), err));
        Vec::new()
    });
    let backends = Backends {
        bus: bus.clone(),
        store,
        actors: Arc::new(NoActors),
    };
    for file in files {
        let spec = match std::fs::read_to_string(&file)
            .map_err(|err| err.to_string())
            .and_then(|text| ActorSpec::parse(&text))
        {
            Ok(spec) => spec,
            Err(reason) => {
                problems.push(Problem::new(&file, reason));
                continue;
            }
        };
        if types.contains_key(&spec.actor_type) {
            problems.push(Problem::new(
                &file,
                format!("actor type '{}' is declared twice", spec.actor_type),
            ));
            continue;
        }
        let wasm_file = dir
            .join("components")
            .join(format!("{}.wasm", spec.component_id));
        let pre = match std::fs::read(&wasm_file)
            .map_err(|err| err.to_string())
            .and_then(|wasm| runtime.prepare_actor(&wasm).map_err(|err| err.to_string()))
        {
            Ok(pre) => pre,
            Err(reason) => {
                let reason = format!(
                    "component '{}' is unusable ({}: {reason})",
                    spec.component_id,
                    wasm_file.display()
                );
                problems.push(Problem::new(&file, reason));
                continue;
            }
        };
        let context = Arc::new(IngressContext {
            ingress_id: format!("actors/{}", spec.actor_type),
            acl: spec.acl.clone(),
            backends: backends.clone(),
            max_memory: None,
        });
        seed(dir, &spec.actor_type, state.as_ref(), &mut problems).await;
        let queries = spec.queries;
        types.insert(
            spec.actor_type,
            ActorType {
                pre,
                context,
                queries,
            },
        );
    }
    (
        WasmActors::new(runtime.clone(), types, state, bus),
        problems,
    )
}

async fn seed(
    dir: &Path,
    actor_type: &str,
    store: &dyn ActorStateStore,
    problems: &mut Vec<Problem>,
) {
    let file = dir
        .join("seed")
        .join("actors")
        .join(format!("{actor_type}.json"));
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => return problems.push(Problem::new(&file, err)),
    };
    let actors: Vec<SeedActor> = match serde_json::from_slice(&text) {
        Ok(actors) => actors,
        Err(err) => {
            return problems.push(Problem::new(
                &file,
                format!("expected [{{\"id\", \"state\"}}]: {err}"),
            ));
        }
    };
    for actor in actors {
        if let Err(err) = store.seed_actor(actor_type, &actor.id, &actor.state).await {
            problems.push(Problem::new(&file, err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_actor_type() {
        let spec = ActorSpec::parse(
            "uri: /resources/actors/sku\nspec:\n  componentId: sku-actor\n  acl: [skus:read]\n",
        )
        .expect("valid");
        assert_eq!(spec.actor_type, "sku");
        assert_eq!(spec.component_id, "sku-actor");
        assert!(spec.acl.allows("skus", "read"));
        assert!(spec.queries.is_empty(), "no queries unless declared");
        let spec = ActorSpec::parse(
            "uri: /resources/actors/sku\nspec:\n  componentId: sku-actor\n  queries: [calculateAvailableStock, query]\n",
        )
        .expect("valid");
        let mut queries: Vec<_> = spec.queries.into_iter().collect();
        queries.sort();
        assert_eq!(queries, ["calculateAvailableStock", "query"]);
    }

    #[test]
    fn rejects_bad_actor_files_with_the_reason() {
        for (yaml, expected) in [
            (
                "uri: /resources/actors/\nspec:\n  componentId: x\n",
                "must be '/resources/actors/<type>'",
            ),
            (
                "uri: /resources/actors/a/b\nspec:\n  componentId: x\n",
                "must be '/resources/actors/<type>'",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  extra: 1\n",
                "unknown field `extra`",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  acl: [bad]\n",
                "spec.acl",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  queries: [get, get]\n",
                "spec.queries: 'get' is listed twice",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  queries: ['']\n",
                "spec.queries: \"\" is not a message type",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  queries: get\n",
                "invalid type: string",
            ),
        ] {
            let err = ActorSpec::parse(yaml).expect_err(yaml);
            assert!(err.contains(expected), "{yaml}: {err}");
        }
    }

    #[test]
    fn rejects_actor_files_of_the_wrong_shape() {
        for (yaml, expected) in [
            ("", "missing field `uri`"),
            ("~", "invalid type: unit"),
            ("[]", "invalid type: sequence"),
            (
                "uri: [a]\nspec:\n  componentId: x\n",
                "invalid type: sequence",
            ),
            (
                "uri: /resources/actors/sku\nspec: x\n",
                "invalid type: string",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: [x]\n",
                "invalid type: sequence",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  acl: skus:read\n",
                "invalid type: string",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  componentId: x\n  acl: [[a]]\n",
                "invalid type: sequence",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n  acl: []\n",
                "missing field `componentId`",
            ),
            (
                "uri: /resources/actors/sku\nuri: /resources/actors/b\n",
                "duplicate field `uri`",
            ),
            (
                "uri: /resources/actors/s k\nspec:\n  componentId: x\n",
                "must be '/resources/actors/<type>'",
            ),
            (
                "uri: /resources/actors/sk\u{e9}\nspec:\n  componentId: x\n",
                "must be '/resources/actors/<type>'",
            ),
            (
                "uri: /resources/actors/sku\0\nspec:\n  componentId: x\n",
                "control characters are not allowed",
            ),
            (
                "uri: /resources/actors/sku\nspec:\n\tcomponentId: x\n",
                "found character that cannot start any token",
            ),
        ] {
            let err = ActorSpec::parse(yaml).expect_err(yaml);
            assert!(err.contains(expected), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn rejects_a_component_id_that_is_a_path() {
        for id in ["../../elsewhere/x", "a/b", "''", ".hidden", "a b", "'x\\y'"] {
            let yaml = format!("uri: /resources/actors/sku\nspec:\n  componentId: {id}\n");
            let err = ActorSpec::parse(&yaml).expect_err(id);
            assert!(err.contains("spec.componentId"), "{id}: {err}");
        }
    }
}
