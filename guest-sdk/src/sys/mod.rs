//! The host imports, wrapped in SDK types: the only place that calls the bindings.
//!
//! Native unit tests swap in [`fake`], an in-memory host, so the pure parts (stream
//! merging, request building) are tested without a WebAssembly runtime. Doctests and
//! every other build use the real imports, whose native stubs are never called.

#[cfg(test)]
pub(crate) mod fake;
#[cfg(not(test))]
mod wasm;

#[cfg(test)]
pub(crate) use fake::*;
#[cfg(not(test))]
pub(crate) use wasm::*;
