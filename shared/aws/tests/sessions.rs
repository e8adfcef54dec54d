//! Reviewers' sign-outs in DynamoDB (DynamoDB Local, the cases table created from
//! `infra/template.yaml`): per reviewer, only ever moving forward (also when sign-outs race),
//! an item of the table's key design with its TTL, kept out of the review queue. Needs
//! `scripts/setup-emulators` first.

use chrono::{DateTime, Duration, Utc};
use optout_aws::DynamoReviewerSessions;
use optout_aws::testing::{Emulators, Stack};
use optout_core::model::ReviewerName;
use optout_core::ports::{CaseFilter, CaseStore, Paging, ReviewerSessions, StoreError};
use optout_core::signing::admin::MAX_TTL_DAYS;

async fn stack(tag: &str) -> Stack {
    Stack::create(Emulators::shared(), tag)
        .await
        .expect("stack from the template")
}

fn sessions(s: &Stack) -> DynamoReviewerSessions {
    DynamoReviewerSessions::new(s.clients.dynamodb.clone(), &s.config.cases_table)
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_outs_are_per_reviewer_and_never_move_back() {
    let s = stack("sessions").await;
    let store = sessions(&s);
    let alice = ReviewerName::parse("alice").unwrap();
    let bob = ReviewerName::parse("bob@example.org").unwrap();
    assert_eq!(store.revoked_until(&alice).await.unwrap(), None);

    store.revoke(&alice, at(1_700_000_000_250)).await.unwrap();
    assert_eq!(
        store.revoked_until(&alice).await.unwrap(),
        Some(at(1_700_000_000_250))
    );
    assert_eq!(store.revoked_until(&bob).await.unwrap(), None);
    // An earlier time (another container's slower clock) changes nothing; a later one wins.
    store.revoke(&alice, at(1_700_000_000_100)).await.unwrap();
    assert_eq!(
        store.revoked_until(&alice).await.unwrap(),
        Some(at(1_700_000_000_250))
    );
    store.revoke(&alice, at(1_700_000_000_900)).await.unwrap();
    assert_eq!(
        store.revoked_until(&alice).await.unwrap(),
        Some(at(1_700_000_000_900))
    );

    // The item: the cases table's key design, the time in milliseconds, the TTL past the
    // longest session it can refuse.
    let item = s
        .cases_item("REVIEWER#alice", "SESSIONS")
        .await
        .expect("the sign-out item");
    assert_eq!(item["revoked_until"].as_n().unwrap(), "1700000000900");
    let ttl: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, 1_700_000_000 + (MAX_TTL_DAYS + 1) * 86_400);

    // Not a case: the review queue does not see it.
    let cases = s.case_store();
    let page = cases
        .list_cases(&CaseFilter::default(), Paging::new(50, None))
        .await
        .unwrap();
    assert!(page.cases.is_empty());
    assert!(cases.undispatched(50).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_sign_outs_keep_the_latest() {
    let s = stack("sessionsrace").await;
    let store = sessions(&s);
    let carol = ReviewerName::parse("carol").unwrap();
    let base = Utc::now();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let carol = carol.clone();
            tokio::spawn(async move {
                store
                    .revoke(&carol, base + Duration::milliseconds((i * 7) % 16))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let latest = (0..16).map(|i| (i * 7) % 16).max().unwrap();
    assert_eq!(
        store
            .revoked_until(&carol)
            .await
            .unwrap()
            .map(|t| t.timestamp_millis()),
        Some((base + Duration::milliseconds(latest)).timestamp_millis())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_is_unavailable_not_a_valid_session() {
    let s = stack("sessionsgone").await;
    let store = DynamoReviewerSessions::new(s.clients.dynamodb.clone(), "no-such-table");
    let alice = ReviewerName::parse("alice").unwrap();
    assert!(matches!(
        store.revoked_until(&alice).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.revoke(&alice, Utc::now()).await,
        Err(StoreError::Unavailable(_))
    ));
}
