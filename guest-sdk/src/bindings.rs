//! The one `generate!` call: guest-side bindings for world `sluice:ingress/ingress`.
//!
//! Nothing here is public API. `sys` wraps the imports in SDK types and `export` implements
//! the `handler` export on top of [`crate::Stream`]; the export macro is re-exported (hidden)
//! so that [`crate::ingress!`] can expand it in the component's crate, which then carries the
//! world's type information without depending on `wit-bindgen` itself.
#![allow(missing_docs, unsafe_op_in_unsafe_fn, clippy::all)]

wit_bindgen::generate!({
    path: "../wit",
    world: "ingress",
    pub_export_macro: true,
    export_macro_name: "__sluice_export_ingress",
    default_bindings_module: "sluice_sdk::__private::bindings",
});
