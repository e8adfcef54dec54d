//! Figures of the AWS runtime against the local emulators (issue 3):
//! - the latency of a submission through the desk on the AWS adapters (DSA notice: case + audit +
//!   idempotency transaction, job enqueued, receipt sent, flags recorded), p50/p99;
//! - with `--api-bin PATH`, the cold start of the api function's release binary: the process is
//!   started as Lambda starts it (against a local Lambda Runtime API served here), and the time
//!   from process start to its first request for work (init), to the first response (a GET of
//!   the form) and to the response of a submission that follows is measured, `--cold-runs` times.
//!
//! `scripts/aws-figures` builds the functions in release, prints their sizes and deployment zips
//! and runs this. By hand:
//! `cargo run --release -p optout-aws --features test-support --example aws_figures -- [--runs 200] [--api-bin target/release/api] [--cold-runs 15]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use optout_aws::lambda_api::{LocalRuntimeApi, Seen};
use optout_aws::testing::{Emulators, Stack};
use optout_core::Lang;
use optout_core::model::CaseKind;
use optout_core::signing::KeyRing;
use optout_core::{Desk, SubmissionInput};

type Error = Box<dyn std::error::Error>;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// "p50 …, p99 …, max …" of latencies (sorted here).
fn latencies(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(pct(&v, 0.50)),
        ms(pct(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default())
    )
}

struct Args {
    runs: usize,
    api_bin: Option<PathBuf>,
    cold_runs: usize,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        runs: 200,
        api_bin: None,
        cold_runs: 15,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => a.runs = value()?.parse()?,
            "--api-bin" => a.api_bin = Some(value()?.into()),
            "--cold-runs" => a.cold_runs = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.runs == 0 || a.cold_runs == 0 {
        return Err("--runs and --cold-runs must be at least 1".into());
    }
    Ok(a)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let a = args()?;
    let t0 = Instant::now();
    let em = Emulators::start()?;
    println!("emulators up in {:?}", t0.elapsed());
    let stack = Stack::create(&em, "figures").await?;
    submissions(&stack, a.runs).await?;
    if let Some(bin) = &a.api_bin {
        cold_start(&stack, bin, a.cold_runs).await?;
    }
    Ok(())
}

async fn submissions(stack: &Stack, n: usize) -> Result<(), Error> {
    let desk = Desk::new(
        stack.ports(),
        KeyRing::generate("k1"),
        stack.desk.settings.clone(),
    );
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let input = SubmissionInput {
            kind: Some(CaseKind::DsaNotice),
            lang: Lang::En,
            country: "DE".into(),
            first_name: "Erika".into(),
            last_name: "Mustermann".into(),
            email: "erika@example.org".into(),
            phone: "+49 30 1234 5678".into(),
            reason: "This image of me was published without my consent.".into(),
            good_faith: true,
            source_urls: vec![format!("https://images.example.com/{i}.jpg")],
            idempotency_key: Some(format!("figures-{i:08}")),
            ..Default::default()
        };
        let start = Instant::now();
        let out = desk.submit(input).await?;
        let took = start.elapsed();
        if !(out.created && out.case.job_dispatched && out.case.receipt_sent) {
            return Err("a submission was not completed".into());
        }
        if i >= 10 {
            times.push(took); // the first ten warm the connections up
        }
    }
    println!(
        "submission through the desk (DynamoDB Local + moto, {n} runs): {}",
        latencies(times)
    );
    Ok(())
}

fn event(name: &str) -> Result<serde_json::Value, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

async fn cold_start(stack: &Stack, bin: &Path, runs: usize) -> Result<(), Error> {
    if !bin.is_file() {
        return Err(format!(
            "{}: no such binary (build it with cargo build --release -p optout-api-fn)",
            bin.display()
        )
        .into());
    }
    // The signing keys come from SSM, as in production (one more call during init).
    let keys_param = format!("/{}/signing-keys", stack.prefix);
    stack
        .clients
        .ssm
        .put_parameter()
        .name(&keys_param)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(KeyRing::generate("k1").to_spec())
        .overwrite(true)
        .send()
        .await?;

    let form = event("apigw-http-get-form.json")?.to_string();
    let post_case = event("apigw-http-post-case.json")?;
    let mut env: BTreeMap<String, String> = stack.env.clone();
    env.extend(
        [
            ("OPTOUT_SIGNING_KEYS_PARAMETER", keys_param.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "figures-api"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/figures-api"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "figures"),
            ("RUST_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );

    let submission = |tag: String| {
        let mut e = post_case.clone();
        e["headers"]["idempotency-key"] = tag.into();
        e.to_string()
    };
    let (mut init, mut first, mut submit) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let events = vec![
            form.clone(),
            submission(format!("cold-{}-{run}", stack.prefix)),
        ];
        let p = run_process(bin, &mut env, events).await?;
        init.push(p.ready);
        first.push(p.events[0].1);
        submit.push(p.events[1].1 - p.events[1].0);
    }
    for v in [&mut init, &mut first, &mut submit] {
        v.sort();
    }
    let line = |what: &str, v: &[Duration]| {
        println!(
            "api cold start, {what} ({runs} runs): p50 {:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(pct(v, 0.5)),
            ms(v[0]),
            ms(v[v.len() - 1])
        )
    };
    line("process start → ready for work (init)", &init);
    line("process start → first response (GET /)", &first);
    line("first submission after it (POST /v1/cases)", &submit);

    // One warm process handles many submissions in a row: the handler's latency as Lambda sees
    // it (event handed out → response posted).
    let n = 200;
    let events = (0..n + 10)
        .map(|i| submission(format!("warm-{}-{i}", stack.prefix)))
        .collect();
    let p = run_process(bin, &mut env, events).await?;
    let lat = p.events[10..].iter().map(|(a, b)| *b - *a).collect();
    println!(
        "api handler, submission (POST /v1/cases) in a warm process ({n} events): {}",
        latencies(lat)
    );
    Ok(())
}

/// What one api process did, in time since it was started.
struct ProcessTimes {
    /// When it first asked for work.
    ready: Duration,
    /// For each event: when it was handed out and when its response came back.
    events: Vec<(Duration, Duration)>,
}

/// Starts the api binary against a Runtime API of its own (nothing one process does is seen as
/// another's), hands it `events` one after the other and stops it after the last response.
async fn run_process(
    bin: &Path,
    env: &mut BTreeMap<String, String>,
    events: Vec<String>,
) -> Result<ProcessTimes, Error> {
    let n = events.len();
    let mut api = LocalRuntimeApi::start(events).await?;
    env.insert("AWS_LAMBDA_RUNTIME_API".into(), api.address());
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .envs(env.iter())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let outcome = watch(&mut api, start, n).await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// Follows one process until it has answered `n` events.
async fn watch(api: &mut LocalRuntimeApi, start: Instant, n: usize) -> Result<ProcessTimes, Error> {
    let mut handed: Vec<Duration> = Vec::with_capacity(n + 1);
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let seen = api
            .next_seen(Duration::from_secs(30))
            .await
            .ok_or("the api process did not answer within 30 s")?;
        match seen {
            Seen::Next(t) => handed.push(t - start),
            Seen::Response(t, id, body) => {
                let status = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["statusCode"].as_u64())
                    .unwrap_or(0);
                if !matches!(status, 200 | 201 | 303) {
                    return Err(format!("{id} was answered {status}").into());
                }
                let given = handed
                    .get(events.len())
                    .copied()
                    .ok_or("a response before its event was handed out")?;
                events.push((given, t - start));
            }
            Seen::Failed(_, body) | Seen::InitFailed(body) => {
                return Err(format!("the function failed: {body}").into());
            }
        }
    }
    Ok(ProcessTimes {
        ready: handed.first().copied().unwrap_or_default(),
        events,
    })
}
