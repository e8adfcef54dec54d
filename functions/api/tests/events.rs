//! The sample API Gateway HTTP API (v2) events of `events/` through lambda_http into the router.

use lambda_http::Body;
use tower::ServiceExt;

fn event(name: &str) -> lambda_http::Request {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

mod common;
use common::closed_port_env;

/// The function's app on [`closed_port_env`], with the tests' AWS credentials (the process
/// environment has none).
async fn app() -> axum::Router {
    let env = closed_port_env();
    let cfg = optout_aws::AwsConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let desk_cfg = optout_core::config::DeskConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sdk = optout_aws::testing::sdk_config(&cfg).await;
    let clients = optout_aws::Clients::new(&sdk, &cfg);
    let desk = optout_core::Desk::new(
        optout_aws::ports(&sdk, &cfg, &desk_cfg, &clients),
        optout_core::signing::KeyRing::generate("k1"),
        desk_cfg.settings.clone(),
    );
    let indexer =
        optout_aws::runtime::indexer_ports(&desk.ports, &cfg, desk_cfg.matching, &clients).unwrap();
    let sessions = optout_aws::runtime::reviewer_sessions(&cfg, &clients);
    optout_api_fn::app(desk, indexer, sessions)
}

#[tokio::test]
async fn healthz_event_is_served() {
    let req = event("apigw-http-get-healthz.json");
    assert_eq!(req.uri().path(), "/healthz");
    let resp = app().await.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK);
}

#[tokio::test]
async fn form_event_is_served_in_thai() {
    let req = event("apigw-http-get-form.json");
    assert_eq!(req.uri().query(), Some("lang=th"));
    let resp = app().await.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK);
}

#[test]
fn submission_event_is_a_json_post_with_an_idempotency_key() {
    let req = event("apigw-http-post-case.json");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().path(), "/v1/cases");
    assert_eq!(req.headers()["idempotency-key"], "evt-sample-0001");
    let Body::Text(body) = req.body() else {
        panic!("text body expected")
    };
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["kind"], "dsa_notice");
}
