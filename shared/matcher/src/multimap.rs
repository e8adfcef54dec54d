//! A key → entry ids map that also finds each entry by its id, so entries can be removed by id.
//! Several entries may share a key (two cases excluding the same image); a key matches while
//! at least one of its entries is present.
//!
//! Each entry has a slot: its key (as its [`KeyStore`] keeps it) and its id, in one `Vec`.
//! A hash table of slot numbers finds a key's slot, and a [`SlotsById`] an id's; both hold
//! 4-byte slot numbers at most and hash and compare by reading the slot, so a key is kept once
//! (a digest in the slot, a URL in one shared text buffer) and an id once. An entry costs its
//! slot plus 5 to 10 bytes of table for its key and 0 (loaded in order of id) to 10 for its id,
//! against two copies of the key and two full hash-map entries before.
//!
//! When several entries share a key, the table holds the slot of the lowest id (the answer of
//! a lookup) and the others wait in `shared`, by that slot, to take its place when it goes.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::ids::SlotsById;

/// How a [`MultiMap`] keeps its keys.
pub(crate) trait KeyStore: Clone + Default + fmt::Debug {
    /// A key as looked up.
    type Key: ?Sized + Eq;
    /// What a slot keeps of its key; `Default` is what an unused slot keeps.
    type Stored: Copy + Default + fmt::Debug;

    fn hash(&self, key: &Self::Key) -> u64;
    fn key<'a>(&'a self, stored: &'a Self::Stored) -> &'a Self::Key;
    /// Keeps `key`; the result goes in a slot.
    fn store(&mut self, key: &Self::Key) -> Self::Stored;
    /// No slot uses `stored` any more.
    fn release(&mut self, stored: &Self::Stored);
    /// Whether released keys waste enough room to [`tidy`](Self::tidy) it.
    fn untidy(&self) -> bool;
    /// Keeps the keys of `slots` (every slot's stored key) anew, without the released ones.
    fn tidy<'a>(&mut self, slots: impl Iterator<Item = &'a mut Self::Stored>)
    where
        Self::Stored: 'a;
    fn shrink_to_fit(&mut self);
    fn heap_bytes(&self) -> usize;
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot<K> {
    key: K,
    id: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MultiMap<S: KeyStore> {
    store: S,
    slots: Vec<Slot<S::Stored>>,
    /// Unused slots, taken again before the `Vec` grows.
    free: Vec<u32>,
    /// For each distinct key, the slot of its lowest id.
    by_key: HashTable<u32>,
    /// The other slots of a key that several entries share, by the slot in `by_key`.
    shared: HashMap<u32, Vec<u32>>,
    /// Slots by id.
    by_id: SlotsById,
}

/// The id in slot `s` (`u64::MAX` past the end, where no filed slot is).
#[inline(always)]
fn id_at<K>(slots: &[Slot<K>], s: u32) -> u64 {
    slots.get(s as usize).map_or(u64::MAX, |x| x.id)
}

impl<S: KeyStore> MultiMap<S> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut m = Self::default();
        m.reserve(n);
        m
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve_exact(additional);
        let (slots, store) = (&self.slots, &self.store);
        self.by_key
            .reserve(additional, |&s| slot_hash(store, slots, s));
    }

    pub(crate) fn contains_id(&self, id: u64) -> bool {
        self.by_id.get(id, |s| id_at(&self.slots, s)).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Adds entry `id` under `key` (replacing what `id` held before). A new id, as every id of
    /// a bulk load is, costs one lookup by id and one insert by key.
    pub(crate) fn insert(&mut self, id: u64, key: &S::Key) {
        let slot = match self.free.last() {
            Some(&s) => s,
            None => self.slots.len() as u32,
        };
        let slots = &self.slots;
        if let Err(old) = self.by_id.insert(id, slot, |s| id_at(slots, s)) {
            let same = self
                .slots
                .get(old as usize)
                .is_some_and(|o| self.store.key(&o.key) == key);
            if !same {
                self.remove(id);
                self.insert(id, key);
            }
            return;
        }
        let stored = self.store.store(key);
        let new = Slot { key: stored, id };
        if self.free.pop().is_some() {
            self.slots[slot as usize] = new;
        } else {
            self.slots.push(new);
        }
        let (slots, store) = (&self.slots, &self.store);
        let hash = store.hash(key);
        let same_key = |&s: &u32| slot_key(store, slots, s) == Some(key);
        let mut head = match self
            .by_key
            .entry(hash, same_key, |&s| slot_hash(store, slots, s))
        {
            Entry::Vacant(v) => {
                v.insert(slot);
                return;
            }
            Entry::Occupied(e) => e,
        };
        let head = head.get_mut();
        let old = *head;
        if id < id_at(slots, old) {
            *head = slot;
            let mut others = self.shared.remove(&old).unwrap_or_default();
            others.push(old);
            self.shared.insert(slot, others);
        } else {
            self.shared.entry(old).or_default().push(slot);
        }
    }

    /// Removes entry `id`; returns whether it was present.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let slots = &self.slots;
        let Some(slot) = self.by_id.remove(id, |s| id_at(slots, s)) else {
            return false;
        };
        let (slots, store) = (&self.slots, &self.store);
        let key = slot_key(store, slots, slot);
        let hash = slot_hash(store, slots, slot);
        if let Ok(mut head) = self
            .by_key
            .find_entry(hash, |&s| slot_key(store, slots, s) == key)
        {
            let head_slot = *head.get();
            if head_slot == slot {
                // The next lowest id of the key takes the slot's place, if there is one.
                match self.shared.remove(&slot) {
                    None => {
                        head.remove();
                    }
                    Some(mut others) => {
                        let lowest = (0..others.len()).min_by_key(|&i| id_at(slots, others[i]));
                        if let Some(i) = lowest {
                            let next = others.swap_remove(i);
                            *head.get_mut() = next;
                            if !others.is_empty() {
                                self.shared.insert(next, others);
                            }
                        }
                    }
                }
            } else if let Some(others) = self.shared.get_mut(&head_slot) {
                others.retain(|&s| s != slot);
                if others.is_empty() {
                    self.shared.remove(&head_slot);
                }
            }
        }
        if let Some(x) = self.slots.get_mut(slot as usize) {
            self.store.release(&x.key);
            // The id stays: `by_id` may still search by it (a slot of its run).
            x.key = S::Stored::default();
        }
        if self.by_id.reusable(slot) {
            self.free.push(slot);
        }
        if self.store.untidy() {
            self.store.tidy(self.slots.iter_mut().map(|x| &mut x.key));
        }
        true
    }

    /// The lowest entry id stored under `key`.
    #[inline]
    pub(crate) fn get(&self, key: &S::Key) -> Option<u64> {
        let (slots, store) = (&self.slots, &self.store);
        let &s = self
            .by_key
            .find(store.hash(key), |&s| slot_key(store, slots, s) == Some(key))?;
        slots.get(s as usize).map(|x| x.id)
    }

    /// Gives back the room that growing by doubling left unused (after a bulk load).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.store.shrink_to_fit();
    }

    /// Heap bytes held, by capacity.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<S::Stored>>()
            + self.free.capacity() * 4
            + self.by_key.allocation_size()
            + self.shared.capacity() * (std::mem::size_of::<(u32, Vec<u32>)>() + 1)
            + self
                .shared
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
            + self.by_id.heap_bytes()
            + self.store.heap_bytes()
    }
}

/// The key of slot `s`.
#[inline(always)]
fn slot_key<'a, S: KeyStore>(
    store: &'a S,
    slots: &'a [Slot<S::Stored>],
    s: u32,
) -> Option<&'a S::Key> {
    slots.get(s as usize).map(|x| store.key(&x.key))
}

#[inline(always)]
fn slot_hash<S: KeyStore>(store: &S, slots: &[Slot<S::Stored>], s: u32) -> u64 {
    match slots.get(s as usize) {
        Some(x) => store.hash(store.key(&x.key)),
        None => 0,
    }
}

/// 32-byte digests, kept in the slots themselves. A digest is already uniformly random, so it
/// is hashed by its first 8 bytes instead of running a hasher over 32.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DigestKeys;

impl KeyStore for DigestKeys {
    type Key = [u8; 32];
    type Stored = [u8; 32];

    #[inline(always)]
    fn hash(&self, key: &[u8; 32]) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&key[..8]);
        u64::from_le_bytes(b)
    }
    #[inline(always)]
    fn key<'a>(&'a self, stored: &'a [u8; 32]) -> &'a [u8; 32] {
        stored
    }
    fn store(&mut self, key: &[u8; 32]) -> [u8; 32] {
        *key
    }
    fn release(&mut self, _: &[u8; 32]) {}
    fn untidy(&self) -> bool {
        false
    }
    fn tidy<'a>(&mut self, _: impl Iterator<Item = &'a mut [u8; 32]>) {}
    fn shrink_to_fit(&mut self) {}
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Where a key is in [`TextKeys`]: start (40 bits) and length (24 bits) in one word. Keys are
/// normalised URLs, a few KiB at most; a longer key is not kept (see [`TextKeys::store`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextRef(u64);

const LEN_BITS: u32 = 24;
const MAX_TEXT_KEY: usize = (1 << LEN_BITS) - 1;

impl TextRef {
    fn range(self) -> std::ops::Range<usize> {
        let start = (self.0 >> LEN_BITS) as usize;
        start..start + (self.0 & MAX_TEXT_KEY as u64) as usize
    }
}

/// Text keys, all in one buffer: no allocation per key. Removed keys leave their bytes unused
/// until they make up half of the buffer, when the live keys are copied to a new one. Hashed
/// with std's keyed SipHash: the keys are URLs that outsiders choose.
#[derive(Clone, Debug, Default)]
pub(crate) struct TextKeys {
    text: String,
    /// Bytes of released keys.
    dead: usize,
    hasher: std::collections::hash_map::RandomState,
}

/// Released bytes tolerated besides half the buffer (a small buffer is never tidied).
const MIN_DEAD_TEXT: usize = 64 * 1024;

impl KeyStore for TextKeys {
    type Key = str;
    type Stored = TextRef;

    #[inline(always)]
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }
    #[inline(always)]
    fn key<'a>(&'a self, stored: &'a TextRef) -> &'a str {
        self.text.get(stored.range()).unwrap_or("")
    }
    /// A key longer than 16 MiB (never a normalised URL) is kept as the empty key, which no
    /// lookup of a URL asks for.
    fn store(&mut self, key: &str) -> TextRef {
        if key.len() > MAX_TEXT_KEY {
            return TextRef::default();
        }
        let start = self.text.len() as u64;
        self.text.push_str(key);
        TextRef((start << LEN_BITS) | key.len() as u64)
    }
    fn release(&mut self, stored: &TextRef) {
        self.dead += stored.range().len();
    }
    fn untidy(&self) -> bool {
        self.dead > self.text.len() / 2 + MIN_DEAD_TEXT
    }
    fn tidy<'a>(&mut self, slots: impl Iterator<Item = &'a mut TextRef>) {
        let old = std::mem::take(&mut self.text);
        self.text.reserve_exact(old.len() - self.dead);
        self.dead = 0;
        for r in slots {
            let key = old.get(r.range()).unwrap_or("");
            *r = self.store(key);
        }
    }
    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
    }
    fn heap_bytes(&self) -> usize {
        self.text.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u64) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        d[8..16].copy_from_slice(&n.to_le_bytes());
        d
    }

    #[test]
    fn shared_keys_answer_the_lowest_present_id() {
        let mut m: MultiMap<DigestKeys> = MultiMap::default();
        m.insert(9, &digest(1));
        m.insert(4, &digest(1));
        m.insert(7, &digest(1));
        m.insert(5, &digest(2));
        assert_eq!(m.get(&digest(1)), Some(4));
        assert_eq!(m.len(), 4);
        assert!(m.remove(4));
        assert_eq!(m.get(&digest(1)), Some(7));
        assert!(m.remove(7));
        assert!(!m.remove(7));
        assert_eq!(m.get(&digest(1)), Some(9));
        assert!(m.remove(9));
        assert_eq!(m.get(&digest(1)), None);
        assert_eq!(m.get(&digest(2)), Some(5));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn random_changes_agree_with_a_model() {
        use crate::rng::SplitMix64;
        use std::collections::BTreeMap;
        let mut rng = SplitMix64::new(4);
        let mut m: MultiMap<DigestKeys> = MultiMap::default();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        // Few keys and ids, so that keys are shared by several ids and ids move between keys.
        for round in 0..20_000 {
            let id = rng.below(300);
            if rng.below(3) == 0 {
                assert_eq!(m.remove(id), model.remove(&id).is_some());
            } else {
                let key = rng.below(40);
                m.insert(id, &digest(key));
                model.insert(id, key);
            }
            if round % 100 == 0 {
                assert_eq!(m.len(), model.len());
                for key in 0..40 {
                    let want = model.iter().find(|&(_, &k)| k == key).map(|(&id, _)| id);
                    assert_eq!(m.get(&digest(key)), want, "key {key}");
                }
                for id in 0..300 {
                    assert_eq!(m.contains_id(id), model.contains_key(&id));
                }
            }
        }
    }

    #[test]
    fn reinserting_an_id_moves_it_to_its_new_key() {
        let mut m: MultiMap<TextKeys> = MultiMap::default();
        m.insert(1, "//a.example/x");
        m.insert(1, "//a.example/x");
        assert_eq!(m.len(), 1);
        m.insert(1, "//b.example/y");
        assert_eq!(m.get("//a.example/x"), None);
        assert_eq!(m.get("//b.example/y"), Some(1));
        assert_eq!(m.len(), 1);
        assert!(m.contains_id(1));
        assert!(!m.contains_id(2));
    }

    #[test]
    fn removed_text_is_reclaimed_and_live_keys_survive() {
        let url = |i: u64| format!("//example.org/photo/{i}/{}", "x".repeat(200));
        // Ascending ids (as a load files them: slots found by the run of ids) and descending
        // ones (slots found by the table).
        for ascending in [true, false] {
            let mut m: MultiMap<TextKeys> = MultiMap::default();
            for k in 0..4000 {
                let i = if ascending { k } else { 3999 - k };
                m.insert(i, &url(i));
            }
            let full = m.store.text.len();
            for i in 0..3000 {
                assert!(m.remove(i));
            }
            assert!(
                m.store.text.len() < full / 2,
                "tidied: {} of {full} bytes",
                m.store.text.len()
            );
            for i in 0..4000 {
                let want = (i >= 3000).then_some(i);
                assert_eq!(m.get(&url(i)), want, "url {i}");
            }
            // Freed slots are taken again, except those of the run.
            let slots = m.slots.len();
            for i in 0..1000 {
                m.insert(10_000 + i, &url(10_000 + i));
            }
            let grown = m.slots.len() - slots;
            assert_eq!(grown, if ascending { 1000 } else { 0 });
            assert_eq!(m.get(&url(10_500)), Some(10_500));
            assert_eq!(m.get(&url(2999)), None);
            // A removed id comes back, under another key.
            m.insert(5, &url(77_777));
            assert_eq!(m.get(&url(77_777)), Some(5));
            assert_eq!(m.get(&url(5)), None);
            assert_eq!(m.len(), 2001);
        }
    }

    #[test]
    fn an_entry_costs_its_slot_and_two_small_tables() {
        let n = 100_000u64;
        let mut m: MultiMap<DigestKeys> = MultiMap::with_capacity(n as usize);
        for i in 0..n {
            m.insert(i, &digest(i));
        }
        for i in (0..n).step_by(997) {
            assert_eq!(m.get(&digest(i)), Some(i));
        }
        assert_eq!(m.get(&digest(n)), None);
        // 40-byte slots and a table of 4-byte slot numbers (+1 control byte) at most half
        // empty (ids in order need no table): under 40 + 5 × 2 bytes an entry, where two
        // `HashMap`s holding the key each took over 100.
        let per = m.heap_bytes() as f64 / n as f64;
        assert!(per < 51.0, "{per} B per entry");
    }
}
