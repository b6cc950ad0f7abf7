//! Capabilities: the only doors from a component to the outside world.
//!
//! Each capability (`events`, `query`, `actors`, and the small `host` services) implements
//! its WIT `Host` trait on [`InstanceState`](crate::runtime::InstanceState) in its own
//! module, and every call checks the ingress [`Acl`] first, before any work; a denial is
//! the interface's `forbidden` error case, never a trap.

pub mod acl;
pub mod actors;
pub mod events;
mod host;
pub mod query;

use std::sync::Arc;

pub use acl::Acl;
pub(crate) use host::unix_millis;

use crate::backends::actors::ActorBackend;
use crate::backends::bus::EventBus;
use crate::backends::store::Store;

/// The backends every ingress shares, built once per host.
#[derive(Clone)]
pub struct Backends {
    pub bus: Arc<dyn EventBus>,
    pub store: Arc<dyn Store>,
    pub actors: Arc<dyn ActorBackend>,
}

/// What one ingress's instances may reach: its id (for logs), its grants and the backends.
/// Built at deploy time and shared by all of that ingress's connections.
pub struct IngressContext {
    pub ingress_id: String,
    pub acl: Acl,
    pub backends: Backends,
    /// Linear memory an instance may use, in bytes, as `Runtime::memory_limit` allowed it
    /// at deploy; `None` for the host's `memoryPerInstanceMiB`.
    pub max_memory: Option<usize>,
}

impl IngressContext {
    /// Log a denied call once, at the door, with the ingress id.
    fn deny(&self, resource: &str, action: &str) -> String {
        tracing::warn!(ingress = %self.ingress_id, %resource, %action, "capability call denied by acl");
        format!("the ingress acl does not grant '{resource}:{action}'")
    }
}

#[cfg(test)]
mod tests;
