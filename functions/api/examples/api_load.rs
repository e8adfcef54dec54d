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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lambda_http::request::LambdaRequest;
use lambda_http::tower::Service;
use lambda_http::{Adapter, Context, LambdaEvent};
use optout_aws::testing::{Emulators, Stack};
use optout_core::Desk;
use optout_core::signing::KeyRing;
use serde_json::{Value, json};

#[path = "../../../examples/support/load.rs"]
mod load;
use load::*;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The credited fixture photos (`.cache/fixtures/CREDITS.md`).
const PHOTOS: [&str; 6] = [
    "person_a_1.jpg",
    "person_a_2.jpg",
    "person_b_1.jpg",
    "person_b_2.jpg",
    "impostor_1.jpg",
    "impostor_2.jpg",
];

struct Opts {
    count: usize,
    concurrency: usize,
    face_percent: usize,
}

fn opts() -> Result<Opts, Error> {
    let mut o = Opts {
        count: 400,
        concurrency: 16,
        face_percent: 50,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v: usize = args.next().ok_or(format!("{a} needs a value"))?.parse()?;
        match a.as_str() {
            "--count" => o.count = v.max(1),
            "--concurrency" => o.concurrency = v.max(1),
            "--face-percent" => o.face_percent = v.min(100),
            _ => {
                return Err(format!(
                    "unknown option {a}; see the top of functions/api/examples/api_load.rs"
                )
                .into());
            }
        }
    }
    Ok(o)
}

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

/// The status and body of a Lambda response document.
struct Reply {
    status: u64,
    body: Value,
}

impl Function {
    /// The API Gateway v2 event of a JSON request.
    fn event(method: &str, path: &str, body: &Value, idempotency_key: Option<&str>) -> Value {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let mut headers = json!({
            "host": "optout.example.org",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.10",
            "content-type": "application/json",
            "accept": "application/json",
        });
        if let Some(k) = idempotency_key {
            headers["idempotency-key"] = json!(k);
        }
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "optout.example.org",
                "domainPrefix": "optout",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10",
                    "userAgent": "api_load"
                },
                "requestId": format!("load-{n}"),
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Dec/2026:00:00:00 +0000",
                "timeEpoch": 1_795_000_000_000u64
            },
            "isBase64Encoded": false,
            "body": body.to_string()
        })
    }

    /// One invocation: the event's JSON as Lambda hands it over → the response document. The
    /// latency covers the event's deserialisation, the handler and the response's serialisation.
    async fn invoke(&self, event: Value) -> Result<(Reply, Duration), Error> {
        let raw = event.to_string();
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
        Ok((
            Reply {
                status: doc["statusCode"].as_u64().unwrap_or(0),
                body,
            },
            took,
        ))
    }
}

/// The latencies one task measured.
#[derive(Default)]
struct Timings {
    upload_form: Vec<Duration>,
    upload: Vec<Duration>,
    face_case: Vec<Duration>,
    dsa_case: Vec<Duration>,
    face_total: Vec<Duration>,
    errors: Vec<String>,
}

impl Timings {
    fn merge(&mut self, o: Timings) {
        self.upload_form.extend(o.upload_form);
        self.upload.extend(o.upload);
        self.face_case.extend(o.face_case);
        self.dsa_case.extend(o.dsa_case);
        self.face_total.extend(o.face_total);
        self.errors.extend(o.errors);
    }
}

/// Submits a case; its latency when it was created (201).
async fn post_case(f: &Function, body: &Value, key: &str) -> Result<Duration, Error> {
    let (r, took) = f
        .invoke(Function::event("POST", "/v1/cases", body, Some(key)))
        .await?;
    if r.status != 201 {
        return Err(format!("POST /v1/cases answered {}: {}", r.status, r.body).into());
    }
    Ok(took)
}

/// One face opt-out: the upload form (handler), the photo (moto's S3), the case (handler).
async fn face(
    f: &Function,
    http: &reqwest::Client,
    photo: &[u8],
    n: usize,
    run: &str,
    t: &mut Timings,
) -> Result<(), Error> {
    let start = Instant::now();
    let (r, took) = f
        .invoke(Function::event("POST", "/v1/uploads", &json!({}), None))
        .await?;
    if r.status != 201 {
        return Err(format!("POST /v1/uploads answered {}: {}", r.status, r.body).into());
    }
    t.upload_form.push(took);
    let form = r.body;
    let mut mp = reqwest::multipart::Form::new();
    for (k, v) in form["fields"].as_object().ok_or("upload fields")? {
        mp = mp.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
    }
    let field = form["file_field"].as_str().unwrap_or("file").to_owned();
    mp = mp.part(
        field,
        reqwest::multipart::Part::bytes(photo.to_vec())
            .file_name("photo.jpg")
            .mime_str("image/jpeg")?,
    );
    let up = Instant::now();
    let resp = http
        .post(form["url"].as_str().ok_or("upload url")?)
        .multipart(mp)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !(status.is_success() || status.is_redirection()) {
        return Err(format!("the presigned POST answered {status}: {text}").into());
    }
    t.upload.push(up.elapsed());
    let key = form["key"].as_str().ok_or("upload key")?;
    let body = with(
        person(n, run),
        json!({"kind": "face_opt_out", "consent": true, "upload_key": key}),
    );
    t.face_case
        .push(post_case(f, &body, &format!("load-{run}-{n}")).await?);
    t.face_total.push(start.elapsed());
    Ok(())
}

/// One DSA notice.
async fn dsa(f: &Function, n: usize, run: &str, t: &mut Timings) -> Result<(), Error> {
    let body = with(
        person(n, run),
        json!({"kind": "dsa_notice", "good_faith": true,
            "source_urls": [format!("https://images.example.com/load/{run}/{n}.jpg")]}),
    );
    t.dsa_case
        .push(post_case(f, &body, &format!("load-{run}-{n}")).await?);
    Ok(())
}

/// `count` submissions from `concurrency` tasks, numbered from `first`.
async fn drive(
    f: &Function,
    http: &reqwest::Client,
    photos: &Arc<Vec<Vec<u8>>>,
    o: &Opts,
    first: usize,
    count: usize,
    run: &str,
) -> Result<Timings, Error> {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let tasks: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (f, http, photos, next, run) = (
                f.clone(),
                http.clone(),
                photos.clone(),
                next.clone(),
                run.to_owned(),
            );
            let percent = o.face_percent;
            tokio::spawn(async move {
                let mut t = Timings::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= end {
                        return t;
                    }
                    let r = if is_face(n, percent) {
                        face(&f, &http, &photos[n % photos.len()], n, &run, &mut t).await
                    } else {
                        dsa(&f, n, &run, &mut t).await
                    };
                    if let Err(e) = r {
                        t.errors.push(format!("#{n}: {e}"));
                    }
                }
            })
        })
        .collect();
    let mut all = Timings::default();
    for task in tasks {
        all.merge(task.await?);
    }
    Ok(all)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let o = opts()?;
    let photos: Vec<Vec<u8>> = PHOTOS
        .iter()
        .map(|p| {
            std::fs::read(root().join(".cache/fixtures").join(p))
                .map_err(|e| format!(".cache/fixtures/{p}: {e} (run scripts/setup-models)"))
        })
        .collect::<Result<_, _>>()?;
    let photos = Arc::new(photos);
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
    if let Some(e) = warm.errors.first() {
        return Err(format!("warm-up failed: {e}").into());
    }
    let rss_before = status_mb("self", "VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
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

    let ok_face = t.face_case.len();
    let ok_dsa = t.dsa_case.len();
    println!(
        "submissions in {secs:.1} s: {:.1}/s in total ({:.1} face opt-outs/s, {:.1} DSA notices/s); {} failed",
        (ok_face + ok_dsa) as f64 / secs,
        ok_face as f64 / secs,
        ok_dsa as f64 / secs,
        t.errors.len()
    );
    println!("  POST /v1/cases, DSA notice   {}", latencies(t.dsa_case));
    println!("  POST /v1/cases, face         {}", latencies(t.face_case));
    println!(
        "  POST /v1/uploads             {}",
        latencies(t.upload_form)
    );
    println!("  photo to moto (presigned)    {}", latencies(t.upload));
    println!("  whole face opt-out (3 req)   {}", latencies(t.face_total));
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
        if reset {
            ""
        } else {
            " (VmHWM not reset: includes start-up)"
        }
    );
    println!(
        "These figures are bound by the emulators (moto: one Python process for S3, SQS and SES; DynamoDB Local: a JVM) \
         sharing the machine's cores with the handler, not by Lambda, where each concurrent request has an instance of its own."
    );
    for e in t.errors.iter().take(5) {
        println!("error {e}");
    }
    if !t.errors.is_empty() {
        return Err(format!("{} submissions failed", t.errors.len()).into());
    }
    Ok(())
}
