//! The housekeeping Lambda (EventBridge schedule): retries pending effects, erases expired
//! personal data. See the library for what it does.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use optout_housekeeper_fn::run;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let rt = optout_aws::runtime::load().await?;
    let desk: &'static _ = Box::leak(Box::new(rt.desk));
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            run(desk).await.map_err(Error::from)
        },
    ))
    .await
}
