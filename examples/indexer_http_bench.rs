//! Embedded-mode throughput of the indexer's batch check, end to end over HTTP: starts the
//! embedded system on a temporary directory, writes N synthetic active exclusion entries (a
//! quarter each faces, PDQ hashes, SHA-256 digests and links) straight into its store, then POSTs
//! batches of 1,000 mixed candidates (half of them near an entry) to `/v1/exclusions/check` and
//! prints candidates per second and the per-batch latency.
//!
//! ```sh
//! cargo run --release --example indexer_http_bench -- [--entries 100000] [--batches 60] [--concurrency 1]
//! ```

use anyhow::bail;
use chrono::Utc;
use optout::embedded::System;
use optout_core::model::CaseId;
use optout_core::ports::{ExclusionValue, NewEntries};
use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{flip_bits, perturb, random_unit};
use optout_matcher::wire::{CheckResponse, MAX_BATCH};
use optout_matcher::{FaceEmbedding, PdqHash, Sha256};
use std::time::Instant;

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/load.rs"]
mod load;
use embedded::*;
use load::*;

struct Opts {
    entries: usize,
    batches: usize,
    concurrency: usize,
}

fn opts() -> Result<Opts, Error> {
    let mut o = Opts {
        entries: 100_000,
        batches: 60,
        concurrency: 1,
    };
    number_options(
        "examples/indexer_http_bench.rs",
        &mut [
            ("--entries", &mut o.entries, 4..=usize::MAX),
            ("--batches", &mut o.batches, 1..=usize::MAX),
            ("--concurrency", &mut o.concurrency, 1..=usize::MAX),
        ],
    )?;
    Ok(o)
}

/// The synthetic table: what was stored, to draw matching candidates from.
struct Table {
    faces: Vec<FaceEmbedding>,
    pdqs: Vec<PdqHash>,
    shas: Vec<String>,
    urls: Vec<String>,
}

fn table(n: usize, rng: &mut SplitMix64) -> Table {
    let q = n / 4;
    Table {
        faces: (0..q).map(|_| random_unit(rng)).collect(),
        pdqs: (0..q).map(|_| PdqHash(rng.bytes32())).collect(),
        shas: (0..q).map(|_| Sha256(rng.bytes32()).to_hex()).collect(),
        urls: (0..q)
            .map(|i| {
                format!(
                    "https://img{}.example.com/photos/{i}/{:x}.jpg",
                    i % 97,
                    rng.next_u64()
                )
            })
            .collect(),
    }
}

/// Writes the table as active entries, 1,000 per case (one transaction each).
async fn store(system: &System, t: &Table) -> anyhow::Result<()> {
    let mut values: Vec<ExclusionValue> = Vec::new();
    values.extend(t.faces.iter().map(|e| ExclusionValue::Face(e.clone())));
    values.extend(t.pdqs.iter().map(|h| ExclusionValue::Pdq(*h)));
    for h in &t.shas {
        values.push(ExclusionValue::Sha256(h.parse()?));
    }
    for u in &t.urls {
        values.push(ExclusionValue::Url(u.parse()?));
    }
    for chunk in values.chunks(1000) {
        system
            .desk
            .ports
            .exclusions
            .add_entries(NewEntries::new(CaseId::new(Utc::now()), chunk, Utc::now()))
            .await?;
    }
    Ok(())
}

/// A batch of 1,000 candidates, a quarter of each kind, every other one near a stored entry.
fn batch(t: &Table, rng: &mut SplitMix64) -> Vec<serde_json::Value> {
    let pick = |rng: &mut SplitMix64, len: usize| rng.below(len as u64) as usize;
    (0..MAX_BATCH)
        .map(|i| {
            let hit = i % 2 == 0;
            match (i / 2) % 4 {
                0 if hit => {
                    let e = &t.faces[pick(rng, t.faces.len())];
                    serde_json::json!({ "face": perturb(rng, e, 0.7).as_array().to_vec() })
                }
                0 => serde_json::json!({ "face": random_unit(rng).as_array().to_vec() }),
                1 if hit => {
                    let h = &t.pdqs[pick(rng, t.pdqs.len())];
                    serde_json::json!({ "pdq": flip_bits(rng, h, 20).to_hex() })
                }
                1 => serde_json::json!({ "pdq": PdqHash(rng.bytes32()).to_hex() }),
                2 if hit => serde_json::json!({ "sha256": t.shas[pick(rng, t.shas.len())] }),
                2 => serde_json::json!({ "sha256": Sha256(rng.bytes32()).to_hex() }),
                _ if hit => {
                    let u = &t.urls[pick(rng, t.urls.len())];
                    serde_json::json!({ "url": format!("{}?utm_source=bench#x", u.replacen("https://img", "HTTPS://IMG", 1)) })
                }
                _ => serde_json::json!({ "url": format!("https://elsewhere.example.org/{:x}.jpg", rng.next_u64()) }),
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts().map_err(anyhow::Error::msg)?;
    let tmp = tempfile::tempdir()?;
    let Served {
        url: base,
        system,
        stop: _stop,
        ..
    } = serve(tmp.path(), None).await?;

    let mut rng = SplitMix64::new(0x0b7b_e7c4);
    let t = table(o.entries, &mut rng);
    let started = Instant::now();
    store(&system, &t).await?;
    println!(
        "stored {} entries in {:.1} s",
        o.entries / 4 * 4,
        started.elapsed().as_secs_f64()
    );
    let (_, key) = system
        .indexer_keys
        .create("bench", optout_core::indexer_keys::MAX_RATE_PER_MINUTE)
        .await?;
    let bodies: Vec<Vec<u8>> = (0..o.batches)
        .map(|_| serde_json::to_vec(&serde_json::json!({ "candidates": batch(&t, &mut rng) })))
        .collect::<Result<_, _>>()?;
    let mb = bodies.iter().map(Vec::len).sum::<usize>() as f64 / bodies.len() as f64 / 1e6;

    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let (client, url, key) = (
            client.clone(),
            format!("{base}/v1/exclusions/check"),
            key.clone(),
        );
        async move {
            let t0 = Instant::now();
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("check answered {}: {}", r.status(), r.text().await?);
            }
            let answer: CheckResponse = r.json().await?;
            Ok::<_, anyhow::Error>((t0.elapsed(), answer))
        }
    };
    // Warm-up (the first check also loads the index from the store).
    let load = Instant::now();
    post(bodies[0].clone()).await?;
    println!(
        "first check (loads the index): {:.2} s",
        load.elapsed().as_secs_f64()
    );

    let wall = Instant::now();
    let mut latencies = Vec::with_capacity(o.batches);
    let mut hits = 0usize;
    for group in bodies.chunks(o.concurrency) {
        let tasks: Vec<_> = group
            .iter()
            .map(|b| tokio::spawn(post(b.clone())))
            .collect();
        for task in tasks {
            let (latency, answer) = task.await??;
            latencies.push(latency);
            hits += answer.results.iter().filter(|r| r.excluded).count();
        }
    }
    let elapsed = wall.elapsed().as_secs_f64();
    latencies.sort();
    let n = o.batches * MAX_BATCH;
    println!(
        "{} batches of {MAX_BATCH} mixed candidates ({mb:.2} MB JSON each), concurrency {}, {} entries: {:.0} candidates/s; per batch p50 {:.1} ms, p99 {:.1} ms; {:.1}% excluded (50% expected)",
        o.batches,
        o.concurrency,
        o.entries / 4 * 4,
        n as f64 / elapsed,
        pct(&latencies, 0.5).as_secs_f64() * 1e3,
        pct(&latencies, 0.99).as_secs_f64() * 1e3,
        hits as f64 * 100.0 / n as f64,
    );
    Ok(())
}
