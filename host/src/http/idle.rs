//! Keep-alive connections waiting for their next request. At the
//! connection limit the one idle longest is closed to make room for a new
//! connection (as `serve` does), so idle connections cannot lock clients
//! out; a connection whose request has begun to arrive is never taken.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The idle connections, oldest first.
#[derive(Default)]
pub(crate) struct IdleSet {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// By the order they went idle in.
    waiting: BTreeMap<u64, Arc<Notify>>,
}

/// A connection's place in the set while it waits; leaves it when
/// dropped.
pub(crate) struct Idle<'a> {
    set: &'a IdleSet,
    id: u64,
    close: Arc<Notify>,
}

impl IdleSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters the set: the connection now waits for its next request.
    pub fn enter(&self) -> Idle<'_> {
        let close = Arc::new(Notify::new());
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.waiting.insert(id, close.clone());
        Idle {
            set: self,
            id,
            close,
        }
    }

    /// Tells the connection idle longest to close; false if none is idle.
    pub fn evict_oldest(&self) -> bool {
        let oldest = self.lock().waiting.pop_first();
        match oldest {
            Some((_, close)) => {
                // A permit is kept if it is not waiting yet.
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Idle<'_> {
    /// Resolves when the connection is told to close.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.set.lock().waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_evicted_first() {
        let set = IdleSet::default();
        let first = set.enter();
        let second = set.enter();
        assert!(set.evict_oldest());
        // The first was told (the permit waits for it), the second not.
        tokio::time::timeout(std::time::Duration::from_secs(1), first.evicted())
            .await
            .expect("the oldest is evicted");
        let not_second =
            tokio::time::timeout(std::time::Duration::from_millis(50), second.evicted()).await;
        assert!(not_second.is_err());
        drop(second);
        assert!(!set.evict_oldest(), "a connection that left is not idle");
    }
}
