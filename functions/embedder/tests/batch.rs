//! The SQS handler with the sample events of `events/`.

use std::sync::Mutex;

use aws_lambda_events::event::sqs::SqsEvent;
use optout_core::model::EmbedJob;
use optout_embedder_fn::{JobError, JobHandler, handle_batch};

fn event(name: &str) -> SqsEvent {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Fails the jobs of generation 2 (retryable) and 3 (permanent); records what it saw.
#[derive(Default)]
struct Scripted(Mutex<Vec<EmbedJob>>);

#[async_trait::async_trait]
impl JobHandler for Scripted {
    async fn handle(&self, job: &EmbedJob) -> Result<(), JobError> {
        self.0.lock().unwrap().push(job.clone());
        match job.generation {
            2 => Err(JobError::Retry("store down".into())),
            3 => Err(JobError::Permanent("photo gone".into())),
            _ => Ok(()),
        }
    }
}

fn failed_ids(r: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn partial_batch_failures_are_reported_by_message_id() {
    let ev = event("sqs-embed-jobs.json");
    assert_eq!(ev.records.len(), 5);
    let h = Scripted::default();
    let r = handle_batch(ev, &h).await;
    // Message 2: retryable failure; 3: permanent; 4: malformed body (never reaches the handler).
    assert_eq!(
        failed_ids(&r),
        vec![
            "2e1424d4-f796-459a-8184-9c92662be6d2",
            "3f6c1a2b-1d2e-4f5a-9b8c-7d6e5f4a3b2c",
            "4a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
        ]
    );
    let seen = h.0.lock().unwrap();
    assert_eq!(
        seen.len(),
        4,
        "every well-formed job is handled, the malformed one is not"
    );
}

#[tokio::test]
async fn a_clean_batch_reports_no_failure_and_serialises_as_lambda_expects() {
    let mut ev = event("sqs-embed-jobs.json");
    ev.records.retain(|r| {
        r.body
            .as_deref()
            .is_some_and(|b| EmbedJob::from_json(b).is_ok_and(|j| j.generation == 1))
    });
    assert_eq!(ev.records.len(), 2);
    let r = handle_batch(ev, &Scripted::default()).await;
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::json!({ "batchItemFailures": [] })
    );
}

#[tokio::test]
async fn failures_serialise_with_item_identifiers() {
    let r = handle_batch(event("sqs-embed-jobs.json"), &Scripted::default()).await;
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["batchItemFailures"][0]["itemIdentifier"],
        "2e1424d4-f796-459a-8184-9c92662be6d2"
    );
}

#[tokio::test]
async fn not_wired_keeps_every_job() {
    let r = handle_batch(event("sqs-embed-jobs.json"), &optout_embedder_fn::NotWired).await;
    assert_eq!(r.batch_item_failures.len(), 5);
}
