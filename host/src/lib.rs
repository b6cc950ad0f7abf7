//! Sluice: WebAssembly components served as HTTP endpoints and Server-Sent-Events streams.
//!
//! The modules follow a request: [`server`] accepts it, [`route`] finds the ingress,
//! [`auth`] checks the caller, [`negotiate`] picks SSE or JSON, [`params`] resolves parameters, [`runtime`] instantiates
//! the component, and [`encode`] turns what it yields into bytes. [`actors`] runs actor
//! components and persists their state. Components reach the
//! world only through [`capabilities`], which sit in front of the [`backends`]. [`deploy`]
//! loads a deploy directory, reloads it live (and [`deploy::check`]s one); [`boot`] puts it
//! all together. [`metrics`] counts what happens. [`author`] holds the tools for component
//! authors: `sluice new` and `sluice build`.

pub mod actors;
pub mod auth;
pub mod author;
pub mod backends;
pub mod boot;
pub mod capabilities;
pub mod config;
pub mod cors;
pub mod deploy;
pub mod encode;
pub mod metrics;
pub mod negotiate;
pub mod params;
pub mod route;
pub mod runtime;
pub mod server;
pub mod watch;

pub use boot::{Booted, Listen, boot};
pub use config::HostConfig;
pub use server::Server;
