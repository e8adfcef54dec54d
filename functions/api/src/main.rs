//! The HTTP Lambda: the desk's one router on the AWS adapters.

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON lines; Lambda adds the time. Never personal data or secrets (see optout-core).
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(EnvFilter::from_default_env())
        .init();
    let rt = optout_aws::runtime::load().await.map_err(|e| {
        tracing::error!(error = %e, "start-up failed");
        e
    })?;
    let indexer = optout_aws::runtime::indexer_ports(&rt.desk.ports, &rt.config, &rt.clients)?;
    lambda_http::run(optout_api_fn::app(rt.desk, indexer)).await
}
