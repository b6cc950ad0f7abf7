//! Components the host cannot run, refused at deploy with what to change in their build.
//!
//! Two kinds come from other languages' default builds: a componentize-js build imports
//! `wasi:http` (for `fetch` and the fetch-event handler), and jco's QuickJS backend uses the
//! component-model async ABI. The host provides neither: components reach the outside only
//! through their capabilities, and wasmtime calls its async ABI support experimental.

use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How to build a JavaScript component without `wasi:http`.
const WITHOUT_HTTP: &str = "components reach the outside only through their capabilities \
     (events, query, messageActor), so the host provides no `wasi:http`; build without it \
     (componentize-js / `jco componentize`: `--disable http fetch-event`)";

/// How to build a component on the synchronous ABI.
const WITHOUT_ASYNC: &str = "the host runs components on the synchronous canonical ABI only \
     (wasmtime calls its component-model async support experimental); build without it \
     (`jco componentize --backend quickjs`: add `--backend-qjs-disable-async`)";

/// Why `wasm`, which wasmtime could not compile, will never run here, if it is the
/// component-model async ABI: the first async construct found, and what to do.
pub(super) fn async_abi(wasm: &[u8]) -> Option<String> {
    let construct = Parser::new(0)
        .parse_all(wasm)
        .map_while(Result::ok)
        .filter_map(|payload| match payload {
            Payload::ComponentCanonicalSection(reader) => Some(reader),
            _ => None,
        })
        .flat_map(|reader| reader.into_iter().map_while(Result::ok))
        .find_map(|function| async_construct(&function))?;
    Some(format!(
        "uses the component-model async ABI ({construct}): {WITHOUT_ASYNC}"
    ))
}

/// The async construct `function` is, if any: an `async` lift or lower, or an async
/// built-in (tasks, waitables, streams, futures, …), named as in the component text format.
fn async_construct(function: &CanonicalFunction) -> Option<String> {
    let is_async = |options: &[CanonicalOption]| {
        options.iter().any(|option| {
            matches!(
                option,
                CanonicalOption::Async | CanonicalOption::Callback(_)
            )
        })
    };
    match function {
        CanonicalFunction::Lift { options, .. } if is_async(options) => {
            Some("an `async` lift".into())
        }
        CanonicalFunction::Lower { options, .. } if is_async(options) => {
            Some("an `async` lower".into())
        }
        CanonicalFunction::Lift { .. }
        | CanonicalFunction::Lower { .. }
        | CanonicalFunction::ResourceNew { .. }
        | CanonicalFunction::ResourceDrop { .. }
        | CanonicalFunction::ResourceRep { .. }
        | CanonicalFunction::ThreadSpawnRef { .. }
        | CanonicalFunction::ThreadSpawnIndirect { .. }
        | CanonicalFunction::ThreadAvailableParallelism => None,
        builtin => Some(format!("the built-in `{}`", builtin_name(builtin))),
    }
}

/// `WaitableSetNew { .. }` → `waitable-set-new`.
fn builtin_name(function: &CanonicalFunction) -> String {
    let debug = format!("{function:?}");
    let variant = debug.split([' ', '{', '(']).next().unwrap_or_default();
    let mut name = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// Why `component`, which did not link, will never run here, if it imports `wasi:http`.
pub(super) fn wasi_http_import(component: &Component, engine: &Engine) -> Option<String> {
    let import = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .find(|name| name.starts_with("wasi:http/"))?;
    Some(format!("imports `{import}`: {WITHOUT_HTTP}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_named_in_kebab_case() {
        assert_eq!(
            builtin_name(&CanonicalFunction::WaitableSetNew),
            "waitable-set-new"
        );
        assert_eq!(builtin_name(&CanonicalFunction::TaskCancel), "task-cancel");
    }

    #[test]
    fn a_synchronous_lift_is_not_async() {
        let lift = CanonicalFunction::Lift {
            core_func_index: 0,
            type_index: 0,
            options: vec![CanonicalOption::UTF8].into_boxed_slice(),
        };
        assert_eq!(async_construct(&lift), None);
        let async_lift = CanonicalFunction::Lift {
            core_func_index: 0,
            type_index: 0,
            options: vec![CanonicalOption::Async].into_boxed_slice(),
        };
        assert_eq!(
            async_construct(&async_lift).as_deref(),
            Some("an `async` lift")
        );
    }

    #[test]
    fn bytes_that_are_no_component_name_nothing() {
        assert_eq!(async_abi(b"\0asm not really"), None);
        assert_eq!(async_abi(b""), None);
    }
}
