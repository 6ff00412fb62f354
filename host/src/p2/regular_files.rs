//! Which descriptors are known to be regular files, so repeated calls on
//! one descriptor skip the `fstat(2)` that checked it: a descriptor's file
//! type never changes (its size does, and is not remembered here).
//!
//! Entries are keyed by the address of the descriptor's shared `File` and
//! hold a `Weak` to it. The `Weak` keeps that allocation from being reused
//! while the entry exists, so a new descriptor can never be mistaken for a
//! remembered one, even after the old one was dropped.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Weak};

/// Most descriptors remembered; past it, entries of dropped descriptors
/// are pruned, and if all are live the memo starts over.
const CAPACITY: usize = 1024;

/// Descriptors found to be regular files (one per store).
#[derive(Debug)]
pub(crate) struct RegularFiles {
    known: HashMap<usize, Weak<File>, BuildHasherDefault<AddressHasher>>,
    capacity: usize,
}

impl Default for RegularFiles {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl RegularFiles {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            known: HashMap::default(),
            capacity,
        }
    }

    /// Whether `file` was remembered as a regular file.
    pub(crate) fn contains(&self, file: &Arc<File>) -> bool {
        self.known
            .get(&key(file))
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(file)))
    }

    /// Remembers that `file` is a regular file.
    pub(crate) fn insert(&mut self, file: &Arc<File>) {
        if self.known.len() >= self.capacity {
            self.known.retain(|_, w| w.strong_count() > 0);
            if self.known.len() >= self.capacity {
                self.known.clear();
            }
        }
        self.known.insert(key(file), Arc::downgrade(file));
    }
}

fn key(file: &Arc<File>) -> usize {
    Arc::as_ptr(file) as usize
}

/// Hashes a key that is an address: one multiply (Fibonacci hashing)
/// instead of SipHash, which this lookup on every call does not need. The
/// keys are the host's own allocations, which no guest chooses, so there
/// is no flooding to defend against.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<File> {
        Arc::new(File::open("/proc/self/stat").unwrap())
    }

    #[test]
    fn remembers_only_what_was_inserted() {
        let mut memo = RegularFiles::default();
        let (a, b) = (file(), file());
        memo.insert(&a);
        assert!(memo.contains(&a));
        assert!(!memo.contains(&b));
    }

    #[test]
    fn a_dropped_descriptor_never_aliases_a_new_one() {
        let mut memo = RegularFiles::default();
        for _ in 0..100 {
            let old = file();
            memo.insert(&old);
            drop(old);
            // The Weak holds the old allocation, so this one lives elsewhere.
            assert!(!memo.contains(&file()));
        }
    }

    #[test]
    fn stays_bounded_pruning_dropped_descriptors_first() {
        let mut memo = RegularFiles::with_capacity(8);
        let kept: Vec<_> = (0..4).map(|_| file()).collect();
        kept.iter().for_each(|f| memo.insert(f));
        for _ in 0..20 {
            memo.insert(&file());
            assert!(memo.known.len() <= 8);
        }
        // Dropped ones were pruned, live ones kept.
        assert!(kept.iter().all(|f| memo.contains(f)));
        // All live and full: it starts over.
        let live: Vec<_> = (0..9).map(|_| file()).collect();
        live.iter().for_each(|f| memo.insert(f));
        assert!(memo.known.len() <= 8);
        assert!(memo.contains(live.last().unwrap()));
    }
}
