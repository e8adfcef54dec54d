//! What the load benches share (`examples/load_bench.rs`, `examples/hostile_images_bench.rs`,
//! `examples/indexer_http_bench.rs`, `functions/api/examples/api_load.rs`): their options, memory
//! readings, latency figures, and the submissions they make (a face opt-out: upload form, photo,
//! case; a DSA notice: the case) from concurrent tasks against a [`Submitter`]. Each bench
//! includes this file with `#[path]` and uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The credited fixture photos (`.cache/fixtures/CREDITS.md`).
pub const PHOTOS: [&str; 6] = [
    "person_a_1.jpg",
    "person_a_2.jpg",
    "person_b_1.jpg",
    "person_b_2.jpg",
    "impostor_1.jpg",
    "impostor_2.jpg",
];

/// The fixture photos of `.cache/fixtures` under the repository's `root`.
pub fn fixture_photos(root: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let read = |p: &str| {
        std::fs::read(root.join(".cache/fixtures").join(p))
            .map_err(|e| format!(".cache/fixtures/{p}: {e} (run scripts/setup-models)").into())
    };
    PHOTOS.iter().map(|p| read(p)).collect()
}

/// Logs of `RUST_LOG` (default `default`) to stderr: the figures go to stdout.
pub fn log_to_stderr(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The `--name value` options of the command line, checked by `set` (which returns whether it
/// knows the name); `bench` names the file whose top documents them.
pub fn parse_options(
    bench: &str,
    mut set: impl FnMut(&str, &str) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        if !set(&a, &v)? {
            return Err(format!("unknown option {a}; see the top of {bench}").into());
        }
    }
    Ok(())
}

/// A number given to option `name`.
pub fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, Error> {
    v.parse()
        .map_err(|_| format!("{name} needs a number, not {v:?}").into())
}

/// Numeric options: `--name N` sets the value of `name`, clamped to its range.
pub fn number_options(
    bench: &str,
    options: &mut [(&str, &mut usize, std::ops::RangeInclusive<usize>)],
) -> Result<(), Error> {
    parse_options(bench, |name, v| {
        let Some((_, value, range)) = options.iter_mut().find(|(n, _, _)| *n == name) else {
            return Ok(false);
        };
        **value = number::<usize>(name, v)?.clamp(*range.start(), *range.end());
        Ok(true)
    })
}

/// The options of the submission benches.
pub struct Opts {
    pub count: usize,
    pub concurrency: usize,
    pub face_percent: usize,
}

/// `[--count N] [--concurrency N] [--face-percent N]` (by default `count` submissions from 16
/// tasks, half of them face opt-outs).
pub fn submission_opts(count: usize, bench: &str) -> Result<Opts, Error> {
    let mut o = Opts {
        count,
        concurrency: 16,
        face_percent: 50,
    };
    number_options(
        bench,
        &mut [
            ("--count", &mut o.count, 1..=usize::MAX),
            ("--concurrency", &mut o.concurrency, 1..=usize::MAX),
            ("--face-percent", &mut o.face_percent, 0..=100),
        ],
    )?;
    Ok(o)
}

/// A `/proc/<process>/status` value (`VmRSS:`, `VmHWM:`) in MB; `process` is a pid or `self`.
pub fn status_mb(process: &str, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak resident size (`VmHWM`) of `process` (a pid or `self`) to its current size;
/// whether the kernel allowed it.
pub fn reset_peak(process: &str) -> bool {
    std::fs::write(format!("/proc/{process}/clear_refs"), "5").is_ok()
}

/// What a peak read after [`reset_peak`] includes.
pub fn peak_note(reset: bool) -> &'static str {
    if reset {
        ""
    } else {
        " (VmHWM not reset: includes start-up)"
    }
}

/// The `p` quantile (0 to 1) of `sorted`, nearest rank; zero when empty.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// "n requests, p50 …, p99 …, max …" of `v` (sorted here).
pub fn latencies(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "{:>5} requests, p50 {:>7.1} ms, p99 {:>7.1} ms, max {:>7.1} ms",
        v.len(),
        ms(pct(&v, 0.50)),
        ms(pct(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default())
    )
}

/// The personal fields of submission `n` of run `run` (an email of its own).
pub fn person(n: usize, run: &str) -> Value {
    json!({
        "lang": "en", "country": "TH", "first_name": "Somchai", "last_name": "Jaidee",
        "email": format!("load-{run}-{n}@example.org"), "phone": "+66812345678",
        "reason": "I never agreed to photos of my face being searchable.",
    })
}

/// `a` with the fields of `b` added (both JSON objects).
pub fn with(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        a.extend(b.clone());
    }
    a
}

/// Whether submission `n` is a face opt-out (`percent` of them, spread evenly over the run).
pub fn is_face(n: usize, percent: usize) -> bool {
    n * percent / 100 != (n + 1) * percent / 100
}

/// The status of an answer, the answer (JSON, or its text as a JSON string) and its latency.
pub type Answer = Result<(u16, Value, Duration), Error>;

/// Where the benches submit: the app over HTTP, or the api function's handler in process.
pub trait Submitter: Clone + Send + Sync + 'static {
    /// POSTs the JSON `body` to `path`, with `Idempotency-Key: key` if given.
    fn post(
        &self,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> impl Future<Output = Answer> + Send;
}

/// POSTs `body` to `path`, which must answer 201; returns the answer and the latency.
pub async fn create<S: Submitter>(
    s: &S,
    path: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> Result<(Value, Duration), Error> {
    let (status, answer, took) = s.post(path, body, idempotency_key).await?;
    if status != 201 {
        return Err(format!("POST {path} answered {status}: {answer}").into());
    }
    Ok((answer, took))
}

/// Posts `photo` (of type `content_type`) through the upload form a `POST /v1/uploads` answered,
/// as a browser's script does (to the app itself, or to S3 through the presigned POST); returns
/// the latency.
pub async fn upload_photo(
    http: &reqwest::Client,
    form: &Value,
    photo: Vec<u8>,
    content_type: &str,
) -> Result<Duration, Error> {
    let mut mp = reqwest::multipart::Form::new();
    for (k, v) in form["fields"].as_object().ok_or("upload fields")? {
        mp = mp.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
    }
    let field = form["file_field"].as_str().unwrap_or("file").to_owned();
    let part = reqwest::multipart::Part::bytes(photo).file_name("photo.jpg");
    mp = mp.part(field, part.mime_str(content_type)?);
    let target = form["url"].as_str().ok_or("upload url")?;
    let start = Instant::now();
    let resp = http
        .post(target)
        .header("accept", "application/json")
        .multipart(mp)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    let took = start.elapsed();
    if !(status.is_success() || status.is_redirection()) {
        return Err(format!("the upload answered {status}: {text}").into());
    }
    Ok(took)
}

/// The latencies one task measured.
#[derive(Default)]
pub struct Timings {
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
    /// The submissions that failed, with why.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    fn merge(&mut self, o: Timings) {
        self.upload_form.extend(o.upload_form);
        self.upload.extend(o.upload);
        self.face_case.extend(o.face_case);
        self.dsa_case.extend(o.dsa_case);
        self.face_total.extend(o.face_total);
        self.errors.extend(o.errors);
    }

    /// Submissions per second and the latency of each request; `upload` names the photo's way.
    pub fn print(self, secs: f64, upload: &str) {
        let ok_face = self.face_case.len();
        let ok_dsa = self.dsa_case.len();
        println!(
            "submissions in {secs:.1} s: {:.1}/s in total ({:.1} face opt-outs/s, {:.1} DSA notices/s); {} failed",
            (ok_face + ok_dsa) as f64 / secs,
            ok_face as f64 / secs,
            ok_dsa as f64 / secs,
            self.errors.len()
        );
        for (what, v) in [
            ("POST /v1/cases, DSA notice", self.dsa_case),
            ("POST /v1/cases, face", self.face_case),
            ("POST /v1/uploads", self.upload_form),
            (upload, self.upload),
            ("whole face opt-out (3 req)", self.face_total),
        ] {
            println!("  {what:<28} {}", latencies(v));
        }
        for e in self.errors.iter().take(5) {
            println!("error {e}");
        }
    }
}

/// One face opt-out, number `n` of run `run`: the upload form, the photo, the case.
async fn face<S: Submitter>(
    s: &S,
    http: &reqwest::Client,
    photo: &[u8],
    n: usize,
    run: &str,
    t: &mut Timings,
) -> Result<(), Error> {
    let start = Instant::now();
    let (form, took) = create(s, "/v1/uploads", &json!({}), None).await?;
    t.upload_form.push(took);
    t.upload
        .push(upload_photo(http, &form, photo.to_vec(), "image/jpeg").await?);
    let key = form["key"].as_str().ok_or("upload key")?;
    let body = with(
        person(n, run),
        json!({"kind": "face_opt_out", "consent": true, "upload_key": key}),
    );
    let idempotency_key = format!("load-{run}-{n}");
    let (_, took) = create(s, "/v1/cases", &body, Some(&idempotency_key)).await?;
    t.face_case.push(took);
    t.face_total.push(start.elapsed());
    Ok(())
}

/// One DSA notice, number `n` of run `run`.
async fn dsa<S: Submitter>(s: &S, n: usize, run: &str, t: &mut Timings) -> Result<(), Error> {
    let body = with(
        person(n, run),
        json!({"kind": "dsa_notice", "good_faith": true,
            "source_urls": [format!("https://images.example.com/load/{run}/{n}.jpg")]}),
    );
    let idempotency_key = format!("load-{run}-{n}");
    let (_, took) = create(s, "/v1/cases", &body, Some(&idempotency_key)).await?;
    t.dsa_case.push(took);
    Ok(())
}

/// Submissions `first..first + count` of run `run` from `o.concurrency` tasks, `o.face_percent`
/// of them face opt-outs (with the photos in turn), the rest DSA notices.
pub async fn drive<S: Submitter>(
    s: &S,
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
            let (s, http, photos, next, run) = (
                s.clone(),
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
                        face(&s, &http, &photos[n % photos.len()], n, &run, &mut t).await
                    } else {
                        dsa(&s, n, &run, &mut t).await
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
