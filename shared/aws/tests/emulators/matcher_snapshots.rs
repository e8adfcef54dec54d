//! The matcher snapshot (S3 in moto) with the exclusion table (DynamoDB Local): written by
//! `exclusions::snapshot::refresh`, loaded by a cold `ExclusionService`, which then catches up
//! from the change feed; damaged or foreign snapshots are refused and the table is read instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use optout_aws::matcher_snapshots::MATCHER_SNAPSHOT_KEY;
use optout_aws::testing::Stack;
use optout_aws::{DynamoExclusions, S3MatcherSnapshots};
use optout_core::exclusions::snapshot::{RefreshLimits, Refreshed, refresh};
use optout_core::exclusions::{ExclusionService, MatchSettings};
use optout_core::model::CaseId;
use optout_core::ports::*;
use optout_matcher::Candidate;
use optout_matcher::state::{StateReader, Value};
use optout_matcher::wire::CheckResponse;

use crate::fixtures::*;

/// The real table, counting full reads (`active`): how a test tells a snapshot load from the
/// fallback. Everything is delegated.
struct Counted {
    inner: DynamoExclusions,
    full_reads: AtomicUsize,
}

#[async_trait]
impl ExclusionStore for Counted {
    async fn add_entries(&self, new: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.inner.add_entries(new).await
    }
    async fn case_entries(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.inner.case_entries(case_id).await
    }
    async fn changes(&self, after: u64, limit: usize) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.inner.changes(after, limit).await
    }
    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.full_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.active().await
    }
    async fn withdraw_case(&self, case_id: CaseId, at: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.withdraw_case(case_id, at).await
    }
    async fn head(&self) -> Result<u64, StoreError> {
        self.inner.head().await
    }
}

fn table(s: &Stack) -> Arc<Counted> {
    Arc::new(Counted {
        inner: DynamoExclusions::new(
            s.clients.dynamodb.clone(),
            s.config.exclusions_table.as_deref().unwrap(),
        ),
        full_reads: AtomicUsize::new(0),
    })
}

fn snapshots(s: &Stack) -> Arc<S3MatcherSnapshots> {
    // small parts, so that a test snapshot spans several ranged GETs
    Arc::new(
        S3MatcherSnapshots::new(s.clients.s3.clone(), &s.config.photo_bucket).with_parts(4096, 3),
    )
}

/// A random unit vector of case `n` (two cases' faces are far apart: cosine ~ ±0.1).
fn face(n: u32) -> Vec<f32> {
    let mut rng = optout_matcher::rng::SplitMix64::new(u64::from(n) + 1);
    optout_matcher::synth::random_unit(&mut rng)
        .as_array()
        .to_vec()
}

/// A random PDQ hash of case `n` (two cases' are ~128 bits apart).
fn pdq(n: u32) -> String {
    let mut rng = optout_matcher::rng::SplitMix64::new(u64::from(n) + 1000);
    (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

/// The values of case `n`: a face, its photo's hashes and a link.
fn values(n: u32) -> Vec<ExclusionValue> {
    vec![
        ExclusionValue::Face(optout_matcher::FaceEmbedding::new(&face(n)).unwrap()),
        ExclusionValue::Sha256(format!("{n:064x}").parse().unwrap()),
        ExclusionValue::Pdq(pdq(n).parse().unwrap()),
        ExclusionValue::Url(
            format!("https://images.example.org/{n}.jpg")
                .parse()
                .unwrap(),
        ),
    ]
}

/// Probes for cases `0..n`: each value as a candidate (the URL spelled differently).
fn probes(n: u32) -> Vec<Candidate> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(Candidate::Face(face(i)));
        out.push(Candidate::Sha256(format!("{i:064X}")));
        out.push(Candidate::Pdq(pdq(i)));
        out.push(Candidate::Url(format!(
            "HTTPS://Images.Example.org/{i}.jpg#x"
        )));
    }
    out
}

async fn add(x: &dyn ExclusionStore, n: u32) -> CaseId {
    let case = CaseId::new(Utc::now());
    x.add_entries(NewEntries::new(case, &values(n), Utc::now()))
        .await
        .unwrap();
    case
}

/// What a service that reads the whole table answers.
async fn reference(x: Arc<Counted>, n: u32) -> CheckResponse {
    let svc = ExclusionService::new(x, MatchSettings::default());
    svc.check(probes(n)).await.unwrap()
}

fn excluded(r: &CheckResponse) -> Vec<bool> {
    r.results.iter().map(|c| c.excluded).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_start_loads_the_snapshot_and_catches_up_from_the_feed() {
    let s = stack("matcher-catchup").await;
    let x = table(&s);
    let snaps = snapshots(&s);
    let mut cases = Vec::new();
    for n in 0..6 {
        cases.push(add(x.as_ref(), n).await);
    }
    let r = refresh_now(&x, &snaps).await;
    assert!(r.written);
    assert_eq!((r.from, r.position, r.entries), (None, 24, 24));
    assert_eq!(snaps.position().await.unwrap(), Some(24));

    // after the snapshot: two more cases, one withdrawn that the snapshot holds, one added
    // and withdrawn after it
    cases.push(add(x.as_ref(), 6).await);
    cases.push(add(x.as_ref(), 7).await);
    assert_eq!(x.withdraw_case(cases[1], Utc::now()).await.unwrap(), 4);
    assert_eq!(x.withdraw_case(cases[7], Utc::now()).await.unwrap(), 4);

    let cold =
        ExclusionService::new(x.clone(), MatchSettings::default()).with_snapshots(snaps.clone());
    let got = cold.check(probes(9)).await.unwrap();
    assert_eq!(x.full_reads.load(Ordering::SeqCst), 0, "no full read");
    let want = reference(x.clone(), 9).await;
    assert_eq!(x.full_reads.load(Ordering::SeqCst), 1);
    assert_eq!(got, want, "the same answers, at the same position");
    let flags = excluded(&got);
    for (case, expected) in [
        (0, true),
        (1, false),
        (5, true),
        (6, true),
        (7, false),
        (8, false),
    ] {
        assert_eq!(
            &flags[case * 4..case * 4 + 4],
            &[expected; 4],
            "case {case}"
        );
    }
    assert_eq!(cold.indexed().unwrap(), 4 * 6);

    // an approval and a withdrawal after the load show in the very next check
    add(x.as_ref(), 8).await;
    x.withdraw_case(cases[0], Utc::now()).await.unwrap();
    let next = cold.check(probes(9)).await.unwrap();
    let flags = excluded(&next);
    assert_eq!(
        &flags[8 * 4..],
        &[true; 4],
        "the new approval matches at once"
    );
    assert_eq!(
        &flags[..4],
        &[false; 4],
        "the withdrawal never matches again"
    );
    assert_eq!(next.position, x.head().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_round_trips_through_s3_in_ranged_parts() {
    let s = stack("matcher-roundtrip").await;
    let x = table(&s);
    let snaps = snapshots(&s);
    assert_eq!(snaps.position().await.unwrap(), None);
    assert!(snaps.open().await.unwrap().is_none());
    for n in 0..30 {
        add(x.as_ref(), n).await;
    }
    refresh_now(&x, &snaps).await;
    let whole = stored_object(&s).await;
    assert_eq!(
        whole.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let whole = whole.body.collect().await.unwrap().into_bytes().to_vec();
    assert!(
        whole.len() > 3 * 4096,
        "several parts: {} bytes",
        whole.len()
    );

    // the ranged, parallel reader gives the same bytes in order
    let stream = snaps.open().await.unwrap().unwrap();
    assert_eq!(stream.len, Some(whole.len() as u64));
    let parts = tokio::task::spawn_blocking(move || {
        let mut r = stream.reader;
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut v).unwrap();
        v
    })
    .await
    .unwrap();
    assert_eq!(parts, whole);

    // and it decodes to the table's active entries, faces as derived records
    let active = x.inner.active().await.unwrap();
    let mut r = StateReader::new(whole.as_slice()).unwrap();
    assert_eq!(r.header().position, 120);
    let mut ids = Vec::new();
    let mut records = 0;
    while let Some(item) = r.next().unwrap() {
        ids.push(item.id);
        records += usize::from(matches!(item.value, Value::FaceRecord(_)));
    }
    assert_eq!(r.finish().unwrap(), 120);
    let mut want: Vec<u64> = active.iter().map(|e| e.id).collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(records, 30);
}

/// The housekeeper's refresh with the default settings and limits.
async fn refresh_now(x: &Arc<Counted>, snaps: &Arc<S3MatcherSnapshots>) -> Refreshed {
    refresh(
        x.as_ref(),
        snaps.as_ref(),
        MatchSettings::default(),
        RefreshLimits::default(),
    )
    .await
    .unwrap()
}

/// The stored snapshot object, read straight from the bucket.
async fn stored_object(s: &Stack) -> aws_sdk_s3::operation::get_object::GetObjectOutput {
    s.clients
        .s3
        .get_object()
        .bucket(&s.config.photo_bucket)
        .key(MATCHER_SNAPSHOT_KEY)
        .send()
        .await
        .unwrap()
}

async fn put_object(s: &Stack, body: Vec<u8>, position: u64) {
    s.clients
        .s3
        .put_object()
        .bucket(&s.config.photo_bucket)
        .key(MATCHER_SNAPSHOT_KEY)
        .metadata("position", position.to_string())
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_or_foreign_snapshots_are_refused_and_the_table_is_read() {
    let s = stack("matcher-damaged").await;
    let x = table(&s);
    let snaps = snapshots(&s);
    for n in 0..10 {
        add(x.as_ref(), n).await;
    }
    refresh_now(&x, &snaps).await;
    let good = stored_object(&s)
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec();
    let want = reference(x.clone(), 10).await;
    assert!(excluded(&want).iter().all(|e| *e));

    let mut flipped = good.clone();
    // a bit of a face's f16 vector, half way: only the checksum can tell
    let middle = good.len() / 2;
    flipped[middle] ^= 0x04;
    let mut foreign = good.clone();
    // another deployment's snapshot: a position beyond this table's head
    foreign[16..24].copy_from_slice(&1_000_000u64.to_le_bytes());
    let foreign = {
        // with a valid checksum
        use sha2::Digest;
        let body = &foreign[..foreign.len() - 32];
        let sum = sha2::Sha256::digest(body);
        let mut v = body.to_vec();
        v.extend_from_slice(&sum);
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("flipped bit", flipped),
        ("truncated", good[..good.len() - 100].to_vec()),
        ("not a snapshot", b"{\"position\": 3}".to_vec()),
        ("empty", Vec::new()),
        ("foreign", foreign),
    ];
    for (what, body) in cases {
        put_object(&s, body, 40).await;
        let before = x.full_reads.load(Ordering::SeqCst);
        let cold = ExclusionService::new(x.clone(), MatchSettings::default())
            .with_snapshots(snaps.clone());
        let got = cold.check(probes(10)).await.unwrap();
        assert_eq!(
            x.full_reads.load(Ordering::SeqCst),
            before + 1,
            "{what}: the table was read"
        );
        assert_eq!(got, want, "{what}");
    }

    // the housekeeper's refresh replaces an unusable snapshot with a good one
    put_object(&s, good[..good.len() - 100].to_vec(), 30).await;
    add(x.as_ref(), 10).await;
    let r = refresh_now(&x, &snaps).await;
    assert!(r.written);
    assert_eq!(
        (r.from, r.position, r.entries),
        (None, 44, 44),
        "rebuilt from the table"
    );
    let before = x.full_reads.load(Ordering::SeqCst);
    let cold =
        ExclusionService::new(x.clone(), MatchSettings::default()).with_snapshots(snaps.clone());
    assert_eq!(
        excluded(&cold.check(probes(11)).await.unwrap()),
        vec![true; 44]
    );
    assert_eq!(
        x.full_reads.load(Ordering::SeqCst),
        before,
        "loaded from the snapshot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_snapshot_of_a_large_table_is_built_over_several_runs() {
    let s = stack("matcher-steps").await;
    let x = table(&s);
    let snaps = snapshots(&s);
    for n in 0..12 {
        add(x.as_ref(), n).await;
    }
    let small = RefreshLimits {
        max_changes: 10,
        ..RefreshLimits::default()
    };
    // each run reads 10 changes of the 48 and stores what it reached
    let mut runs = 0;
    loop {
        let r = refresh(x.as_ref(), snaps.as_ref(), MatchSettings::default(), small)
            .await
            .unwrap();
        runs += 1;
        if !r.written {
            assert_eq!(r.position, 48);
            break;
        }
        assert!(runs < 60);
    }
    assert_eq!(
        runs, 6,
        "5 runs that write, one that finds the snapshot current"
    );
    let cold =
        ExclusionService::new(x.clone(), MatchSettings::default()).with_snapshots(snaps.clone());
    assert_eq!(
        cold.check(probes(12)).await.unwrap(),
        reference(x.clone(), 12).await
    );
    assert_eq!(
        x.full_reads.load(Ordering::SeqCst),
        1,
        "only the reference read the table"
    );
}
