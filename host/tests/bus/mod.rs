//! Shared by the bus tests: the backends under test, and finding NATS.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use sluice::backends::bus::jetstream::Storage;
use sluice::backends::bus::{
    BusEvent, EventBus, InMemoryBus, InMemoryBusConfig, JetStreamBus, JetStreamConfig, Subscription,
};

/// Where the tests find NATS.
pub fn nats_url() -> String {
    std::env::var("SLUICE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A JetStream bus on its own stream and subject prefix, deleted by [`TestBus::finish`]; or
/// `None` (after saying so loudly) when NATS is not reachable outside CI. Under `CI`, an
/// unreachable NATS fails the test.
pub async fn jetstream(history_per_topic: u32) -> Option<JetStreamBus> {
    let mut config = unique_config(&nats_url());
    config.history_per_topic = history_per_topic;
    connect_or_skip(config).await
}

/// A config with its own stream name and subject prefix, in memory.
pub fn unique_config(url: &str) -> JetStreamConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = JetStreamConfig::new(url, format!("TEST_{id}"));
    config.subject_prefix = format!("t{id}");
    config.storage = Storage::Memory;
    config.max_age_seconds = 600;
    config.max_bytes = 64 << 20;
    config.connect_timeout_seconds = 3;
    config
}

/// Connect with `config`; see [`jetstream`] for what happens when NATS is not there.
pub async fn connect_or_skip(config: JetStreamConfig) -> Option<JetStreamBus> {
    match JetStreamBus::connect(config).await {
        Ok(bus) => Some(bus),
        Err(err) if std::env::var_os("CI").is_some() => {
            panic!(
                "NATS at {} (SLUICE_TEST_NATS_URL) is required under CI: {err}",
                nats_url()
            )
        }
        Err(err) => {
            eprintln!(
                "\n*** SKIPPED: NATS at {} is not reachable ({err}); set SLUICE_TEST_NATS_URL ***\n",
                nats_url()
            );
            None
        }
    }
}

/// The in-process bus with ids starting at 1.
pub fn memory(history_per_topic: usize) -> InMemoryBus {
    InMemoryBus::with_first_id(
        InMemoryBusConfig {
            history_per_topic,
            ..InMemoryBusConfig::default()
        },
        1,
    )
}

/// Run `check` against the in-process bus and against JetStream (when reachable), each with
/// `history` events per topic. JetStream's stream is deleted afterwards, pass or fail.
pub async fn on_every_bus<F>(history: u32, check: F)
where
    F: AsyncFn(Arc<dyn EventBus>, &str),
{
    check(Arc::new(memory(history as usize)), "in-process").await;
    if let Some(bus) = jetstream(history).await {
        let bus = Arc::new(bus);
        let outcome = std::panic::AssertUnwindSafe(check(bus.clone(), "jetstream"))
            .catch_unwind()
            .await;
        // Leave nothing behind, pass or fail.
        let deleted = tokio::time::timeout(Duration::from_secs(10), bus.delete_stream()).await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        assert!(
            matches!(deleted, Ok(Ok(()))),
            "test stream deleted: {deleted:?}"
        );
    }
}

/// The next event within 30 s, or a failure saying what was awaited.
pub async fn next(sub: &mut Subscription, what: &str) -> Arc<BusEvent> {
    tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: no event within 30 s"))
        .unwrap_or_else(|| panic!("{what}: subscription closed: {:?}", sub.closed_reason()))
}

/// The ids of the next `n` events.
pub async fn next_ids(sub: &mut Subscription, n: usize, what: &str) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(next(sub, what).await.id);
    }
    ids
}
