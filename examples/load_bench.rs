//! Load figure of the embedded mode (issue #17): submissions per second and their latency while
//! the job worker embeds the photos with the real face pipeline, and the process's memory.
//!
//! The embedded system runs in this process, started as `optout serve` starts it
//! (`optout::embedded::run`: the HTTP app on loopback, the job worker with the face models of
//! `.cache/models`, the housekeeping loop; mimalloc as allocator). `--concurrency` clients then
//! drive it over HTTP until `--count` submissions are in, a `--face-percent` share of them face
//! opt-outs (`POST /v1/uploads`, the photo through the returned upload form, `POST /v1/cases`
//! with its `upload_key`) on the fixture photos of `.cache/fixtures`, the rest DSA notices
//! (`POST /v1/cases` with `source_urls`); every submission has its own email and
//! `Idempotency-Key`. Afterwards it waits until the worker has embedded every queued photo.
//!
//! It prints submissions per second (per kind and total), p50/p99/max latency of each request,
//! the embedding throughput (jobs per second, and how long the queue took to drain after the last
//! submission) and the resident memory of the process: after start-up (models loaded), the peak
//! during the run (`VmHWM` of `/proc/self/status`, reset once start-up is over) and after the
//! queue is drained. The clients share the process (and its 2 tokio worker threads on a 2-core
//! machine) with the server, so the figures include their cost.
//!
//! ```sh
//! cargo build --release --example load_bench
//! target/release/examples/load_bench [--count 600] [--concurrency 16] [--face-percent 50]
//! ```
//! The models and photos come from `scripts/setup-models`.

/// The same allocator as the `optout` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::{System, run};
use optout_core::ports::{PhotoAnalyzer, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "support/load.rs"]
mod load;
use load::*;

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

fn opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        count: 600,
        concurrency: 16,
        face_percent: 50,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v: usize = args
            .next()
            .with_context(|| format!("{a} needs a value"))?
            .parse()
            .with_context(|| format!("{a} needs a number"))?;
        match a.as_str() {
            "--count" => o.count = v.max(1),
            "--concurrency" => o.concurrency = v.max(1),
            "--face-percent" => o.face_percent = v.min(100),
            _ => bail!("unknown option {a}; see the top of examples/load_bench.rs"),
        }
    }
    Ok(o)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The latencies one client measured.
#[derive(Default)]
struct Timings {
    /// `POST /v1/uploads`.
    upload_form: Vec<Duration>,
    /// The photo through the upload form.
    upload: Vec<Duration>,
    /// `POST /v1/cases` of face opt-outs.
    face_case: Vec<Duration>,
    /// `POST /v1/cases` of DSA notices.
    dsa_case: Vec<Duration>,
    /// A whole face opt-out (the three requests).
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

/// Posts a case; `Ok(latency)` when it was created (201).
async fn post_case(
    c: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    key: &str,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = c
        .post(format!("{url}/v1/cases"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    let took = t.elapsed();
    if status != 201 {
        bail!("POST /v1/cases answered {status}: {text}");
    }
    Ok(took)
}

/// One face opt-out: the upload form, the photo, the case.
async fn face(
    c: &reqwest::Client,
    url: &str,
    photo: &[u8],
    n: usize,
    run: &str,
    t: &mut Timings,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let r = c.post(format!("{url}/v1/uploads")).send().await?;
    let status = r.status();
    let form: serde_json::Value = r.json().await?;
    if status != 201 {
        bail!("POST /v1/uploads answered {status}: {form}");
    }
    t.upload_form.push(start.elapsed());
    let mut mp = reqwest::multipart::Form::new();
    for (k, v) in form["fields"].as_object().context("upload fields")? {
        mp = mp.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
    }
    let field = form["file_field"].as_str().unwrap_or("file").to_owned();
    mp = mp.part(
        field,
        reqwest::multipart::Part::bytes(photo.to_vec())
            .file_name("photo.jpg")
            .mime_str("image/jpeg")?,
    );
    let target = form["url"].as_str().context("upload url")?;
    let up = Instant::now();
    let r = c
        .post(target)
        .header("accept", "application/json")
        .multipart(mp)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("the upload answered {status}: {text}");
    }
    t.upload.push(up.elapsed());
    let key = form["key"].as_str().context("upload key")?;
    let body = with(
        person(n, run),
        serde_json::json!({"kind": "face_opt_out", "consent": true, "upload_key": key}),
    );
    t.face_case
        .push(post_case(c, url, &body, &format!("load-{run}-{n}")).await?);
    t.face_total.push(start.elapsed());
    Ok(())
}

/// One DSA notice.
async fn dsa(
    c: &reqwest::Client,
    url: &str,
    n: usize,
    run: &str,
    t: &mut Timings,
) -> anyhow::Result<()> {
    let body = with(
        person(n, run),
        serde_json::json!({"kind": "dsa_notice", "good_faith": true,
            "source_urls": [format!("https://images.example.com/load/{run}/{n}.jpg")]}),
    );
    t.dsa_case
        .push(post_case(c, url, &body, &format!("load-{run}-{n}")).await?);
    Ok(())
}

/// (queued or running, done, failed) jobs.
async fn job_counts(system: &System) -> anyhow::Result<(usize, usize, usize)> {
    let jobs = system.queue.jobs().await?;
    let state = |s: &str| jobs.iter().filter(|j| j.state == s).count();
    Ok((
        state("queued") + state("running"),
        state("done"),
        state("failed"),
    ))
}

fn receipts(system: &System) -> usize {
    std::fs::read_dir(system.outbox())
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let o = opts()?;
    let photos: Vec<Vec<u8>> = PHOTOS
        .iter()
        .map(|p| {
            std::fs::read(root().join(".cache/fixtures").join(p))
                .with_context(|| format!(".cache/fixtures/{p}: run scripts/setup-models"))
        })
        .collect::<anyhow::Result<_>>()?;
    let rss_empty = status_mb("self", "VmRSS:");

    // The system as `optout serve` runs it.
    let tmp = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let args = ServeArgs {
        data: Some(tmp.path().to_owned()),
        desk: DeskArgs {
            public_url: Some(url.clone()),
            mail_from: Some("bench <desk@example.org>".into()),
            operator_name: Some("bench".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let config = args.sources_with_env(false)?.resolve(addr)?;
    let engine = optout_face::FaceEngine::load(&root().join(".cache/models"))
        .context("face models: run scripts/setup-models")?;
    let analyzer: Arc<dyn PhotoAnalyzer> = Arc::new(optout_face::FaceAnalyzer(engine.into()));
    let system = System::open(&config, Arc::new(SystemClock))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(run(system.clone(), listener, Some(analyzer), rx));
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(o.concurrency)
        .build()?;
    let up = c.get(format!("{url}/healthz")).send().await?;
    if !up.status().is_success() {
        bail!("the server did not come up: {}", up.status());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = status_mb("self", "VmRSS:");
    let startup_peak = status_mb("self", "VmHWM:");
    // The peak of the run alone (resets VmHWM to the current RSS).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    let run_tag = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let faces = (0..o.count).filter(|n| is_face(*n, o.face_percent)).count();
    println!(
        "embedded load: {} submissions ({faces} face opt-outs, {} DSA notices), {} clients, server on {url}",
        o.count,
        o.count - faces,
        o.concurrency
    );
    let next = Arc::new(AtomicUsize::new(0));
    let photos = Arc::new(photos);
    let started = Instant::now();
    let clients: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (c, url, next, photos, run_tag) = (
                c.clone(),
                url.clone(),
                next.clone(),
                photos.clone(),
                run_tag.clone(),
            );
            let (count, percent) = (o.count, o.face_percent);
            tokio::spawn(async move {
                let mut t = Timings::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return t;
                    }
                    let r = if is_face(n, percent) {
                        let photo = &photos[n % photos.len()];
                        face(&c, &url, photo, n, &run_tag, &mut t).await
                    } else {
                        dsa(&c, &url, n, &run_tag, &mut t).await
                    };
                    if let Err(e) = r {
                        t.errors.push(format!("#{n}: {e:#}"));
                    }
                }
            })
        })
        .collect();
    let mut t = Timings::default();
    for h in clients {
        t.merge(h.await?);
    }
    let load = started.elapsed();
    let (pending_at_end, done_at_end, _) = job_counts(&system).await?;
    let rss_at_end = status_mb("self", "VmRSS:");

    // The worker drains the queue.
    let deadline = Instant::now() + Duration::from_secs(1800);
    let (done, failed) = loop {
        let (pending, done, failed) = job_counts(&system).await?;
        if pending == 0 {
            break (done, failed);
        }
        if Instant::now() > deadline {
            bail!("the worker did not drain the queue in 30 minutes ({pending} left)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drained = started.elapsed();
    let peak = status_mb("self", "VmHWM:");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = status_mb("self", "VmRSS:");
    let sent = receipts(&system);

    let secs = load.as_secs_f64();
    let ok_face = t.face_case.len();
    let ok_dsa = t.dsa_case.len();
    println!(
        "submissions in {secs:.1} s: {:.1}/s in total ({:.1} face opt-outs/s, {:.1} DSA notices/s); {} failed",
        (ok_face + ok_dsa) as f64 / secs,
        ok_face as f64 / secs,
        ok_dsa as f64 / secs,
        t.errors.len()
    );
    println!("  POST /v1/cases, DSA notice  {}", latencies(t.dsa_case));
    println!("  POST /v1/cases, face        {}", latencies(t.face_case));
    println!("  POST /v1/uploads            {}", latencies(t.upload_form));
    println!("  photo upload (form POST)    {}", latencies(t.upload));
    println!("  whole face opt-out (3 req)  {}", latencies(t.face_total));
    let after_load = (drained - load).as_secs_f64();
    println!(
        "embedding: {done} jobs done, {failed} failed; {done_at_end} done during the submissions, \
         {pending_at_end} still queued after them, drained {after_load:.1} s later: \
         {:.2} jobs/s over the whole run ({:.1} s), {:.2} jobs/s while draining",
        (done + failed) as f64 / drained.as_secs_f64(),
        drained.as_secs_f64(),
        if after_load > 0.0 {
            pending_at_end as f64 / after_load
        } else {
            0.0
        }
    );
    println!("receipts in the outbox: {sent} (one per submission expected)");
    println!(
        "RSS of the process (server + clients): empty {rss_empty:.0} MB; after start-up (models loaded) \
         {rss_before:.0} MB (start-up peak {startup_peak:.0} MB); at the end of the submissions \
         {rss_at_end:.0} MB; peak during the run {peak:.0} MB{}; after the queue drained {rss_after:.0} MB",
        if reset {
            ""
        } else {
            " (VmHWM not reset: includes start-up)"
        }
    );
    for e in t.errors.iter().take(5) {
        println!("error {e}");
    }
    let _ = stop.send(true);
    server.await??;
    if !t.errors.is_empty() || failed > 0 {
        bail!("{} submissions and {failed} jobs failed", t.errors.len());
    }
    Ok(())
}
