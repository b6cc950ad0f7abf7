//! `sluice:ingress/events`: bus subscriptions, checked against the ingress acl.
//!
//! Merging several subscriptions is one host call: [`wait`](events::Host::wait) hands back
//! a burst in bus-id (arrival) order, suspending the guest's fiber until any of them has an
//! event. A stream that would rather not hold a fiber while it waits names its
//! subscriptions with `wake-on` and returns `after-batch.wait`; the host then waits between
//! calls ([`InstanceState::woken`]) and pulls again.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;

use wasmtime::component::Resource;

use super::acl::topic_permission;
use crate::backends::bus::{BusEvent, Subscription};
use crate::runtime::InstanceState;
use crate::runtime::bindings::events::{self, EventsError};
use crate::runtime::bindings::types::Event;

/// Backs the WIT `subscription` resource.
pub struct HostSubscription {
    inner: Subscription,
    /// One event taken off the channel but not yet handed out, so bursts from several
    /// subscriptions can be merged in id order.
    peeked: Option<Arc<BusEvent>>,
}

impl HostSubscription {
    fn fill(&mut self) {
        if self.peeked.is_none() {
            self.peeked = self.inner.try_recv();
        }
    }

    fn closed_error(&self) -> EventsError {
        let reason = self
            .inner
            .closed_reason()
            .unwrap_or("the subscription was closed");
        EventsError::Closed(reason.to_owned())
    }
}

impl events::HostSubscription for InstanceState {
    fn gap(&mut self, subscription: Resource<HostSubscription>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&subscription)?.inner.gap())
    }

    fn drop(&mut self, subscription: Resource<HostSubscription>) -> wasmtime::Result<()> {
        self.table.delete(subscription)?;
        Ok(())
    }
}

impl events::Host for InstanceState {
    async fn subscribe(
        &mut self,
        topics: Vec<String>,
        event_types: Vec<String>,
        after: Option<u64>,
    ) -> wasmtime::Result<Result<Resource<HostSubscription>, EventsError>> {
        if topics.is_empty() {
            return Ok(Err(EventsError::Invalid("no topics given".into())));
        }
        for topic in &topics {
            let (resource, action) = topic_permission(topic);
            if !self.context.acl.allows(resource, action) {
                return Ok(Err(EventsError::Forbidden(
                    self.context.deny(resource, action),
                )));
            }
        }
        let bus = Arc::clone(&self.context.backends.bus);
        self.pause_cpu_budget();
        let subscribed = bus.subscribe(&topics, &event_types, after).await;
        // Time spent waiting for the bus is not the guest's CPU time.
        self.start_cpu_budget();
        let inner = match subscribed {
            Ok(inner) => inner,
            Err(err) if err.is_unavailable() => {
                tracing::warn!(ingress = %self.context.ingress_id, %err, "subscribe failed");
                return Ok(Err(EventsError::Unavailable(err.to_string())));
            }
            Err(err) => return Ok(Err(EventsError::Invalid(err.to_string()))),
        };
        let subscription = HostSubscription {
            inner,
            peeked: None,
        };
        Ok(Ok(self.table.push(subscription)?))
    }

    async fn wait(
        &mut self,
        subscriptions: Vec<Resource<HostSubscription>>,
        max: u32,
        timeout_ms: Option<u32>,
    ) -> wasmtime::Result<Result<Vec<(u32, Event)>, EventsError>> {
        let by_rep: BTreeMap<u32, u32> = (0u32..)
            .zip(&subscriptions)
            .map(|(index, resource)| (resource.rep(), index))
            .collect();
        if by_rep.len() != subscriptions.len() {
            return Ok(Err(EventsError::Invalid(
                "the same subscription was listed twice".into(),
            )));
        }
        // From here on the host waits: the guest's CPU time stops.
        self.pause_cpu_budget();
        let mut subs = Vec::with_capacity(by_rep.len());
        for (entry, index) in self.table.iter_entries(by_rep) {
            let sub = entry?
                .downcast_mut::<HostSubscription>()
                .ok_or_else(|| wasmtime::format_err!("resource is not a subscription"))?;
            subs.push((index, sub));
        }
        subs.sort_by_key(|(index, _)| *index);

        let ready = wait_for_any(&mut subs);
        let ready = match timeout_ms {
            // A poll (what the SDKs do on every pull) needs no timer.
            Some(0) => ready.now_or_never().unwrap_or(Ok(false)),
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms.into()), ready)
                .await
                .unwrap_or(Ok(false)),
            None => ready.await,
        };
        let result = match ready {
            Ok(true) => Ok(merge_ready(&mut subs, max.max(1) as usize)),
            Ok(false) => Ok(Vec::new()),
            Err(error) => Err(error),
        };
        // Time spent waiting is not the guest's CPU time.
        self.start_cpu_budget();
        Ok(result)
    }

    fn wake_on(&mut self, subscriptions: Vec<Resource<HostSubscription>>) -> wasmtime::Result<()> {
        self.wake_on.clear();
        self.wake_on.extend(subscriptions.iter().map(Resource::rep));
        Ok(())
    }
}

impl InstanceState {
    /// Wait, between calls into the guest, until a subscription named with `wake-on` has an
    /// event or closes (the next pull then reads the event or the close). A subscription
    /// dropped since it was named no longer counts.
    pub(crate) async fn woken(&mut self) -> Result<(), NothingToWakeOn> {
        // Most streams wait on one subscription: no map to build for it.
        if let [rep] = self.wake_on[..] {
            let sub = self
                .table
                .get_mut(&Resource::<HostSubscription>::new_borrow(rep))
                .map_err(|_| NothingToWakeOn)?;
            let _ = wait_for_any(&mut [(0, sub)]).await;
            return Ok(());
        }
        let named: BTreeMap<u32, ()> = self.wake_on.iter().map(|&rep| (rep, ())).collect();
        let mut subs = Vec::with_capacity(named.len());
        for (index, (entry, ())) in (0u32..).zip(self.table.iter_entries(named)) {
            if let Some(sub) = entry
                .ok()
                .and_then(|e| e.downcast_mut::<HostSubscription>())
            {
                subs.push((index, sub));
            }
        }
        if subs.is_empty() {
            return Err(NothingToWakeOn);
        }
        // A close wakes the stream too: its next `wait` reports it.
        let _ = wait_for_any(&mut subs).await;
        Ok(())
    }
}

/// A stream answered `after-batch.wait` with no live subscription named by `wake-on`:
/// nothing could ever wake it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the component answered `wait` but named no live subscription with `events.wake-on`, \
     so nothing could wake its stream"
)]
pub struct NothingToWakeOn;

/// Resolves once some subscription holds a peeked event (`true`), or with the error of a
/// subscription that closed with nothing left to deliver.
async fn wait_for_any(subs: &mut [(u32, &mut HostSubscription)]) -> Result<bool, EventsError> {
    poll_fn(|cx| {
        for (_, sub) in subs.iter_mut() {
            if sub.peeked.is_some() {
                return Poll::Ready(Ok(true));
            }
            match sub.inner.poll_recv(cx) {
                Poll::Ready(Some(event)) => {
                    sub.peeked = Some(event);
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(None) => return Poll::Ready(Err(sub.closed_error())),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// Take up to `max` ready events across `subs`, smallest bus id first, without waiting.
fn merge_ready(subs: &mut [(u32, &mut HostSubscription)], max: usize) -> Vec<(u32, Event)> {
    let mut out = Vec::new();
    while out.len() < max {
        for (_, sub) in subs.iter_mut() {
            sub.fill();
        }
        let next = subs
            .iter_mut()
            .filter_map(|(index, sub)| Some((sub.peeked.as_ref()?.id, *index, sub)))
            .min_by_key(|(id, _, _)| *id);
        let Some((_, index, sub)) = next else { break };
        let Some(event) = sub.peeked.take() else {
            break;
        };
        out.push((index, to_wit(&event)));
    }
    out
}

fn to_wit(event: &BusEvent) -> Event {
    Event {
        topic: event.topic.to_string(),
        event_type: event.event_type.to_string(),
        id: event.id,
        timestamp: event.timestamp_ms,
        data: event.data.to_string(),
    }
}
