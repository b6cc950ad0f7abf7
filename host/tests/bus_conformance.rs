//! One conformance suite for every `EventBus`: each check takes `Arc<dyn EventBus>` and runs
//! against the in-process bus and against JetStream (its own stream, deleted afterwards; see
//! `bus::on_every_bus` for how NATS is found and when a missing one fails or skips).

mod bus;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice::backends::bus::{BusError, EventBus};

use bus::{next, next_ids, on_every_bus};

fn topics(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn publish(bus: &dyn EventBus, topic: &str, n: usize) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let published = bus
            .publish(topic, "checkpoint", &json!({ "i": i }), None)
            .await
            .expect("publish");
        ids.push(published.id);
    }
    ids
}

#[tokio::test]
async fn events_arrive_in_publish_order_with_their_fields() {
    on_every_bus(100, async |bus, name| {
        let mut sub = bus
            .subscribe(&topics(&["orders/ORD-1"]), &[], None)
            .await
            .expect("subscribe");
        let first = bus
            .publish(
                "orders/ORD-1",
                "paid",
                &json!({"b": 1, "a": [true, null]}),
                None,
            )
            .await
            .expect("publish");
        let more = publish(&*bus, "orders/ORD-1", 3).await;
        let got = next(&mut sub, name).await;
        assert_eq!(got.id, first.id, "{name}");
        assert_eq!(&*got.topic, "orders/ORD-1");
        assert_eq!(&*got.event_type, "paid");
        assert_eq!(&*got.data, r#"{"b":1,"a":[true,null]}"#);
        assert!(
            got.timestamp_ms > 1_600_000_000_000,
            "{name}: {}",
            got.timestamp_ms
        );
        assert_eq!(next_ids(&mut sub, 3, name).await, more, "{name}");
        assert!(more.windows(2).all(|w| w[0] < w[1]), "{name}: ids increase");
        assert!(first.id < more[0]);
    })
    .await;
}

#[tokio::test]
async fn topics_with_special_characters_stay_apart() {
    on_every_bus(100, async |bus, name| {
        let names = ["a/b.c", "a/b/c", "a/b%2Ec", "a/>", "é/x:y"];
        let mut subs = Vec::new();
        for topic in names {
            subs.push(
                bus.subscribe(&topics(&[topic]), &[], None)
                    .await
                    .expect("subscribe"),
            );
        }
        for topic in names {
            bus.publish(topic, "e", &json!(topic), None)
                .await
                .expect("publish");
        }
        for (topic, sub) in names.iter().zip(&mut subs) {
            let event = next(sub, name).await;
            assert_eq!(&*event.topic, *topic, "{name}");
            assert_eq!(&*event.data, json!(topic).to_string(), "{name}");
        }
        // Nothing else arrived on any of them.
        for sub in &mut subs {
            let extra = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await;
            assert!(extra.is_err(), "{name}: {extra:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn event_types_filter_live_and_replayed_events() {
    on_every_bus(100, async |bus, name| {
        let mut created = bus
            .subscribe(&topics(&["t"]), &topics(&["created"]), None)
            .await
            .expect("subscribe");
        let c = bus
            .publish("t", "created", &json!(1), None)
            .await
            .expect("publish")
            .id;
        bus.publish("t", "updated", &json!(2), None)
            .await
            .expect("publish");
        let c2 = bus
            .publish("t", "created", &json!(3), None)
            .await
            .expect("publish")
            .id;
        assert_eq!(next_ids(&mut created, 2, name).await, [c, c2], "{name}");
        let mut replayed = bus
            .subscribe(&topics(&["t"]), &topics(&["created"]), Some(c - 1))
            .await
            .expect("subscribe");
        assert_eq!(next_ids(&mut replayed, 2, name).await, [c, c2], "{name}");
    })
    .await;
}

#[tokio::test]
async fn a_reconnect_gets_exactly_the_missed_events_then_live_ones() {
    on_every_bus(100, async |bus, name| {
        let seen = publish(&*bus, "t", 3).await;
        let missed = publish(&*bus, "t", 5).await;
        let mut again = bus
            .subscribe(&topics(&["t"]), &[], Some(seen[2]))
            .await
            .expect("subscribe");
        assert!(!again.gap(), "{name}: nothing was lost");
        assert_eq!(next_ids(&mut again, 5, name).await, missed, "{name}");
        let live = publish(&*bus, "t", 2).await;
        assert_eq!(next_ids(&mut again, 2, name).await, live, "{name}");
    })
    .await;
}

#[tokio::test]
async fn history_beyond_the_limit_is_reported_as_a_gap() {
    on_every_bus(3, async |bus, name| {
        let ids = publish(&*bus, "t", 5).await; // ids[0] and ids[1] evicted
        let mut covered = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[1]))
            .await
            .expect("subscribe");
        assert!(!covered.gap(), "{name}");
        assert_eq!(next_ids(&mut covered, 3, name).await, ids[2..], "{name}");
        let mut lost = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[0]))
            .await
            .expect("subscribe");
        assert!(lost.gap(), "{name}");
        assert_eq!(next_ids(&mut lost, 3, name).await, ids[2..], "{name}");
        let future = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[4] + 1000))
            .await
            .expect("subscribe");
        assert!(future.gap(), "{name}: an id the bus never issued");
        let fresh = bus
            .subscribe(&topics(&["t"]), &[], None)
            .await
            .expect("subscribe");
        assert!(!fresh.gap(), "{name}");
    })
    .await;
}

#[tokio::test]
async fn a_repeated_dedup_id_stores_the_event_once() {
    on_every_bus(100, async |bus, name| {
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], None)
            .await
            .expect("subscribe");
        let first = bus
            .publish("t", "checkpoint", &json!(1), Some("cp-1"))
            .await
            .expect("publish");
        let again = bus
            .publish("t", "checkpoint", &json!(1), Some("cp-1"))
            .await
            .expect("publish");
        let other = bus
            .publish("t", "checkpoint", &json!(2), Some("cp-2"))
            .await
            .expect("publish");
        assert!(!first.duplicate && !other.duplicate, "{name}");
        assert!(again.duplicate, "{name}");
        assert_eq!(again.id, first.id, "{name}");
        assert_eq!(
            next_ids(&mut sub, 2, name).await,
            [first.id, other.id],
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn replay_and_live_neither_lose_nor_repeat_while_publishers_run() {
    on_every_bus(1000, async |bus, name| {
        let start = publish(&*bus, "seam", 1).await[0];
        let publisher = {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move { publish(&*bus, "seam", 300).await })
        };
        // Subscribe at several points while the publisher runs; each must see everything.
        let mut subs = Vec::new();
        for _ in 0..4 {
            subs.push(
                bus.subscribe(&topics(&["seam"]), &[], Some(start))
                    .await
                    .expect("subscribe"),
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let published = publisher.await.expect("publisher");
        for (i, sub) in subs.iter_mut().enumerate() {
            assert!(!sub.gap(), "{name} #{i}");
            assert_eq!(
                next_ids(sub, published.len(), name).await,
                published,
                "{name} #{i}"
            );
            let extra = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await;
            assert!(
                extra.is_err(),
                "{name} #{i}: a repeat after the last event: {extra:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    on_every_bus(100, async |bus, name| {
        let a = bus
            .subscribe(&topics(&["a", "b"]), &[], None)
            .await
            .expect("subscribe");
        let b = bus
            .subscribe(&topics(&["a"]), &[], None)
            .await
            .expect("subscribe");
        assert_eq!(bus.subscriber_count(), 2, "{name}");
        drop(a);
        assert_eq!(bus.subscriber_count(), 1, "{name}");
        drop(b);
        assert_eq!(bus.subscriber_count(), 0, "{name}");
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_as_invalid_input() {
    on_every_bus(100, async |bus, name| {
        let bad_subscribes: [(Vec<String>, Vec<String>); 4] = [
            (vec![], vec![]),
            (topics(&["a b"]), vec![]),
            (topics(&["t"]), topics(&[""])),
            ((0..65).map(|i| format!("t{i}")).collect(), vec![]),
        ];
        for (t, e) in &bad_subscribes {
            let err = bus.subscribe(t, e, None).await.expect_err("refused");
            assert!(
                err.is_invalid_input() && !err.is_unavailable(),
                "{name}: {err}"
            );
        }
        for (topic, event_type, dedup) in
            [("", "e", None), ("t", "a\nb", None), ("t", "e", Some(""))]
        {
            let err = bus
                .publish(topic, event_type, &json!(1), dedup)
                .await
                .expect_err("refused");
            assert!(err.is_invalid_input(), "{name}: {err}");
        }
        assert!(matches!(
            bus.subscribe(&[], &[], None).await,
            Err(BusError::NoTopics)
        ));
        assert_eq!(bus.subscriber_count(), 0, "{name}");
    })
    .await;
}
