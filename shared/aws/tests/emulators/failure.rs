use std::time::{Duration, Instant};

use chrono::Utc;
use optout_aws::testing::{Emulators, Stack};
use optout_core::Lang;
use optout_core::model::{CaseId, EmbedJob};
use optout_core::ports::*;

use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread")]
async fn stopped_emulators_give_unavailable_quickly() {
    let mut em = Emulators::start().expect("private emulators");
    let s = Stack::create(&em, "down").await.unwrap();
    let ports = s.ports();
    em.dynamodb.stop();
    em.moto.stop();

    let start = Instant::now();
    let c = case();
    assert!(matches!(
        ports.cases.get_case(c.id).await,
        Err(StoreError::Unavailable(_))
    ));
    let a = audit(&c, "submitted");
    let r = ports
        .cases
        .insert_case(NewCase {
            case: &c,
            audit: &a,
            idempotency_key: None,
            job: None,
        })
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let job = EmbedJob {
        case_id: c.id,
        generation: 1,
    };
    assert!(matches!(
        ports.queue.enqueue(&job).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        ports.photos.read(&upload_key(), 1000).await,
        Err(PhotoReadError::Store(StoreError::Unavailable(_)))
    ));
    assert!(matches!(
        ports.photos.claim(&upload_key()).await,
        Err(StoreError::Unavailable(_))
    ));
    let mail = Mail {
        to: "a@example.org".into(),
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
        lang: Lang::En,
        tag: "receipt".into(),
        key: "test:receipt".into(),
        case_id: Some(CaseId::new(Utc::now())),
    };
    assert!(matches!(
        ports.mailer.send(&mail).await,
        Err(MailError::Unavailable(_))
    ));
    let now = Utc::now();
    assert!(matches!(
        ports
            .mail_ledger
            .claim(
                &mail.key,
                Hold::new("a", now, now + chrono::Duration::minutes(2))
            )
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        ports.exclusions.head().await,
        Err(StoreError::Unavailable(_))
    ));
    let r = ports
        .exclusions
        .add_entries(NewEntries::new(
            c.id,
            &[ExclusionValue::Sha256("ab".repeat(32).parse().unwrap())],
            Utc::now(),
        ))
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert!(matches!(
        ports.exclusions.changes(0, 10).await,
        Err(StoreError::Unavailable(_))
    ));
    let snapshots =
        optout_aws::S3SnapshotPublisher::new(s.clients.s3.clone(), &s.config.photo_bucket);
    assert!(matches!(
        snapshots.publish(1, b"{}".to_vec()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}
