//! The mirror's logic without a server: snapshot + change feed replay against an in-memory feed
//! that keeps the server's rules (each change moves an entry to a new, higher position; the feed
//! lists entries after a position in their current state), persistence, and corrupt files.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use optout_client::{
    ChangesResponse, ClientError, ExclusionFeed, Mirror, MirrorError, STATE_FILE, Snapshot,
    WireEntry, WireState, WireValue,
};
use optout_matcher::wire::CheckResult;
use optout_matcher::{Candidate, Kind, normalize_url};

/// The server side in memory: entries in their current state, positions from 1.
#[derive(Default)]
struct Feed {
    inner: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    head: u64,
    entries: BTreeMap<u64, WireEntry>,
    /// Fail `changes` calls after this many have been answered.
    fail_after: Option<usize>,
    calls: usize,
}

impl Feed {
    fn add(&self, id: u64, kind: Kind, value: WireValue) -> u64 {
        let mut s = self.inner.lock().unwrap();
        s.head += 1;
        let position = s.head;
        s.entries.insert(
            id,
            WireEntry {
                id,
                position,
                state: WireState::Active,
                kind,
                value,
            },
        );
        position
    }

    /// Entries `ids`, each a SHA-256 of its id.
    fn add_hashes(&self, ids: std::ops::RangeInclusive<u64>) {
        for i in ids {
            self.add(i, Kind::Sha256, WireValue::Text(hex(i as u8)));
        }
    }

    fn withdraw(&self, id: u64) {
        let mut s = self.inner.lock().unwrap();
        s.head += 1;
        let head = s.head;
        let e = s.entries.get_mut(&id).expect("known entry");
        e.state = WireState::Withdrawn;
        e.position = head;
    }

    fn head(&self) -> u64 {
        self.inner.lock().unwrap().head
    }

    fn fail_after(&self, calls: usize) {
        let mut s = self.inner.lock().unwrap();
        s.fail_after = Some(s.calls + calls);
    }
}

impl ExclusionFeed for Feed {
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, ClientError>> + Send {
        let s = self.inner.lock().unwrap();
        let snap = Snapshot {
            position: s.head,
            entries: s
                .entries
                .values()
                .filter(|e| e.state == WireState::Active)
                .cloned()
                .collect(),
        };
        async move { Ok(snap) }
    }

    fn changes(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangesResponse, ClientError>> + Send {
        let mut s = self.inner.lock().unwrap();
        s.calls += 1;
        let result = if s.fail_after.is_some_and(|n| s.calls > n) {
            Err(ClientError::Unavailable { retry_after: None })
        } else if after > s.head {
            // as the server does
            Err(ClientError::BadRequest {
                code: "beyond_head".into(),
                message: "`after` is beyond the newest position".into(),
                index: None,
            })
        } else {
            let mut changes: Vec<WireEntry> = s
                .entries
                .values()
                .filter(|e| e.position > after)
                .cloned()
                .collect();
            changes.sort_by_key(|e| e.position);
            changes.truncate(limit);
            Ok(ChangesResponse {
                next_after: changes.last().map_or(after, |e| e.position),
                changes,
                head: s.head,
            })
        };
        async move { result }
    }
}

fn url(s: &str) -> WireValue {
    WireValue::Text(normalize_url(s).unwrap().as_str().to_owned())
}

fn hex(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// A unit vector along axis `i` (tilted a little towards axis `i + 1`).
fn face(i: usize) -> Vec<f32> {
    let mut v = vec![0f32; 128];
    v[i] = 0.96;
    v[(i + 1) % 128] = 0.28;
    v
}

fn excluded(r: &CheckResult) -> Option<u64> {
    r.excluded.then(|| r.entry_id.unwrap())
}

/// A directory for a mirror, and a feed with one entry of each kind (ids 1 to 4).
fn all_kinds() -> (tempfile::TempDir, Feed) {
    let feed = Feed::default();
    feed.add(1, Kind::Url, url("https://example.com/a.jpg"));
    feed.add(2, Kind::Sha256, WireValue::Text(hex(0xab)));
    feed.add(3, Kind::Pdq, WireValue::Text(hex(0x5a)));
    feed.add(4, Kind::Face, WireValue::Vector(face(0)));
    (tempfile::tempdir().unwrap(), feed)
}

/// The entry each of the [`probes`] matches, if any.
fn hits(m: &Mirror) -> Vec<Option<u64>> {
    let answer = m.check(&probes()).unwrap();
    answer.results.iter().map(excluded).collect()
}

fn probes() -> Vec<Candidate> {
    let mut pdq_near = hex(0x5a);
    pdq_near.replace_range(0..2, "5b"); // one bit away
    vec![
        Candidate::Url("HTTPS://Example.com/a.jpg".into()),
        Candidate::Sha256(hex(0xab)),
        Candidate::Pdq(pdq_near),
        Candidate::Face(face(0)),
        Candidate::Sha256(hex(0xcd)),
    ]
}

#[tokio::test]
async fn sync_starts_from_a_snapshot_then_pages_through_the_changes() {
    let (dir, feed) = all_kinds();
    let mut m = Mirror::open(dir.path()).unwrap();
    assert_eq!(m.position(), None);
    m.set_page_limit(2);
    let r = m.sync(&feed).await.unwrap();
    assert!(r.snapshot_loaded);
    assert_eq!((r.position, r.active), (4, 4));

    feed.add_hashes(10..=16);
    feed.withdraw(2);
    let r = m.sync(&feed).await.unwrap();
    assert!(!r.snapshot_loaded);
    assert_eq!(r.applied, 8);
    assert_eq!(r.pages, 4, "8 changes in pages of 2");
    assert_eq!(r.position, feed.head());
    assert_eq!(r.active, 4 - 1 + 7);

    let answer = m.check(&probes()).unwrap();
    assert_eq!(answer.position, feed.head());
    let ids: Vec<Option<u64>> = answer.results.iter().map(excluded).collect();
    assert_eq!(ids, [Some(1), None, Some(3), Some(4), None]);
    assert_eq!(answer.results[2].distance, Some(1));
    assert!(answer.results[3].similarity.unwrap().get() > 0.99);
    assert_eq!(answer.results[3].kind, Some(Kind::Face));

    // caught up: one empty page, nothing applied
    let r = m.sync(&feed).await.unwrap();
    assert_eq!((r.pages, r.applied), (1, 0));
}

#[tokio::test]
async fn withdrawn_entries_never_match_again() {
    let (dir, feed) = all_kinds();
    let mut m = Mirror::open(dir.path()).unwrap();
    m.sync(&feed).await.unwrap();
    for id in [1, 3, 4] {
        feed.withdraw(id);
    }
    m.sync(&feed).await.unwrap();
    assert_eq!(hits(&m), [None, Some(2), None, None, None]);
    assert_eq!(m.len(), 1);
    assert!(m.get(4).is_none());
    // and after a reload from disk
    let m = Mirror::open(dir.path()).unwrap();
    assert_eq!(hits(&m), [None, Some(2), None, None, None]);
}

/// Entry `id` (a SHA-256 made of its id) at `position`, active.
fn active(id: u64, position: u64) -> WireEntry {
    WireEntry {
        id,
        position,
        state: WireState::Active,
        kind: Kind::Sha256,
        value: WireValue::Text(hex(id as u8)),
    }
}

fn withdrawn(id: u64, position: u64) -> WireEntry {
    WireEntry {
        state: WireState::Withdrawn,
        ..active(id, position)
    }
}

/// A page of the feed up to `head`.
fn page(changes: Vec<WireEntry>, head: u64) -> ChangesResponse {
    ChangesResponse {
        changes,
        next_after: head,
        head,
    }
}

/// A mirror in `dir` loaded from a snapshot at `position` of `entries`.
fn mirror_at(dir: &std::path::Path, position: u64, entries: Vec<WireEntry>) -> Mirror {
    let mut m = Mirror::open(dir).unwrap();
    m.load_snapshot(Snapshot { position, entries }).unwrap();
    m
}

/// A directory and a mirror in it, synced to an empty feed.
fn empty_mirror() -> (tempfile::TempDir, Mirror) {
    let dir = tempfile::tempdir().unwrap();
    let m = mirror_at(dir.path(), 0, Vec::new());
    (dir, m)
}

#[test]
fn a_page_is_applied_in_position_order() {
    let (_dir, mut m) = empty_mirror();
    // listed out of order (and, against the contract, the same id twice): the later position
    // wins, whatever the listing order
    let page = page(vec![withdrawn(1, 7), active(2, 6), active(1, 5)], 7);
    assert_eq!(m.apply(&page).unwrap(), 3);
    assert_eq!(m.position(), Some(7));
    let ids: Vec<u64> = m.entries().map(|e| e.id).collect();
    assert_eq!(ids, [2]);
}

#[test]
fn a_change_older_than_the_known_entry_is_ignored() {
    // a snapshot can hold an entry changed after its position (head is read before the
    // entries); the feed then lists it again, and nothing older may overwrite it
    let dir = tempfile::tempdir().unwrap();
    let mut m = mirror_at(dir.path(), 10, vec![active(4, 12)]);
    let page = page(vec![withdrawn(4, 11), active(4, 12)], 12);
    m.apply(&page).unwrap();
    assert!(m.get(4).is_some());
    assert_eq!(m.position(), Some(12));
}

#[test]
fn reapplying_a_page_changes_nothing() {
    let (dir, mut m) = empty_mirror();
    let page = page(vec![active(1, 1), active(2, 2), withdrawn(3, 3)], 3);
    assert_eq!(m.apply(&page).unwrap(), 3);
    let before: Vec<WireEntry> = m.entries().cloned().collect();
    assert_eq!(m.apply(&page).unwrap(), 0, "already reflected");
    assert_eq!(m.entries().cloned().collect::<Vec<_>>(), before);
    assert_eq!(m.position(), Some(3));
    // even replayed onto an older position, the result is the same state
    let mut fresh = mirror_at(dir.path(), 0, Vec::new());
    fresh.apply(&page).unwrap();
    fresh
        .load_snapshot(Snapshot {
            position: 0,
            entries: before.clone(),
        })
        .unwrap();
    fresh.apply(&page).unwrap();
    assert_eq!(fresh.entries().cloned().collect::<Vec<_>>(), before);
}

#[test]
fn an_invalid_entry_is_refused_and_nothing_of_its_page_is_applied() {
    let (_dir, mut m) = empty_mirror();
    let bad_face = WireEntry {
        kind: Kind::Face,
        value: WireValue::Vector(vec![1.0, 0.0, 0.0]),
        ..active(2, 2)
    };
    let page = page(vec![active(1, 1), bad_face], 2);
    let err = m.apply(&page).unwrap_err();
    assert!(
        matches!(
            err,
            MirrorError::InvalidEntry {
                id: 2,
                position: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(m.is_empty());
    assert_eq!(m.position(), Some(0));
}

#[tokio::test]
async fn state_round_trips_through_the_file() {
    let (dir, feed) = all_kinds();
    feed.add(5, Kind::Face, WireValue::Vector(face(7)));
    feed.withdraw(5);
    let mut m = Mirror::open(dir.path()).unwrap();
    m.sync(&feed).await.unwrap();
    let saved = std::fs::read(dir.path().join(STATE_FILE)).unwrap();

    let reopened = Mirror::open(dir.path()).unwrap();
    assert_eq!(reopened.position(), m.position());
    assert_eq!(
        reopened.entries().cloned().collect::<Vec<_>>(),
        m.entries().cloned().collect::<Vec<_>>(),
        "bit-exact values, same positions"
    );
    assert_eq!(
        reopened.check(&probes()).unwrap(),
        m.check(&probes()).unwrap()
    );
    reopened.save().unwrap();
    assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).unwrap(), saved);
    // no temporary files are left behind
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [STATE_FILE]);
}

#[tokio::test]
async fn a_corrupt_state_file_is_a_clear_error() {
    let (dir, feed) = all_kinds();
    Mirror::open(dir.path()).unwrap().sync(&feed).await.unwrap();
    let path = dir.path().join(STATE_FILE);
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let mut future = good.clone();
    future[14] = 9;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"{\"position\": 3}".to_vec(),
            "not an optout mirror",
        ),
        ("empty", Vec::new(), "not an optout mirror"),
        ("truncated", good[..good.len() - 40].to_vec(), "checksum"),
        ("flipped bit", flipped, "checksum"),
        ("future version", future, "format version 9"),
    ];
    for (what, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = Mirror::open(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, MirrorError::Corrupt { .. }),
            "{what}: {err:?}"
        );
        assert!(text.contains(expected), "{what}: {text}");
        assert!(text.contains(&path.display().to_string()), "{what}: {text}");
        assert!(text.contains("delete it and sync again"), "{what}: {text}");
    }
}

#[tokio::test]
async fn an_interrupted_sync_keeps_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let feed = Feed::default();
    let mut m = Mirror::open(dir.path()).unwrap();
    m.sync(&feed).await.unwrap();
    feed.add_hashes(1..=10);
    m.set_page_limit(3);
    feed.fail_after(2);
    let err = m.sync(&feed).await.unwrap_err();
    assert!(
        matches!(err, MirrorError::Client(ClientError::Unavailable { .. })),
        "{err:?}"
    );
    let reopened = Mirror::open(dir.path()).unwrap();
    assert_eq!(
        reopened.position(),
        Some(6),
        "two pages of three were saved"
    );
    assert_eq!(reopened.len(), 6);

    feed.fail_after(100);
    let mut m = reopened;
    let r = m.sync(&feed).await.unwrap();
    assert_eq!((r.applied, r.position, r.active), (4, 10, 10));
}

#[tokio::test]
async fn a_server_behind_the_mirror_is_reported_not_trusted() {
    let (dir, feed) = all_kinds();
    Mirror::open(dir.path()).unwrap().sync(&feed).await.unwrap();
    let other = Feed::default(); // e.g. another deployment, empty
    other.add(1, Kind::Sha256, WireValue::Text(hex(1)));
    let mut m = Mirror::open(dir.path()).unwrap();
    let err = m.sync(&other).await.unwrap_err();
    assert!(
        matches!(
            err,
            MirrorError::Diverged {
                local: 4,
                head: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(Mirror::open(dir.path()).unwrap().len(), 4, "left as it was");
}

#[test]
fn checks_need_a_synced_mirror_and_valid_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mirror::open(dir.path().join("never-synced")).unwrap();
    let err = m.check(&probes()).unwrap_err();
    assert!(matches!(err, MirrorError::NotSynced { .. }), "{err:?}");
    assert!(err.to_string().contains("optout sync --into"), "{err}");

    let m = mirror_at(dir.path(), 0, Vec::new());
    let err = m
        .check(&[Candidate::Sha256(hex(1)), Candidate::Face(vec![0.5; 3])])
        .unwrap_err();
    assert!(
        matches!(err, MirrorError::InvalidCandidate { index: 1, .. }),
        "{err:?}"
    );
    let answer = m.check(&[Candidate::Sha256(hex(1))]).unwrap();
    assert_eq!(answer.position, 0);
    assert!(!answer.results[0].excluded);
}
