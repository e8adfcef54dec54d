//! The embedding worker Lambda (SQS event source with `ReportBatchItemFailures`): the face
//! pipeline (tract) behind the desk's embedding jobs, on the AWS adapters.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use optout_aws::runtime::{Started, init_logging};
use optout_embedder_fn::{JobHandler, handle_batch, start};

/// mimalloc: the face models load in ~30% less time than with glibc's allocator in a fresh
/// process (huge-page arenas, far fewer page faults); see shared/face/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The job handler, started once (a failure is logged, naming the setting, and retried by the next
/// batch; meanwhile every batch fails whole, so SQS keeps its messages).
static HANDLER: Started<Box<dyn JobHandler>> = Started::new();

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let _ = HANDLER.get(start).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let handler = HANDLER.get(start).await?;
        Ok::<SqsBatchResponse, Error>(handle_batch(event.payload, handler.as_ref()).await)
    }))
    .await
}
