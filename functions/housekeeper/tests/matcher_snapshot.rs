//! The housekeeper's matcher snapshot step on the AWS adapters (DynamoDB Local, moto S3): it
//! writes the snapshot when the exclusion table's head moved past it, and not otherwise. Needs
//! `scripts/setup-emulators` first.

use chrono::Utc;
use optout_aws::matcher_snapshots::MATCHER_SNAPSHOT_KEY;
use optout_aws::testing::{Emulators, Stack};
use optout_core::model::CaseId;
use optout_core::ports::{ExclusionValue, NewEntries};
use optout_housekeeper_fn::matcher_snapshot::refresh;

async fn etag(stack: &Stack) -> Option<String> {
    stack
        .clients
        .s3
        .head_object()
        .bucket(&stack.config.photo_bucket)
        .key(MATCHER_SNAPSHOT_KEY)
        .send()
        .await
        .ok()
        .and_then(|h| h.e_tag().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_is_written_when_the_head_moved_and_not_otherwise() {
    let stack = Stack::create(Emulators::shared(), "hk-matcher")
        .await
        .unwrap();
    let desk = stack.local_desk();
    let x = desk.ports.exclusions.clone();
    let approve = |n: u32| {
        let x = x.clone();
        async move {
            x.add_entries(NewEntries::new(
                CaseId::new(Utc::now()),
                &[
                    ExclusionValue::Sha256(format!("{n:064x}").parse().unwrap()),
                    ExclusionValue::Url(
                        format!("https://images.example.org/{n}.jpg")
                            .parse()
                            .unwrap(),
                    ),
                ],
                Utc::now(),
            ))
            .await
            .unwrap();
        }
    };
    assert_eq!(etag(&stack).await, None);
    approve(1).await;
    approve(2).await;

    let first = refresh(&desk).await.expect("a snapshot store in AWS");
    assert!(first.written);
    assert_eq!((first.from, first.position, first.entries), (None, 4, 4));
    let stored = etag(&stack).await.expect("stored");

    // the head did not move: nothing is read or written
    let again = refresh(&desk).await.unwrap();
    assert!(!again.written);
    assert_eq!(again.position, 4);
    assert_eq!(etag(&stack).await.as_ref(), Some(&stored));

    // it moved: the snapshot follows
    approve(3).await;
    let moved = refresh(&desk).await.unwrap();
    assert!(moved.written);
    assert_eq!(
        (moved.from, moved.position, moved.entries, moved.changes),
        (Some(4), 6, 6, 2)
    );
    assert_ne!(etag(&stack).await, Some(stored));
    let position = desk
        .ports
        .matcher_snapshots
        .as_ref()
        .unwrap()
        .position()
        .await
        .unwrap();
    assert_eq!(position, Some(6));
}
