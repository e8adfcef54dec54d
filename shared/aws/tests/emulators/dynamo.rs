use std::sync::Arc;

use chrono::{Duration, Utc};
use optout_aws::DynamoCaseStore;
use optout_core::model::*;
use optout_core::ports::*;
use optout_core::verdict::Verdict;

use crate::fixtures::*;

/// Inserts `case` with its `submitted` event under `key`.
async fn insert(db: &DynamoCaseStore, case: &Case, key: Option<&str>) -> InsertOutcome {
    db.insert_case(NewCase {
        case,
        audit: &audit(case, "submitted"),
        idempotency_key: key,
        job: None,
    })
    .await
    .unwrap()
}

/// The item of a case's personal data, read straight from its table.
async fn personal_item(
    s: &optout_aws::testing::Stack,
    id: CaseId,
) -> aws_sdk_dynamodb::operation::get_item::GetItemOutput {
    s.clients
        .dynamodb
        .get_item()
        .table_name(&s.config.personal_table)
        .key(
            "case_id",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_and_get_round_trip() {
    let s = stack("roundtrip").await;
    let db = s.case_store();
    let c = case();
    let a = audit(&c, "submitted");
    let out = db
        .insert_case(NewCase {
            case: &c,
            audit: &a,
            idempotency_key: Some("key-12345678"),
            job: None,
        })
        .await
        .unwrap();
    assert_eq!(out, InsertOutcome::Inserted);
    assert_eq!(db.get_case(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(db.audit_trail(c.id).await.unwrap(), vec![a]);
    assert_eq!(db.get_case(CaseId::new(Utc::now())).await.unwrap(), None);

    // Personal data sits in its own table, with the retention TTL; the case item has none of it.
    let item = s
        .cases_item(&format!("CASE#{}", c.id), "CASE")
        .await
        .unwrap();
    let doc = item["doc"].as_s().unwrap();
    assert!(
        !doc.contains("somchai") && !doc.contains("Somchai"),
        "personal data in the case item"
    );
    let p = personal_item(&s, c.id).await;
    let expires: i64 = p.item().unwrap()["expires_at"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, (c.due_at + s.desk.settings.retention).timestamp());
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_idempotency_key_and_photo() {
    let s = stack("dup").await;
    let db = s.case_store();
    let first = case();
    let a = audit(&first, "submitted");
    db.insert_case(NewCase {
        case: &first,
        audit: &a,
        idempotency_key: Some("same-key-1"),
        job: None,
    })
    .await
    .unwrap();

    // Same idempotency key, other photo.
    let second = case();
    let out = insert(&db, &second, Some("same-key-1")).await;
    assert_eq!(
        out,
        InsertOutcome::Duplicate(first.id, Unique::IdempotencyKey)
    );
    assert_eq!(
        db.get_case(second.id).await.unwrap(),
        None,
        "nothing of the duplicate was written"
    );
    assert!(db.audit_trail(second.id).await.unwrap().is_empty());

    // Other key, same photo.
    let mut third = case();
    third.photo = first.photo.clone();
    let out = insert(&db, &third, Some("other-key-2")).await;
    assert_eq!(out, InsertOutcome::Duplicate(first.id, Unique::Photo));
    // The key of the refused insert was not taken either.
    let fourth = case();
    let out = insert(&db, &fourth, Some("other-key-2")).await;
    assert_eq!(out, InsertOutcome::Inserted);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_from_one_version_exactly_one_wins() {
    let s = stack("conflict").await;
    let db = Arc::new(s.case_store());
    let c = case();
    insert(&db, &c, None).await;
    for round in 0..3u64 {
        let current = db.get_case(c.id).await.unwrap().unwrap();
        assert_eq!(current.version, 1 + round);
        let mut tasks = Vec::new();
        for i in 0..2 {
            let db = db.clone();
            let mut next = current.clone();
            next.version += 1;
            next.quality_issue = Some([Verdict::NoFace, Verdict::TooBlurred][i]);
            tasks.push(tokio::spawn(async move {
                let a = audit(&next, "update");
                db.update_case(&next, &a).await
            }));
        }
        let mut ok = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict) => conflicts += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!((ok, conflicts), (1, 1), "round {round}");
    }
    assert_eq!(db.audit_trail(c.id).await.unwrap().len(), 4);
    // A stale write after the fact conflicts too.
    let mut stale = c.clone();
    stale.version = 2;
    assert!(matches!(
        db.update_case(&stale, &audit(&stale, "stale")).await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn undispatched_and_review_queue() {
    let s = stack("undispatched").await;
    let db = s.case_store();
    let now = Utc::now();
    let a = case_at(now);
    let mut b = case_at(now + Duration::milliseconds(5));
    b.job_dispatched = true;
    b.receipt_sent = true;
    for c in [&a, &b] {
        db.insert_case(NewCase {
            case: c,
            audit: &audit(c, "submitted"),
            idempotency_key: None,
            job: None,
        })
        .await
        .unwrap();
    }
    let pending: Vec<CaseId> = db
        .undispatched(10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(pending, vec![a.id]);
    let full = db.undispatched(10).await.unwrap().remove(0);
    assert!(full.personal.is_some(), "the relay needs the address");

    let mut done = a.clone();
    done.version = 2;
    done.job_dispatched = true;
    done.receipt_sent = true;
    done.state = CaseState::AwaitingReview;
    done.due_at = now + Duration::days(2);
    db.update_case(&done, &audit(&done, "job_enqueued,receipt_sent"))
        .await
        .unwrap();
    assert!(db.undispatched(10).await.unwrap().is_empty());

    let mut later = b.clone();
    later.version = 2;
    later.state = CaseState::AwaitingReview;
    db.update_case(&later, &audit(&later, "state:awaiting_review"))
        .await
        .unwrap();
    assert_eq!(
        db.by_state(CaseState::AwaitingReview, 10).await.unwrap(),
        vec![a.id, b.id],
        "earliest due first"
    );
    assert_eq!(
        db.by_state(CaseState::AwaitingReview, 1).await.unwrap(),
        vec![a.id]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn erasing_personal_data_deletes_its_item() {
    let s = stack("erase").await;
    let db = s.case_store();
    let c = case();
    insert(&db, &c, None).await;
    let mut e = c.clone();
    e.version = 2;
    e.state = CaseState::Withdrawn;
    e.personal = None;
    db.update_case(&e, &audit(&e, "erased")).await.unwrap();
    assert_eq!(db.get_case(c.id).await.unwrap(), Some(e));
    let p = personal_item(&s, c.id).await;
    assert!(p.item().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn list_cases_pages_in_queue_order_with_filters() {
    let s = stack("list").await;
    let db = s.case_store();
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..5i64 {
        let mut c = case_at(now + Duration::milliseconds(i));
        c.due_at = now + Duration::days(10 - i); // the last one is the most urgent
        if i == 4 {
            c.kind = CaseKind::DsaNotice;
        }
        insert(&db, &c, None).await;
        ids.push(c.id);
    }
    let all = CaseFilter {
        states: vec![CaseState::Received],
        ..Default::default()
    };
    let p1 = db.list_cases(&all, Paging::new(2, None)).await.unwrap();
    assert_eq!(
        p1.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let p2 = db.list_cases(&all, Paging::new(2, p1.next)).await.unwrap();
    assert_eq!(
        p2.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let p3 = db.list_cases(&all, Paging::new(2, p2.next)).await.unwrap();
    assert_eq!(
        p3.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(p3.next.is_none());
    let dsa = CaseFilter {
        kind: Some(CaseKind::DsaNotice),
        ..Default::default()
    };
    assert_eq!(
        db.list_cases(&dsa, Paging::new(10, None))
            .await
            .unwrap()
            .cases
            .len(),
        1
    );
}
