use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use super::*;

/// An actor store of one actor whose version the test sets, counting reads.
#[derive(Default)]
struct FakeStore {
    version: AtomicI64,
    reads: AtomicUsize,
    /// When set, each read waits for a permit after it has looked at the version.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl FakeStore {
    fn gated() -> (Arc<Self>, Arc<tokio::sync::Semaphore>) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let store = Self {
            gate: Some(gate.clone()),
            ..Self::default()
        };
        (Arc::new(store), gate)
    }

    async fn read(self: Arc<Self>) -> Result<Option<VersionedState>, ActorStoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let version = self.version.load(Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate").forget();
        }
        Ok(Some(VersionedState {
            state: json!({ "v": version }),
            version,
        }))
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

/// Wait until `condition` holds, yielding to the tasks under test; fails after 10 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

/// One query: a snapshot, then the answer `v<version>` computed by a run that counts itself.
async fn ask(
    queries: &Queries,
    store: &Arc<FakeStore>,
    runs: &AtomicUsize,
) -> (Option<i64>, Answer, Source) {
    let snapshot = queries
        .snapshot("sku/1", store.clone().read())
        .await
        .expect("snapshot");
    let version = snapshot.version;
    let (answer, source) = queries
        .answer(&snapshot, "q".into(), async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(format!("v{}", version.unwrap_or(-1)))
        })
        .await;
    (version, answer, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_of_one_version_share_one_read_and_one_run() {
    let queries = Arc::new(Queries::new(false));
    let store = Arc::new(FakeStore::default());
    store.version.store(3, Ordering::SeqCst);
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (queries, store, runs) = (queries.clone(), store.clone(), runs.clone());
        callers.spawn(async move { ask(&queries, &store, &runs).await });
    }
    let mut shared = 0;
    while let Some(result) = callers.join_next().await {
        let (version, answer, source) = result.expect("caller");
        assert_eq!(version, Some(3));
        assert_eq!(answer, Ok("v3".to_owned()));
        shared += usize::from(source == Source::Shared);
    }
    assert_eq!(store.reads(), 1, "one read");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one run");
    assert_eq!(shared, 199);
}

#[tokio::test]
async fn a_commit_on_this_node_makes_the_next_caller_read_the_new_version() {
    let queries = Queries::new(false);
    let store = Arc::new(FakeStore::default());
    let runs = AtomicUsize::new(0);
    assert_eq!(ask(&queries, &store, &runs).await.0, Some(0));
    assert_eq!(ask(&queries, &store, &runs).await.2, Source::Shared);
    store.version.store(1, Ordering::SeqCst);
    queries.committed("sku/1");
    let (version, answer, source) = ask(&queries, &store, &runs).await;
    assert_eq!(
        (version, answer, source),
        (Some(1), Ok("v1".to_owned()), Source::Ran)
    );
    assert_eq!((store.reads(), runs.load(Ordering::SeqCst)), (2, 2));
    queries.committed("sku/other");
    assert_eq!(ask(&queries, &store, &runs).await.2, Source::Shared);
    assert_eq!(
        store.reads(),
        2,
        "another actor's commit changes nothing here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_began_before_a_commit_is_stale_after_it() {
    let queries = Arc::new(Queries::new(false));
    let (store, gate) = FakeStore::gated();
    let runs = Arc::new(AtomicUsize::new(0));
    store.version.store(1, Ordering::SeqCst);
    let first = tokio::spawn({
        let (queries, store, runs) = (queries.clone(), store.clone(), runs.clone());
        async move { ask(&queries, &store, &runs).await }
    });
    until("the first read looked", || store.reads() == 1).await;
    store.version.store(2, Ordering::SeqCst);
    queries.committed("sku/1");
    gate.add_permits(1);
    assert_eq!(first.await.expect("first").0, Some(1));
    gate.add_permits(1);
    assert_eq!(ask(&queries, &store, &runs).await.0, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_store_callers_use_only_reads_begun_after_they_arrived() {
    let queries = Arc::new(Queries::new(true));
    let (store, gate) = FakeStore::gated();
    let runs = Arc::new(AtomicUsize::new(0));
    store.version.store(1, Ordering::SeqCst);
    let spawn_caller = || {
        let (queries, store, runs) = (queries.clone(), store.clone(), runs.clone());
        tokio::spawn(async move { ask(&queries, &store, &runs).await })
    };
    let first = spawn_caller();
    until("the first read looked", || store.reads() == 1).await;
    // Another node commits version 2 while the first read is on its way back.
    store.version.store(2, Ordering::SeqCst);
    let later: Vec<_> = (0..20).map(|_| spawn_caller()).collect();
    let waiting = || queries.lock().peek("sku/1").map(Arc::strong_count);
    // Every later caller holds the entry (20 + the first + the map's own).
    until("the later callers arrived", || waiting() == Some(22)).await;
    gate.add_permits(100);
    assert_eq!(first.await.expect("first").0, Some(1));
    for caller in later {
        assert_eq!(
            caller.await.expect("caller").0,
            Some(2),
            "never older than the call"
        );
    }
    assert_eq!(store.reads(), 2, "the later callers shared one read");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one run per version");
    // A re-read that finds the same version keeps its answers.
    assert_eq!(ask(&queries, &store, &runs).await.2, Source::Shared);
    assert_eq!((store.reads(), runs.load(Ordering::SeqCst)), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_shared_with_its_waiters_and_then_forgotten() {
    let queries = Arc::new(Queries::new(false));
    let store = Arc::new(FakeStore::default());
    let snapshot = queries
        .snapshot("sku/1", store.clone().read())
        .await
        .expect("snapshot");
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let failing = {
        let (started, release) = (started.clone(), release.clone());
        async move {
            started.notify_one();
            release.notified().await;
            Err(ActorError::Failed("trapped".into()))
        }
    };
    let first = tokio::spawn({
        let (queries, snapshot) = (queries.clone(), snapshot.clone());
        async move { queries.answer(&snapshot, "q".into(), failing).await }
    });
    started.notified().await;
    let waiter = tokio::spawn({
        let (queries, snapshot) = (queries.clone(), snapshot.clone());
        async move {
            queries
                .answer(&snapshot, "q".into(), async { Ok("never".to_owned()) })
                .await
        }
    });
    // The map, the first caller and the waiter hold the question's cell.
    let holders = || lock(&snapshot.answers).get("q").map(Arc::strong_count);
    until("the waiter holds the cell", || holders() == Some(3)).await;
    release.notify_one();
    let failed = Err(ActorError::Failed("trapped".into()));
    assert_eq!(first.await.expect("first"), (failed.clone(), Source::Ran));
    assert_eq!(waiter.await.expect("waiter"), (failed, Source::Shared));
    let again = queries
        .answer(&snapshot, "q".into(), async { Ok("recovered".to_owned()) })
        .await;
    assert_eq!(again, (Ok("recovered".to_owned()), Source::Ran));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_first_caller_hands_the_run_to_the_next() {
    let queries = Arc::new(Queries::new(false));
    let store = Arc::new(FakeStore::default());
    let snapshot = queries
        .snapshot("sku/1", store.clone().read())
        .await
        .expect("snapshot");
    let started = Arc::new(Notify::new());
    let first = tokio::spawn({
        let (queries, snapshot, started) = (queries.clone(), snapshot.clone(), started.clone());
        async move {
            let run = async move {
                started.notify_one();
                std::future::pending::<Answer>().await
            };
            queries.answer(&snapshot, "q".into(), run).await
        }
    });
    started.notified().await;
    first.abort();
    assert!(first.await.expect_err("aborted").is_cancelled());
    let next = queries
        .answer(&snapshot, "q".into(), async { Ok("ran".to_owned()) })
        .await;
    assert_eq!(next, (Ok("ran".to_owned()), Source::Ran));
}

#[tokio::test]
async fn questions_and_actors_are_bounded() {
    let queries = Queries::new(false);
    let store = Arc::new(FakeStore::default());
    let snapshot = queries
        .snapshot("sku/1", store.clone().read())
        .await
        .expect("snapshot");
    for n in 0..MAX_QUESTIONS {
        let question = format!("q{n}");
        let answer = queries.answer(&snapshot, question, async { Ok(n.to_string()) });
        assert_eq!(answer.await.1, Source::Ran);
    }
    let remembered = queries.answer(&snapshot, "q0".into(), async { Ok("new".to_owned()) });
    assert_eq!(remembered.await, (Ok(0.to_string()), Source::Shared));
    for _ in 0..2 {
        let past_the_bound =
            queries.answer(&snapshot, "one more".into(), async { Ok(1.to_string()) });
        assert_eq!(past_the_bound.await.1, Source::Ran, "runs unshared");
    }
    for n in 0..MAX_ACTORS + 10 {
        let actor = format!("sku/{n}");
        queries
            .snapshot(&actor, store.clone().read())
            .await
            .expect("snapshot");
    }
    assert_eq!(queries.len(), MAX_ACTORS);
}
