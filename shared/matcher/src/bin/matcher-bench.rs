//! Matcher bench: the synthetic workloads of `shared/peers/faiss_baseline.py`, single thread.
//!
//! cargo run --release -p optout-matcher --bin matcher-bench -- [--face-sizes 100000,1000000]
//!   [--nq 2000] [--nimp 2000] [--threshold 0.5] [--tables 16] [--probes 100,300,600,1000,1500,2500]
//!   [--pdq-n 1000000] [--pdq-nq 4000] [--sha-n 1000000] [--sha-nq 2000000]
//!   [--url-n 200000] [--url-nq 200000] [--only face,pdq,sha,url,state]
//!   [--state-faces 1000000] [--state-file PATH]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{FaceWorkload, PdqWorkload};
use optout_matcher::{
    FACE_MATCH_THRESHOLD, FaceConfig, FaceIndex, PdqHash, PdqIndex, Sha256, Sha256Index,
    Similarity, UrlIndex, normalize_url,
};

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Result<Self, String> {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            if k == "--help" || k == "-h" {
                return Err(HELP.to_string());
            }
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {k}"))?;
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            m.insert(key.to_string(), v);
        }
        Ok(Self(m))
    }
    fn str(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_string())
    }
    fn num<T: std::str::FromStr>(&self, k: &str, d: T) -> Result<T, String> {
        match self.0.get(k) {
            None => Ok(d),
            Some(v) => v.parse().map_err(|_| format!("--{k}: cannot parse {v:?}")),
        }
    }
    fn list(&self, k: &str, d: &str) -> Result<Vec<usize>, String> {
        self.str(k, d)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| format!("--{k}: cannot parse {s:?}"))
            })
            .collect()
    }
}

const HELP: &str = "matcher-bench [--face-sizes 100000,1000000] [--nq 2000] [--nimp 2000] \
[--threshold 0.5] [--tables 16] [--probes 100,300,600,1000,1500,2500] [--pdq-n 1000000] \
[--pdq-nq 4000] [--pdq-radius 31] [--pdq-max-flips 24] [--sha-n 1000000] [--sha-nq 2000000] \
[--url-n 200000] [--url-nq 200000] [--only face,pdq,sha,url,state] [--seed 1234] \
[--state-faces 1000000] [--state-file PATH (the generated snapshot: read if it exists, else written)]";

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1048576.0)
}

/// CPU time of this process in seconds (from /proc/self/schedstat), so figures stay
/// meaningful on a busy machine; falls back to 0.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// Wall and CPU timer.
struct Timer(Instant, f64);

impl Timer {
    fn start() -> Self {
        Self(Instant::now(), cpu_s())
    }
    /// (wall seconds, cpu seconds); cpu falls back to wall when the run was too short
    /// for the kernel's accounting to see it.
    fn stop(&self) -> (f64, f64) {
        let wall = self.0.elapsed().as_secs_f64();
        let cpu = cpu_s() - self.1;
        (wall, if cpu > 0.0 { cpu } else { wall })
    }
}

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(a: &Args) -> Result<(), String> {
    let only = a.str("only", "face,pdq,sha,url");
    let seed: u64 = a.num("seed", 1234)?;
    println!(
        "# optout-matcher bench, single thread, simd={}",
        optout_matcher::simd_level()
    );
    if only.contains("face") {
        for n in a.list("face-sizes", "100000,1000000")? {
            bench_face(a, n, seed)?;
        }
    }
    if only.contains("pdq") {
        bench_pdq(a, seed)?;
    }
    if only.contains("sha") {
        bench_sha(a, seed)?;
    }
    if only.contains("url") {
        bench_url(a)?;
    }
    if only.contains("state") {
        bench_state(a, seed)?;
    }
    Ok(())
}

/// Loading a matcher snapshot (`optout_matcher::state`) of N faces (as derived records) plus
/// N/2 SHA-256, N/2 PDQ and N/2 URLs from memory into an empty index.
fn bench_state(a: &Args, seed: u64) -> Result<(), String> {
    use optout_matcher::state::{StateReader, load_index};
    use optout_matcher::{ExclusionConfig, ExclusionIndex};
    let n: usize = a.num("state-faces", 1_000_000)?;
    let cfg = ExclusionConfig::default();
    // Generating the snapshot takes far longer than loading it: `--state-file` keeps it.
    let file = a.0.get("state-file");
    // The faces the snapshot was made from stay alive through the load, so that the load
    // cannot reuse their memory (which would hide it from the RSS delta).
    let mut _faces = Vec::new();
    let buf = match file.map(std::fs::read) {
        Some(Ok(buf)) => {
            println!(
                "[state N={n}] snapshot read from {}",
                file.map_or("", |f| f.as_str())
            );
            buf
        }
        _ => {
            let buf;
            (buf, _faces) = state_snapshot(n, &cfg, seed)?;
            if let Some(f) = file {
                std::fs::write(f, &buf).map_err(|e| format!("{f}: {e}"))?;
            }
            buf
        }
    };
    let tm = Timer::start();
    let mut reader = StateReader::new(buf.as_slice()).map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    while let Some(item) = reader.next().map_err(|e| e.to_string())? {
        seen += item.id & 1;
    }
    reader.finish().map_err(|e| e.to_string())?;
    let (wall, _) = tm.stop();
    println!("[state N={n}] decode and verify only: {wall:.2}s ({seen} odd ids)");
    let r0 = rss_mb();
    let tm = Timer::start();
    let mut index = ExclusionIndex::new(cfg);
    let reader = StateReader::new(buf.as_slice()).map_err(|e| e.to_string())?;
    let loaded =
        load_index(reader, Some(buf.len() as u64), &mut index).map_err(|e| e.to_string())?;
    let (wall, cpu) = tm.stop();
    println!(
        "[state N={n}] load {wall:.2}s wall, {cpu:.2}s cpu: {} entries, heap {:.0} MB, RSS delta {:.0} MB",
        loaded.entries,
        index.heap_bytes() as f64 / 1e6,
        rss_mb() - r0
    );
    println!(
        "[state N={n}] heap MB: faces {:.0}, pdq {:.0}, sha256 {:.0}, urls {:.0}",
        index.faces().heap_bytes() as f64 / 1e6,
        index.pdq().heap_bytes() as f64 / 1e6,
        index.sha256().heap_bytes() as f64 / 1e6,
        index.urls().heap_bytes() as f64 / 1e6,
    );
    Ok(())
}

/// A snapshot of `n` faces (as derived records) plus n/2 SHA-256, n/2 PDQ and n/2 URLs, and
/// the faces.
fn state_snapshot(
    n: usize,
    cfg: &optout_matcher::ExclusionConfig,
    seed: u64,
) -> Result<(Vec<u8>, Vec<optout_matcher::FaceEmbedding>), String> {
    use optout_matcher::FaceDeriver;
    use optout_matcher::state::{Header, StateEntry, StateValue, StateWriter};
    let deriver = FaceDeriver::new(cfg.face.tables, cfg.face.seed);
    let mut rng = SplitMix64::new(seed + 20);
    let faces: Vec<optout_matcher::FaceEmbedding> = (0..n)
        .map(|_| optout_matcher::synth::random_unit(&mut rng))
        .collect();
    let t0 = Instant::now();
    let half = n.div_ceil(2);
    let records: Vec<optout_matcher::FaceRecord> = std::thread::scope(|s| {
        let (a, b) = faces.split_at(half);
        let h = s.spawn(|| a.iter().map(|e| deriver.derive(e)).collect::<Vec<_>>());
        let mut rb: Vec<_> = b.iter().map(|e| deriver.derive(e)).collect();
        let mut ra = h.join().unwrap_or_default();
        ra.append(&mut rb);
        ra
    });
    println!(
        "[state N={n}] derived {n} face records in {:.1}s (2 threads)",
        t0.elapsed().as_secs_f64()
    );
    let m = n / 2;
    let cap = [m as u64, m as u64, m as u64, n as u64];
    let mut w = StateWriter::new(Vec::new(), &Header::new(1, Some(deriver.params()), cap))
        .map_err(|e| e.to_string())?;
    let mut id = 0u64;
    let mut put = |w: &mut StateWriter<Vec<u8>>, value: StateValue| -> Result<(), String> {
        id += 1;
        w.write(
            &StateEntry {
                id,
                position: id,
                value,
            }
            .item(),
        )
        .map_err(|e| e.to_string())
    };
    for (i, r) in records.into_iter().enumerate() {
        put(&mut w, StateValue::FaceRecord(Box::new(r)))?;
        if i < m {
            let mut h = [0u8; 32];
            for b in h.chunks_mut(8) {
                b.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            put(&mut w, StateValue::Sha256(h))?;
            h[0] ^= 0x55;
            put(&mut w, StateValue::Pdq(h))?;
            put(
                &mut w,
                StateValue::Url(format!("https://example.org/u/{i}/photo.jpg?id={i}")),
            )?;
        }
    }
    let (buf, count) = w.finish().map_err(|e| e.to_string())?;
    println!(
        "[state N={n}] {count} entries, {:.1} MB ({:.0} B/entry)",
        buf.len() as f64 / 1e6,
        buf.len() as f64 / count as f64
    );
    Ok((buf, faces))
}

fn bench_face(a: &Args, n: usize, seed: u64) -> Result<(), String> {
    let nq: usize = a.num("nq", 2000)?;
    let nimp: usize = a.num("nimp", 2000)?;
    let threshold = Similarity(a.num("threshold", FACE_MATCH_THRESHOLD.get())?);
    let tables: usize = a.num("tables", FaceConfig::default().tables)?;
    let t0 = Instant::now();
    let w = FaceWorkload::new(n, nq, nimp, 0.6, 0.8, seed);
    println!(
        "[face N={n}] workload {:.1}s: {} genuine (cos U(0.6,0.8)) + {} impostor queries, threshold {threshold}",
        t0.elapsed().as_secs_f64(),
        w.genuine.len(),
        w.impostors.len()
    );
    let cfg = FaceConfig {
        tables,
        threshold,
        ..FaceConfig::default()
    };
    let r0 = rss_mb();
    let t0 = Instant::now();
    let mut idx = FaceIndex::new(cfg);
    for (i, e) in w.db.iter().enumerate() {
        idx.insert(i as u64, e);
    }
    let build = t0.elapsed().as_secs_f64();
    let rss = rss_mb() - r0;
    println!(
        "[face N={n}] build {build:.1}s ({:.0} inserts/s) tables={tables} heap {:.0} B/entry, RSS delta {:.0} B/entry",
        n as f64 / build,
        idx.heap_bytes() as f64 / n as f64,
        rss * 1048576.0 / n as f64
    );
    // Exact top-1 reference for the impostors' best similarity (a sample, it is slow).
    let sample = w.impostors.len().min(if n > 200_000 { 50 } else { 200 });
    let mut max_imp = f32::MIN;
    for q in &w.impostors[..sample] {
        if let Some(h) = idx.search_exact(q, Similarity(-1.0)) {
            max_imp = max_imp.max(h.similarity.get());
        }
    }
    println!("[face N={n}] exact scan: max impostor cosine over {sample} impostors = {max_imp:.3}");
    println!(
        "[face N={n}]   probes  q/s(cpu) q/s(wall)  genuine_recall  impostor_matches  cpu_us/query | batch q/s(cpu) q/s(wall) recall impostors  (every impostor match is checked by an exact scan)"
    );
    let all: Vec<optout_matcher::FaceEmbedding> = w
        .genuine
        .iter()
        .map(|(_, q, _)| q.clone())
        .chain(w.impostors.iter().cloned())
        .collect();
    for probes in a.list("probes", "100,300,600,1000,1500,2500")? {
        let tm = Timer::start();
        let mut found = 0usize;
        for (i, q, _) in &w.genuine {
            if idx
                .search_with(q, threshold, probes)
                .is_some_and(|h| h.id == *i as u64)
            {
                found += 1;
            }
        }
        let mut false_matches = 0usize;
        let mut matched = Vec::new();
        for q in &w.impostors {
            if idx.search_with(q, threshold, probes).is_some() {
                false_matches += 1;
                matched.push(q);
            }
        }
        let (t, tc) = tm.stop();
        // An impostor the index matches is a stored vector really at or above the threshold
        // (scores are exact): an exhaustive scan must find it too.
        let confirmed = matched
            .iter()
            .filter(|q| idx.search_exact(q, threshold).is_some())
            .count();
        if confirmed != matched.len() {
            return Err(format!(
                "{} impostor matches not confirmed by an exact scan",
                matched.len() - confirmed
            ));
        }
        let total = w.genuine.len() + w.impostors.len();
        let tm = Timer::start();
        let res = idx.search_batch_with(&all, threshold, probes);
        let (bt, btc) = tm.stop();
        let bfound = w
            .genuine
            .iter()
            .zip(&res)
            .filter(|((i, _, _), r)| r.is_some_and(|h| h.id == *i as u64))
            .count();
        let bfalse = res[w.genuine.len()..]
            .iter()
            .filter(|r| r.is_some())
            .count();
        println!(
            "[face N={n}] {probes:>8} {:>9.0} {:>9.0} {:>15.4} {:>17} {:>13.1} | {:>14.0} {:>9.0} {:>6.4} {:>9}",
            total as f64 / tc,
            total as f64 / t,
            found as f64 / w.genuine.len().max(1) as f64,
            false_matches,
            tc * 1e6 / total as f64,
            total as f64 / btc,
            total as f64 / bt,
            bfound as f64 / w.genuine.len().max(1) as f64,
            bfalse
        );
    }
    Ok(())
}

fn bench_pdq(a: &Args, seed: u64) -> Result<(), String> {
    let n: usize = a.num("pdq-n", 1_000_000)?;
    let nq: usize = a.num("pdq-nq", 4000)?;
    let radius: u32 = a.num("pdq-radius", 31)?;
    let max_flips: u32 = a.num("pdq-max-flips", 24)?;
    let w = PdqWorkload::new(n, nq, max_flips, seed + 10);
    let r0 = rss_mb();
    let t0 = Instant::now();
    let mut idx = PdqIndex::new(radius);
    for (i, h) in w.db.iter().enumerate() {
        idx.insert(i as u64, *h);
    }
    let build = t0.elapsed().as_secs_f64();
    let rss = rss_mb() - r0;
    println!(
        "[pdq N={n}] build {build:.1}s, heap {:.0} B/entry, RSS delta {:.0} B/entry",
        idx.heap_bytes() as f64 / n as f64,
        rss * 1048576.0 / n as f64
    );
    let tm = Timer::start();
    let mut found = 0usize;
    for (i, q, _) in &w.matching {
        if idx.search(q).iter().any(|h| h.id == *i as u64) {
            found += 1;
        }
    }
    let mut false_matches = 0usize;
    for q in &w.random {
        if !idx.search(q).is_empty() {
            false_matches += 1;
        }
    }
    let (t, tc) = tm.stop();
    let total = w.matching.len() + w.random.len();
    println!(
        "[pdq N={n}] radius {radius}: {:.0} q/s cpu, {:.0} q/s wall ({:.1} cpu-us/query), recall {:.4} ({} matching queries, 0..{max_flips} flips), random matched {false_matches}/{}",
        total as f64 / tc,
        total as f64 / t,
        tc * 1e6 / total as f64,
        found as f64 / w.matching.len().max(1) as f64,
        w.matching.len(),
        w.random.len()
    );
    // Boundary check at the radius on a sample.
    let mut rng = SplitMix64::new(seed + 11);
    let mut ok = 0;
    let k = 200.min(n);
    for _ in 0..k {
        let i = rng.below(n as u64) as usize;
        let at = optout_matcher::synth::flip_bits(&mut rng, &w.db[i], radius);
        let past: PdqHash = optout_matcher::synth::flip_bits(&mut rng, &w.db[i], radius + 1);
        let hit_at = idx.search(&at).iter().any(|h| h.id == i as u64);
        let hit_past = idx.search(&past).iter().any(|h| h.id == i as u64);
        if hit_at && !hit_past {
            ok += 1;
        }
    }
    println!(
        "[pdq N={n}] boundary: {ok}/{k} stored hashes found at distance {radius} and not at {}",
        radius + 1
    );
    Ok(())
}

fn bench_sha(a: &Args, seed: u64) -> Result<(), String> {
    let n: usize = a.num("sha-n", 1_000_000)?;
    let nq: usize = a.num("sha-nq", 2_000_000)?;
    let mut rng = SplitMix64::new(seed + 20);
    let keys: Vec<Sha256> = (0..n).map(|_| Sha256(rng.bytes32())).collect();
    let t0 = Instant::now();
    let mut idx = Sha256Index::with_capacity(n);
    for (i, k) in keys.iter().enumerate() {
        idx.insert(i as u64, *k);
    }
    let build = t0.elapsed().as_secs_f64();
    let queries: Vec<Sha256> = (0..nq)
        .map(|i| {
            if i % 2 == 0 {
                keys[rng.below(n as u64) as usize]
            } else {
                Sha256(rng.bytes32())
            }
        })
        .collect();
    let tm = Timer::start();
    let mut hits = 0usize;
    for q in &queries {
        if black_box(idx.get(black_box(q))).is_some() {
            hits += 1;
        }
    }
    let (t, tc) = tm.stop();
    println!(
        "[sha N={n}] build {build:.2}s, {:.1}M lookups/s cpu, {:.1}M/s wall (50% hits, {hits} hits of {nq}), heap {:.0} B/entry",
        nq as f64 / tc / 1e6,
        nq as f64 / t / 1e6,
        idx.heap_bytes() as f64 / n as f64
    );
    // Including hex parsing, as the API receives it.
    let hexes: Vec<String> = queries.iter().take(nq / 4).map(|d| d.to_hex()).collect();
    let tm = Timer::start();
    let mut hits = 0usize;
    for h in &hexes {
        if Sha256::from_hex(h).is_ok_and(|d| idx.contains(&d)) {
            hits += 1;
        }
    }
    let (_, tc) = tm.stop();
    println!(
        "[sha N={n}] hex parse + lookup: {:.1}M/s cpu ({hits} hits)",
        hexes.len() as f64 / tc / 1e6
    );
    Ok(())
}

fn bench_url(a: &Args) -> Result<(), String> {
    let n: usize = a.num("url-n", 200_000)?;
    let nq: usize = a.num("url-nq", 200_000)?;
    let mut idx = UrlIndex::new();
    for i in 0..n {
        let u = normalize_url(&format!(
            "https://example.org/u/{i}/photo.jpg?size=large&id={i}"
        ))
        .map_err(|e| e.to_string())?;
        idx.insert(i as u64, &u);
    }
    let queries: Vec<String> = (0..nq)
        .map(|i| {
            let j = i % n.max(1);
            if i % 2 == 0 {
                format!(
                    "HTTPS://Example.ORG:443/u/{j}/./photo.jpg?id={j}&utm_source=x&size=large#top"
                )
            } else {
                format!("https://example.org/u/{j}/other.jpg?id={j}")
            }
        })
        .collect();
    let tm = Timer::start();
    let mut hits = 0usize;
    for q in &queries {
        if normalize_url(q).is_ok_and(|u| idx.get(&u).is_some()) {
            hits += 1;
        }
    }
    let (_, t) = tm.stop();
    println!(
        "[url N={n}] normalise + lookup: {:.0}/s cpu ({:.2} cpu-us each), {hits} hits of {nq} (expected {})",
        nq as f64 / t,
        t * 1e6 / nq as f64,
        nq.div_ceil(2)
    );
    Ok(())
}
