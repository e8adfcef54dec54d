//! The HTTP Lambda's app: the desk's one router on the AWS adapters. The binary only reads the
//! configuration and hands this router to `lambda_http`; tests (the shared scenario suite) build
//! the same router on emulator-backed adapters.

use optout_core::exclusions::IndexerPorts;
use optout_core::service::Desk;
use std::sync::Arc;

/// The router the function serves, on `desk` and the indexer API's ports (built on the AWS
/// adapters by `optout_aws::runtime`).
pub fn app(desk: Desk, indexer: IndexerPorts) -> axum::Router {
    let indexer = optout_web::IndexerApi::new(indexer);
    optout_web::router(optout_web::AppState {
        desk,
        uploads: None,
        indexer: Arc::new(indexer),
    })
}
