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

use anyhow::bail;
use optout::embedded::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/load.rs"]
mod load;
use embedded::*;
use load::*;

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
    log_to_stderr("warn");
    let o = submission_opts(600, "examples/load_bench.rs").map_err(anyhow::Error::msg)?;
    let photos = Arc::new(fixture_photos(&root()).map_err(anyhow::Error::msg)?);
    let rss_empty = status_mb("self", "VmRSS:");

    // The system as `optout serve` runs it.
    let tmp = tempfile::tempdir()?;
    let Served {
        url,
        system,
        stop,
        server,
    } = serve(tmp.path(), Some(face_analyzer()?)).await?;
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
    // The peak of the run alone.
    let reset = reset_peak("self");

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
    let app = Http {
        client: c.clone(),
        url: url.clone(),
    };
    let started = Instant::now();
    let t = drive(&app, &c, &photos, &o, 0, o.count, &run_tag)
        .await
        .map_err(anyhow::Error::msg)?;
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

    let errors = t.errors().len();
    t.print(load.as_secs_f64(), "photo upload (form POST)");
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
        peak_note(reset)
    );
    let _ = stop.send(true);
    server.await??;
    if errors > 0 || failed > 0 {
        bail!("{errors} submissions and {failed} jobs failed");
    }
    Ok(())
}
