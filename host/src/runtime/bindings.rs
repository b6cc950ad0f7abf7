//! The one `bindgen!` call: host-side bindings for the `sluice:ingress` world.
//!
//! WIT resources map to our own `Host*` types (`with:`), so regenerating bindings never
//! changes behaviour; each interface's `Host` impl lives in `crate::capabilities`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "ingress",
    imports: {
        // Waiting for bus events suspends the guest's fiber, never a tokio thread.
        "sluice:ingress/events.wait": async | trappable,
        // Only records reps: the waiting happens between calls (`Instance::idle`).
        "sluice:ingress/events.wake-on": trappable,
        // A networked bus answers subscribe (and its replay) over the network.
        "sluice:ingress/events.subscribe": async | trappable,
        // Store and actor calls run on blocking threads; the guest's fiber waits.
        "sluice:ingress/query.run": async | trappable,
        "sluice:ingress/actors.message-actor": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "sluice:ingress/events.subscription": crate::capabilities::events::HostSubscription,
    },
    require_store_data_send: true,
});

pub use self::sluice::ingress::{actors, events, host, query, types};
pub use exports::sluice::ingress::handler;

/// The `actor` world. It shares `types`, `query` and `host` with the ingress world, so one
/// `Host` impl serves both.
pub mod actor {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "actor",
        // Every import is mapped to the ingress bindings below, so it is configured there.
        exports: { default: async },
        with: {
            "sluice:ingress/types": super::sluice::ingress::types,
            "sluice:ingress/query": super::sluice::ingress::query,
            "sluice:ingress/host": super::sluice::ingress::host,
        },
        require_store_data_send: true,
    });

    pub use exports::sluice::ingress::actor_handler;
}
