//! The embedding worker's SQS handler: one batch of embedding jobs, each handled by a
//! [`JobHandler`], with partial batch failure reporting (`ReportBatchItemFailures`): only the
//! messages that failed are retried, and after `maxReceiveCount` receives they go to the
//! dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use optout_aws::runtime::SetupError;
use optout_core::EmbedJobs;
use optout_core::model::EmbedJob;
pub use optout_core::ports::{JobError, JobHandler};
use std::sync::Arc;

/// Reads the configuration and secrets, loads the face models (from `OPTOUT_MODEL_DIR`, the
/// models layer at `/opt/models` in AWS) and builds the job handler (once per cold start).
pub async fn start() -> Result<Box<dyn JobHandler>, SetupError> {
    let rt = optout_aws::runtime::load().await?;
    let models = std::env::var_os("OPTOUT_MODEL_DIR")
        .map_or_else(optout_face::default_model_dir, Into::into);
    let engine = optout_face::FaceEngine::load(&models)
        .map_err(|e| SetupError::Models(format!("{e} (OPTOUT_MODEL_DIR={})", models.display())))?;
    let analyzer = Arc::new(optout_face::FaceAnalyzer(Arc::new(engine)));
    // The images behind the links of DSA notices (public addresses only; see optout-fetch).
    let fetcher = optout_fetch::Fetcher::new(optout_fetch::FetchConfig::default())
        .map_err(|e| SetupError::Fetcher(e.to_string()))?;
    Ok(Box::new(EmbedJobs {
        desk: rt.desk,
        analyzer,
        fetcher: Arc::new(fetcher),
    }))
}

/// Handles every message of `event` in turn and reports those that failed: a malformed body, a
/// retryable failure and a permanent failure alike (a permanent one reaches the dead-letter
/// queue, where an operator sees it with its reason in the logs).
// Built from `Default` so that the `catch-all-fields` feature of aws_lambda_events can't break it.
#[allow(clippy::field_reassign_with_default)]
pub async fn handle_batch(event: SqsEvent, handler: &dyn JobHandler) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        // Without a message id a failure can't be reported alone: an empty identifier makes Lambda
        // retry the whole batch, which is safe because handlers are idempotent.
        let id = record.message_id.unwrap_or_default();
        let outcome = match EmbedJob::from_json(record.body.as_deref().unwrap_or("")) {
            Err(reason) => {
                tracing::error!(message = %id, %reason, "malformed job message");
                Err(())
            }
            Ok(job) => match handler.handle(&job).await {
                Ok(()) => {
                    tracing::info!(message = %id, job = %job.id(), "job done");
                    Ok(())
                }
                Err(JobError::Retry(reason)) => {
                    tracing::warn!(message = %id, job = %job.id(), %reason, "job failed, will be retried");
                    Err(())
                }
                Err(JobError::Permanent(reason)) => {
                    tracing::error!(message = %id, job = %job.id(), %reason, "job cannot succeed");
                    Err(())
                }
            },
        };
        if outcome.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The handler of a deployment whose face pipeline is not wired in yet: every job is kept (retried,
/// then parked in the dead-letter queue) rather than dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NotWired;

#[async_trait::async_trait]
impl JobHandler for NotWired {
    async fn handle(&self, _job: &EmbedJob) -> Result<(), JobError> {
        Err(JobError::Retry(
            "the embedding pipeline is not wired into this build".into(),
        ))
    }
}
