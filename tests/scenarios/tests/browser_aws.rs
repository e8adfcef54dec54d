//! The reviewer's journey in headless Chromium against the AWS mode: a local bridge turns every
//! browser request into an API Gateway v2 event for the api function's router (`lambda_http`, as
//! in the scenarios), on DynamoDB Local and moto. The same script as the embedded mode's journey
//! (`tests/browser/review.mjs`): admin link → queue → case page with the photo and the face
//! overlay → approve → decided case, photo gone.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use optout_scenarios::aws::Aws;
use optout_scenarios::{Mode, Req, fixture, root, scenarios};

#[path = "../../browser/run.rs"]
mod journeys;

/// One browser request through the mode, one response back.
async fn bridge(mode: &dyn Mode, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| *k != http::header::HOST)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let reply = mode
        .send(Req {
            method: parts.method,
            path,
            headers,
            body: body.to_vec(),
        })
        .await;
    let mut r = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        if k != "content-length" {
            r = r.header(k, v);
        }
    }
    r.body(Body::from(reply.body)).expect("a response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_journey_in_headless_chromium_on_aws() {
    let browser = journeys::Browser::find(&root());
    let aws = Arc::new(Aws::start("browser").await);
    let email = aws.email("carol-case");
    // A real portrait, 800 px wide as the journey script expects of the photo it is shown.
    let portrait = image::load_from_memory(&fixture("person_a_2.jpg")).expect("a photo");
    let portrait = portrait.resize(800, 10_000, image::imageops::FilterType::Triangle);
    assert_eq!(portrait.width(), 800);
    let mut jpeg = std::io::Cursor::new(Vec::new());
    portrait
        .to_rgb8()
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .expect("JPEG");
    let case = scenarios::submit_face(&*aws, &email, jpeg.into_inner(), "browser-1").await;
    let id = case["id"].as_str().expect("case id").to_owned();
    assert_eq!(aws.run_jobs().await, 1);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let mode = aws.clone();
    let router = axum::Router::new().fallback(move |req: Request| {
        let mode = mode.clone();
        async move { bridge(&*mode, req).await }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let link = format!("{base}{}", aws.admin_link("carol"));
    browser
        .run("review.mjs", "review journey", &[&link, &id], "aws")
        .await;
    let c = scenarios::stored_case(&*aws, &id).await;
    assert_eq!(c.state.as_str(), "approved");
    assert_eq!(c.decision.expect("decision").reviewer.as_str(), "carol");
    let mails = aws.mails_to(&email).await;
    assert_eq!(mails.len(), 2, "receipt + decision");
}
