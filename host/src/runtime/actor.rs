//! Actor components: compiled once per actor type, run in a fresh instance per
//! `messageActor` call.

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::actor::actor_handler::{ActorContext, Message, Outcome};
use super::bindings::actor::{Actor, ActorPre};
use super::{InstanceState, Runtime, RuntimeError};
use crate::capabilities::IngressContext;

/// Only what the `actor` world imports: a component that wants more (e.g. `events`) fails
/// to link and is rejected at deploy time.
pub(super) fn linker(engine: &Engine) -> Result<Linker<InstanceState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(RuntimeError::Engine)?;
    Actor::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |state| state)
        .map_err(RuntimeError::Engine)?;
    Ok(linker)
}

impl Runtime {
    /// Compile and link an actor component once, at deploy time.
    pub fn prepare_actor(&self, wasm: &[u8]) -> Result<ActorPre<InstanceState>, RuntimeError> {
        let component = self.compile(wasm)?;
        let wrong_world =
            |err| self.link_error(wasm, &component, err, RuntimeError::WrongActorWorld);
        let pre = self
            .actor_linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        ActorPre::new(pre).map_err(wrong_world)
    }

    /// Run one batch of messages in a fresh instance. Waits for a free actor slot.
    pub async fn run_actor(
        &self,
        pre: &ActorPre<InstanceState>,
        context: Arc<IngressContext>,
        actor: &ActorContext,
        state: Option<&String>,
        messages: &[Message],
    ) -> wasmtime::Result<Outcome> {
        let _permit = self.actor_slots.acquire().await?;
        let mut store = self.new_store(context);
        let bindings = pre.instantiate_async(&mut store).await?;
        store.data_mut().start_cpu_budget();
        bindings
            .sluice_ingress_actor_handler()
            .call_handle(&mut store, actor, state, messages)
            .await
    }
}
