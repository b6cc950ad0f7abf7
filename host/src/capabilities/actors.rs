//! `sluice:ingress/actors`: `messageActor`, checked against the ingress acl. Message type
//! `m` to actor type `t` needs `actors/t:m`.

use crate::backends::actors::{ActorError as BackendError, ActorMessage};
use crate::runtime::InstanceState;
use crate::runtime::bindings::actors::{self, ActorError, Message};

impl actors::Host for InstanceState {
    async fn message_actor(
        &mut self,
        actor_type: String,
        actor_id: String,
        messages: Vec<Message>,
        preview: bool,
    ) -> wasmtime::Result<Result<String, ActorError>> {
        let resource = format!("actors/{actor_type}");
        if let Some(denied) = messages
            .iter()
            .find(|message| !self.context.acl.allows(&resource, &message.type_))
        {
            let reason = self.context.deny(&resource, &denied.type_);
            return Ok(Err(ActorError::Forbidden(reason)));
        }
        let mut batch = Vec::with_capacity(messages.len());
        for message in messages {
            let body = match message
                .body
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
            {
                Ok(body) => body,
                Err(err) => {
                    let reason = format!(
                        "message '{}' has a body that is not JSON: {err}",
                        message.type_
                    );
                    return Ok(Err(ActorError::Failed(reason)));
                }
            };
            batch.push(ActorMessage {
                message_type: message.type_,
                alias: message.alias,
                body,
            });
        }
        let backend = self.context.backends.actors.clone();
        self.pause_cpu_budget();
        let outcome = backend
            .message(&actor_type, &actor_id, batch, preview)
            .await;
        self.start_cpu_budget();
        Ok(match outcome {
            Ok(response) => Ok(response),
            Err(BackendError::UnknownType(t)) => Err(ActorError::UnknownType(t)),
            Err(BackendError::NotFound(id)) => Err(ActorError::NotFound(id)),
            Err(BackendError::Failed(reason)) => Err(ActorError::Failed(reason)),
            Err(BackendError::Unavailable(reason)) => Err(ActorError::Unavailable(reason)),
        })
    }
}
