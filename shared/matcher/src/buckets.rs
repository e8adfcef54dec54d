//! One hash table of 65,536 buckets whose items all live in one flat array: the bucket store
//! of the face and PDQ indexes (one `Buckets` per LSH table / PDQ chunk).
//!
//! Why not one `Vec` per bucket: an index of 16 tables then holds a million separate heap
//! blocks (24 bytes of header, the allocator's overhead and growth slack each), and a cold
//! load allocates them one by one. Here a table is three allocations:
//!
//! - `spans`: where each bucket's items are (`start`, `len`) in `items`;
//! - `items`: every bucket's items, each bucket in one contiguous run, so a search reads a
//!   bucket as one slice, exactly as it read a `Vec`;
//! - `rooms`: how many places each bucket's run has (only changes need it).
//!
//! A bulk load ([`Buckets::extend_bulk`]) lays every bucket out tightly, in bucket order, by a
//! counting sort: no slack at all. Later changes keep working at once:
//!
//! - an insert into a bucket with room writes in place; a bucket that is full is moved to the
//!   end of `items` with room for twice its items (amortised O(1) per insert, as for a `Vec`),
//!   leaving its old run behind as a hole;
//! - a removal swaps the last item of the bucket into the removed one's place: the item stops
//!   being seen at once, nothing is merely marked dead;
//! - when the holes pass a quarter of the live items (or the runs' room twice the live items,
//!   after many removals), the table is compacted in place: the runs move to the front, each
//!   keeping room for up to twice its items (one pass over `items`, amortised over the changes
//!   that made the holes; a bucket that grew keeps room to grow without moving again).

use crate::prefetch::prefetch;

/// Buckets per table (keys are `u16`).
pub(crate) const BUCKETS: usize = 1 << 16;

/// Holes tolerated before a compaction, besides a quarter of the live items (so that a small
/// table is not compacted at every other change). Tests use less, to compact small tables.
const MIN_WASTE: usize = if cfg!(test) { 64 } else { 4096 };

/// Where one bucket's items are in `items`: all a search reads of the table besides the items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// A table of [`BUCKETS`] buckets of `T`, keyed by `u16`. The order of the items of a bucket is
/// not kept.
///
/// Positions in `items` are `u32`: a table holds at most about 2 billion items, far beyond
/// what the indexes' `u32` slot numbers and the machine's memory allow.
#[derive(Clone, Debug)]
pub(crate) struct Buckets<T> {
    /// Empty while the table has never held an item (an empty index costs nothing), else
    /// [`BUCKETS`] long, as is `rooms`.
    spans: Vec<Span>,
    /// The places of each bucket's run (at least its `len`), apart from `spans`: only changes
    /// read them.
    rooms: Vec<u32>,
    items: Vec<T>,
    /// Items in buckets (the sum of the spans' lengths).
    live: usize,
    /// Places in runs (the sum of `rooms`); the rest of `items` is holes.
    reserved: usize,
    /// Compactions so far (for tests to know they happened).
    #[cfg(test)]
    pub(crate) compactions: usize,
}

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Self {
            spans: Vec::new(),
            rooms: Vec::new(),
            items: Vec::new(),
            live: 0,
            reserved: 0,
            #[cfg(test)]
            compactions: 0,
        }
    }
}

impl<T: Copy> Buckets<T> {
    /// The number of items in all buckets.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The items of bucket `key`.
    #[inline(always)]
    pub(crate) fn get(&self, key: u16) -> &[T] {
        match self.spans.get(usize::from(key)) {
            Some(s) => {
                let start = s.start as usize;
                self.items.get(start..start + s.len as usize).unwrap_or(&[])
            }
            None => &[],
        }
    }

    /// Asks memory for where bucket `key` is (a hint, no effect on results).
    #[inline(always)]
    pub(crate) fn prefetch_span(&self, key: u16) {
        prefetch(self.spans.as_ptr().wrapping_add(usize::from(key)));
    }

    /// Asks memory for the first items of bucket `key` (a hint; reads its span, so ask for the
    /// span first).
    #[inline(always)]
    pub(crate) fn prefetch_items(&self, key: u16) {
        if let Some(s) = self.spans.get(usize::from(key)) {
            prefetch(self.items.as_ptr().wrapping_add(s.start as usize));
        }
    }

    fn allocate_spans(&mut self) {
        if self.spans.is_empty() {
            self.spans = vec![Span::default(); BUCKETS];
            self.rooms = vec![0; BUCKETS];
        }
    }

    /// Adds `item` to bucket `key`.
    pub(crate) fn push(&mut self, key: u16, item: T) {
        self.allocate_spans();
        let b = usize::from(key);
        let (Some(&span), Some(&room)) = (self.spans.get(b), self.rooms.get(b)) else {
            return;
        };
        let (start, len) = (span.start as usize, span.len as usize);
        if span.len < room {
            if let Some(place) = self.items.get_mut(start + len) {
                *place = item;
            }
            self.spans[b].len += 1;
        } else {
            // Full: move the bucket to the end with room for twice its items (at most: a
            // compaction must be able to keep every run's room within twice its items).
            let new_room = (span.len + 1).next_power_of_two();
            let new_start = self.items.len();
            if self.items.capacity() - new_start < new_room as usize {
                // Grow by an eighth rather than doubling: doubling would leave up to half of
                // a large table unused.
                self.items
                    .reserve_exact((new_room as usize).max(new_start / 8 + MIN_WASTE));
            }
            self.items.extend_from_within(start..start + len);
            self.items.resize(new_start + new_room as usize, item);
            self.spans[b] = Span {
                start: new_start as u32,
                len: span.len + 1,
            };
            self.rooms[b] = new_room;
            self.reserved = self.reserved + new_room as usize - room as usize;
        }
        self.live += 1;
        self.compact_if_wasteful();
    }

    /// Removes one item of bucket `key` for which `is` holds; returns whether there was one.
    pub(crate) fn remove(&mut self, key: u16, is: impl Fn(&T) -> bool) -> bool {
        let b = usize::from(key);
        let Some(&span) = self.spans.get(b) else {
            return false;
        };
        let (start, len) = (span.start as usize, span.len as usize);
        let Some(run) = self.items.get_mut(start..start + len) else {
            return false;
        };
        let Some(pos) = run.iter().position(is) else {
            return false;
        };
        run.swap(pos, len - 1);
        self.spans[b].len -= 1;
        self.live -= 1;
        self.compact_if_wasteful();
        true
    }

    /// Adds `n` items at once, item `i` being `item_of(i)` in bucket `key_of(i)` (`key_of` is
    /// called twice per item, `item_of` once, both in order of `i`). Every bucket is laid out
    /// anew, tightly: one allocation for the whole table, however many buckets.
    ///
    /// A counting sort, in two passes so that its writes stay in cache: writing each item
    /// straight to its place would touch 65,536 places far apart in turn, a cache miss per
    /// item. Instead the items are first partitioned by the high byte of their key (256 places
    /// written in turn), then each partition, whose buckets share a small window of `items`,
    /// is written to its places.
    pub(crate) fn extend_bulk(
        &mut self,
        n: usize,
        key_of: impl Fn(usize) -> u16,
        item_of: impl Fn(usize) -> T,
    ) {
        if n == 0 {
            return;
        }
        self.allocate_spans();
        let mut counts = vec![0u32; BUCKETS];
        for i in 0..n {
            counts[usize::from(key_of(i))] += 1;
        }
        // The new layout: bucket b's old items, then its new ones, buckets in key order.
        // `next[b]`: where bucket b's next new item goes; `part_next[h]`: where the next new
        // item whose key's high byte is h goes in `parts`.
        let mut next = vec![0u32; BUCKETS];
        let mut part_next = [0u32; 256];
        let (mut total, mut new_total) = (0u32, 0u32);
        for (b, (span, &count)) in self.spans.iter().zip(&counts).enumerate() {
            if b % 256 == 0 {
                part_next[b / 256] = new_total;
            }
            new_total += count;
            next[b] = total + span.len;
            total += span.len + count;
        }
        let first = item_of(0);
        let mut parts: Vec<(u16, T)> = vec![(0, first); n];
        for i in 0..n {
            let key = key_of(i);
            let at = &mut part_next[usize::from(key >> 8)];
            if let Some(place) = parts.get_mut(*at as usize) {
                *place = (key, if i == 0 { first } else { item_of(i) });
            }
            *at += 1;
        }
        let mut items = vec![first; total as usize];
        // Old items go to the front of their buckets.
        for ((span, &at), &count) in self.spans.iter_mut().zip(&next).zip(&counts) {
            let len = span.len as usize;
            let (from, to) = (span.start as usize, at as usize - len);
            if let (Some(dst), Some(src)) = (
                items.get_mut(to..to + len),
                self.items.get(from..from + len),
            ) {
                dst.copy_from_slice(src);
            }
            *span = Span {
                start: to as u32,
                len: len as u32 + count,
            };
        }
        for &(key, item) in &parts {
            let at = &mut next[usize::from(key)];
            if let Some(place) = items.get_mut(*at as usize) {
                *place = item;
            }
            *at += 1;
        }
        for (room, span) in self.rooms.iter_mut().zip(&self.spans) {
            *room = span.len;
        }
        self.items = items;
        self.live = total as usize;
        self.reserved = self.live;
    }

    /// Places of `items` in no bucket's run.
    fn waste(&self) -> usize {
        self.items.len() - self.reserved
    }

    /// Compacts when the holes pass a quarter of the live items, or the room of the runs twice
    /// the live items (after many removals).
    fn compact_if_wasteful(&mut self) {
        if self.waste() > self.live / 4 + MIN_WASTE || self.reserved > 2 * self.live + MIN_WASTE {
            self.compact();
        }
    }

    /// Moves every bucket's run to the front of `items`, without the holes between them, in
    /// the order the runs already have (so each run moves towards the front, never over a run
    /// not yet moved). A run keeps its room, up to twice its items (a bucket that grew can grow
    /// further in place); an empty bucket loses its run.
    fn compact(&mut self) {
        #[cfg(test)]
        {
            self.compactions += 1;
        }
        // The non-empty buckets by where their runs start: start above, bucket below.
        let mut order: Vec<u64> = (self.spans.iter().enumerate())
            .filter(|(_, s)| s.len > 0)
            .map(|(b, s)| (u64::from(s.start) << 16) | b as u64)
            .collect();
        order.sort_unstable();
        let mut to = 0usize;
        for b in order.into_iter().map(|o| (o & 0xffff) as usize) {
            let (span, room) = (&mut self.spans[b], &mut self.rooms[b]);
            let (from, len) = (span.start as usize, span.len as usize);
            self.items.copy_within(from..from + len, to);
            span.start = to as u32;
            *room = (*room).min(2 * span.len).max(span.len);
            to += *room as usize;
        }
        for (span, room) in self.spans.iter_mut().zip(&mut self.rooms) {
            if span.len == 0 {
                *span = Span::default();
                *room = 0;
            }
        }
        self.items.truncate(to);
        self.reserved = to;
        if self.items.capacity() > 2 * to + MIN_WASTE {
            self.items.shrink_to(to + to / 8);
        }
    }

    /// Heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.spans.capacity() * std::mem::size_of::<Span>()
            + self.rooms.capacity() * 4
            + self.items.capacity() * std::mem::size_of::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Buckets bulk-loaded with item `i` in bucket `keys[i]`.
    fn bulk(keys: &[u16]) -> Buckets<u32> {
        let mut b = Buckets::default();
        b.extend_bulk(keys.len(), |i| keys[i], |i| i as u32);
        b
    }

    /// Pushes `x` into bucket `k`, empty until then, and finds it there alone.
    fn push_into_empty(b: &mut Buckets<u32>, k: u16, x: u32) {
        assert!(b.get(k).is_empty(), "bucket {k}");
        b.push(k, x);
        assert_eq!(b.get(k), &[x]);
    }

    /// Bucket `k` as a sorted list.
    fn bucket(b: &Buckets<u32>, k: u16) -> Vec<u32> {
        let mut v = b.get(k).to_vec();
        v.sort_unstable();
        v
    }

    /// The buckets as sorted lists, to compare with a model.
    fn contents(b: &Buckets<u32>) -> Vec<Vec<u32>> {
        (0..BUCKETS).map(|k| bucket(b, k as u16)).collect()
    }

    fn sorted(model: &[Vec<u32>]) -> Vec<Vec<u32>> {
        model
            .iter()
            .map(|v| {
                let mut v = v.clone();
                v.sort_unstable();
                v
            })
            .collect()
    }

    /// Runs never overlap and lie within `items`; `live` is the sum of the lengths.
    fn check_layout(b: &Buckets<u32>) {
        let mut runs: Vec<(usize, usize)> = b
            .spans
            .iter()
            .zip(&b.rooms)
            .filter(|(s, _)| s.len > 0)
            .map(|(s, &room)| {
                assert!(s.len <= room);
                (s.start as usize, s.start as usize + room as usize)
            })
            .collect();
        runs.sort_unstable();
        for w in runs.windows(2) {
            assert!(w[0].1 <= w[1].0, "runs {:?} and {:?} overlap", w[0], w[1]);
        }
        if let Some(last) = runs.last() {
            assert!(last.1 <= b.items.len());
        }
        assert_eq!(
            b.spans.iter().map(|s| s.len as usize).sum::<usize>(),
            b.live
        );
        assert_eq!(
            b.rooms.iter().map(|&r| r as usize).sum::<usize>(),
            b.reserved
        );
        assert!(b.waste() <= b.live / 4 + MIN_WASTE);
        assert!(b.reserved <= 2 * b.live + MIN_WASTE);
    }

    #[test]
    fn bulk_layout_is_tight_and_in_bucket_order() {
        let mut b = Buckets::default();
        let keys = [7u16, 3, 7, 65535, 0, 3, 7];
        b.extend_bulk(keys.len(), |i| keys[i], |i| i as u32 * 10);
        assert_eq!(b.get(7), &[0, 20, 60]);
        assert_eq!(b.get(3), &[10, 50]);
        assert_eq!(b.get(0), &[40]);
        assert_eq!(b.get(65535), &[30]);
        assert_eq!(b.get(1), &[] as &[u32]);
        assert_eq!(b.items.len(), keys.len(), "no slack after a bulk load");
        assert_eq!(b.items, vec![40, 10, 50, 0, 20, 60, 30]);
        check_layout(&b);
    }

    #[test]
    fn push_after_bulk_load_moves_the_bucket_and_keeps_the_others() {
        let mut b = bulk(&[1, 2, 1, 2, 1, 3]);
        b.push(2, 100);
        assert_eq!(bucket(&b, 2), vec![1, 3, 100]);
        assert_eq!(b.get(1), &[0, 2, 4]);
        assert_eq!(b.get(3), &[5]);
        // The moved bucket has room now: the next push stays in place.
        let start = b.spans[2].start;
        b.push(2, 101);
        assert_eq!(b.spans[2].start, start);
        assert_eq!(b.get(2).len(), 4);
        // An empty bucket takes an item too.
        push_into_empty(&mut b, 9, 7);
        assert_eq!(b.len(), 9);
        check_layout(&b);
    }

    #[test]
    fn remove_after_bulk_load_is_seen_at_once() {
        let mut b = bulk(&[4, 4, 4, 5, 4]);
        assert!(b.remove(4, |&x| x == 1));
        assert!(!b.remove(4, |&x| x == 1), "already gone");
        assert!(!b.remove(5, |&x| x == 0), "not in that bucket");
        assert_eq!(bucket(&b, 4), vec![0, 2, 4]);
        assert!(b.remove(5, |&x| x == 3));
        assert!(b.get(5).is_empty());
        // A bucket emptied by removal takes items again.
        push_into_empty(&mut b, 5, 33);
        assert_eq!(b.len(), 4);
        check_layout(&b);
    }

    #[test]
    fn bulk_load_onto_a_changed_table_keeps_every_item() {
        let mut b = bulk(&[1, 2, 3]);
        b.push(1, 10);
        assert!(b.remove(2, |&x| x == 1));
        b.extend_bulk(3, |i| [1u16, 2, 4][i], |i| 20 + i as u32);
        assert_eq!(bucket(&b, 1), vec![0, 10, 20]);
        assert_eq!(b.get(2), &[21]);
        assert_eq!(b.get(3), &[2]);
        assert_eq!(b.get(4), &[22]);
        assert_eq!(b.items.len(), 6, "laid out tightly again");
        check_layout(&b);
    }

    #[test]
    fn waste_is_compacted_away_and_nothing_is_lost() {
        let mut b = Buckets::default();
        let n = 50_000usize;
        b.extend_bulk(n, |i| (i % 1000) as u16, |i| i as u32);
        let mut model: Vec<Vec<u32>> = vec![Vec::new(); BUCKETS];
        for i in 0..n {
            model[i % 1000].push(i as u32);
        }
        // Each push into a tight bucket moves it: its old run becomes waste, until compacted.
        for i in 0..20_000u32 {
            let key = (i * 7919 % 1000) as u16;
            b.push(key, 1_000_000 + i);
            model[usize::from(key)].push(1_000_000 + i);
            assert!(b.waste() <= b.live / 4 + MIN_WASTE);
        }
        assert!(b.compactions > 0, "the waste bound forced a compaction");
        check_layout(&b);
        assert_eq!(contents(&b), sorted(&model));
        // Removing most items compacts too, and frees memory.
        let before = b.items.capacity();
        for i in 0..n as u32 {
            let key = (i % 1000) as u16;
            assert!(b.remove(key, |&x| x == i));
            model[usize::from(key)].retain(|&x| x != i);
        }
        assert_eq!(contents(&b), sorted(&model));
        assert!(b.waste() <= b.live / 4 + MIN_WASTE);
        assert!(
            b.items.capacity() < before / 2,
            "{} vs {before}",
            b.items.capacity()
        );
        check_layout(&b);
    }

    #[test]
    fn random_changes_agree_with_a_vec_per_bucket() {
        let mut rng = SplitMix64::new(5);
        let mut b = Buckets::default();
        let mut model: Vec<Vec<u32>> = vec![Vec::new(); BUCKETS];
        let mut next = 0u32;
        // Few distinct keys so that buckets grow past several doublings.
        let key = |rng: &mut SplitMix64| (rng.below(300) * 211) as u16;
        for round in 0..6 {
            let n = 3000 * (round + 1);
            let keys: Vec<u16> = (0..n).map(|_| key(&mut rng)).collect();
            b.extend_bulk(n, |i| keys[i], |i| next + i as u32);
            for (i, &k) in keys.iter().enumerate() {
                model[usize::from(k)].push(next + i as u32);
            }
            next += n as u32;
            for _ in 0..20_000 {
                let k = key(&mut rng);
                if rng.below(3) == 0 {
                    let bucket = &mut model[usize::from(k)];
                    if !bucket.is_empty() {
                        let x = bucket.swap_remove(rng.below(bucket.len() as u64) as usize);
                        assert!(b.remove(k, |&y| y == x));
                    } else {
                        assert!(!b.remove(k, |_| true));
                    }
                } else {
                    b.push(k, next);
                    model[usize::from(k)].push(next);
                    next += 1;
                }
            }
            check_layout(&b);
            assert_eq!(contents(&b), sorted(&model), "round {round}");
        }
    }
}
