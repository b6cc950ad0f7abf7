//! Tools for component authors: `sluice new` ([`scaffold`], from the [`template`]s in
//! `host/templates/`) and `sluice build` ([`build`]; Python components through
//! [`python`], with the SDK and WIT from [`guest_files`]). `sluice check` is
//! [`crate::deploy::check`].

pub mod build;
pub mod guest_files;
pub mod python;
pub mod scaffold;
pub mod template;
