//! Tools for component authors: `sluice new` ([`scaffold`], from the [`template`]s in
//! `host/templates/`) and `sluice build` ([`build`]). `sluice check` is
//! [`crate::deploy::check`].

pub mod build;
pub mod scaffold;
pub mod template;
