//! The SQS [`JobQueue`]. Standard queues deliver at least once and may deliver twice: the embedding
//! handler is idempotent (a job names a case and a photo generation; a repeated job finds it done).

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use optout_core::model::EmbedJob;
use optout_core::ports::{JobQueue, StoreError};

use crate::error::unavailable;

/// Embedding jobs on an SQS queue (with a dead-letter queue after repeated failures).
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: &str) -> Self {
        SqsJobQueue {
            client,
            queue_url: queue_url.to_owned(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, job: &EmbedJob) -> Result<(), StoreError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job.to_json())
            .send()
            .await
            .map_err(|e| unavailable("SendMessage", e))?;
        tracing::debug!(job = %job.id(), message = out.message_id().unwrap_or(""), "job enqueued");
        Ok(())
    }
}
