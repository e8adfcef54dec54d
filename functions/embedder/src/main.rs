//! The embedding worker Lambda (SQS event source with `ReportBatchItemFailures`): the face
//! pipeline (tract) behind the desk's embedding jobs, on the AWS adapters.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use optout_core::embedding::EmbedJobs;
use optout_embedder_fn::{JobHandler, handle_batch};
use std::sync::Arc;

/// mimalloc: the face models load in ~30% less time than with glibc's allocator in a fresh
/// process (huge-page arenas, far fewer page faults); see shared/face/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let rt = optout_aws::runtime::load().await?;
    let models = std::env::var_os("OPTOUT_MODEL_DIR")
        .map_or_else(optout_face::default_model_dir, Into::into);
    let engine = optout_face::FaceEngine::load(&models)?;
    let analyzer = Arc::new(optout_face::FaceAnalyzer(Arc::new(engine)));
    let handler: &'static dyn JobHandler = Box::leak(Box::new(EmbedJobs {
        desk: rt.desk,
        analyzer,
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(handle_batch(event.payload, handler).await)
    }))
    .await
}
