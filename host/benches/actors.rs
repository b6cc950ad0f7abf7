//! `cargo bench -p sluice-host --bench actors`: `messageActor` latency and throughput on the
//! demo's `sku` actor — one hot actor, and the same load spread over 1,000 actors. Each
//! message changes state, so each one is a component run, a transaction (state + checkpoint
//! row) and a published checkpoint. On SQLite, then on PostgreSQL in a schema of its own
//! (`SLUICE_BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; skipped
//! when it is not reachable), the bus in-process in both.

mod support;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sluice::backends::actors::{ActorBackend, ActorMessage};

const SEQUENTIAL: usize = 1_000;
const CONCURRENT: usize = 2_000;
const CALLERS: usize = 32;
const ACTORS: usize = 1_000;

fn reserve(quantity: i64) -> Vec<ActorMessage> {
    vec![ActorMessage {
        message_type: "applyCommands".into(),
        alias: None,
        body: Some(json!({"commands": [{"type": "reserve", "quantity": quantity}]})),
    }]
}

async fn throughput(name: &str, actors: Arc<dyn ActorBackend>, ids: Arc<Vec<String>>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let (actors, ids) = (actors.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            for n in (caller..CONCURRENT).step_by(CALLERS) {
                let id = &ids[n % ids.len()];
                actors
                    .message("sku", id, reserve(1), false)
                    .await
                    .expect("delivered");
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller");
    }
    let elapsed = started.elapsed();
    println!(
        "{name}: {CONCURRENT} messages from {CALLERS} concurrent callers in {:.2} s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        CONCURRENT as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        measure("SQLite", "").await;
        let url = std::env::var("SLUICE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Err(err) => println!("PostgreSQL: skipped, not reachable at {url}: {err}"),
            Ok((client, connection)) => {
                tokio::spawn(connection);
                let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
                measure(
                    "PostgreSQL",
                    &format!("store: {url}\nstoreSchema: {schema}\n"),
                )
                .await;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await
                    .expect("drop the bench's schema");
            }
        }
    });
}

/// Every figure on one store: the demo served with `config` as its `sluice.yaml`.
async fn measure(store: &str, config: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    if !config.is_empty() {
        std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
    }
    let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
        .await
        .expect("boot");
    let actors = booted.server.app().backends.actors.clone();

    let create = |stock: i64| {
        vec![ActorMessage {
            message_type: "create".into(),
            alias: None,
            body: Some(json!({"physicalStock": stock})),
        }]
    };
    let hot = actors
        .message("sku", "new", create(1_000_000), false)
        .await
        .expect("created");
    let hot = actor_id(&hot);

    let mut samples = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        actors
            .message("sku", &hot, reserve(1), false)
            .await
            .expect("delivered");
        samples.push(started.elapsed());
    }
    support::report(
        &format!("{store}: messageActor latency, one actor, sequential"),
        samples,
    );

    throughput(
        &format!("{store}: one hot actor"),
        actors.clone(),
        Arc::new(vec![hot]),
    )
    .await;

    let mut ids = Vec::with_capacity(ACTORS);
    for _ in 0..ACTORS {
        let created = actors
            .message("sku", "new", create(1_000_000), false)
            .await
            .expect("created");
        ids.push(actor_id(&created));
    }
    throughput(
        &format!("{store}: spread over 1,000 actors"),
        actors,
        Arc::new(ids),
    )
    .await;
}

/// The `actorId` of an actor's response.
fn actor_id(response: &str) -> String {
    let response: serde_json::Value = serde_json::from_str(response).expect("JSON response");
    response["actorId"].as_str().expect("id").to_owned()
}
