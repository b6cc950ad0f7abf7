//! [`Subscription`]: what every bus backend hands a subscriber. It is fed through a
//! [`SubscriberSender`] by any backend (the in-process bus, the JetStream bus) and knows
//! nothing of where events come from.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::BusEvent;

/// A live subscription: replayed history first, then live events.
///
/// Dropping it unsubscribes promptly from every topic. Once the bus closes it (slow consumer,
/// bus shut down, connection to the bus lost), the events already queued are still delivered,
/// then [`Subscription::poll_recv`] returns `None` and [`Subscription::closed_reason`] says why.
///
/// A backend may register the live queue before it reads the history to replay (that is how
/// a networked bus avoids a miss between replay and live): live events of a topic whose id is
/// not above the last replayed id of that topic are skipped, so the seam never repeats one.
pub struct Subscription {
    replay: VecDeque<Arc<BusEvent>>,
    /// Per topic, the highest replayed id.
    replayed_up_to: Vec<(Arc<str>, u64)>,
    receiver: mpsc::Receiver<Arc<BusEvent>>,
    closed: Arc<OnceLock<Box<str>>>,
    gap: bool,
    unsubscribe: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("replay", &self.replay.len())
            .field("gap", &self.gap)
            .field("closed", &self.closed_reason())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// For backends: a subscription whose live queue holds at most `capacity` events, and the
    /// sender that feeds it. Add replayed history and the unsubscribe hook with
    /// [`Subscription::with_replay`] and [`Subscription::on_drop`].
    pub fn channel(capacity: usize) -> (SubscriberSender, Subscription) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let closed = Arc::new(OnceLock::new());
        let subscription = Subscription {
            replay: VecDeque::new(),
            replayed_up_to: Vec::new(),
            receiver,
            closed: Arc::clone(&closed),
            gap: false,
            unsubscribe: None,
        };
        (SubscriberSender { sender, closed }, subscription)
    }

    /// For backends: events delivered before any live one (in the order given, which should
    /// be id order), and whether some events after the requested id may have been lost.
    /// Replay does not count against the live queue's capacity, so a full history never makes
    /// a new subscriber a slow consumer.
    pub fn with_replay(mut self, replay: VecDeque<Arc<BusEvent>>, gap: bool) -> Self {
        self.replayed_up_to.clear();
        for event in &replay {
            match self
                .replayed_up_to
                .iter_mut()
                .find(|(topic, _)| *topic == event.topic)
            {
                Some((_, id)) => *id = (*id).max(event.id),
                None => self
                    .replayed_up_to
                    .push((Arc::clone(&event.topic), event.id)),
            }
        }
        self.replay = replay;
        self.gap = gap;
        self
    }

    /// For backends: run `unsubscribe` when this subscription is dropped.
    pub fn on_drop(mut self, unsubscribe: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.unsubscribe = Some(Box::new(unsubscribe));
        self
    }

    /// True when `after` was given and the bus could not vouch that it still held every event
    /// after it (see the backend for its rule). Never false when events were lost.
    pub fn gap(&self) -> bool {
        self.gap
    }

    fn replayed(&self, event: &BusEvent) -> bool {
        self.replayed_up_to
            .iter()
            .any(|(topic, id)| *topic == event.topic && event.id <= *id)
    }

    /// The next event, or `None` once the subscription is closed and drained.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<BusEvent>>> {
        if let Some(event) = self.replay.pop_front() {
            return Poll::Ready(Some(event));
        }
        loop {
            match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(event)) if self.replayed(&event) => continue,
                other => return other,
            }
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<BusEvent>> {
        if let Some(event) = self.replay.pop_front() {
            return Some(event);
        }
        loop {
            let event = self.receiver.try_recv().ok()?;
            if !self.replayed(&event) {
                return Some(event);
            }
        }
    }

    /// Wait for the next event; `None` once the subscription is closed and drained.
    pub async fn recv(&mut self) -> Option<Arc<BusEvent>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Why the bus closed this subscription (e.g. `slow consumer: …`), once it has. Events
    /// queued before the close are still delivered.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.get().map(|reason| &**reason)
    }
}

impl futures::Stream for Subscription {
    type Item = Arc<BusEvent>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
    }
}

/// The bus's end of one [`Subscription`].
#[derive(Debug)]
pub struct SubscriberSender {
    sender: mpsc::Sender<Arc<BusEvent>>,
    closed: Arc<OnceLock<Box<str>>>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// The subscriber's queue is full: it is a slow consumer.
    Full,
    /// The subscription was dropped.
    Gone,
}

impl SubscriberSender {
    /// Queue `event` without waiting.
    pub fn try_deliver(&self, event: Arc<BusEvent>) -> Delivery {
        match self.sender.try_send(event) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    /// Record why the subscription is being closed. The receiver sees `None` once this sender
    /// is dropped; set the reason first so it is visible by then. The first reason wins.
    pub fn set_closed_reason(&self, reason: &str) {
        let _ = self.closed.set(reason.into());
    }

    /// True once the subscription was dropped.
    pub fn is_gone(&self) -> bool {
        self.sender.is_closed()
    }
}

/// One subscription as a backend holds it: the topics and types it asked for, and where its
/// events go. `key` tells it apart when it unsubscribes.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub key: u64,
    pub topics: Box<[Arc<str>]>,
    /// Empty = every type.
    pub event_types: Box<[Box<str>]>,
    pub sender: SubscriberSender,
}

impl Subscriber {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| **t == *event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, id: u64) -> Arc<BusEvent> {
        Arc::new(BusEvent {
            id,
            topic: topic.into(),
            event_type: "e".into(),
            timestamp_ms: 0,
            data: "null".into(),
        })
    }

    fn drain(sub: &mut Subscription) -> Vec<u64> {
        std::iter::from_fn(|| sub.try_recv())
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn subscriptions_can_live_in_a_wasmtime_resource_table() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Subscription>();
    }

    #[test]
    fn closed_subscription_drains_then_reports_the_reason() {
        let (sender, mut sub) = Subscription::channel(4);
        let first = event("t", 1);
        assert_eq!(sender.try_deliver(Arc::clone(&first)), Delivery::Queued);
        sender.set_closed_reason("slow consumer");
        drop(sender);
        assert_eq!(sub.closed_reason(), Some("slow consumer"));
        assert_eq!(sub.try_recv(), Some(first));
        assert_eq!(sub.try_recv(), None);
    }

    #[test]
    fn replay_comes_before_live_events() {
        let (sender, sub) = Subscription::channel(4);
        let mut sub = sub.with_replay(VecDeque::from([event("t", 1), event("t", 2)]), true);
        sender.try_deliver(event("t", 3));
        assert!(sub.gap());
        assert_eq!(drain(&mut sub), [1, 2, 3]);
    }

    #[test]
    fn live_events_already_replayed_are_skipped_per_topic() {
        let (sender, sub) = Subscription::channel(8);
        // Live delivery started before the replay was read, so 2 and 3 arrive twice.
        for (topic, id) in [("a", 2), ("b", 1), ("a", 3), ("a", 4), ("b", 5)] {
            sender.try_deliver(event(topic, id));
        }
        let mut sub = sub.with_replay(VecDeque::from([event("a", 2), event("a", 3)]), false);
        assert_eq!(drain(&mut sub), [2, 3, 1, 4, 5]);
    }

    #[test]
    fn the_sender_sees_when_the_subscription_is_dropped() {
        let (sender, sub) = Subscription::channel(1);
        assert!(!sender.is_gone());
        drop(sub);
        assert!(sender.is_gone());
        assert_eq!(sender.try_deliver(event("t", 1)), Delivery::Gone);
    }
}
