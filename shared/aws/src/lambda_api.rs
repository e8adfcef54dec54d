//! Test support: a local Lambda Runtime API, to run a function's real binary as Lambda runs it.
//!
//! [`LocalRuntimeApi::start`] serves the Runtime API's routes on a free loopback port (the
//! process gets it as `AWS_LAMBDA_RUNTIME_API`), hands out the queued events one at a time and
//! reports what the process did with each: a response, an invocation error or an init error. A
//! process that has no more events waits in `next`, as in Lambda, until it is killed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use tokio::sync::mpsc;

/// What the local Runtime API saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The runtime asked for its next event.
    Next(Instant),
    /// The function answered event `id` with `body`.
    Response(Instant, String, String),
    /// The function reported that event `id` failed, with the error document `body`.
    Failed(String, String),
    /// The function reported an init error (`body`).
    InitFailed(String),
}

struct Shared {
    events: Mutex<VecDeque<(String, String)>>,
    seen: mpsc::UnboundedSender<Seen>,
}

/// A Runtime API on loopback; stopped when dropped.
pub struct LocalRuntimeApi {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LocalRuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next_event(State(api): State<Arc<Shared>>) -> (HeaderMap, String) {
    let _ = api.seen.send(Seen::Next(Instant::now()));
    let next = api.events.lock().ok().and_then(|mut q| q.pop_front());
    let Some((id, body)) = next else {
        // No more work: the process waits here, as in Lambda, until it is stopped.
        std::future::pending::<()>().await;
        return (HeaderMap::new(), String::new());
    };
    let mut h = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 29_000)
        .unwrap_or_default();
    for (k, v) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    (h, body)
}

async fn response(
    State(api): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = api.seen.send(Seen::Response(Instant::now(), id, body));
    StatusCode::ACCEPTED
}

async fn failure(
    State(api): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = api.seen.send(Seen::Failed(id, body));
    StatusCode::ACCEPTED
}

async fn init_failure(State(api): State<Arc<Shared>>, body: String) -> StatusCode {
    let _ = api.seen.send(Seen::InitFailed(body));
    StatusCode::ACCEPTED
}

impl LocalRuntimeApi {
    /// Serves `events` (each a JSON document; their ids are `event-0`, `event-1`, ...).
    pub async fn start(events: Vec<String>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(
                events
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (format!("event-{i}"), e))
                    .collect(),
            ),
            seen: tx,
        });
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(failure))
            .route("/2018-06-01/runtime/init/error", post(init_failure))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(LocalRuntimeApi {
            addr,
            seen: rx,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the process.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The next thing the process did, or `None` when nothing happened within `wait`.
    pub async fn next_seen(&mut self, wait: Duration) -> Option<Seen> {
        tokio::time::timeout(wait, self.seen.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits up to `wait` for the outcome of the next event: its response or error (`Ok`/`Err`
    /// with the body), skipping `next` calls. An init error is an `Err` too. `None` on time-out:
    /// the process hung.
    pub async fn outcome(&mut self, wait: Duration) -> Option<Result<String, String>> {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.next_seen(left).await? {
                Seen::Next(_) => continue,
                Seen::Response(_, _, body) => return Some(Ok(body)),
                Seen::Failed(_, body) | Seen::InitFailed(body) => return Some(Err(body)),
            }
        }
    }
}
