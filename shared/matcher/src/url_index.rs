//! Exact index of normalised URLs (matched by scheme-less canonical form).

use crate::multimap::{MultiMap, TextKeys};
use crate::url::NormalizedUrl;

#[derive(Clone, Debug, Default)]
pub struct UrlIndex {
    map: MultiMap<TextKeys>,
}

impl UrlIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for `additional` more URLs.
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Adds entry `id` (replacing what `id` held before).
    pub fn insert(&mut self, id: u64, url: &NormalizedUrl) {
        self.map.insert(id, url.match_key());
    }

    /// Whether entry `id` is present.
    pub fn contains_id(&self, id: u64) -> bool {
        self.map.contains_id(id)
    }

    /// Removes entry `id`; returns whether it was present.
    pub fn remove(&mut self, id: u64) -> bool {
        self.map.remove(id)
    }

    /// The (lowest) entry id whose URL equals `url` after normalisation.
    pub fn get(&self, url: &NormalizedUrl) -> Option<u64> {
        self.map.get(url.match_key())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back the room that growing left unused (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
    }

    /// Heap bytes held, by capacity.
    pub fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
    }
}
