//! Load figure of the api Lambda handler (issue #17), called in process on the AWS adapters
//! against the local emulators (DynamoDB Local + moto, started here by
//! `optout_aws::testing::Emulators`, resources from the SAM template by `Stack::create`).
//!
//! The handler is the function's own router (`optout_api_fn::app`, what `start` builds) behind
//! `lambda_http`'s adapter, as `lambda_http::run` serves it: each request is an API Gateway HTTP
//! API (payload 2.0) event deserialised into a `LambdaRequest`, and its answer the Lambda response
//! document API Gateway would turn into HTTP. `--concurrency` tasks submit until `--count`
//! submissions are in, a `--face-percent` share of them face opt-outs (`POST /v1/uploads` through
//! the handler, the fixture photo through the presigned POST straight to moto's S3, then
//! `POST /v1/cases` with the `upload_key`), the rest DSA notices (`POST /v1/cases` with
//! `source_urls`), each with its own email and `Idempotency-Key`. The embedder is not run: this
//! is the api function alone.
//!
//! It prints submissions per second (per kind and total), p50/p99/max of every request through the
//! handler, and the resident memory of this process (the handler, its SDK clients and the
//! clients of the bench): before the run, its peak during the run (`VmHWM` of
//! `/proc/self/status`, reset before the run) and after it; and the CPU time the emulators used
//! meanwhile. These figures are bound by the emulators (moto is a single Python process,
//! DynamoDB Local a JVM) running on the same cores as the handler, not by Lambda: in AWS every
//! concurrent request has an instance of its own and the stores are DynamoDB, S3, SQS and SES.
//!
//! ```sh
//! cargo build --release -p optout-api-fn --example api_load
//! target/release/examples/api_load [--count 400] [--concurrency 16] [--face-percent 50]
//! ```
//! The emulators come from `scripts/setup-emulators`, the photos from `scripts/setup-models`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lambda_http::request::LambdaRequest;
use lambda_http::tower::Service;
use lambda_http::{Adapter, Context, LambdaEvent};
use optout_aws::testing::{Emulators, Stack, http_api_event};
use optout_core::Desk;
use optout_core::signing::KeyRing;
use serde_json::{Value, json};

#[path = "../../../examples/support/load.rs"]
mod load;
use load::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// CPU seconds (user + system) and RSS in MB of the emulators: the children of this process
/// other than the harness's `sh` watchdogs. Clock ticks are taken as 100 per second (Linux).
fn emulators_usage() -> (f64, f64) {
    let me = std::process::id().to_string();
    let mut cpu = 0.0;
    let mut rss = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime stime (fields 14 and 15); comm may hold spaces.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) != Some(&me.as_str()) || head.ends_with("(sh") {
            continue;
        }
        let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        cpu += (tick(11).unwrap_or(0.0) + tick(12).unwrap_or(0.0)) / 100.0;
        rss += tick(21).unwrap_or(0.0) * 4096.0 / 1024.0 / 1024.0;
    }
    (cpu, rss)
}

/// CPU seconds (user + system) of this process.
fn own_cpu() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<f64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0.0))
                .collect();
            Some((f.get(11)? + f.get(12)?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The function: its router behind `lambda_http`'s adapter.
#[derive(Clone)]
struct Function {
    app: axum::Router,
}

impl Submitter for Function {
    /// One invocation: the event's JSON as Lambda hands it over → the response document. The
    /// latency covers the event's deserialisation, the handler and the response's serialisation.
    async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Answer {
        static N: AtomicU64 = AtomicU64::new(0);
        let id = format!("load-{}", N.fetch_add(1, Ordering::Relaxed));
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if let Some(k) = key {
            headers.push(("idempotency-key".to_owned(), k.to_owned()));
        }
        let body = body.to_string().into_bytes();
        let raw = http_api_event("POST", path, &headers, &body, "api_load", &id).to_string();
        let start = Instant::now();
        let request: LambdaRequest = serde_json::from_str(&raw)?;
        // The adapter is not `Send`: only its future crosses the await.
        let response = {
            let mut adapter = Adapter::from(self.app.clone());
            adapter.call(LambdaEvent::new(request, Context::default()))
        }
        .await?;
        let doc = serde_json::to_string(&response)?;
        let took = start.elapsed();
        let doc: Value = serde_json::from_str(&doc)?;
        if doc["isBase64Encoded"] == json!(true) {
            return Err("a base64 response where JSON was expected".into());
        }
        let body = doc["body"]
            .as_str()
            .map(|b| serde_json::from_str(b).unwrap_or_else(|_| json!(b)))
            .unwrap_or(Value::Null);
        let status = doc["statusCode"].as_u64().unwrap_or(0) as u16;
        Ok((status, body, took))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    log_to_stderr("error");
    let o = submission_opts(400, "functions/api/examples/api_load.rs")?;
    let photos = Arc::new(fixture_photos(&root())?);
    let rss_empty = status_mb("self", "VmRSS:");

    let t0 = Instant::now();
    let em = Emulators::start()?;
    let stack = Stack::create(&em, "load").await?;
    println!(
        "emulators up and stack created in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // The router `optout_api_fn::start` builds, on the emulators' stack.
    let desk = Desk::new(
        stack.ports(),
        KeyRing::generate("k1"),
        stack.desk.settings.clone(),
    );
    let indexer = optout_aws::runtime::indexer_ports(
        &desk.ports,
        &stack.config,
        stack.desk.matching,
        &stack.clients,
    )?;
    let sessions = optout_aws::runtime::reviewer_sessions(&stack.config, &stack.clients);
    let f = Function {
        app: optout_api_fn::app(desk, indexer, sessions),
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );

    // Warm-up (connections of the SDK clients; not counted): one round of the tasks.
    let warm = drive(&f, &http, &photos, &o, 0, o.concurrency, &run).await?;
    if let Some(e) = warm.errors().first() {
        return Err(format!("warm-up failed: {e}").into());
    }
    let rss_before = status_mb("self", "VmRSS:");
    let reset = reset_peak("self");
    let (em_cpu0, _) = emulators_usage();
    let cpu0 = own_cpu();

    let faces = (o.concurrency..o.concurrency + o.count)
        .filter(|n| is_face(*n, o.face_percent))
        .count();
    println!(
        "api handler load: {} submissions ({faces} face opt-outs, {} DSA notices), {} concurrent tasks, in process on DynamoDB Local + moto",
        o.count,
        o.count - faces,
        o.concurrency
    );
    let started = Instant::now();
    let t = drive(&f, &http, &photos, &o, o.concurrency, o.count, &run).await?;
    let secs = started.elapsed().as_secs_f64();
    let peak = status_mb("self", "VmHWM:");
    let (em_cpu1, em_rss) = emulators_usage();
    let cpu1 = own_cpu();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = status_mb("self", "VmRSS:");

    let errors = t.errors().len();
    t.print(secs, "photo to moto (presigned)");
    println!(
        "CPU during the run: this process (handler + bench clients) {:.1} s, emulators {:.1} s, of {:.1} s wall on {} cores",
        cpu1 - cpu0,
        em_cpu1 - em_cpu0,
        secs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "RSS of this process: empty {rss_empty:.0} MB; before the run (stack built, warmed up) {rss_before:.0} MB; \
         peak during the run {peak:.0} MB{}; after {rss_after:.0} MB (emulators: {em_rss:.0} MB, not included)",
        peak_note(reset)
    );
    println!(
        "These figures are bound by the emulators (moto: one Python process for S3, SQS and SES; DynamoDB Local: a JVM) \
         sharing the machine's cores with the handler, not by Lambda, where each concurrent request has an instance of its own."
    );
    if errors > 0 {
        return Err(format!("{errors} submissions failed").into());
    }
    Ok(())
}
