//! Cold start of the indexer's exclusion check on the emulators: how long a fresh process takes
//! from start to an index ready to answer, and its peak RSS (VmHWM), for
//! (a) today's path without a snapshot: the whole table read from DynamoDB Local, every face
//!     derived again; and
//! (b) the snapshot path: the matcher snapshot from moto S3 (ranged parallel GETs, decoded as it
//!     arrives) plus a feed tail of 1,000 changes from DynamoDB Local.
//!
//! The data: N faces (random unit vectors), N/2 SHA-256, N/2 PDQ and N/2 URLs, then the tail
//! (500 faces, 500 SHA-256). Each measurement is a child process doing only the load.
//!
//! ```text
//! cargo run --release -p optout-aws --example exclusions_cold_start -- \
//!     [--faces 100000,1000000] [--table-max 100000]
//! ```
//! `--table-max`: the largest N seeded into DynamoDB Local for path (a) (seeding 1M faces there
//! takes long and needs a large heap; `OPTOUT_DYNAMODB_LOCAL_HEAP`, default here 6g).

use std::collections::{BTreeMap, HashMap};
use std::io::BufWriter;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use optout_aws::matcher_snapshots::{PARALLEL, PART};
use optout_aws::testing::{Emulators, Stack, sdk_config};
use optout_aws::{AwsConfig, Clients, DynamoExclusions, S3MatcherSnapshots};
use optout_core::exclusions::{ExclusionService, MatchSettings, entry_value};
use optout_core::model::CaseId;
use optout_core::ports::{EntryState, ExclusionEntry, ExclusionValue, MatcherSnapshots};
use optout_matcher::rng::SplitMix64;
use optout_matcher::state::{StateEntry, StateValue, merge};

const TAIL: usize = 1000;

type Res<T> = Result<T, String>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let result = match arg("--child") {
        Some(mode) => child(&mode).await,
        None => parent().await,
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The configuration of the stack's api function, with a long timeout for big objects.
async fn clients(env: &HashMap<String, String>) -> Res<(AwsConfig, Clients)> {
    let mut env = env.clone();
    env.insert("OPTOUT_AWS_TIMEOUT_MS".into(), "60000".into());
    let cfg = AwsConfig::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    let sdk = sdk_config(&cfg).await;
    let clients = Clients::new(&sdk, &cfg);
    Ok((cfg, clients))
}

/// One measurement, in a fresh process: start → index ready.
async fn child(mode: &str) -> Res<()> {
    let t0 = Instant::now();
    let env: HashMap<String, String> = std::env::vars().collect();
    let (cfg, clients) = clients(&env).await?;
    let table = cfg.exclusions_table.clone().ok_or("no exclusions table")?;
    let store = Arc::new(DynamoExclusions::new(clients.dynamodb.clone(), &table));
    let mut svc = ExclusionService::new(store, MatchSettings::default());
    if let Some(parallel) = mode.strip_prefix("snapshot") {
        let parallel = parallel.parse().unwrap_or(PARALLEL);
        svc = svc.with_snapshots(Arc::new(
            S3MatcherSnapshots::new(clients.s3.clone(), &cfg.photo_bucket)
                .with_parts(PART, parallel),
        ));
    }
    let t1 = Instant::now();
    let position = svc.catch_up().await.map_err(|e| e.to_string())?;
    let ready = t0.elapsed().as_secs_f64();
    let load = t1.elapsed().as_secs_f64();
    println!(
        "ready_s={ready:.3} load_s={load:.3} entries={} position={position} vmhwm_mb={:.0}",
        svc.indexed().map_err(|e| e.to_string())?,
        vm_hwm_mb()
    );
    Ok(())
}

/// N faces, N/2 SHA-256, N/2 PDQ, N/2 URLs at positions `first..`, interleaved.
fn entries(n: usize, first: u64, seed: u64) -> Vec<ExclusionEntry> {
    let mut rng = SplitMix64::new(seed);
    let now = Utc::now();
    let case = CaseId::new(now);
    let mut out = Vec::with_capacity(n * 5 / 2);
    let mut push = |value: ExclusionValue| {
        let p = first + out.len() as u64;
        out.push(ExclusionEntry {
            id: p,
            position: p,
            case_id: case,
            value,
            state: EntryState::Active,
            created_at: now,
            updated_at: now,
        });
    };
    for i in 0..n {
        let face = optout_matcher::synth::random_unit(&mut rng);
        push(ExclusionValue::Face(face));
        if i % 2 == 0 {
            push(ExclusionValue::Sha256(optout_matcher::Sha256(
                rng.bytes32(),
            )));
            push(ExclusionValue::Pdq(optout_matcher::PdqHash(rng.bytes32())));
            let url = format!("https://images.example.org/{seed}/{i}/photo.jpg");
            push(ExclusionValue::Url(
                optout_matcher::normalize_url(&url).expect("a valid link"),
            ));
        }
    }
    out
}

/// The tail: half faces, half SHA-256.
fn tail(first: u64) -> Vec<ExclusionEntry> {
    let mut t = entries(TAIL / 2, first, 99);
    t.retain(|e| matches!(e.value, ExclusionValue::Face(_) | ExclusionValue::Sha256(_)));
    t.truncate(TAIL);
    for (i, e) in t.iter_mut().enumerate() {
        e.id = first + i as u64;
        e.position = e.id;
    }
    t
}

/// Writes the snapshot of `entries` at `position` (faces derived on two threads) to `path`.
fn write_snapshot(entries: &[ExclusionEntry], position: u64, path: &std::path::Path) -> Res<u64> {
    let deriver = MatchSettings::default().face_deriver();
    let values: Vec<_> = entries.iter().map(|e| entry_value(&e.value)).collect();
    let half = values.len() / 2;
    let (a, b) = values.split_at(half);
    let convert = |vs: &[optout_matcher::EntryValue]| -> Vec<StateValue> {
        vs.iter()
            .map(|v| StateValue::for_snapshot(v, &deriver))
            .collect()
    };
    let mut converted = std::thread::scope(|s| {
        let h = s.spawn(|| convert(a));
        let mut second = convert(b);
        let mut first = h.join().unwrap_or_default();
        first.append(&mut second);
        first
    });
    let mut changes = BTreeMap::new();
    for (e, v) in entries.iter().zip(converted.drain(..)) {
        changes.insert(
            e.id,
            Some(StateEntry {
                id: e.id,
                position: e.position,
                value: v,
            }),
        );
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let (_, merged) = merge::<&[u8], _>(None, &changes, position, &deriver, BufWriter::new(file))
        .map_err(|e| e.to_string())?;
    Ok(merged.entries)
}

fn measure(stack_env: &HashMap<String, String>, mode: &str) -> Res<String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", mode])
        .env_clear()
        .envs(stack_env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "child {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn parent() -> Res<()> {
    let sizes: Vec<usize> = arg("--faces")
        .unwrap_or_else(|| "100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("--faces: {s:?}")))
        .collect::<Res<_>>()?;
    let table_max: usize = arg("--table-max").map_or(Ok(100_000), |s| {
        s.parse().map_err(|_| "--table-max".to_owned())
    })?;
    if std::env::var_os("OPTOUT_DYNAMODB_LOCAL_HEAP").is_none() {
        // SAFETY: set before any other thread reads the environment (the runtime's workers do
        // not; the emulators are started after this).
        unsafe { std::env::set_var("OPTOUT_DYNAMODB_LOCAL_HEAP", "6g") };
    }
    println!("# exclusion check cold start, {} cores", num_cpus());
    println!("# data: N faces + N/2 sha256 + N/2 pdq + N/2 urls, then a feed tail of {TAIL}");
    for n in sizes {
        let em = Emulators::start().map_err(|e| e.to_string())?;
        let stack = Stack::create(&em, &format!("cold{n}"))
            .await
            .map_err(|e| e.to_string())?;
        let env: HashMap<String, String> = stack.env.clone().into_iter().collect();
        let (cfg, clients) = clients(&env).await?;
        let table = cfg.exclusions_table.clone().ok_or("no exclusions table")?;
        let x = DynamoExclusions::new(clients.dynamodb.clone(), &table);
        let t = Instant::now();
        let data = entries(n, 1, n as u64);
        let total = data.len() as u64;
        println!(
            "[N={n}] {total} entries generated in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let with_table = n <= table_max;
        if with_table {
            let t = Instant::now();
            x.seed_feed(&data, total, 16)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "[N={n}] seeded DynamoDB Local in {:.1}s",
                t.elapsed().as_secs_f64()
            );
        }
        let t = Instant::now();
        let path = std::env::temp_dir().join(format!("cold-start-{}-{n}.bin", std::process::id()));
        let written = write_snapshot(&data, total, &path)?;
        drop(data);
        let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        let snaps = S3MatcherSnapshots::new(clients.s3.clone(), &cfg.photo_bucket);
        let stored = snaps.store(&path, total).await;
        let _ = std::fs::remove_file(&path);
        stored.map_err(|e| e.to_string())?;
        println!(
            "[N={n}] snapshot of {written} entries, {:.1} MB, written and stored in {:.1}s",
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let tail = tail(total + 1);
        x.seed_feed(&tail, total + tail.len() as u64, 16)
            .await
            .map_err(|e| e.to_string())?;
        if with_table {
            println!("[N={n}] (a) table read:    {}", measure(&env, "table")?);
        } else {
            println!("[N={n}] (a) table read:    not measured (N > --table-max)");
        }
        for parallel in [PARALLEL, PARALLEL, 1] {
            println!(
                "[N={n}] (b) snapshot+tail, {parallel} ranged GETs of {} MB in flight: {}",
                PART >> 20,
                measure(&env, &format!("snapshot{parallel}"))?
            );
        }
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
