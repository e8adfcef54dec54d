//! The AWS mode when a service fails mid-flow: a clean 503 with a retry hint and nothing
//! half-written; a job that could not be queued is queued by the next housekeeping run and
//! completes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use optout_aws::testing::Emulators;
use optout_core::model::EmbedJob;
use optout_core::ports::{JobQueue, StoreError};
use optout_scenarios::aws::Aws;
use optout_scenarios::scenarios::{status_token, submit_face, upload_photo};
use optout_scenarios::{Mode, Req, fixture};
use serde_json::json;

async fn queued_messages(aws: &Aws) -> usize {
    let attrs = aws
        .stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&aws.stack.config.job_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes");
    let get = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_store_stopped_mid_flow_gives_503_and_writes_nothing() {
    let mut emulators = Emulators::start().expect("private emulators");
    let aws = Aws::start_on(&emulators, "store-down").await;
    let email = aws.email("down");
    // The photo is uploaded; then DynamoDB goes away before the submission.
    let key = upload_photo(&aws, fixture("person_a_1.jpg")).await;
    emulators.dynamodb.stop();
    let body = json!({
        "kind": "face_opt_out", "lang": "en", "country": "TH", "first_name": "Somchai",
        "last_name": "Jaidee", "email": email, "phone": "+66812345678", "consent": true,
        "reason": "I never agreed to photos of my face being searchable.", "upload_key": key,
    });
    let r = aws.send(Req::post_json("/v1/cases", &body)).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some(), "a retry hint");
    assert_eq!(r.json()["error"]["code"], "unavailable");
    assert!(
        !r.text().contains("dynamodb") && !r.text().contains("127.0.0.1"),
        "the cause stays in the logs: {}",
        r.text()
    );
    // Nothing half-written: no job, no receipt, and the form pages still work.
    assert_eq!(queued_messages(&aws).await, 0);
    assert!(aws.mails_to(&email).await.is_empty());
    assert_eq!(aws.send(Req::get("/opt-out")).await.status, 200);
}

/// Failure injection: SQS refuses messages while `down` is set.
struct FlakyQueue {
    inner: Arc<dyn JobQueue>,
    down: Arc<AtomicBool>,
}

#[async_trait]
impl JobQueue for FlakyQueue {
    async fn enqueue(&self, job: &EmbedJob) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected: SQS down".into()));
        }
        self.inner.enqueue(job).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_sqs_refused_is_queued_by_housekeeping_and_completes() {
    let down = Arc::new(AtomicBool::new(true));
    let flag = down.clone();
    let aws = Aws::start_with(Emulators::shared(), "sqs-down", move |ports| {
        ports.queue = Arc::new(FlakyQueue {
            inner: ports.queue.clone(),
            down: flag,
        });
    })
    .await;
    let email = aws.email("later");
    let case = submit_face(&aws, &email, fixture("person_a_1.jpg"), "flaky-key-1").await;
    let token = status_token(case["status_url"].as_str().unwrap());
    // Accepted (the case and its photo are stored, the receipt sent); the job is pending.
    assert_eq!(aws.mails_to(&email).await.len(), 1);
    assert_eq!(queued_messages(&aws).await, 0);
    assert_eq!(aws.run_jobs().await, 0);

    // Housekeeping while SQS is still down changes nothing and loses nothing.
    aws.housekeep().await;
    assert_eq!(queued_messages(&aws).await, 0);

    down.store(false, Ordering::SeqCst);
    aws.housekeep().await;
    assert_eq!(queued_messages(&aws).await, 1, "the job is queued");
    assert_eq!(aws.run_jobs().await, 1);
    let r = aws.send(Req::get(&format!("/v1/status/{token}"))).await;
    assert_eq!(r.json()["state"], "awaiting_review");
}
