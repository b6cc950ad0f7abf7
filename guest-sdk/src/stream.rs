//! [`Stream`]: the values a component yields, from ready values and event subscriptions,
//! merged in arrival order.
//!
//! A stream is a small tree: leaves are ready values (an iterator) or a subscription with
//! its `select` closure; inner nodes merge or chain their children. The host pulls with
//! `record-stream.poll-batch`; [`Stream::poll_batch`] hands out every ready value first and,
//! only when nothing is ready, takes the events that have arrived on every subscription that
//! could deliver next with one `events.wait` call that never waits. With nothing to hand
//! out, it names those subscriptions (`events.wake-on`) and returns: the instance is idle,
//! without a stack, until the host pulls again. Events get a sequence number in arrival
//! order, and a merge always hands out the lowest one, so merged sources deliver in the
//! order the bus delivered.
//! A flushed leaf ([`Stream::iter_flushed`]) computes at most one value per pull, so what
//! came before it reaches the host before its next value is computed.

use std::collections::VecDeque;
use std::fmt;

use crate::error::Error;
use crate::events::Event;
use crate::record::json_text;
use crate::sys;
use serde::Serialize;

/// What a subscription's `select` closure makes of one event, as JSON text; `None` skips
/// it.
pub(crate) type Select = Box<dyn FnMut(Event) -> Option<String>>;

/// The values one response yields, pulled by the host one batch at a time.
///
/// Build it from ready values ([`once`](Stream::once), [`iter`](Stream::iter),
/// `Stream::from_iter`) and event sources ([`Events::map`](crate::Events::map)), and combine
/// them with [`merge`](Stream::merge) (the platform's several `from`s: whatever is ready
/// first, then events in the order they arrive from any source) and
/// [`chain`](Stream::chain) (one after the other). Any [`Serialize`] value can be yielded;
/// [`Record`](crate::Record)s become SSE events field by field.
///
/// A stream ends when all its sources have ended. Event sources never end on their own,
/// so a stream with a subscription runs until the client disconnects, except that when the
/// host closes a subscription (the client fell too far behind) the stream yields
/// `{"error":{"code":"STREAM_CLOSED",…}}` and ends.
///
/// # Examples
///
/// The document's "Multiple Streams":
///
/// ```no_run
/// use sluice_sdk::{Error, Record, Request, Stream, Uuid, events, json};
///
/// fn handle(req: Request) -> Result<Stream, Error> {
///     let order_id: Uuid = req.param("orderId")?;
///     let payment_id: Uuid = req.param("paymentId")?;
///     Ok(Stream::once(Record::event("init").data(json!({ "orderId": order_id, "paymentId": payment_id })))
///         .merge(events(format!("actors/order/{order_id}"), "checkpoint")?
///             .map(|e| Ok(Record::event("orderUpdated").data(e))))
///         .merge(events(format!("actors/payment/{payment_id}"), "checkpoint")?
///             .map(|e| Ok(Record::event("paymentUpdated").data(e)))))
/// }
/// ```
pub struct Stream {
    root: Node,
    /// Sequence number for the next event that arrives; ready values rank as 0.
    next_seq: u64,
    /// The current host pull, counted from 1; flushed leaves compute once per pull.
    pull: u64,
    /// The subscriptions last named with `events.wake-on` (by key). The host keeps them
    /// until they are replaced, so an unchanged set is not named again.
    waking_on: Vec<u32>,
    ended: bool,
}

enum Node {
    /// Ready values (as JSON text, like every value in the tree), produced lazily, with one
    /// value looked ahead.
    Values {
        iter: Box<dyn Iterator<Item = String>>,
        next: Option<String>,
    },
    /// Values computed one per host pull ([`Stream::iter_flushed`]): `iter` is called only
    /// in a pull other than `pulled_in`, the last one that called it.
    Flushed {
        iter: Box<dyn Iterator<Item = String>>,
        next: Option<String>,
        pulled_in: u64,
    },
    /// A subscription, the events it delivered that were not handed out yet, and `select`.
    Events {
        subscription: sys::Subscription,
        buffer: VecDeque<(u64, Event)>,
        select: Select,
    },
    /// Whatever any child has, lowest sequence number first.
    Merge(Vec<Node>),
    /// The first child until it ends, then the next.
    Chain(VecDeque<Node>),
}

/// What a node can hand out next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peek {
    /// A value with this sequence number (0 for ready values).
    Ready(u64),
    /// Nothing until an event arrives.
    Pending,
    /// Nothing in this pull: a flushed leaf already computed its value for it; the next
    /// pull computes another without waiting.
    Later,
    /// Nothing ever again.
    Done,
}

impl Node {
    /// What this node can hand out next in host pull `pull`. Calling it again without
    /// `take` or `deliver` in between gives the same answer.
    fn peek(&mut self, pull: u64) -> Peek {
        match self {
            Node::Values { iter, next } => {
                if next.is_none() {
                    *next = iter.next();
                }
                if next.is_some() {
                    Peek::Ready(0)
                } else {
                    Peek::Done
                }
            }
            Node::Flushed {
                iter,
                next,
                pulled_in,
            } => {
                if next.is_none() {
                    if *pulled_in == pull {
                        return Peek::Later;
                    }
                    *pulled_in = pull;
                    *next = iter.next();
                }
                if next.is_some() {
                    Peek::Ready(0)
                } else {
                    Peek::Done
                }
            }
            Node::Events { buffer, .. } => buffer
                .front()
                .map_or(Peek::Pending, |(seq, _)| Peek::Ready(*seq)),
            Node::Merge(children) => {
                let mut best: Option<u64> = None;
                let mut later = false;
                children.retain_mut(|child| match child.peek(pull) {
                    Peek::Done => false,
                    Peek::Pending => true,
                    Peek::Later => {
                        later = true;
                        true
                    }
                    Peek::Ready(seq) => {
                        best = Some(best.map_or(seq, |best| best.min(seq)));
                        true
                    }
                });
                // `Later` wins over `Pending`: the next pull has a value without waiting.
                match best {
                    Some(seq) => Peek::Ready(seq),
                    None if later => Peek::Later,
                    None if children.is_empty() => Peek::Done,
                    None => Peek::Pending,
                }
            }
            Node::Chain(children) => loop {
                let Some(first) = children.front_mut() else {
                    return Peek::Done;
                };
                match first.peek(pull) {
                    Peek::Done => {
                        children.pop_front();
                    }
                    other => return other,
                }
            },
        }
    }

    /// Hand out the value `peek(pull)` just announced; `None` when `select` skipped it.
    fn take(&mut self, pull: u64) -> Option<String> {
        match self {
            Node::Values { next, .. } | Node::Flushed { next, .. } => next.take(),
            Node::Events { buffer, select, .. } => {
                let (_, event) = buffer.pop_front()?;
                select(event)
            }
            Node::Merge(children) => {
                let mut best: Option<(u64, usize)> = None;
                for (index, child) in children.iter_mut().enumerate() {
                    if let Peek::Ready(seq) = child.peek(pull)
                        && best.is_none_or(|(best_seq, _)| seq < best_seq)
                    {
                        best = Some((seq, index));
                    }
                }
                children[best?.1].take(pull)
            }
            Node::Chain(children) => children.front_mut()?.take(pull),
        }
    }

    /// The subscriptions that could deliver next, in tree order. `deliver` walks the same
    /// nodes in the same order.
    fn waiting<'a>(&'a self, out: &mut Vec<&'a sys::Subscription>) {
        match self {
            Node::Values { .. } | Node::Flushed { .. } => {}
            Node::Events {
                subscription,
                buffer,
                ..
            } => {
                if buffer.is_empty() {
                    out.push(subscription);
                }
            }
            Node::Merge(children) => children.iter().for_each(|child| child.waiting(out)),
            Node::Chain(children) => {
                if let Some(first) = children.front() {
                    first.waiting(out);
                }
            }
        }
    }

    /// Hand each waiting subscription its bucket of arrived events, in `waiting` order.
    fn deliver(&mut self, buckets: &mut std::vec::IntoIter<VecDeque<(u64, Event)>>) {
        match self {
            Node::Values { .. } | Node::Flushed { .. } => {}
            Node::Events { buffer, .. } => {
                if buffer.is_empty() {
                    *buffer = buckets.next().unwrap_or_default();
                }
            }
            Node::Merge(children) => children.iter_mut().for_each(|child| child.deliver(buckets)),
            Node::Chain(children) => {
                if let Some(first) = children.front_mut() {
                    first.deliver(buckets);
                }
            }
        }
    }
}

impl Stream {
    fn new(root: Node) -> Self {
        Self {
            root,
            next_seq: 1,
            pull: 0,
            waking_on: Vec::new(),
            ended: false,
        }
    }

    /// A stream that yields nothing (in JSON mode: HTTP 204).
    ///
    /// # Examples
    ///
    /// ```
    /// let nothing = sluice_sdk::Stream::empty();
    /// # let _ = nothing;
    /// ```
    pub fn empty() -> Self {
        Self::new(Node::Merge(Vec::new()))
    }

    /// A stream of one value: the platform's `from <value>`.
    ///
    /// # Examples
    ///
    /// The document's "Simple Values" (`data: "Hello world"`):
    ///
    /// ```
    /// use sluice_sdk::{Error, Request, Stream};
    ///
    /// fn handle(_req: Request) -> Result<Stream, Error> {
    ///     Ok(Stream::once("Hello world"))
    /// }
    /// ```
    pub fn once(value: impl Serialize) -> Self {
        Self::from_values(std::iter::once(json_text(value)))
    }

    /// A stream of one error record `{"error":{…}}`; shorthand for
    /// `Stream::once(Record::error(error))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, Stream};
    ///
    /// let failed = Stream::error(Error::unavailable("stock service is down"));
    /// # let _ = failed;
    /// ```
    pub fn error(error: impl Into<Error>) -> Self {
        Self::once(error.into().to_json())
    }

    /// A stream of the values of `iter`, produced lazily, one at a time as the host pulls.
    /// (`Stream::from_iter` collects its values up front instead.)
    ///
    /// One host pull takes up to a whole batch of values (and looks one ahead), and they
    /// reach the client together; for values that are slow to compute or may fail, use
    /// [`iter_flushed`](Stream::iter_flushed).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Record, Stream};
    ///
    /// let countdown = Stream::iter((1..=3).rev().map(|n| Record::event("tick").data(n)));
    /// # let _ = countdown;
    /// ```
    pub fn iter<I>(iter: I) -> Self
    where
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Serialize + 'static,
    {
        Self::from_values(iter.into_iter().map(json_text))
    }

    /// Like [`iter`](Stream::iter), but each value reaches the host before the next one is
    /// computed: a host pull calls `iter` at most once, and never to look ahead. Values
    /// that are ready elsewhere in the stream still join a pull.
    ///
    /// Use it for values that are slow to compute (each is sent as soon as it exists) or
    /// that may fail: a panic traps the component in the pull that computes that value, so
    /// every value before it has already been sent, and the client then gets the host's
    /// `COMPONENT_FAILED` error. The price is one host pull per value.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Record, Stream};
    ///
    /// // Each page is sent before the next is fetched.
    /// let pages = Stream::iter_flushed((1..=3).map(|page| Record::event("page").id(page).data(page)));
    /// # let _ = pages;
    /// ```
    pub fn iter_flushed<I>(iter: I) -> Self
    where
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Serialize + 'static,
    {
        Self::new(Node::Flushed {
            iter: Box::new(iter.into_iter().fuse().map(json_text)),
            next: None,
            pulled_in: 0,
        })
    }

    /// Both streams at once: everything ready first, then events in the order they arrive
    /// from either side: the platform's several `from`s in one component. All the
    /// subscriptions are waited on with a single host call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Record, Stream, events};
    ///
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// let stream = Stream::once(Record::event("init").data("current state"))
    ///     .merge(events("feeds/news", "message")?.map(|e| Ok(Record::event("news").data(e.data))))
    ///     .merge(events("feeds/sport", "message")?.map(|e| Ok(Record::event("sport").data(e.data))));
    /// # let _ = stream;
    /// # Ok(())
    /// # }
    /// ```
    pub fn merge(self, other: impl Into<Stream>) -> Self {
        let other = other.into();
        let mut children = match self.root {
            Node::Merge(children) => children,
            root => vec![root],
        };
        match other.root {
            Node::Merge(more) => children.extend(more),
            root => children.push(root),
        }
        Self::new(Node::Merge(children))
    }

    /// All of `streams` merged, as with [`merge`](Stream::merge).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Record, Stream, events};
    ///
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// let feeds = ["news", "sport", "weather"];
    /// let mut sources = Vec::new();
    /// for feed in feeds {
    ///     sources.push(events(format!("feeds/{feed}"), "message")?
    ///         .map(move |e| Ok(Record::event(feed).data(e.data))));
    /// }
    /// let stream = Stream::merge_all(sources);
    /// # let _ = stream;
    /// # Ok(())
    /// # }
    /// ```
    pub fn merge_all(streams: impl IntoIterator<Item = Stream>) -> Self {
        streams.into_iter().fold(Stream::empty(), Stream::merge)
    }

    /// This stream, then `other` once this one has ended. (A stream with a subscription
    /// never ends, so chain after ready values, not after events.)
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Record, Stream};
    ///
    /// let stream = Stream::once(Record::event("first")).chain(Stream::once(Record::event("second")));
    /// # let _ = stream;
    /// ```
    pub fn chain(self, other: impl Into<Stream>) -> Self {
        let other = other.into();
        let mut children = match self.root {
            Node::Chain(children) => children,
            root => VecDeque::from([root]),
        };
        match other.root {
            Node::Chain(more) => children.extend(more),
            root => children.push_back(root),
        }
        Self::new(Node::Chain(children))
    }

    pub(crate) fn from_subscription(subscription: sys::Subscription, select: Select) -> Self {
        Self::new(Node::Events {
            subscription,
            buffer: VecDeque::new(),
            select,
        })
    }

    fn from_values(iter: impl Iterator<Item = String> + 'static) -> Self {
        Self::new(Node::Values {
            iter: Box::new(iter),
            next: None,
        })
    }

    /// Up to `max` values (0 is taken as 1) that are ready now, and what the host should do
    /// next. This is `record-stream.poll-batch`.
    ///
    /// Ready values are handed out first. When nothing is ready, one `events.wait` call
    /// with a zero timeout takes up to `max` events that have arrived on every subscription
    /// that could deliver next. When that is done or values are out, the stream names those
    /// subscriptions with `events.wake-on` and answers [`After::Wait`]: it returns instead of
    /// blocking, so its instance holds no stack until the host pulls again. A flushed leaf
    /// that already computed a value in this call ends the batch with [`After::More`].
    pub(crate) fn poll_batch(&mut self, max: usize) -> (Vec<String>, After) {
        let max = max.max(1);
        let mut out = Vec::new();
        let mut polled = false;
        self.pull += 1;
        while !self.ended && out.len() < max {
            match self.root.peek(self.pull) {
                Peek::Ready(_) => out.extend(self.root.take(self.pull)),
                Peek::Done => self.ended = true,
                Peek::Later if !out.is_empty() => return (out, After::More),
                // Not reached (a computed value is handed out in the pull that computed it);
                // with nothing handed out yet, computing the next value is the safe answer.
                Peek::Later => self.pull += 1,
                // Events that arrived are taken once per pull, and only into an empty batch
                // (what is ready goes out before events are mapped); then the host waits.
                Peek::Pending if !polled && out.is_empty() => {
                    polled = true;
                    if let Err(record) = self.take_arrived(max) {
                        out.push(record);
                        self.ended = true;
                    }
                }
                Peek::Pending => {
                    let mut subscriptions = Vec::new();
                    self.root.waiting(&mut subscriptions);
                    if subscriptions.is_empty() {
                        // Unreachable while `peek` says Pending; ending is the safe answer.
                        self.ended = true;
                        break;
                    }
                    // Subscriptions live as long as the stream (an event source never
                    // ends), so the same keys are the same subscriptions.
                    if !subscriptions
                        .iter()
                        .map(|s| s.key())
                        .eq(self.waking_on.iter().copied())
                    {
                        self.waking_on = subscriptions.iter().map(|s| s.key()).collect();
                        sys::wake_on(&subscriptions);
                    }
                    return (out, After::Wait);
                }
            }
        }
        let after = if self.ended { After::End } else { After::More };
        (out, after)
    }

    /// Buffer the events that have arrived on every waiting subscription, up to `max`,
    /// without waiting. An error ends the stream; it is returned as the record to yield last.
    fn take_arrived(&mut self, max: usize) -> Result<(), String> {
        let mut subscriptions = Vec::new();
        self.root.waiting(&mut subscriptions);
        if subscriptions.is_empty() {
            return Ok(());
        }
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let arrived = sys::wait(&subscriptions, max, Some(0))
            .map_err(|err| json_text(Error::from(err).to_json()))?;
        if arrived.is_empty() {
            return Ok(());
        }
        let mut buckets = vec![VecDeque::new(); subscriptions.len()];
        for (index, event) in arrived {
            if let Some(bucket) = buckets.get_mut(index as usize) {
                bucket.push_back((self.next_seq, event));
                self.next_seq += 1;
            }
        }
        self.root.deliver(&mut buckets.into_iter());
        Ok(())
    }
}

/// What the host does after a pull: `record-stream.poll-batch`'s `after-batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Pull again now.
    More,
    /// Pull again once a subscription named with `events.wake-on` has an event.
    Wait,
    /// The stream has ended.
    End,
}

impl<T: Serialize> FromIterator<T> for Stream {
    /// A stream of the values of `iter`, collected now.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Record, Stream};
    ///
    /// let stream = Stream::from_iter(["a", "b"].map(|name| Record::event(name)));
    /// # let _ = stream;
    /// ```
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let values: Vec<String> = iter.into_iter().map(json_text).collect();
        Self::from_values(values.into_iter())
    }
}

impl Default for Stream {
    /// [`Stream::empty`].
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Stream {
    /// What a host pulling this stream gets next: between 1 and `max` values, idling (in the
    /// fake host, publishing its `later` events) while the stream waits; empty once it ends.
    fn next_batch(&mut self, max: usize) -> Vec<serde_json::Value> {
        let parsed = |values: Vec<String>| {
            let parse = |text: String| serde_json::from_str(&text).expect("JSON text");
            values.into_iter().map(parse).collect()
        };
        loop {
            match self.poll_batch(max) {
                (values, After::End) => return parsed(values),
                (values, _) if !values.is_empty() => return parsed(values),
                (_, After::Wait) => sys::fake::idle(),
                (_, After::More) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Events, events};
    use crate::record::Record;
    use crate::sys::fake;
    use serde_json::{Value, json};

    fn updated(tag: &'static str) -> impl FnMut(Event) -> Result<Value, Error> {
        move |e| Ok(json!({ "from": tag, "n": e.data }))
    }

    fn source(topic: &str) -> Events {
        events(topic, "checkpoint").expect("subscribed")
    }

    #[test]
    fn once_yields_one_value_then_ends() {
        let mut stream = Stream::once("Hello world");
        assert_eq!(stream.next_batch(10), [json!("Hello world")]);
        assert!(stream.next_batch(10).is_empty());
        assert!(stream.next_batch(10).is_empty());
    }

    #[test]
    fn an_empty_stream_ends_at_once() {
        assert!(Stream::empty().next_batch(5).is_empty());
    }

    #[test]
    fn batches_respect_max_and_zero_means_one() {
        let mut stream = Stream::from_iter(1..=5);
        assert_eq!(stream.next_batch(2), [json!(1), json!(2)]);
        assert_eq!(stream.next_batch(0), [json!(3)]);
        assert_eq!(stream.next_batch(10), [json!(4), json!(5)]);
        assert!(stream.next_batch(10).is_empty());
    }

    #[test]
    fn iter_is_lazy() {
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = pulled.clone();
        let mut stream = Stream::iter((0..).inspect(move |_| counter.set(counter.get() + 1)));
        assert_eq!(stream.next_batch(3), [json!(0), json!(1), json!(2)]);
        assert!(pulled.get() <= 4, "pulled {}", pulled.get());
    }

    #[test]
    fn iter_flushed_hands_out_one_value_per_pull_and_never_looks_ahead() {
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = pulled.clone();
        let mut stream =
            Stream::iter_flushed((1..=3).inspect(move |_| counter.set(counter.get() + 1)));
        assert_eq!(stream.next_batch(10), [json!(1)]);
        assert_eq!(pulled.get(), 1);
        assert_eq!(stream.next_batch(10), [json!(2)]);
        assert_eq!(stream.next_batch(0), [json!(3)]);
        assert_eq!(pulled.get(), 3);
        assert!(stream.next_batch(10).is_empty());
        assert!(stream.next_batch(10).is_empty());
    }

    #[test]
    fn iter_flushed_lets_ready_values_join_its_pull() {
        let mut stream = Stream::once(0)
            .chain(Stream::iter_flushed([1, 2]))
            .chain(Stream::from_iter([3, 4]));
        assert_eq!(stream.next_batch(10), [json!(0), json!(1)]);
        assert_eq!(stream.next_batch(10), [json!(2)]);
        assert_eq!(stream.next_batch(10), [json!(3), json!(4)]);
        assert!(stream.next_batch(10).is_empty());
    }

    #[test]
    fn a_panic_in_iter_flushed_comes_in_a_pull_after_the_values_before_it() {
        let mut stream =
            Stream::iter_flushed((1..=3).inspect(|&n| assert!(n < 3, "value {n} fails")));
        assert_eq!(stream.next_batch(64), [json!(1)]);
        assert_eq!(stream.next_batch(64), [json!(2)]);
        let failed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stream.next_batch(64)));
        assert!(failed.is_err());
    }

    #[test]
    fn iter_flushed_merged_with_events_does_not_wait_while_it_has_values() {
        let a = source("a/1");
        let mut stream = Stream::iter_flushed([1, 2]).merge(a.map(updated("a")));
        assert_eq!(stream.next_batch(10), [json!(1)]);
        fake::publish("a/1", "checkpoint", json!(7));
        assert_eq!(stream.next_batch(10), [json!(2)]);
        assert_eq!(fake::wait_calls().len(), 0, "a flushed value must not wait");
        assert_eq!(stream.next_batch(10), [json!({"from": "a", "n": 7})]);
    }

    #[test]
    fn chain_yields_in_order() {
        let mut stream = Stream::once(1)
            .chain(Stream::from_iter([2, 3]))
            .chain(Stream::empty())
            .chain(Stream::once(4));
        assert_eq!(
            stream.next_batch(10),
            [json!(1), json!(2), json!(3), json!(4)]
        );
    }

    #[test]
    fn ready_values_come_before_events() {
        let order = source("actors/order/1");
        fake::publish("actors/order/1", "checkpoint", json!(1));
        let mut stream = Stream::once("init").merge(order.map(updated("order")));
        assert_eq!(stream.next_batch(10), [json!("init")]);
        assert_eq!(fake::wait_calls().len(), 0, "ready values must not wait");
        assert_eq!(stream.next_batch(10), [json!({"from": "order", "n": 1})]);
    }

    #[test]
    fn merged_subscriptions_are_waited_on_with_one_call() {
        let order = source("actors/order/1");
        let payment = source("actors/payment/2");
        let mut stream = Stream::once("init")
            .merge(order.map(updated("order")))
            .merge(payment.map(updated("payment")));
        fake::publish("actors/payment/2", "checkpoint", json!(1));
        fake::publish("actors/order/1", "checkpoint", json!(2));
        fake::publish("actors/payment/2", "checkpoint", json!(3));
        assert_eq!(stream.next_batch(10), [json!("init")]);
        assert_eq!(
            stream.next_batch(10),
            [
                json!({"from": "payment", "n": 1}),
                json!({"from": "order", "n": 2}),
                json!({"from": "payment", "n": 3}),
            ]
        );
        let calls = fake::wait_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(
            calls[0].len(),
            2,
            "both subscriptions in one wait: {calls:?}"
        );
    }

    #[test]
    fn events_are_handed_out_in_arrival_order_across_batches() {
        let a = source("a/1");
        let b = source("b/1");
        let mut stream = a.map(updated("a")).merge(b.map(updated("b")));
        fake::publish("b/1", "checkpoint", json!(1));
        fake::publish("a/1", "checkpoint", json!(2));
        fake::publish("a/1", "checkpoint", json!(3));
        fake::publish("b/1", "checkpoint", json!(4));
        assert_eq!(
            stream.next_batch(2),
            [json!({"from": "b", "n": 1}), json!({"from": "a", "n": 2})]
        );
        assert_eq!(
            stream.next_batch(2),
            [json!({"from": "a", "n": 3}), json!({"from": "b", "n": 4})]
        );
    }

    #[test]
    fn an_idle_stream_names_its_subscriptions_to_the_host_once() {
        let a = source("a/1");
        let b = source("b/1");
        let mut stream = Stream::from_iter([0])
            .chain(a.map(updated("a")))
            .chain(b.map(updated("b")));
        assert_eq!(stream.poll_batch(5), (vec!["0".to_owned()], After::Wait));
        assert_eq!(fake::wake_on_calls(), 1);
        for n in 1..=3 {
            assert_eq!(
                stream.poll_batch(5),
                (vec![], After::Wait),
                "nothing arrived"
            );
            fake::publish("a/1", "checkpoint", json!(n));
            assert_eq!(
                stream.poll_batch(5),
                (vec![json!({"from": "a", "n": n}).to_string()], After::Wait)
            );
        }
        assert_eq!(
            fake::wake_on_calls(),
            1,
            "the same subscription, named once"
        );
    }

    #[test]
    fn a_batch_does_not_wait_again_once_it_has_values() {
        let a = source("a/1");
        let mut stream = a.map(updated("a"));
        fake::publish("a/1", "checkpoint", json!(1));
        assert_eq!(stream.next_batch(5), [json!({"from": "a", "n": 1})]);
        assert_eq!(fake::wait_calls().len(), 1);
    }

    #[test]
    fn each_wait_takes_at_most_the_batch_size_and_covers_every_source() {
        let a = source("a/1");
        let b = source("b/1");
        let mut stream = a.map(updated("a")).merge(b.map(updated("b")));
        fake::publish("a/1", "checkpoint", json!(1));
        fake::publish("a/1", "checkpoint", json!(2));
        fake::publish("b/1", "checkpoint", json!(3));
        assert_eq!(stream.next_batch(1), [json!({"from": "a", "n": 1})]);
        assert_eq!(stream.next_batch(1), [json!({"from": "a", "n": 2})]);
        assert_eq!(stream.next_batch(1), [json!({"from": "b", "n": 3})]);
        assert_eq!(fake::wait_calls(), [vec![0, 1], vec![0, 1], vec![0, 1]]);
    }

    #[test]
    fn a_subscription_behind_a_chain_is_not_waited_on_until_its_turn() {
        let a = source("a/1");
        let mut stream = Stream::from_iter([1, 2]).chain(a.map(updated("a")));
        assert_eq!(stream.next_batch(5), [json!(1), json!(2)]);
        fake::publish("a/1", "checkpoint", json!(3));
        assert_eq!(stream.next_batch(5), [json!({"from": "a", "n": 3})]);
    }

    #[test]
    fn filter_map_skips_and_keeps_waiting() {
        let a = source("a/1");
        let mut stream = a.filter_map(|e| Ok(e.data.as_i64().filter(|n| n % 2 == 0)));
        fake::publish("a/1", "checkpoint", json!(1));
        fake::publish_later("a/1", "checkpoint", json!(2));
        assert_eq!(stream.next_batch(5), [json!(2)]);
        assert_eq!(fake::wait_calls().len(), 2);
    }

    #[test]
    fn a_select_error_is_yielded_as_an_error_record_and_the_stream_goes_on() {
        let a = source("a/1");
        let mut stream = a.map(|e| {
            if e.data == json!("bad") {
                Err(Error::new("STREAM_ERROR", "bad event"))
            } else {
                Ok(Record::event("updated").data(e.data))
            }
        });
        fake::publish("a/1", "checkpoint", json!("bad"));
        fake::publish("a/1", "checkpoint", json!("good"));
        assert_eq!(
            stream.next_batch(5),
            [
                json!({"error": {"code": "STREAM_ERROR", "message": "bad event"}}),
                json!({"event": "updated", "data": "good"}),
            ]
        );
    }

    #[test]
    fn a_closed_subscription_yields_stream_closed_and_ends() {
        let a = source("a/1");
        let mut stream = Stream::once("init").merge(a.map(updated("a")));
        assert_eq!(stream.next_batch(5), [json!("init")]);
        fake::close("this connection fell too far behind");
        assert_eq!(
            stream.next_batch(5),
            [
                json!({"error": {"code": "STREAM_CLOSED", "message": "this connection fell too far behind"}})
            ]
        );
        assert!(stream.next_batch(5).is_empty());
    }

    #[test]
    fn events_map_to_the_documented_event_object() {
        let a = source("actors/order/ORD-123");
        let mut stream = a.map(|e| Ok(Record::event("updated").data(e)));
        fake::publish(
            "actors/order/ORD-123",
            "checkpoint",
            json!({"status": "shipped"}),
        );
        let value = stream.next_batch(1).remove(0);
        let data = &value["data"];
        assert_eq!(
            data.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["topic", "eventType", "id", "timestamp", "data"]
        );
        assert_eq!(data["eventType"], "checkpoint");
        assert_eq!(data["timestamp"], "2026-01-11T19:30:00.000Z");
    }

    #[test]
    fn merging_merges_flattens_without_changing_order() {
        let a = source("a/1");
        let b = source("b/1");
        let c = source("c/1");
        let left = a.map(updated("a")).merge(b.map(updated("b")));
        let mut stream = Stream::once(0).merge(left.merge(c.map(updated("c"))));
        fake::publish("c/1", "checkpoint", json!(1));
        fake::publish("a/1", "checkpoint", json!(2));
        fake::publish("b/1", "checkpoint", json!(3));
        assert_eq!(stream.next_batch(1), [json!(0)]);
        assert_eq!(
            stream.next_batch(10),
            [
                json!({"from": "c", "n": 1}),
                json!({"from": "a", "n": 2}),
                json!({"from": "b", "n": 3})
            ]
        );
        assert_eq!(fake::wait_calls()[0].len(), 3);
    }
}
