//! The in-process bus forgets: a million distinct topics published once each (a shop's
//! `actors/order/<id>`) keep the bus within `busMaxHistoryBytes`, measured by the bus's own
//! accounting and by the process's resident memory.

use std::time::Duration;

use serde_json::json;
use sluice::backends::bus::{InMemoryBus, InMemoryBusConfig};

const TOPICS: usize = 1_000_000;
const BOUND: usize = 32 << 20;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[test]
fn a_million_topics_published_once_stay_within_the_history_bound() {
    let bus = InMemoryBus::new(InMemoryBusConfig {
        max_history_bytes: BOUND,
        topic_idle: Duration::from_secs(3600),
        ..InMemoryBusConfig::default()
    });
    let before = resident_bytes();
    let data = json!({"status": "created", "total": 42});
    let mut peak_accounted = 0;
    for i in 0..TOPICS {
        bus.publish_now(&format!("actors/order/ORD-{i}"), "checkpoint", &data, None)
            .expect("publish");
        if i % 10_000 == 0 {
            peak_accounted = peak_accounted.max(bus.accounted_bytes());
        }
    }
    let grown = resident_bytes().saturating_sub(before);
    let accounted = bus.accounted_bytes().max(peak_accounted);
    println!(
        "{TOPICS} topics: {} topics and {} events kept, {accounted} bytes accounted, RSS grew {grown} bytes",
        bus.topic_count(),
        bus.history_len()
    );
    assert!(accounted <= BOUND, "accounted {accounted} > {BOUND}");
    assert!(
        bus.topic_count() < TOPICS / 4,
        "{} topics kept",
        bus.topic_count()
    );
    // Allocator slack and the dedup/id maps come on top of the accounted bytes; without the
    // bound a million topics take several hundred MB.
    assert!(
        grown < 3 * BOUND,
        "RSS grew {grown} bytes, over {}",
        3 * BOUND
    );
}
