//! The HTTP Lambda: the desk's one router on the AWS adapters.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON lines; never personal data or secrets (see optout-core).
    optout_aws::runtime::init_logging();
    // Start during init; a failure is logged and retried by each request (answered 500 meanwhile).
    let _ = optout_api_fn::started().await;
    lambda_http::run(lambda_http::service_fn(optout_api_fn::serve)).await
}
