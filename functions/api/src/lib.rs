//! The HTTP Lambda's app: the desk's one router on the AWS adapters. The binary only starts the
//! log, calls [`start`] and hands the router to `lambda_http`; tests (the shared scenario suite)
//! build the same router on emulator-backed adapters.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use optout_aws::runtime::{SetupError, Started};
use optout_core::Desk;
use optout_core::exclusions::IndexerPorts;
use optout_core::ports::ReviewerSessions;
use std::convert::Infallible;
use std::sync::Arc;
use tower::ServiceExt;

/// The router the function serves, on `desk`, the indexer API's ports and the reviewers'
/// sign-outs (built on the AWS adapters by `optout_aws::runtime`).
pub fn app(desk: Desk, indexer: IndexerPorts, sessions: Arc<dyn ReviewerSessions>) -> axum::Router {
    let indexer = optout_web::IndexerApi::new(indexer);
    optout_web::router(optout_web::AppState {
        desk,
        uploads: None,
        indexer: Arc::new(indexer),
        sessions,
    })
}

/// Reads the configuration and secrets and builds the app (once per cold start).
pub async fn start() -> Result<axum::Router, SetupError> {
    let rt = optout_aws::runtime::load().await?;
    let indexer = optout_aws::runtime::indexer_ports(
        &rt.desk.ports,
        &rt.config,
        rt.desk_config.matching,
        &rt.clients,
    )?;
    let sessions = optout_aws::runtime::reviewer_sessions(&rt.config, &rt.clients);
    Ok(app(rt.desk, indexer, sessions))
}

/// The function's app, started once (see [`Started`]).
static APP: Started<axum::Router> = Started::new();

/// Starts the app if it is not yet (the binary calls this once during init).
pub async fn started() -> Result<&'static axum::Router, SetupError> {
    APP.get(start).await
}

/// Serves one request: with the app, or — while the function cannot start — a `500` with a JSON
/// error in the API's shape (the log line, written by [`Started::get`], names the setting at
/// fault; the response says only that the service is misconfigured). Answering, rather than
/// exiting, keeps a local invoke from hanging and shows the cause on every request.
pub async fn serve(req: lambda_http::Request) -> Result<Response, Infallible> {
    match started().await {
        Ok(app) => app.clone().oneshot(req).await,
        Err(_) => Ok(misconfigured()),
    }
}

/// The answer of a function that cannot start.
pub fn misconfigured() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        r#"{"error":{"code":"misconfigured","message":"The service is not configured correctly. The operator can see why in the function's log."}}"#,
    )
        .into_response()
}
