//! Ending a stream from the server's side (SPEC S7): when the maximum stream lifetime
//! passes or the host drains, the stream ends with a final comment, and the client's
//! `EventSource` reconnects (to this host or, behind a balancer, another one). A wrapper,
//! like keepalive, so framing and timing are tested apart.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use super::sse;

/// The comment a cut stream ends with.
pub const FAREWELL: &str = "stream ended by the server; reconnect";

/// Yields `inner` until `end` resolves, then one farewell comment, then ends. Ends
/// quietly when `inner` ends first.
pub struct CutStream<S> {
    inner: S,
    end: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
}

impl<S> CutStream<S> {
    pub fn new(inner: S, end: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            inner,
            end: Box::pin(end),
            done: false,
        }
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for CutStream<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.end.as_mut().poll(cx).is_ready() {
            this.done = true;
            let mut farewell = BytesMut::new();
            sse::encode_comment(FAREWELL, &mut farewell);
            return Poll::Ready(Some(farewell.freeze()));
        }
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(None) = next {
            this.done = true;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    fn pending_forever() -> impl Stream<Item = Bytes> + Unpin {
        futures::stream::pending()
    }

    #[tokio::test(start_paused = true)]
    async fn ends_with_the_farewell_when_cut() {
        let mut stream = CutStream::new(
            pending_forever(),
            tokio::time::sleep(Duration::from_secs(60)),
        );
        let started = tokio::time::Instant::now();
        assert_eq!(
            stream.next().await.expect("farewell"),
            ":stream ended by the server; reconnect\n\n"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn passes_events_through_until_cut() {
        let events =
            futures::stream::iter([Bytes::from_static(b"data: 1\n\n")]).chain(pending_forever());
        let mut stream =
            CutStream::new(Box::pin(events), tokio::time::sleep(Duration::from_secs(1)));
        assert_eq!(stream.next().await.expect("event"), "data: 1\n\n");
        assert!(
            stream
                .next()
                .await
                .expect("farewell")
                .starts_with(b":stream ended")
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn ends_quietly_when_the_inner_stream_ends_first() {
        let events = futures::stream::iter([Bytes::from_static(b"data: 1\n\n")]);
        let mut stream = CutStream::new(events, tokio::time::sleep(Duration::from_secs(1)));
        assert_eq!(stream.next().await.expect("event"), "data: 1\n\n");
        assert!(stream.next().await.is_none());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            stream.next().await.is_none(),
            "no farewell after a natural end"
        );
    }
}
