//! A key → entry ids map that also knows each id's key, so entries can be removed by id.
//! Several entries may share a key (two cases excluding the same image); a key matches while
//! at least one of its entries is present.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// The ids stored under one key, ascending; almost always exactly one.
#[derive(Clone, Debug)]
enum Ids {
    One(u64),
    Many(Vec<u64>),
}

impl Ids {
    fn first(&self) -> u64 {
        match self {
            Ids::One(id) => *id,
            // `Many` is never left empty (see `remove`).
            Ids::Many(v) => v.first().copied().unwrap_or(u64::MAX),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MultiMap<K, S> {
    by_key: HashMap<K, Ids, S>,
    by_id: HashMap<u64, K>,
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Default> Default for MultiMap<K, S> {
    fn default() -> Self {
        Self {
            by_key: HashMap::default(),
            by_id: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Default> MultiMap<K, S> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            by_key: HashMap::with_capacity_and_hasher(n, S::default()),
            by_id: HashMap::with_capacity(n),
        }
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.by_key.reserve(additional);
        self.by_id.reserve(additional);
    }

    pub(crate) fn contains_id(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Adds (or moves) entry `id` to `key`.
    pub(crate) fn insert(&mut self, id: u64, key: K) {
        self.remove(id);
        self.by_id.insert(id, key.clone());
        match self.by_key.get_mut(&key) {
            None => {
                self.by_key.insert(key, Ids::One(id));
            }
            Some(ids) => {
                let mut v = match ids {
                    Ids::One(other) => vec![*other],
                    Ids::Many(v) => std::mem::take(v),
                };
                let at = v.partition_point(|&x| x < id);
                v.insert(at, id);
                *ids = Ids::Many(v);
            }
        }
    }

    /// Removes entry `id`; returns whether it was present.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let Some(key) = self.by_id.remove(&id) else {
            return false;
        };
        let drop_key = match self.by_key.get_mut(&key) {
            Some(Ids::One(_)) => true,
            Some(Ids::Many(v)) => {
                v.retain(|&x| x != id);
                match v.as_slice() {
                    [] => true,
                    [only] => {
                        let only = *only;
                        self.by_key.insert(key.clone(), Ids::One(only));
                        false
                    }
                    _ => false,
                }
            }
            None => false,
        };
        if drop_key {
            self.by_key.remove(&key);
        }
        true
    }

    /// The lowest entry id stored under `key`.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<u64> {
        self.by_key.get(key).map(Ids::first)
    }

    /// Approximate heap bytes (table capacity × slot size, plus per-key vectors).
    pub(crate) fn heap_bytes(&self, key_heap: impl Fn(&K) -> usize) -> usize {
        let slot_key = std::mem::size_of::<(K, Ids)>() + 1;
        let slot_id = std::mem::size_of::<(u64, K)>() + 1;
        let extra: usize = self
            .by_key
            .iter()
            .map(|(k, ids)| {
                2 * key_heap(k)
                    + match ids {
                        Ids::One(_) => 0,
                        Ids::Many(v) => v.capacity() * 8,
                    }
            })
            .sum();
        self.by_key.capacity() * slot_key + self.by_id.capacity() * slot_id + extra
    }
}

impl<S: BuildHasher + Default> MultiMap<String, S> {
    /// Lookup by `&str` without allocating a `String`.
    #[inline]
    pub(crate) fn get_str(&self, key: &str) -> Option<u64> {
        self.by_key.get(key).map(Ids::first)
    }
}
