//! Tools for component authors: `sluice new` ([`scaffold`], from the [`template`]s in
//! `host/templates/`) and `sluice build` ([`build`]; Python and JavaScript components
//! through [`guest`], [`python`] and [`javascript`], with the SDK and WIT from [`guest_files`] and the
//! toolchains installed by [`toolchain`]). `sluice check` is [`crate::deploy::check`].

pub mod build;
pub mod guest;
pub mod guest_files;
pub mod javascript;
pub mod python;
pub mod scaffold;
pub mod template;
pub mod toolchain;
