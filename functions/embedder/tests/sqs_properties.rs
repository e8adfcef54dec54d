//! Property test of the embedder's reading of SQS batches: whatever the message bodies (any
//! text, near-miss JSON, missing bodies and ids), the handler never panics, every well-formed job
//! reaches the job handler once and in order, and exactly the malformed messages are reported
//! as failed, by their message id (so SQS retries them and then parks them in the dead-letter
//! queue, where an operator sees them).

use std::sync::Mutex;

use aws_lambda_events::event::sqs::SqsEvent;
use optout_core::model::{CaseId, EmbedJob};
use optout_embedder_fn::{JobError, JobHandler, handle_batch};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};

/// Takes every job and records it.
#[derive(Default)]
struct Recorder(Mutex<Vec<EmbedJob>>);

#[async_trait::async_trait]
impl JobHandler for Recorder {
    async fn handle(&self, job: &EmbedJob) -> Result<(), JobError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job.clone());
        Ok(())
    }
}

/// A message body: a job, a near miss, or anything at all; sometimes no body.
fn body() -> impl Strategy<Value = Option<String>> {
    let job = ("[0-7][0-9A-HJKMNP-TV-Z]{25}", any::<u32>()).prop_filter_map(
        "a case id",
        |(id, generation)| {
            CaseId::parse(&id).map(|case_id| {
                EmbedJob {
                    case_id,
                    generation,
                }
                .to_json()
            })
        },
    );
    prop::option::of(prop_oneof![
        3 => job,
        1 => "\\{\"case_id\":\"[0-9A-Z]{0,27}\",\"generation\":-?[0-9]{1,11}(\\.5)?\\}",
        1 => "\\{\"case_id\":\"01[0-9A-HJKMNP-TV-Z]{24}\"(,\"generation\":(null|\"1\"|true))?\\}",
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ])
}

#[test]
fn any_batch_is_split_into_jobs_handled_and_messages_reported() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let message = (prop::option::of("[0-9a-f-]{1,36}"), body());
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&prop::collection::vec(message, 0..12), |messages| {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, body)| {
                json!({
                    "messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                    "messageAttributes": {}, "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
                    "awsRegion": "eu-west-1",
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))
            .map_err(|e| TestCaseError::fail(format!("event: {e}")))?;
        let handler = Recorder::default();
        let response = rt.block_on(handle_batch(event, &handler));

        let parsed: Vec<Result<EmbedJob, String>> = messages
            .iter()
            .map(|(_, b)| EmbedJob::from_json(b.as_deref().unwrap_or("")))
            .collect();
        let want_jobs: Vec<EmbedJob> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
        let want_failed: Vec<String> = messages
            .iter()
            .zip(&parsed)
            .filter(|(_, p)| p.is_err())
            .map(|((id, _), _)| id.clone().unwrap_or_default())
            .collect();
        let seen = handler.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        prop_assert_eq!(seen, want_jobs);
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        prop_assert_eq!(failed, want_failed);
        for p in parsed.iter().filter_map(|p| p.as_ref().err()) {
            prop_assert!(p.starts_with("malformed embed job: "), "{}", p);
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
