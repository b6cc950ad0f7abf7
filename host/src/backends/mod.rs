//! Backends behind the host capabilities: the event bus (`events`) and the document store
//! (`query`).
//!
//! Each backend is a trait plus the embedded implementation the default deployment uses, so
//! networked ones (NATS, PostgreSQL) can slot in later without touching the capability code:
//!
//! - [`bus::EventBus`], implemented by [`bus::InMemoryBus`];
//! - [`store::Store`], implemented by [`store::SqliteStore`], with the filter grammar in
//!   [`store::filter`];
//! - [`actors::ActorBackend`] for `messageActor` (see that module).

pub mod actors;
pub mod bus;
pub mod store;
