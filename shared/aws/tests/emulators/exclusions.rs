//! The exclusion table (DynamoDB Local), the indexer keys (SSM in moto) and the snapshot publisher
//! (S3 in moto), through the real SDK clients.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use chrono::{DateTime, Utc};
use optout_aws::testing::{Stack, free_port};
use optout_aws::{DynamoExclusions, S3SnapshotPublisher, SsmIndexerKeys};
use optout_core::model::CaseId;
use optout_core::ports::*;

use crate::fixtures::*;

fn store(s: &Stack) -> DynamoExclusions {
    let table = s
        .config
        .exclusions_table
        .as_deref()
        .expect("the template gives the api function OPTOUT_EXCLUSIONS_TABLE");
    assert_eq!(table, s.name("ExclusionsTable"));
    DynamoExclusions::new(s.clients.dynamodb.clone(), table)
}

fn face(seed: f32) -> ExclusionValue {
    let v: Vec<f32> = (0..128).map(|i| ((i as f32) * 0.37 + seed).sin()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let v: Vec<f32> = v.into_iter().map(|x| x / norm).collect();
    ExclusionValue::Face(optout_matcher::FaceEmbedding::new(&v).unwrap())
}

fn sha(n: u32) -> ExclusionValue {
    ExclusionValue::Sha256(format!("{n:064x}").parse().unwrap())
}

fn values(n: u32) -> Vec<ExclusionValue> {
    vec![
        face(n as f32),
        sha(n),
        ExclusionValue::Pdq(format!("{:064x}", u64::from(n) << 7).parse().unwrap()),
        ExclusionValue::Url(
            format!("https://images.example.org/{n}.jpg")
                .parse()
                .unwrap(),
        ),
    ]
}

fn new_case() -> CaseId {
    CaseId::new(Utc::now())
}

/// Every change after `after`, paged by `page`.
async fn replay(x: &dyn ExclusionStore, after: u64, page: usize) -> Vec<ExclusionEntry> {
    let mut all = Vec::new();
    let mut after = after;
    loop {
        let got = x.changes(after, page).await.unwrap();
        assert!(got.len() <= page);
        let Some(last) = got.last() else {
            return all;
        };
        after = last.position;
        all.extend(got);
    }
}

/// The active set an indexer holds after applying `changes` in order (each entry's current state).
fn apply(state: &mut BTreeMap<u64, ExclusionEntry>, changes: &[ExclusionEntry]) {
    for e in changes {
        match e.state {
            EntryState::Active => state.insert(e.id, e.clone()),
            EntryState::Withdrawn => state.remove(&e.id),
        };
    }
}

fn by_id(entries: Vec<ExclusionEntry>) -> BTreeMap<u64, ExclusionEntry> {
    entries.into_iter().map(|e| (e.id, e)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn add_is_idempotent_per_case_and_value() {
    let s = stack("exadd").await;
    let x = store(&s);
    assert_eq!(x.head().await.unwrap(), 0);
    assert!(x.changes(0, 10).await.unwrap().is_empty());
    assert!(x.active().await.unwrap().is_empty());

    let (a, b) = (new_case(), new_case());
    let at: DateTime<Utc> = "2025-03-01T10:00:00.123456789Z".parse().unwrap();
    let added = x
        .add_entries(NewEntries::new(a, &values(1), at))
        .await
        .unwrap();
    assert_eq!(added.len(), 4);
    for (i, e) in added.iter().enumerate() {
        let pos = i as u64 + 1;
        assert_eq!(
            (e.id, e.position),
            (pos, pos),
            "id is the position at creation"
        );
        assert_eq!(e.case_id, a);
        assert_eq!(e.state, EntryState::Active);
        assert_eq!(
            (e.created_at, e.updated_at),
            (at, at),
            "times read back exactly"
        );
        assert_eq!(e.value, values(1)[i]);
    }
    assert_eq!(x.head().await.unwrap(), 4);

    // Again, with one more value and a value twice: only the new value is added.
    let mut again = values(1);
    again.push(sha(99));
    again.push(sha(99));
    let later = at + chrono::Duration::minutes(5);
    let active = x
        .add_entries(NewEntries::new(a, &again, later))
        .await
        .unwrap();
    assert_eq!(active.len(), 5);
    assert_eq!(&active[..4], &added[..]);
    assert_eq!((active[4].id, active[4].value.clone()), (5, sha(99)));
    assert_eq!(x.head().await.unwrap(), 5);
    assert_eq!(
        x.add_entries(NewEntries::new(a, &[], later)).await.unwrap(),
        active
    );

    // The same value in another case is another entry.
    let other = x
        .add_entries(NewEntries::new(b, &[sha(1)], later))
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].id, other[0].case_id), (6, b));
    assert_eq!(x.case_entries(a).await.unwrap(), active);
    assert_eq!(x.case_entries(b).await.unwrap(), other);
    assert!(x.case_entries(new_case()).await.unwrap().is_empty());
    assert_eq!(x.head().await.unwrap(), 6);
    let all_active = x.active().await.unwrap();
    assert_eq!(
        all_active.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_come_in_position_order_and_page() {
    let s = stack("exchanges").await;
    let x = store(&s);
    let now = Utc::now();
    for n in 0..5 {
        x.add_entries(NewEntries::new(new_case(), &values(n), now))
            .await
            .unwrap();
    }
    assert_eq!(x.head().await.unwrap(), 20);
    let all = x.changes(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    for page in [1, 3, 7, 20] {
        assert_eq!(replay(&x, 0, page).await, all, "page {page}");
    }
    assert_eq!(x.changes(7, 3).await.unwrap(), all[7..10].to_vec());
    assert!(x.changes(20, 10).await.unwrap().is_empty());
    assert!(x.changes(0, 0).await.unwrap().is_empty());
    assert!(x.changes(u64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(x.active().await.unwrap(), all);
}

#[tokio::test(flavor = "multi_thread")]
async fn withdrawal_moves_entries_to_new_positions() {
    let s = stack("exwithdraw").await;
    let x = store(&s);
    let (a, b) = (new_case(), new_case());
    let t0 = Utc::now();
    x.add_entries(NewEntries::new(a, &values(1)[..3], t0))
        .await
        .unwrap();
    let kept = x
        .add_entries(NewEntries::new(b, &values(2)[..2], t0))
        .await
        .unwrap();
    assert_eq!(x.head().await.unwrap(), 5);

    // A snapshot labelled with the head before the withdrawal, then the changes after it.
    let label = x.head().await.unwrap();
    let snapshot = x.active().await.unwrap();
    assert_eq!(snapshot.len(), 5);

    let t1 = t0 + chrono::Duration::hours(1);
    assert_eq!(x.withdraw_case(a, t1).await.unwrap(), 3);
    assert_eq!(x.head().await.unwrap(), 8);
    let entries = x.case_entries(a).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.id, e.position, e.state))
            .collect::<Vec<_>>(),
        vec![
            (1, 6, EntryState::Withdrawn),
            (2, 7, EntryState::Withdrawn),
            (3, 8, EntryState::Withdrawn)
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.created_at == t0 && e.updated_at == t1)
    );
    assert_eq!(x.active().await.unwrap(), kept);

    // The feed shows each entry once, at its current position; the old positions are skipped.
    let feed = x.changes(0, 100).await.unwrap();
    assert_eq!(
        feed.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![4, 5, 6, 7, 8]
    );
    assert_eq!(x.changes(0, 1).await.unwrap(), kept[..1].to_vec());
    assert_eq!(x.changes(5, 100).await.unwrap(), entries);
    assert_eq!(replay(&x, 0, 2).await, feed);

    // The snapshot plus the changes after its label converge to the active set.
    let mut state = by_id(snapshot);
    apply(&mut state, &x.changes(label, 100).await.unwrap());
    assert_eq!(state, by_id(x.active().await.unwrap()));

    // Withdrawing again does nothing; adding a withdrawn value again makes a new entry.
    assert_eq!(x.withdraw_case(a, t1).await.unwrap(), 0);
    assert_eq!(x.head().await.unwrap(), 8);
    let readded = x
        .add_entries(NewEntries::new(a, &values(1)[..1], t1))
        .await
        .unwrap();
    assert_eq!(readded.len(), 1);
    assert_eq!((readded[0].id, readded[0].position), (9, 9));
    assert_eq!(x.case_entries(a).await.unwrap().len(), 4);
    assert_eq!(x.withdraw_case(new_case(), t1).await.unwrap(), 0);
}

/// The feed item of `e` as the store lays it out (see `optout_aws::exclusions`), written directly.
async fn put_feed_item(s: &Stack, e: &ExclusionEntry) {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let ExclusionValue::Sha256(v) = &e.value else {
        panic!("a sha256 entry")
    };
    s.clients
        .dynamodb
        .put_item()
        .table_name(s.name("ExclusionsTable"))
        .item("pk", S(format!("FEED#{}", e.position / 1024)))
        .item("sk", S(format!("{:020}", e.position)))
        .item("id", N(e.id.to_string()))
        .item("position", N(e.position.to_string()))
        .item("case_id", S(e.case_id.to_string()))
        .item("kind", S("sha256".into()))
        .item("value", S(v.to_hex()))
        .item("state", S("active".into()))
        .item("created_at", S(e.created_at.to_rfc3339()))
        .item("updated_at", S(e.updated_at.to_rfc3339()))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_stops_before_a_position_that_is_not_visible_yet() {
    let s = stack("exgap").await;
    let x = store(&s);
    let case = new_case();
    let now = Utc::now();
    let first = x
        .add_entries(NewEntries::new(case, &[sha(1), sha(2)], now))
        .await
        .unwrap();
    // What a reader could see while a transaction writing positions 3 and 4 is being applied:
    // position 4 is there, position 3 not yet.
    let entry = |position: u64| ExclusionEntry {
        id: position,
        position,
        case_id: case,
        value: sha(position as u32),
        state: EntryState::Active,
        created_at: now,
        updated_at: now,
    };
    put_feed_item(&s, &entry(4)).await;
    assert_eq!(x.changes(0, 10).await.unwrap(), first, "stops at the gap");
    assert!(x.changes(2, 10).await.unwrap().is_empty());
    assert!(x.changes(1, 10).await.unwrap()[0].position == 2);
    // Position 3 becomes visible: both come, in order.
    put_feed_item(&s, &entry(3)).await;
    let after = x.changes(2, 10).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(after[0].value, sha(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_cases_are_written_in_chunks_across_feed_partitions() {
    let s = stack("exchunks").await;
    let x = store(&s);
    let case = new_case();
    let now = Utc::now();
    // More than one transaction's worth, and more positions than one feed partition (1024).
    let many: Vec<ExclusionValue> = (0..1100).map(sha).collect();
    let added = x
        .add_entries(NewEntries::new(case, &many, now))
        .await
        .unwrap();
    assert_eq!(added.len(), 1100);
    assert_eq!(
        added.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=1100).collect::<Vec<_>>()
    );
    assert_eq!(x.head().await.unwrap(), 1100);
    let feed = replay(&x, 1000, 60).await;
    assert_eq!(
        feed.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1001..=1100).collect::<Vec<_>>()
    );
    assert_eq!(x.active().await.unwrap().len(), 1100);

    let other = new_case();
    x.add_entries(NewEntries::new(
        other,
        &(2000..2070).map(sha).collect::<Vec<_>>(),
        now,
    ))
    .await
    .unwrap();
    assert_eq!(x.withdraw_case(other, now).await.unwrap(), 70);
    assert_eq!(x.head().await.unwrap(), 1240);
    let tail = x.changes(1100, 1000).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1171..=1240).collect::<Vec<_>>()
    );
    assert!(tail.iter().all(|e| e.state == EntryState::Withdrawn));
    assert_eq!(x.active().await.unwrap().len(), 1100);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_never_show_a_reader_a_gap() {
    let s = stack("exrace").await;
    let x: Arc<dyn ExclusionStore> = Arc::new(store(&s));
    const WRITERS: u32 = 20;

    // An indexer syncing incrementally while the writers run.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (x, done) = (x.clone(), done.clone());
        tokio::spawn(async move {
            let mut after = 0;
            let mut state = BTreeMap::new();
            let mut pages = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let got = x.changes(after, 5).await.unwrap();
                for w in got.windows(2) {
                    assert!(w[0].position < w[1].position, "out of order");
                }
                if let Some(first) = got.first() {
                    assert!(first.position > after);
                }
                apply(&mut state, &got);
                match got.last() {
                    Some(last) => {
                        after = last.position;
                        pages += 1;
                    }
                    None if finished => return (state, after, pages),
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
    };

    let cases: Vec<CaseId> = (0..WRITERS).map(|_| new_case()).collect();
    let writers: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &case)| {
            let x = x.clone();
            tokio::spawn(async move {
                let vals = values(i as u32);
                let added = x
                    .add_entries(NewEntries::new(case, &vals, Utc::now()))
                    .await
                    .unwrap();
                assert_eq!(added.len(), vals.len());
                // Every fourth case is withdrawn again, racing with the other additions.
                if i % 4 == 0 {
                    assert_eq!(x.withdraw_case(case, Utc::now()).await.unwrap(), vals.len());
                }
                added
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for w in writers {
        for e in w.await.unwrap() {
            assert!(ids.insert(e.id), "entry id {} given twice", e.id);
        }
    }
    done.store(true, Ordering::SeqCst);
    let (synced, synced_to, pages) = reader.await.unwrap();

    let added = WRITERS as u64 * 4;
    let withdrawn = (0..WRITERS).filter(|i| i % 4 == 0).count() as u64 * 4;
    let head = x.head().await.unwrap();
    assert_eq!(head, added + withdrawn);
    // Positions are dense: every position up to the head was given to exactly one addition or
    // withdrawal (ids are the positions of additions, withdrawn entries hold the others).
    let mut given: Vec<u64> = ids.iter().copied().collect();
    let mut per_case: HashMap<CaseId, Vec<ExclusionEntry>> = HashMap::new();
    for &c in &cases {
        let entries = x.case_entries(c).await.unwrap();
        assert_eq!(entries.len(), 4);
        given.extend(
            entries
                .iter()
                .filter(|e| e.state == EntryState::Withdrawn)
                .map(|e| e.position),
        );
        per_case.insert(c, entries);
    }
    given.sort_unstable();
    assert_eq!(given, (1..=head).collect::<Vec<_>>());

    let active = by_id(x.active().await.unwrap());
    assert_eq!(active.len() as u64, added - withdrawn);
    // The reader that synced while the writers ran missed nothing.
    assert_eq!(
        synced, active,
        "incremental sync diverged (synced to {synced_to}, {pages} pages)"
    );
    // A replay of the feed from the start gives exactly the active set, and each entry once.
    let mut replayed = BTreeMap::new();
    let feed = replay(x.as_ref(), 0, 9).await;
    assert_eq!(feed.len() as u64, added);
    apply(&mut replayed, &feed);
    assert_eq!(replayed, active);
    for (c, entries) in per_case {
        for e in entries {
            assert_eq!(e.case_id, c);
            assert!(feed.contains(&e), "entry {} in its current state", e.id);
        }
    }
}

// ------------------------------------------------------------------ indexer keys (SSM)

fn key(id: &str, revoked: bool) -> IndexerKey {
    IndexerKey {
        id: id.to_owned(),
        name: format!("indexer {id}"),
        secret_sha256: format!("{:0>64}", hex_of(id)),
        rate_per_minute: 600,
        created_at: "2025-01-01T00:00:00Z".parse().unwrap(),
        revoked_at: revoked.then(|| "2025-02-01T00:00:00Z".parse().unwrap()),
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn put_keys(s: &Stack, name: &str, keys: &[IndexerKey]) {
    s.clients
        .ssm
        .put_parameter()
        .name(name)
        .r#type(ParameterType::SecureString)
        .value(serde_json::to_string(keys).unwrap())
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn indexer_keys_follow_the_parameter() {
    let s = stack("ssmkeys").await;
    let name = format!("/{}/indexer-keys", s.prefix);
    let short = SsmIndexerKeys::new(s.clients.ssm.clone(), &name, Duration::from_millis(300));
    let cached = SsmIndexerKeys::new(s.clients.ssm.clone(), &name, Duration::from_secs(3600));
    let wait = || tokio::time::sleep(Duration::from_millis(400));

    // No parameter: no keys.
    assert_eq!(short.find_key("k1").await.unwrap(), None);

    put_keys(&s, &name, &[key("k1", false)]).await;
    assert_eq!(
        short.find_key("k1").await.unwrap(),
        None,
        "within the refresh interval the cached answer stands"
    );
    wait().await;
    assert_eq!(short.find_key("k1").await.unwrap(), Some(key("k1", false)));
    assert_eq!(cached.find_key("k1").await.unwrap(), Some(key("k1", false)));
    assert_eq!(short.find_key("k2").await.unwrap(), None);

    // A second key is added and the first revoked.
    put_keys(&s, &name, &[key("k1", true), key("k2", false)]).await;
    wait().await;
    let k1 = short.find_key("k1").await.unwrap().unwrap();
    assert!(
        k1.revoked_at.is_some(),
        "the revocation is seen after one interval"
    );
    assert_eq!(short.find_key("k2").await.unwrap(), Some(key("k2", false)));
    // The long-interval store still answers from its cache (no SSM call per request).
    assert_eq!(cached.find_key("k1").await.unwrap(), Some(key("k1", false)));
    assert_eq!(cached.find_key("k2").await.unwrap(), None);

    // A malformed value is reported, not taken as "no keys".
    s.clients
        .ssm
        .put_parameter()
        .name(&name)
        .r#type(ParameterType::SecureString)
        .value("optk_k9_thisisnotjson")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    wait().await;
    let err = short.find_key("k1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(!err.to_string().contains("thisisnotjson"), "{err}");

    // The parameter is deleted: no keys again.
    s.clients
        .ssm
        .delete_parameter()
        .name(&name)
        .send()
        .await
        .unwrap();
    wait().await;
    assert_eq!(short.find_key("k1").await.unwrap(), None);
    assert_eq!(short.find_key("k2").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn indexer_keys_from_an_unreachable_ssm_are_unavailable() {
    let s = stack("ssmdown").await;
    let port = free_port().unwrap();
    let conf = aws_sdk_ssm::config::Builder::from(&s.sdk)
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let keys = SsmIndexerKeys::new(
        aws_sdk_ssm::Client::from_conf(conf),
        "/optout/indexer-keys",
        Duration::from_secs(60),
    );
    let r = keys.find_key("k1").await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
}

// ------------------------------------------------------------------ snapshots (S3)

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_are_stored_once_and_served_by_presigned_url() {
    let s = stack("snapshots").await;
    let publisher = S3SnapshotPublisher::new(s.clients.s3.clone(), &s.config.photo_bucket);
    let first = br#"{"position":42,"entries":[]}"#.to_vec();
    let url = publisher.publish(42, first.clone()).await.unwrap();
    assert!(url.contains("snapshots/00000000000000000042.json"), "{url}");
    assert!(url.contains("X-Amz-Expires=900"), "valid 15 minutes: {url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");

    let get = |u: String| async move {
        let resp = reqwest::get(&u).await.unwrap();
        assert!(resp.status().is_success(), "GET {u}: {}", resp.status());
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (ctype, resp.bytes().await.unwrap().to_vec())
    };
    let (ctype, body) = get(url).await;
    assert_eq!(ctype, "application/json");
    assert_eq!(body, first);

    let head_42 = || {
        s.clients
            .s3
            .head_object()
            .bucket(&s.config.photo_bucket)
            .key("snapshots/00000000000000000042.json")
            .send()
    };
    let head = head_42().await.unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );

    // The same position again: the stored snapshot is served, not written again.
    let url = publisher
        .publish(42, br#"{"position":42,"other":true}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(get(url).await.1, first);
    let again = head_42().await.unwrap();
    assert_eq!(again.e_tag(), head.e_tag());
    assert_eq!(again.last_modified(), head.last_modified());

    // Another position is another object.
    let second = br#"{"position":43}"#.to_vec();
    let url = publisher.publish(43, second.clone()).await.unwrap();
    assert_eq!(get(url).await.1, second);
}
