//! Slow consumers (SPEC S7): a client that stops taking its stream is cut off, not buffered
//! without bound.
//!
//! An SSE body pulls records from its component when hyper polls it, in the connection's
//! own task. hyper stops polling a body its client does not take: on HTTP/1.1 once the
//! socket and hyper's write buffer are full, on HTTP/2 once the stream's flow-control window
//! is. So the cut must come from outside the body. [`Stall::watch`] wraps the body's source
//! and knows when it is owed a poll: its source woke (an event arrived, say), or it handed
//! out a burst and hyper has not come back for more (hyper asks again at once while it can
//! take more). [`Stall::guard`] runs the connection (HTTP/1.1) or the stream (HTTP/2) in
//! the same task, and drops it when the body stays owed a poll for the dispatch timeout:
//! that closes the connection or resets the stream. A stream with nothing to send never
//! stalls, however long its client is away.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::Stream;
use futures::task::AtomicWaker;
use tokio::time::{Instant, Sleep};

/// The watch over one HTTP/1.1 connection's or one HTTP/2 stream's response body.
#[derive(Debug)]
pub struct Stall {
    /// How long the body may stay owed a poll (`dispatchTimeoutSeconds`).
    timeout: Duration,
    /// The body is owed a poll: its source woke, or its last poll handed out a burst.
    owed: AtomicBool,
    /// [`Stall::guard`] cut the task: the body is dropped because its client was too slow.
    fired: AtomicBool,
    /// The task that polls the body, woken when the source wakes.
    task: AtomicWaker,
}

impl Stall {
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            timeout,
            owed: AtomicBool::new(false),
            fired: AtomicBool::new(false),
            task: AtomicWaker::new(),
        })
    }

    /// How long the body may stay owed a poll before its client counts as a slow consumer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `source`, watched. `on_drop` runs when the watched stream is dropped, with whether it
    /// was dropped because its client stalled, before anything it owns is dropped.
    pub fn watch<S, F>(self: &Arc<Self>, source: S, on_drop: F) -> Watched<S, F>
    where
        F: FnOnce(bool),
    {
        Watched {
            source,
            waker: Waker::from(self.clone()),
            stall: self.clone(),
            on_drop: Some(on_drop),
        }
    }

    /// `task` (the HTTP/1.1 connection, or one HTTP/2 stream) until it ends, or until the
    /// body it serves stays owed a poll for the timeout: then `task` is dropped, which
    /// closes the connection or resets the stream, and `cut` is logged. `task` is polled
    /// first, so a body it polls in the same wake-up never arms the timer.
    ///
    /// A future of its own rather than a `select!` in an `async` block, which would keep
    /// `task` twice in the spawned task (once captured, once pinned): over 2 KiB for each
    /// idle connection.
    pub fn guard<F: Future<Output = ()>>(
        self: &Arc<Self>,
        task: F,
        cut: &'static str,
    ) -> Guarded<F> {
        Guarded {
            task,
            stall: self.clone(),
            timer: None,
            armed: false,
            cut,
        }
    }
}

impl Wake for Stall {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.owed.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A body's source under a [`Stall`] watch.
pub struct Watched<S, F: FnOnce(bool)> {
    source: S,
    /// Wakes the [`Stall`], which wakes the body's task.
    waker: Waker,
    stall: Arc<Stall>,
    on_drop: Option<F>,
}

impl<S: Stream + Unpin, F: FnOnce(bool) + Unpin> Stream for Watched<S, F> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        this.stall.task.register(cx.waker());
        this.stall.owed.store(false, Ordering::Release);
        let polled = Pin::new(&mut this.source).poll_next(&mut Context::from_waker(&this.waker));
        // A burst handed out is owed the next poll; on `Pending` a wake-up that raced this
        // poll has already set the flag, and must not be cleared.
        if let Poll::Ready(Some(_)) = polled {
            this.stall.owed.store(true, Ordering::Release);
        }
        polled
    }
}

impl<S, F: FnOnce(bool)> Drop for Watched<S, F> {
    fn drop(&mut self) {
        // An HTTP/1.1 connection outlives a response that ended: nothing is waiting now.
        self.stall.owed.store(false, Ordering::Release);
        self.stall.task.take();
        if let Some(on_drop) = self.on_drop.take() {
            on_drop(self.stall.fired.load(Ordering::Acquire));
        }
    }
}

pin_project_lite::pin_project! {
    /// A task under a [`Stall`] watch: see [`Stall::guard`].
    pub struct Guarded<F> {
        #[pin]
        task: F,
        stall: Arc<Stall>,
        // Made the first time it is armed: a connection that never stalls needs none.
        timer: Option<Pin<Box<Sleep>>>,
        armed: bool,
        cut: &'static str,
    }
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.task.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        // No waker is registered while disarmed: the source's wake-up wakes this task.
        if !this.stall.owed.load(Ordering::Acquire) {
            *this.armed = false;
            return Poll::Pending;
        }
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now())));
        if !*this.armed {
            *this.armed = true;
            timer.as_mut().reset(Instant::now() + this.stall.timeout);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.stall.fired.store(true, Ordering::Release);
        tracing::debug!("{}", this.cut);
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::Mutex;
    use tokio::sync::mpsc;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// What the watched stream's `on_drop` said: `Some(stalled)` once it ran.
    type Ended = Arc<Mutex<Option<bool>>>;

    /// A watch, a source fed by hand under it, and where its `on_drop` said the end came
    /// from.
    fn watched() -> (
        Arc<Stall>,
        mpsc::UnboundedSender<u32>,
        impl Stream<Item = u32> + Unpin,
        Ended,
    ) {
        let stall = Stall::new(TIMEOUT);
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let source = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let ended = Arc::new(Mutex::new(None));
        let seen = ended.clone();
        let stream = stall.watch(source, move |stalled| {
            *seen.lock().expect("lock") = Some(stalled);
        });
        (stall, sender, stream, ended)
    }

    /// `guarded` ends exactly [`TIMEOUT`] from now, and the dropped stream hears why.
    async fn cut_after(
        guarded: Pin<&mut impl Future<Output = ()>>,
        stream: impl Stream,
        ended: &Mutex<Option<bool>>,
    ) {
        let started = Instant::now();
        tokio::time::timeout(TIMEOUT * 2, guarded)
            .await
            .expect("a stalled stream is cut");
        assert_eq!(started.elapsed(), TIMEOUT);
        drop(stream);
        assert_eq!(*ended.lock().expect("lock"), Some(true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_woke_and_is_not_taken_stalls_after_the_timeout() {
        let (stall, sender, mut stream, ended) = watched();
        // Polled once by its body: now it waits for the source.
        assert!(futures::poll!(stream.next()).is_pending());
        let mut guarded = std::pin::pin!(stall.guard(std::future::pending(), "cut"));
        assert!(futures::poll!(guarded.as_mut()).is_pending());
        // Nothing to send: however long, no stall.
        tokio::time::advance(TIMEOUT * 3).await;
        assert!(futures::poll!(guarded.as_mut()).is_pending());
        // An event arrives and the body is not polled (its client is not reading).
        sender.send(1).expect("send");
        cut_after(guarded, stream, &ended).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_polled_after_each_wake_never_stalls() {
        let (stall, sender, mut stream, ended) = watched();
        let mut guarded = std::pin::pin!(stall.guard(std::future::pending(), "cut"));
        assert!(futures::poll!(stream.next()).is_pending());
        for n in 0..5 {
            sender.send(n).expect("send");
            // The watch sees the wake-up and arms; the body takes the event in time, and
            // asks again at once, as hyper does while its client keeps up.
            assert!(futures::poll!(guarded.as_mut()).is_pending());
            tokio::time::advance(TIMEOUT / 2).await;
            assert_eq!(stream.next().await, Some(n));
            assert!(futures::poll!(stream.next()).is_pending());
            assert!(futures::poll!(guarded.as_mut()).is_pending());
            tokio::time::advance(TIMEOUT).await;
            assert!(futures::poll!(guarded.as_mut()).is_pending());
        }
        drop(stream);
        assert_eq!(*ended.lock().expect("lock"), Some(false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_the_body_handed_out_and_was_not_asked_after_stalls() {
        let (stall, sender, mut stream, ended) = watched();
        let guarded = std::pin::pin!(stall.guard(std::future::pending(), "cut"));
        // hyper takes one burst, then waits for its client (an HTTP/2 window at zero) and
        // asks for no more: what comes next waits in the source, which is not polled, so
        // it never wakes.
        sender.send(1).expect("send");
        assert_eq!(stream.next().await, Some(1));
        sender.send(2).expect("send");
        cut_after(guarded, stream, &ended).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_body_leaves_its_connection_unwatched() {
        let (stall, sender, mut stream, _ended) = watched();
        assert!(futures::poll!(stream.next()).is_pending());
        sender.send(1).expect("send");
        // The response ends before the body takes the event: the kept-alive HTTP/1.1
        // connection must not be cut for it later.
        drop(stream);
        let mut guarded = std::pin::pin!(stall.guard(std::future::pending(), "cut"));
        assert!(futures::poll!(guarded.as_mut()).is_pending());
        tokio::time::advance(TIMEOUT * 2).await;
        assert!(futures::poll!(guarded.as_mut()).is_pending());
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_is_polled_first_so_a_body_it_drains_in_the_same_wake_up_never_stalls() {
        let (stall, sender, mut stream, ended) = watched();
        // A task that takes everything its body has each time it is polled, as hyper does
        // while its client keeps up.
        let task = std::future::poll_fn(move |cx| {
            while let Poll::Ready(Some(_)) = stream.poll_next_unpin(cx) {}
            Poll::<()>::Pending
        });
        let mut guarded = std::pin::pin!(stall.guard(task, "cut"));
        assert!(futures::poll!(guarded.as_mut()).is_pending());
        // Each event comes long after the last: a watch checked before the task would
        // still be armed from the last one, and cut the stream.
        for n in 0..3 {
            sender.send(n).expect("send");
            assert!(futures::poll!(guarded.as_mut()).is_pending());
            tokio::time::advance(TIMEOUT * 2).await;
        }
        assert_eq!(
            *ended.lock().expect("lock"),
            None,
            "the body was never dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_guard_ends_with_its_task() {
        let stall = Stall::new(TIMEOUT);
        let guarded = stall.guard(std::future::ready(()), "cut");
        assert!(futures::poll!(guarded).is_ready());
        assert!(!stall.fired.load(Ordering::Acquire));
    }
}
