//! Peak memory of the embedded server under hostile images (issue #17): eight 49-megapixel photos
//! (7000x7000, a portrait pasted on a flat background, so a PNG is a few hundred KB) go through the
//! real HTTP routes at once: `POST /v1/uploads`, the upload form, the unauthenticated page view
//! `GET /opt-out?key=…`, then `POST /v1/cases`, with the job worker embedding them.
//!
//! The server runs in a child process (this program started again with `serve`), wired exactly as
//! `optout serve` wires it (`optout::embedded::serve`, the face models, mimalloc). Its resident
//! memory is read from `/proc/<pid>/status`: after start-up, the peak (`VmHWM`, reset with
//! `clear_refs` once the models are loaded) during the page views and during the submissions and
//! embedding, and after everything finished. The goal is a peak under 512 MB.
//!
//! ```sh
//! cargo run --release --example hostile_images_bench -- [--count 8] [--side 7000] [--formats png,jpeg]
//! ```
//! The face models and fixtures come from `scripts/setup-models` (`.cache/models`,
//! `.cache/fixtures`).

/// The same allocator as the `optout` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use image::{ImageEncoder, RgbImage};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/load.rs"]
mod load;
use embedded::*;
use load::*;

/// The goal of the issue, for the whole server process.
const GOAL_MB: f64 = 512.0;

struct Opts {
    count: usize,
    side: u32,
    formats: Vec<String>,
}

fn opts() -> Result<Opts, Error> {
    let mut o = Opts {
        count: 8,
        side: 7000,
        formats: vec!["png".into(), "jpeg".into()],
    };
    parse_options("examples/hostile_images_bench.rs", |name, v| {
        match name {
            "--count" => o.count = number::<usize>(name, v)?.max(1),
            "--side" => o.side = number::<u32>(name, v)?.clamp(64, 7071),
            "--formats" => o.formats = v.split(',').map(str::to_owned).collect(),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(o)
}

/// `side`x`side` pixels: a flat, slightly graded background with the fixture portrait pasted at a
/// place that depends on `n` (so every photo is a different file).
fn canvas(portrait: &RgbImage, side: u32, n: u32) -> RgbImage {
    let mut img = RgbImage::from_fn(side, side, |_, y| {
        let v = 180 + (y * 40 / side) as u8;
        image::Rgb([v, v, v.saturating_sub(10)])
    });
    let x = (side / 3 + n * 97) % side.saturating_sub(portrait.width()).max(1);
    let y = (side / 4 + n * 53) % side.saturating_sub(portrait.height()).max(1);
    image::imageops::replace(&mut img, portrait, i64::from(x), i64::from(y));
    img
}

fn encode(img: &RgbImage, format: &str) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    let (w, h) = img.dimensions();
    match format {
        "png" => {
            image::codecs::png::PngEncoder::new(&mut out).write_image(
                img.as_raw(),
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )?;
            Ok((out, "image/png"))
        }
        "jpeg" => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).write_image(
                img.as_raw(),
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )?;
            Ok((out, "image/jpeg"))
        }
        other => bail!("unknown format {other} (png or jpeg)"),
    }
}

/// Resets the peak resident size of `pid` (`VmHWM`) to its current size.
fn reset_child_peak(pid: u32) -> anyhow::Result<()> {
    if !reset_peak(&pid.to_string()) {
        bail!("could not reset VmHWM (/proc/{pid}/clear_refs)");
    }
    Ok(())
}

/// The server: this program again, as `serve DATA_DIR`; prints `READY <url>` once listening.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &std::path::Path) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("READY ") else {
            let _ = child.kill();
            bail!("the server did not start: {line:?}");
        };
        Ok(Server {
            url: url.to_owned(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child: the embedded system as `optout serve` runs it, with the face pipeline.
async fn serve_child(data: PathBuf) -> anyhow::Result<()> {
    let served = serve(&data, Some(face_analyzer()?)).await?;
    println!("READY {}", served.url);
    served.server.await?
}

/// Uploads one photo through the upload form; returns its key.
async fn upload(app: &Http, bytes: Vec<u8>, ct: &str) -> anyhow::Result<String> {
    let (form, _) = create(app, "/v1/uploads", &serde_json::json!({}), None)
        .await
        .map_err(anyhow::Error::msg)?;
    upload_photo(&app.client, &form, bytes, ct)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(form["key"].as_str().context("key")?.to_owned())
}

/// Submits a face opt-out for an uploaded photo; returns the token of its status link.
async fn submit(app: &Http, key: &str, n: usize) -> anyhow::Result<String> {
    let body = serde_json::json!({
        "kind": "face_opt_out", "country": "TH", "first_name": "Somchai", "last_name": "Jaidee",
        "email": format!("bench{n}@example.org"), "phone": "+66812345678",
        "reason": "Please remove my face from your index.", "consent": true, "upload_key": key
    });
    let (v, _) = create(app, "/v1/cases", &body, None)
        .await
        .map_err(anyhow::Error::msg)?;
    let link = v["status_url"].as_str().context("status_url")?;
    Ok(link.rsplit('/').next().unwrap_or_default().to_owned())
}

/// Samples the child's resident size until `stop`; keeps the highest value seen.
fn sampler(pid: u32, stop: Arc<AtomicBool>, high: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let kb = (status_mb(&pid.to_string(), "VmRSS:") * 1024.0) as u64;
            high.fetch_max(kb, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

async fn run_format(o: &Opts, format: &str, portrait: &RgbImage) -> anyhow::Result<bool> {
    let t = Instant::now();
    let mut photos = Vec::new();
    for n in 0..o.count {
        let img = canvas(portrait, o.side, n as u32);
        photos.push(encode(&img, format)?);
    }
    let sizes: Vec<String> = photos
        .iter()
        .map(|(b, _)| format!("{:.0}", b.len() as f64 / 1024.0))
        .collect();
    println!(
        "\n{} {format} photos of {}x{} made in {:.1} s (KB: {})",
        o.count,
        o.side,
        o.side,
        t.elapsed().as_secs_f64(),
        sizes.join(", ")
    );
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path())?;
    let (pid, url) = (server.pid(), server.url.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_peak = status_mb(&pid.to_string(), "VmHWM:");
    let before = status_mb(&pid.to_string(), "VmRSS:");
    println!("server pid {pid}: RSS after start {before:.0} MB (start-up peak {start_peak:.0} MB)");
    let c = reqwest::Client::new();
    let app = Http {
        client: c.clone(),
        url: url.clone(),
    };

    let mut keys = Vec::new();
    for (bytes, ct) in photos {
        keys.push(upload(&app, bytes, ct).await?);
    }
    reset_child_peak(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let high = Arc::new(AtomicU64::new(0));
    let s = sampler(pid, stop.clone(), high.clone());

    // Phase 1: every upload's page view at once (no authentication needed).
    let t = Instant::now();
    let views: Vec<_> = keys
        .iter()
        .map(|k| {
            let (c, url, k) = (c.clone(), url.clone(), k.clone());
            tokio::spawn(async move {
                c.get(format!("{url}/opt-out"))
                    .query(&[("key", k.as_str())])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut codes = Vec::new();
    for v in views {
        codes.push(v.await??);
    }
    let views_peak = status_mb(&pid.to_string(), "VmHWM:");
    println!(
        "{} page views in {:.2} s (status {:?}): peak RSS {views_peak:.0} MB",
        o.count,
        t.elapsed().as_secs_f64(),
        codes
    );

    // Phase 2: every submission at once, the worker embedding them.
    reset_child_peak(pid)?;
    let t = Instant::now();
    let subs: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(n, k)| {
            let (app, k) = (app.clone(), k.clone());
            tokio::spawn(async move { submit(&app, &k, n).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for s in subs {
        tokens.push(s.await??);
    }
    let submitted = t.elapsed().as_secs_f64();
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        states.clear();
        for tok in &tokens {
            let v: serde_json::Value = c
                .get(format!("{url}/v1/status/{tok}"))
                .send()
                .await?
                .json()
                .await?;
            states.push(v["state"].as_str().unwrap_or("?").to_owned());
        }
        if states.iter().all(|s| s != "received" && s != "embedding") {
            break;
        }
        if Instant::now() > deadline {
            bail!("embedding did not finish: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let peak = status_mb(&pid.to_string(), "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    let _ = s.join();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = status_mb(&pid.to_string(), "VmRSS:");
    println!(
        "{} submissions accepted in {submitted:.2} s, all embedded after {:.1} s ({states:?})",
        o.count,
        t.elapsed().as_secs_f64()
    );
    let sampled = high.load(Ordering::Relaxed) as f64 / 1024.0;
    let worst = peak.max(views_peak);
    let ok = worst < GOAL_MB;
    println!(
        "{format}: RSS before {before:.0} MB, peak {worst:.0} MB (page views {views_peak:.0}, \
         submissions+embedding {peak:.0}; highest sample {sampled:.0}), after {after:.0} MB: {}",
        if ok { "under 512 MB" } else { "OVER 512 MB" }
    );
    drop(server);
    Ok(ok)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("serve") {
        let data = args.next().context("serve DATA_DIR")?;
        return serve_child(data.into()).await;
    }
    let o = opts().map_err(anyhow::Error::msg)?;
    let portrait = image::open(root().join(".cache/fixtures/person_b_1.jpg"))
        .context(".cache/fixtures/person_b_1.jpg: run scripts/setup-models")?
        .into_rgb8();
    let mut all_ok = true;
    for f in &o.formats {
        all_ok &= run_format(&o, f, &portrait).await?;
    }
    if !all_ok {
        bail!("the peak went over {GOAL_MB} MB");
    }
    Ok(())
}
