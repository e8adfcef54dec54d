//! What the load benches share (`examples/load_bench.rs`, `examples/hostile_images_bench.rs`,
//! `examples/indexer_http_bench.rs`, `functions/api/examples/api_load.rs`): memory readings,
//! latency figures and the requests they submit. Each bench includes this file with `#[path]` and
//! uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

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
