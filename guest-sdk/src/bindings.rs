//! The guest-side bindings: one `generate!` per world, sharing one set of types.
//!
//! World `sluice:ingress/ingress` is generated here; world `sluice:ingress/actor` in
//! [`actor`], which reuses this module's `types`, `query` and `host` (`with:`), so both
//! worlds speak the same Rust types and `sys` wraps the imports once.
//!
//! Nothing here is public API. `sys` wraps the imports in SDK types and `export` implements
//! the `handler` and `actor-handler` exports; the export macros are re-exported (hidden) so
//! that [`crate::ingress!`] and [`crate::actor!`] can expand them in the component's crate,
//! which then carries the world's type information without depending on `wit-bindgen`.
//!
//! Each world leaves an imports-only description in this crate and its full description
//! (with its export) in the component that expands its export macro. `wit-component`
//! merges them and keeps only the imports the component's code actually calls, so an actor
//! component, which never calls `events` or `actors`, does not import them.
#![allow(missing_docs, unsafe_op_in_unsafe_fn, clippy::all)]

wit_bindgen::generate!({
    path: "../wit",
    world: "ingress",
    pub_export_macro: true,
    export_macro_name: "__sluice_export_ingress",
    default_bindings_module: "sluice_sdk::__private::bindings",
});

/// World `sluice:ingress/actor`: only its `actor-handler` export is generated here.
pub mod actor {
    wit_bindgen::generate!({
        path: "../wit",
        world: "actor",
        with: {
            "sluice:ingress/types@0.1.0": sluice_sdk::bindings::sluice::ingress::types,
            "sluice:ingress/query@0.1.0": sluice_sdk::bindings::sluice::ingress::query,
            "sluice:ingress/host@0.1.0": sluice_sdk::bindings::sluice::ingress::host,
        },
        pub_export_macro: true,
        export_macro_name: "__sluice_export_actor",
        default_bindings_module: "sluice_sdk::__private::bindings::actor",
    });
}
