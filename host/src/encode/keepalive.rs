//! Keepalive (SPEC S4): a `:keepalive` comment after a configurable silence, so proxies
//! do not time an idle stream out. A wrapper around the stream of encoded events whose
//! silence is counted from the last real event; framing lives elsewhere.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use super::sse;

/// Wraps `S`, inserting a keepalive comment whenever `interval` passes without an item.
pub struct KeepAliveStream<S> {
    inner: S,
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    /// When the last real item went out since the timer was last set. The timer moves to
    /// `last + interval` only when it fires, not on every item: moving a timer takes the
    /// timer wheel's lock, and an event fanned out to thousands of streams would take it
    /// once per stream.
    last_item: Option<Instant>,
    comment: Bytes,
}

impl<S> KeepAliveStream<S> {
    pub fn new(inner: S, interval: Duration) -> Self {
        let mut comment = BytesMut::new();
        sse::encode_comment("keepalive", &mut comment);
        Self {
            inner,
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
            last_item: None,
            comment: comment.freeze(),
        }
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for KeepAliveStream<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            this.last_item = Some(Instant::now());
            return Poll::Ready(item);
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: silence since the last item, if there was one, is shorter.
            if let Some(last) = this.last_item.take() {
                let due = deadline(last, this.interval);
                if due > Instant::now() {
                    this.timer.as_mut().reset(due);
                    continue;
                }
            }
            this.timer
                .as_mut()
                .reset(deadline(Instant::now(), this.interval));
            return Poll::Ready(Some(this.comment.clone()));
        }
    }
}

/// `interval` after `from`. `Instant + Duration` panics past the clock's range, which a
/// `keepaliveSeconds` of centuries reaches; such an interval means "never", so the deadline
/// is as far off as tokio's own for an endless sleep (about 30 years).
fn deadline(from: Instant, interval: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(interval).unwrap_or(from + FAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;

    #[tokio::test(start_paused = true)]
    async fn sends_a_comment_after_the_interval_of_silence() {
        let (_tx, rx) = mpsc::channel(1);
        let mut stream = KeepAliveStream::new(ReceiverStream::new(rx), Duration::from_secs(30));
        let started = Instant::now();
        let item = stream.next().await.expect("keepalive");
        assert_eq!(item, ":keepalive\n\n");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        stream.next().await.expect("second keepalive");
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn every_real_event_restarts_the_timer() {
        let (tx, rx) = mpsc::channel(4);
        let mut stream = KeepAliveStream::new(ReceiverStream::new(rx), Duration::from_secs(30));
        tokio::time::sleep(Duration::from_secs(20)).await;
        tx.send(Bytes::from_static(b"data: 1\n\n"))
            .await
            .expect("open");
        assert_eq!(stream.next().await.expect("event"), "data: 1\n\n");
        let after_event = Instant::now();
        assert_eq!(stream.next().await.expect("keepalive"), ":keepalive\n\n");
        assert_eq!(after_event.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_flow_of_events_sends_no_keepalive_and_silence_after_it_does() {
        let (tx, rx) = mpsc::channel(4);
        let mut stream = KeepAliveStream::new(ReceiverStream::new(rx), Duration::from_secs(30));
        // An event every 20 s for two minutes. The first timer (due at 30 s) has long passed
        // when the stream next waits: it moves to 30 s after the last event instead of firing.
        for n in 0..6 {
            tokio::time::sleep(Duration::from_secs(20)).await;
            tx.send(Bytes::from(format!("data: {n}\n\n")))
                .await
                .expect("open");
            assert_eq!(
                stream.next().await.expect("event"),
                format!("data: {n}\n\n")
            );
        }
        let last_event = Instant::now();
        assert_eq!(stream.next().await.expect("keepalive"), ":keepalive\n\n");
        assert_eq!(last_event.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn ends_when_the_inner_stream_ends() {
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        let mut stream = KeepAliveStream::new(ReceiverStream::new(rx), Duration::from_secs(30));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_beyond_the_clock_means_never() {
        let (tx, rx) = mpsc::channel(1);
        let mut stream =
            KeepAliveStream::new(ReceiverStream::new(rx), Duration::from_secs(u64::MAX));
        tx.send(Bytes::from_static(b"data: 1\n\n"))
            .await
            .expect("open");
        assert_eq!(stream.next().await.expect("event"), "data: 1\n\n");
        // Until now this panicked: the timer was reset to `now + interval` after each event.
        let silence = tokio::time::timeout(Duration::from_secs(29 * 365 * 86_400), stream.next());
        assert!(silence.await.is_err(), "no keepalive for decades");
    }
}
