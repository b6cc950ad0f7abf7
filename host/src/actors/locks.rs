//! One async lock per actor, so messages to one actor are serialized while different
//! actors run in parallel. Entries are dropped when nobody holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Key = (String, String);

#[derive(Default)]
pub struct ActorLocks {
    locks: Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>,
}

/// Held while one call runs against one actor.
pub struct ActorGuard<'a> {
    locks: &'a ActorLocks,
    key: Key,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ActorLocks {
    pub async fn lock(&self, actor_type: &str, actor_id: &str) -> ActorGuard<'_> {
        let key = (actor_type.to_owned(), actor_id.to_owned());
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        ActorGuard {
            locks: self,
            key,
            guard: Some(lock.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks
            .lock()
            .map(|locks| locks.len())
            .unwrap_or_default()
    }
}

impl Drop for ActorGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self
            .locks
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the map still points at the lock: nobody holds or waits for it.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_actor_is_serialized_and_others_are_not() {
        let locks = ActorLocks::default();
        let first = locks.lock("sku", "a").await;
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("sku", "b")).await;
        assert!(other.is_ok(), "another actor is not blocked");
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("sku", "a")).await;
        assert!(same.is_err(), "the same actor waits");
        drop(first);
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock("sku", "a")).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn entries_go_away_when_unused() {
        let locks = ActorLocks::default();
        drop(locks.lock("sku", "a").await);
        assert_eq!(locks.len(), 0);
    }
}
