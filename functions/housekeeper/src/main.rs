//! The housekeeping Lambda (EventBridge schedule): retries pending effects, erases expired
//! personal data. See the library for what it does.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use optout_aws::DynamoLease;
use optout_aws::runtime::{SetupError, Started, init_logging, load};
use optout_core::Desk;
use optout_housekeeper_fn::run;

/// The desk and the lease, started once (a failure is logged, naming the setting, and retried by
/// the next run).
static STARTED: Started<(Desk, DynamoLease)> = Started::new();

async fn started() -> Result<&'static (Desk, DynamoLease), SetupError> {
    STARTED
        .get(|| async {
            let rt = load().await?;
            let lease = DynamoLease::new(rt.clients.dynamodb.clone(), &rt.config.cases_table);
            Ok((rt.desk, lease))
        })
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let _ = started().await;
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let (desk, lease) = started().await?;
        run(desk, lease).await.map_err(Error::from)
    }))
    .await
}
