//! The sample API Gateway HTTP API (v2) events of `events/` through lambda_http into the router.

use lambda_http::Body;
use optout_aws::AwsConfig;
use optout_core::service::Desk;
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use tower::ServiceExt;

fn event(name: &str) -> lambda_http::Request {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A desk on AWS adapters pointing at a closed port: enough for routes that touch no store.
async fn app() -> axum::Router {
    let env = |k: &str| {
        let v = match k {
            "OPTOUT_CASES_TABLE" => "cases",
            "OPTOUT_PERSONAL_TABLE" => "personal",
            "OPTOUT_BIOMETRICS_TABLE" => "biometrics",
            "OPTOUT_PHOTO_BUCKET" => "photos",
            "OPTOUT_JOB_QUEUE_URL" => "http://127.0.0.1:9/queue/jobs",
            "OPTOUT_MAIL_FROM" => "desk@example.org",
            "AWS_ENDPOINT_URL" => "http://127.0.0.1:9",
            _ => return None,
        };
        Some(v.to_owned())
    };
    let cfg = AwsConfig::from_lookup(env).unwrap();
    let sdk = optout_aws::testing::sdk_config(&cfg).await;
    let clients = optout_aws::Clients::new(&sdk, &cfg);
    let desk = Desk::new(
        optout_aws::ports(&sdk, &cfg, &clients),
        KeyRing::generate("k1"),
        Settings::local("https://optout.example.org"),
    );
    let indexer = optout_aws::runtime::indexer_ports(&desk.ports, &cfg, &clients).unwrap();
    optout_api_fn::app(desk, indexer)
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
