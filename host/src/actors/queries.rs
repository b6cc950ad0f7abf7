//! Queries: batches made only of message types an actor type declares read-only
//! (`spec.queries`). They run against the latest committed state without the actor's lock,
//! and each distinct question is answered once per state version, however many callers ask
//! it at once (the live-stock page: one checkpoint wakes 10,000 viewers who all ask
//! `calculateAvailableStock` of the same version).
//!
//! **Snapshots.** A caller answers from the actor's latest [`Snapshot`] when it is fresh
//! enough, else it reads the store; callers that need a read at the same time share one.
//! "Fresh enough" keeps queries exactly as fresh as reading the store on every call:
//! - on a store only this process commits to (the embedded SQLite file), a snapshot is
//!   current until this node commits to the actor. [`Queries::committed`] is called after
//!   each commit and before its checkpoint is published, so a caller woken by that
//!   checkpoint, or calling after the commit returned, never gets an older state;
//! - on a shared store (PostgreSQL, where other nodes commit), only a read that began after
//!   the call did counts. At most one read per actor is in flight, and everyone who arrived
//!   while it ran shares the next one.
//!
//! **Answers.** A snapshot carries the answers computed for its version. A re-read that
//! finds the same version keeps them. A newer version starts empty, so old answers die with
//! their version. Single flight: the first caller of a question runs the actor and the
//! others wait on the same cell. If the first is cancelled (its client left), the next
//! waiter runs it. A failed run (a trap, the budget) is shared only with those already
//! waiting. The next caller runs it again, so a passing outage is not remembered.
//!
//! **Bounds.** [`MAX_ACTORS`] actors, least recently used dropped first, and
//! [`MAX_QUESTIONS`] distinct questions per version; a question past that bound runs
//! unshared.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use tokio::sync::OnceCell;

use crate::backends::actors::{ActorError, ActorStoreError, VersionedState};

/// How many actors' snapshots one node keeps.
pub const MAX_ACTORS: usize = 10_000;
/// How many distinct questions one version of one actor remembers answers to.
pub const MAX_QUESTIONS: usize = 64;

/// What a query batch produced: the caller's response as JSON text, or why it failed.
pub type Answer = Result<String, ActorError>;

/// Whether a caller's answer was computed for it or shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The actor ran for this caller.
    Ran,
    /// Another caller's run of the same question on the same version answered it.
    Shared,
}

/// The snapshots and answers of every queried actor on this node.
pub struct Queries {
    actors: Mutex<LruCache<String, Arc<ActorQueries>>>,
    shared_store: bool,
}

#[derive(Default)]
struct ActorQueries {
    /// Commits this node made to the actor since its entry was created.
    commits: AtomicU64,
    /// Reads of the store begun for the actor; numbers the snapshots.
    reads_begun: AtomicU64,
    latest: Mutex<Option<Arc<Snapshot>>>,
    /// Held while one read runs, so callers who need one share it.
    reading: tokio::sync::Mutex<()>,
}

/// The actor's state as one read found it.
pub struct Snapshot {
    /// The state as JSON text, as the actor gets it; `None` when the actor does not exist.
    pub state: Option<String>,
    pub version: Option<i64>,
    /// [`ActorQueries::commits`] when the read began.
    commits_before: u64,
    /// The read's number ([`ActorQueries::reads_begun`]).
    read: u64,
    answers: Arc<Mutex<HashMap<String, Arc<OnceCell<Answer>>>>>,
}

impl Queries {
    /// `shared_store`: whether other processes commit to the actor store
    /// ([`crate::backends::actors::ActorStateStore::is_shared`]).
    pub fn new(shared_store: bool) -> Self {
        Self {
            actors: Mutex::new(LruCache::new(
                NonZeroUsize::new(MAX_ACTORS).unwrap_or(NonZeroUsize::MIN),
            )),
            shared_store,
        }
    }

    /// This node committed a change to the actor: every snapshot read before is stale. Call
    /// it after the commit and before the checkpoint is published.
    pub fn committed(&self, actor: &str) {
        if let Some(entry) = self.lock().peek(actor) {
            entry.commits.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A snapshot of `actor` (`<type>/<id>`) at least as new as every commit that finished
    /// before this call, taken by `read` unless a fresh enough one exists.
    pub async fn snapshot(
        &self,
        actor: &str,
        read: impl Future<Output = Result<Option<VersionedState>, ActorStoreError>>,
    ) -> Result<Arc<Snapshot>, ActorStoreError> {
        let entry = self.entry(actor);
        let arrived = entry.reads_begun.load(Ordering::SeqCst);
        let fresh = |snapshot: &Snapshot| {
            if self.shared_store {
                snapshot.read > arrived
            } else {
                snapshot.commits_before == entry.commits.load(Ordering::SeqCst)
            }
        };
        if let Some(snapshot) = entry.latest().filter(|s| fresh(s)) {
            return Ok(snapshot);
        }
        let _reading = entry.reading.lock().await;
        // Someone else's read may have finished while this caller waited for its turn.
        if let Some(snapshot) = entry.latest().filter(|s| fresh(s)) {
            return Ok(snapshot);
        }
        let commits_before = entry.commits.load(Ordering::SeqCst);
        let number = entry.reads_begun.fetch_add(1, Ordering::SeqCst) + 1;
        let found = read.await?;
        let version = found.as_ref().map(|found| found.version);
        let answers = match entry.latest() {
            Some(previous) if previous.version == version => previous.answers.clone(),
            _ => Arc::default(),
        };
        let snapshot = Arc::new(Snapshot {
            state: found.map(|found| found.state.to_string()),
            version,
            commits_before,
            read: number,
            answers,
        });
        *lock(&entry.latest) = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The answer to `question` on `snapshot`'s version: `run`'s, or that of a run of the
    /// same question on the same version, finished or in flight.
    pub async fn answer(
        &self,
        snapshot: &Snapshot,
        question: String,
        run: impl Future<Output = Answer>,
    ) -> (Answer, Source) {
        let cell = {
            let mut answers = lock(&snapshot.answers);
            if answers.len() >= MAX_QUESTIONS && !answers.contains_key(&question) {
                None
            } else {
                Some(answers.entry(question.clone()).or_default().clone())
            }
        };
        let Some(cell) = cell else {
            return (run.await, Source::Ran);
        };
        let mut ran = false;
        let answer = cell
            .get_or_init(|| {
                ran = true;
                run
            })
            .await
            .clone();
        if ran && answer.is_err() {
            // Shared with those already waiting, not remembered for later callers.
            let mut answers = lock(&snapshot.answers);
            if answers
                .get(&question)
                .is_some_and(|kept| Arc::ptr_eq(kept, &cell))
            {
                answers.remove(&question);
            }
        }
        (answer, if ran { Source::Ran } else { Source::Shared })
    }

    fn entry(&self, actor: &str) -> Arc<ActorQueries> {
        let mut actors = self.lock();
        if let Some(entry) = actors.get(actor) {
            return entry.clone();
        }
        let entry = Arc::new(ActorQueries::default());
        actors.put(actor.to_owned(), entry.clone());
        entry
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, Arc<ActorQueries>>> {
        lock(&self.actors)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl ActorQueries {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        lock(&self.latest).clone()
    }
}

/// A poisoned lock still guards consistent data here: every critical section is a single
/// read or write.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
