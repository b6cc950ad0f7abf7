//! The event bus alone, in-process and over JetStream (NATS at `SLUICE_TEST_NATS_URL`,
//! default nats://127.0.0.1:4222; a private stream, deleted afterwards):
//!
//! - one event reaching 10,000 subscribers spread over two nodes (two bus instances, each its
//!   own NATS connection, as two `sluice serve` processes would hold), published through a
//!   third;
//! - events/s through one subscription, with publishes pipelined (acked by JetStream) and the
//!   subscriber draining as they arrive.
//!
//! `cargo bench -p sluice-host --bench bus`. `--bench fanout` measures the same over HTTP and
//! SSE for the in-process bus.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use sluice::backends::bus::jetstream::Storage;
use sluice::backends::bus::{
    EventBus, InMemoryBus, InMemoryBusConfig, JetStreamBus, JetStreamConfig, Subscription,
};

const SUBSCRIBERS: usize = 10_000;
const ROUNDS: usize = 10;
const STREAM_EVENTS: usize = 20_000;

async fn fan_out(name: &str, nodes: [Arc<dyn EventBus>; 2], publisher: Arc<dyn EventBus>) {
    let topics = vec!["actors/order/ORD-FAN".to_string()];
    let mut subs: Vec<Subscription> = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        subs.push(
            nodes[i % 2]
                .subscribe(&topics, &[], None)
                .await
                .expect("subscribe"),
        );
    }
    let mut all = Vec::new();
    for round in 0..ROUNDS {
        let started = Instant::now();
        publisher
            .publish(&topics[0], "checkpoint", &json!({ "round": round }), None)
            .await
            .expect("publish");
        join_all(subs.iter_mut().map(|sub| async move {
            tokio::time::timeout(Duration::from_secs(60), sub.recv())
                .await
                .expect("event within 60 s")
                .expect("open");
        }))
        .await;
        all.push(started.elapsed());
    }
    support::report(
        &format!("{name}: one event reaching all {SUBSCRIBERS} subscribers"),
        all,
    );
}

async fn one_stream(name: &str, node: Arc<dyn EventBus>, publisher: Arc<dyn EventBus>) {
    let topics = vec!["actors/order/ORD-STREAM".to_string()];
    let mut sub = node.subscribe(&topics, &[], None).await.expect("subscribe");
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        for _ in 0..STREAM_EVENTS {
            tokio::time::timeout(Duration::from_secs(60), sub.recv())
                .await
                .expect("event within 60 s")
                .expect("open");
        }
    });
    // 256 publishes in flight at a time, well under the subscriber's 1,024-event buffer.
    for chunk in (0..STREAM_EVENTS).collect::<Vec<_>>().chunks(256) {
        join_all(chunk.iter().map(|n| {
            let publisher = Arc::clone(&publisher);
            let topic = topics[0].clone();
            async move {
                publisher
                    .publish(&topic, "checkpoint", &json!({ "n": n }), None)
                    .await
                    .expect("publish")
            }
        }))
        .await;
    }
    reader.await.expect("reader");
    let elapsed = started.elapsed();
    println!(
        "{name}: events through one subscription: {STREAM_EVENTS} in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        STREAM_EVENTS as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    support::runtime().block_on(run());
}

async fn run() {
    let memory: Arc<dyn EventBus> = Arc::new(InMemoryBus::new(InMemoryBusConfig::default()));
    fan_out(
        "in-process",
        [memory.clone(), memory.clone()],
        memory.clone(),
    )
    .await;
    one_stream("in-process", memory.clone(), memory).await;

    let url =
        std::env::var("SLUICE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = JetStreamConfig::new(url, format!("BENCH_{id}"));
    config.subject_prefix = format!("b{id}");
    config.storage = Storage::Memory;
    config.max_bytes = 256 << 20;
    let connect = || JetStreamBus::connect(config.clone());
    let (a, b, c) = match tokio::try_join!(connect(), connect(), connect()) {
        Ok(nodes) => nodes,
        Err(err) => {
            println!("jetstream: skipped, NATS not reachable: {err}");
            return;
        }
    };
    let (a, b, c) = (Arc::new(a), Arc::new(b), Arc::new(c));
    fan_out("jetstream", [a.clone(), b.clone()], c.clone()).await;
    one_stream("jetstream", a.clone(), c.clone()).await;
    c.delete_stream().await.expect("bench stream deleted");
}
