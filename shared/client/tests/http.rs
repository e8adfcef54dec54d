//! The client against a tiny in-process server that injects failures: 401, 429 with Retry-After,
//! 503, a 303 to another origin, malformed JSON, a refused candidate in a later chunk. (The
//! success paths against the real server are the end-to-end tests of the root package.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use optout_client::{
    ApiKey, CheckRequest, CheckResponse, CheckResult, Client, ClientError, MAX_BATCH, RetryPolicy,
    Snapshot, WireEntry, WireState, WireValue,
};
use optout_matcher::Kind;
use optout_matcher::wire::{WireError, WireErrorBody};

const SECRET: &str = "optk_test1_s3cr3t-value-never-logged";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Serves `route` at `path`.
async fn serve_route(path: &str, route: MethodRouter) -> String {
    serve(Router::new().route(path, route)).await
}

/// A GET route that answers `answer()` every time, and the count of its calls.
fn counting(answer: fn() -> Response) -> (MethodRouter, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let route = get(move || async move {
        c.fetch_add(1, Ordering::SeqCst);
        answer()
    });
    (route, calls)
}

/// The `Authorization` headers a route saw, in order.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// A GET route that records the `Authorization` header, then answers `answer()`.
fn recording<R: IntoResponse>(
    answer: impl Fn() -> R + Clone + Send + Sync + 'static,
) -> (MethodRouter, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let route = get(move |h: HeaderMap| async move {
        s.lock().unwrap().push(auth(&h));
        answer()
    });
    (route, seen)
}

fn client(url: &str) -> Client {
    Client::new(url, ApiKey::new(SECRET).unwrap())
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            max_wait: Duration::from_secs(5),
            base_backoff: Duration::from_millis(10),
        })
}

fn wire_error(status: StatusCode, code: &str, index: Option<usize>) -> Response {
    let body = WireError {
        error: WireErrorBody {
            code: code.into(),
            message: format!("{code} (injected)"),
            index,
        },
    };
    (status, Json(body)).into_response()
}

/// A 429 with `Retry-After: seconds`.
fn rate_limited(seconds: &'static str) -> Response {
    let mut r = wire_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", None);
    r.headers_mut()
        .insert(header::RETRY_AFTER, seconds.parse().unwrap());
    r
}

fn auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn sha_candidates(n: usize) -> Vec<optout_matcher::Candidate> {
    (0..n)
        .map(|i| optout_matcher::Candidate::Sha256(format!("{i:064x}")))
        .collect()
}

/// A well-formed "nothing excluded" answer to whatever was asked.
fn answer(req: &CheckRequest, position: u64) -> Response {
    Json(CheckResponse {
        position,
        results: vec![CheckResult::not_excluded(); req.candidates.len()],
    })
    .into_response()
}

#[tokio::test]
async fn unauthorized_is_typed_and_the_key_goes_only_in_the_bearer_header() {
    let seen = Seen::default();
    let s = seen.clone();
    let route = post(move |h: HeaderMap| async move {
        s.lock().unwrap().push(auth(&h));
        wire_error(StatusCode::UNAUTHORIZED, "unauthorized", None)
    });
    let url = serve_route("/v1/exclusions/check", route).await;
    let err = client(&url).check(&sha_candidates(1)).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(format!("Bearer {SECRET}"))],
        "401 is not retried"
    );
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert!(!format!("{err:?}").contains("s3cr3t"), "{err:?}");
}

#[tokio::test]
async fn rate_limited_then_success_waits_as_retry_after_says() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let route = post(move |Json(req): Json<CheckRequest>| async move {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            rate_limited("1")
        } else {
            answer(&req, 42)
        }
    });
    let url = serve_route("/v1/exclusions/check", route).await;
    let started = Instant::now();
    let resp = client(&url).check(&sha_candidates(3)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(resp.position, 42);
    assert_eq!(resp.results.len(), 3);
}

#[tokio::test]
async fn rate_limit_gives_up_after_the_configured_attempts() {
    let (route, calls) = counting(|| rate_limited("0"));
    let url = serve_route("/v1/exclusions/changes", route).await;
    let err = client(&url).changes(0, 10).await.unwrap_err();
    assert!(
        matches!(err, ClientError::RateLimited { retry_after: Some(d) } if d.is_zero()),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_fails_at_once() {
    let (route, calls) = counting(|| rate_limited("3600"));
    let url = serve_route("/v1/exclusions/changes", route).await;
    let started = Instant::now();
    let err = client(&url).changes(0, 10).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(err, ClientError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unavailable_is_retried_with_backoff_then_reported() {
    let (route, calls) =
        counting(|| wire_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None));
    let url = serve_route("/v1/exclusions/snapshot", route).await;
    let err = client(&url).snapshot().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unavailable { retry_after: None }),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

fn sample_snapshot() -> Snapshot {
    Snapshot {
        position: 7,
        entries: vec![WireEntry {
            id: 3,
            position: 5,
            state: WireState::Active,
            kind: Kind::Sha256,
            value: WireValue::Text("ab".repeat(32)),
        }],
    }
}

#[tokio::test]
async fn snapshot_redirect_is_followed_without_the_key() {
    let (route, seen_by_store) = recording(|| Json(sample_snapshot()));
    let store = serve_route("/bucket/snapshot-7.json", route).await;
    let location = format!("{store}/bucket/snapshot-7.json?X-Amz-Signature=presigned");
    let (route, seen_by_api) = recording(move || {
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location.clone())],
        )
    });
    let api = serve_route("/v1/exclusions/snapshot", route).await;
    let snap = client(&api).snapshot().await.unwrap();
    assert_eq!(snap, sample_snapshot());
    assert_eq!(
        *seen_by_api.lock().unwrap(),
        vec![Some(format!("Bearer {SECRET}"))]
    );
    assert_eq!(
        *seen_by_store.lock().unwrap(),
        vec![None],
        "the key must not go to the redirect target"
    );
}

#[tokio::test]
async fn a_failed_redirect_target_does_not_reveal_the_presigned_url() {
    let expired = get(|| async { (StatusCode::FORBIDDEN, "<Error>Request has expired</Error>") });
    let store = serve_route("/bucket/snapshot.json", expired).await;
    let location = format!("{store}/bucket/snapshot.json?X-Amz-Signature=presigned");
    let redirect =
        get(move || async move { (StatusCode::SEE_OTHER, [(header::LOCATION, location)]) });
    let api = serve_route("/v1/exclusions/snapshot", redirect).await;
    let err = client(&api).snapshot().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Http { status: 403, .. }),
        "a 403 of the store is not the API refusing the key: {err:?}"
    );
    assert!(
        !format!("{err} {err:?}").contains("X-Amz-Signature"),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let url = serve(
        Router::new()
            .route(
                "/v1/exclusions/changes",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        "{\"changes\": [",
                    )
                }),
            )
            .route(
                "/v1/exclusions/check",
                // well-formed JSON, but one result for two candidates
                post(|| async {
                    Json(CheckResponse {
                        position: 1,
                        results: vec![CheckResult::not_excluded()],
                    })
                }),
            ),
    )
    .await;
    let c = client(&url);
    let err = c.changes(0, 10).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    let err = c.check(&sha_candidates(2)).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn a_refused_candidate_in_a_later_chunk_is_named_by_its_index_in_the_input() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    let route = post(move |Json(req): Json<CheckRequest>| async move {
        let mut sizes = s.lock().unwrap();
        sizes.push(req.candidates.len());
        if sizes.len() == 1 {
            answer(&req, 3)
        } else {
            wire_error(StatusCode::BAD_REQUEST, "invalid_candidate", Some(5))
        }
    });
    let url = serve_route("/v1/exclusions/check", route).await;
    let err = client(&url)
        .check(&sha_candidates(MAX_BATCH + 10))
        .await
        .unwrap_err();
    match err {
        ClientError::BadRequest { code, index, .. } => {
            assert_eq!(code, "invalid_candidate");
            assert_eq!(index, Some(MAX_BATCH + 5));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*sizes.lock().unwrap(), vec![MAX_BATCH, 10]);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&url).changes(0, 1).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_empty_check_sends_nothing() {
    let url = "http://127.0.0.1:9"; // nothing listens: a request would fail
    let resp = client(url).check(&[]).await.unwrap();
    assert_eq!(resp.position, 0);
    assert!(resp.results.is_empty());
}
