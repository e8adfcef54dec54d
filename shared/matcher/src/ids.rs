//! Finding an index's slots by entry id. Entry ids are given by the desk (a sequence), never
//! chosen by a client, so they need no keyed, DoS-resistant hasher: one multiply spreads them,
//! several times faster than SipHash on a bulk load of millions.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// Hashes one `u64` by a folded multiply: the two halves of the 128-bit product xored, so that
/// every bit of the id reaches both the low bits the table indexes by and the high bits of its
/// control bytes (folding a 64-bit product by `x ^ (x >> 32)` left ids that differ only above
/// bit 40 all in the same few places).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys use this hasher; fold anything else in, byte by byte.
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let p = u128::from(self.0 ^ n) * u128::from(K);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

#[inline]
fn hash_id(id: u64) -> u64 {
    BuildHasherDefault::<IdHasher>::default().hash_one(id)
}

/// The id in slot `s` of an index's per-slot `ids`, for [`SlotsById`]'s `id_of` (`u64::MAX` past
/// the end, where no filed slot is).
#[inline(always)]
pub(crate) fn id_at(ids: &[u64], s: u32) -> u64 {
    ids.get(s as usize).copied().unwrap_or(u64::MAX)
}

/// The slots of an index found by the entry id each holds. An index keeps its entries in
/// per-slot arrays, the id of slot `s` among them; every method that may look at stored slots
/// takes `id_of`, which must give the id that slot `s` holds. Two parts:
///
/// - the *run*: slots `0..run`, filed in ascending order of id into an empty index (as a bulk
///   load of a snapshot files them, ids ascending). They are found by a binary search over the
///   index's own ids, so a load of millions hashes nothing and stores nothing more. For the
///   search to work, the ids of the run must stay where they are: a removed run slot is marked
///   gone, its id left in place, and the index never reuses it (see [`reusable`]). That leaves
///   one unused slot per removal until the index is next loaded from a snapshot.
/// - a hash set of every other slot (5 bytes per table place: a `u32` and a control byte),
///   whose hashing and comparison read the id through `id_of`, so it is not stored twice.
///
/// [`reusable`]: SlotsById::reusable
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotsById {
    run: u32,
    /// One bit per run slot: removed (allocated at the first removal).
    gone: Vec<u64>,
    gone_count: u32,
    table: HashTable<u32>,
}

impl SlotsById {
    pub(crate) fn len(&self) -> usize {
        (self.run - self.gone_count) as usize + self.table.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_gone(&self, slot: u32) -> bool {
        self.gone
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The run slot holding `id`, by binary search.
    fn in_run(&self, id: u64, id_of: &impl Fn(u32) -> u64) -> Option<u32> {
        if self.run == 0 || id > id_of(self.run - 1) {
            return None;
        }
        let (mut lo, mut hi) = (0u32, self.run);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match id_of(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return (!self.is_gone(mid)).then_some(mid),
            }
        }
        None
    }

    /// The slot holding `id`.
    #[inline]
    pub(crate) fn get(&self, id: u64, id_of: impl Fn(u32) -> u64) -> Option<u32> {
        if let Some(&s) = self.table.find(hash_id(id), |&s| id_of(s) == id) {
            return Some(s);
        }
        self.in_run(id, &id_of)
    }

    /// Files `slot` under `id`, unless `id` is present already: then returns its slot and
    /// changes nothing. `id_of(slot)` is not asked (the caller may store `id` there after).
    #[inline]
    pub(crate) fn insert(
        &mut self,
        id: u64,
        slot: u32,
        id_of: impl Fn(u32) -> u64,
    ) -> Result<(), u32> {
        // The run grows while slots come in order with ascending ids and nothing else is
        // filed: an id above the run's last is in neither part then.
        if slot == self.run && self.table.is_empty() && (self.run == 0 || id > id_of(self.run - 1))
        {
            self.run += 1;
            return Ok(());
        }
        if let Some(s) = self.in_run(id, &id_of) {
            return Err(s);
        }
        match self
            .table
            .entry(hash_id(id), |&s| id_of(s) == id, |&s| hash_id(id_of(s)))
        {
            Entry::Occupied(e) => Err(*e.get()),
            Entry::Vacant(v) => {
                v.insert(slot);
                Ok(())
            }
        }
    }

    /// Takes `id` out; returns the slot that held it (reuse it only if
    /// [`reusable`](Self::reusable)).
    pub(crate) fn remove(&mut self, id: u64, id_of: impl Fn(u32) -> u64) -> Option<u32> {
        if let Ok(e) = self.table.find_entry(hash_id(id), |&s| id_of(s) == id) {
            return Some(e.remove().0);
        }
        let slot = self.in_run(id, &id_of)?;
        if self.gone.is_empty() {
            self.gone = vec![0; (self.run as usize).div_ceil(64)];
        }
        if let Some(w) = self.gone.get_mut(slot as usize / 64) {
            *w |= 1 << (slot % 64);
        }
        self.gone_count += 1;
        Some(slot)
    }

    /// Whether a removed `slot` may take another id: not if it is in the run, whose ids must
    /// stay in place.
    pub(crate) fn reusable(&self, slot: u32) -> bool {
        slot >= self.run
    }

    /// Every stored slot, in no particular order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.run)
            .filter(|&s| !self.is_gone(s))
            .chain(self.table.iter().copied())
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.allocation_size() + self.gone.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_and_strided_ids_spread_over_the_low_bits() {
        let build = BuildHasherDefault::<IdHasher>::default();
        for stride in [1u64, 8, 1 << 20, 1 << 40] {
            let mut seen = [0u32; 1024];
            for i in 0..65_536u64 {
                seen[(build.hash_one(i * stride) & 1023) as usize] += 1;
            }
            let max = *seen.iter().max().unwrap_or(&0);
            // 64 per slot on average; a poor spread piles them into a few slots.
            assert!(max < 200, "stride {stride}: {max} ids in one of 1024 slots");
        }
    }

    fn id_of(ids: &[u64], s: u32) -> u64 {
        ids.get(s as usize).copied().unwrap_or(u64::MAX)
    }

    /// Files `id` as the index would: in a freed slot if there is one, else in a new one.
    fn file(set: &mut SlotsById, ids: &mut Vec<u64>, free: &mut Vec<u32>, id: u64) -> u32 {
        let slot = free.last().copied().unwrap_or(ids.len() as u32);
        let r = set.insert(id, slot, |s| id_of(ids, s));
        assert_eq!(r, Ok(()), "id {id}");
        if free.pop().is_none() {
            ids.push(id);
        } else {
            ids[slot as usize] = id;
        }
        slot
    }

    #[test]
    fn slots_are_found_by_the_id_they_hold() {
        let (mut ids, mut free) = (Vec::new(), Vec::new());
        let mut set = SlotsById::default();
        // Out of order: every id goes to the table.
        for i in (0..10_000u64).rev() {
            file(&mut set, &mut ids, &mut free, i * 977);
        }
        assert_eq!(set.run, 1, "only the first");
        assert_eq!(set.len(), 10_000);
        assert_eq!(set.insert(977 * 5, 123, |s| id_of(&ids, s)), Err(9994));
        assert_eq!(set.get(977 * 42, |s| id_of(&ids, s)), Some(9957));
        assert_eq!(set.get(978, |s| id_of(&ids, s)), None);
        assert_eq!(set.remove(977 * 42, |s| id_of(&ids, s)), Some(9957));
        assert!(set.reusable(9957));
        assert_eq!(set.get(977 * 42, |s| id_of(&ids, s)), None);
        assert_eq!(set.remove(977 * 42, |s| id_of(&ids, s)), None);
        free.push(9957);
        assert_eq!(file(&mut set, &mut ids, &mut free, 1), 9957);
        assert_eq!(set.get(1, |s| id_of(&ids, s)), Some(9957));
        let mut all: Vec<u32> = set.slots().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10_000).collect::<Vec<u32>>());
        // 5 bytes a place (and a group of control bytes), not 17.
        assert!(set.heap_bytes() < 16_384 * 5 + 64, "{}", set.heap_bytes());
    }

    #[test]
    fn ascending_ids_form_a_run_that_takes_no_table() {
        let (mut ids, mut free) = (Vec::new(), Vec::new());
        let mut set = SlotsById::default();
        for i in 0..10_000u64 {
            file(&mut set, &mut ids, &mut free, 10 + i * 3);
        }
        assert_eq!(set.run, 10_000);
        assert_eq!(set.heap_bytes(), 0);
        for i in 0..10_000u64 {
            assert_eq!(set.get(10 + i * 3, |s| id_of(&ids, s)), Some(i as u32));
            assert_eq!(set.get(11 + i * 3, |s| id_of(&ids, s)), None);
        }
        assert_eq!(set.get(0, |s| id_of(&ids, s)), None);
        // A present id is refused, wherever it is.
        assert_eq!(set.insert(13, 10_000, |s| id_of(&ids, s)), Err(1));
        // Removing a run slot: gone at once, and not to be reused.
        assert_eq!(set.remove(13, |s| id_of(&ids, s)), Some(1));
        assert!(!set.reusable(1));
        assert_eq!(set.get(13, |s| id_of(&ids, s)), None);
        assert_eq!(set.remove(13, |s| id_of(&ids, s)), None);
        assert_eq!(set.len(), 9_999);
        // The same id again goes to the table, in a new slot.
        let slot = file(&mut set, &mut ids, &mut free, 13);
        assert_eq!(slot, 10_000);
        assert_eq!(set.get(13, |s| id_of(&ids, s)), Some(10_000));
        // An id above the run after that goes to the table too (the run has stopped).
        file(&mut set, &mut ids, &mut free, 1_000_000);
        assert_eq!(set.run, 10_000);
        assert_eq!(set.get(1_000_000, |s| id_of(&ids, s)), Some(10_001));
        assert_eq!(set.len(), 10_001);
        let all: Vec<u32> = set.slots().collect();
        assert_eq!(all.len(), 10_001);
        assert!(!all.contains(&1));
        assert_eq!(set.remove(1_000_000, |s| id_of(&ids, s)), Some(10_001));
        assert!(set.reusable(10_001));
    }
}
