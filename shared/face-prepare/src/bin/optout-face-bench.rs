//! Bench of the face pipeline (release build, one inference thread).
//!
//!   optout-face-bench [--runs N] [--model-dir DIR] [--json FILE]   timings, then peak RSS in a child
//!   optout-face-bench calibrate [--model-dir DIR]                   cosine table of the real photos
//!   optout-face-bench rss FILE [--model-dir DIR]                     (child) analyse FILE, print VmHWM
//!   optout-face-bench memory [--model-dir DIR]                       peak RSS of the largest photos the
//!                     form accepts (made here, in a temporary directory), each in a fresh process,
//!                     against the embedder Lambda's MemorySize in infra/template.yaml
//!   optout-face-bench loadprofile [--model-dir DIR]                  load steps, per model (ROUNDS,
//!                     FILES, DEBUG_OPS=1 op histograms, OPT_PASSES=1 tract's optimiser per pass)
//!
//! Test photos come from `.cache/fixtures` (scripts/setup-models); the bench photos are made once
//! into `.cache/bench` from person_b_1.jpg the way the peer scripts make theirs (4:3 crop centred
//! at (0.5, 0.2), Lanczos resize, JPEG quality 90).

/// mimalloc: the face models load in ~30% less time than with glibc's allocator in a fresh
/// process (huge-page arenas, far fewer page faults); see shared/face/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use image::imageops::{self, FilterType};
use optout_face::{FACE_MATCH_THRESHOLD, FaceEngine, decode, detect, models, pdq};
use optout_face_prepare::onnx::{SFACE_ONNX, YUNET_ONNX, load_folded};
use optout_matcher::FaceEmbedding;

fn root() -> PathBuf {
    let mut dir = std::env::current_dir().unwrap_or_default();
    for d in dir.clone().ancestors() {
        if d.join(".cache/fixtures").is_dir() {
            dir = d.to_path_buf();
            break;
        }
    }
    dir
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Median wall time and median on-CPU time of the calling thread, ms.
fn time_ms<T>(runs: usize, warmup: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, f64)> {
    for _ in 0..warmup {
        f()?;
    }
    let (mut v, mut c) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let (t, c0) = (Instant::now(), thread_cpu_ms());
        std::hint::black_box(f()?);
        v.push(t.elapsed().as_secs_f64() * 1e3);
        c.push(thread_cpu_ms() - c0);
    }
    Ok((median(v), median(c)))
}

/// Busy CPU seconds of the whole machine, and of this process (from /proc).
fn cpu_counters() -> (f64, f64) {
    let tck = 100.0; // USER_HZ on Linux
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<f64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 8).then(|| (v.iter().sum::<f64>() - v[3] - v[4]) / tck)
        })
        .unwrap_or(0.0);
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / tck)
        })
        .unwrap_or(0.0);
    (busy, own)
}

/// On-CPU time of the calling thread, ms (from /proc/thread-self/schedstat, ns resolution).
fn thread_cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns / 1e6)
        .unwrap_or(0.0)
}

fn probe(a: &Args) -> Result<()> {
    let bytes = std::fs::read(a.file.as_ref().context("probe FILE")?)?;
    for _ in 0..5 {
        let (t, c) = (Instant::now(), thread_cpu_ms());
        let d = decode::decode_reduced(&bytes, optout_face::engine::REDUCED_LONG_SIDE)?;
        let (t1, c1) = (t.elapsed().as_secs_f64() * 1e3, thread_cpu_ms() - c);
        let (t, c) = (Instant::now(), thread_cpu_ms());
        let _ = pdq::pdq_rgb(&d.image);
        let (t2, c2) = (t.elapsed().as_secs_f64() * 1e3, thread_cpu_ms() - c);
        let (t, c) = (Instant::now(), thread_cpu_ms());
        let _ = detect::letterbox(&d.image, 640);
        let (t3, c3) = (t.elapsed().as_secs_f64() * 1e3, thread_cpu_ms() - c);
        println!(
            "decoded {}x{} (full {}x{}, scale {}): decode {t1:.1}/{c1:.1} pdq {t2:.1}/{c2:.1} letterbox {t3:.1}/{c3:.1} (wall/cpu ms)",
            d.image.width(),
            d.image.height(),
            d.full_width,
            d.full_height,
            d.scale
        );
    }
    Ok(())
}

/// Run the 320 detector on a synthetic input many times (for profilers); prints the median.
fn detloop(a: &Args) -> Result<()> {
    let engine = FaceEngine::load_with(&a.model_dir, optout_face::EngineOptions::fixed(320))?;
    let input: Vec<f32> = (0..3 * 320 * 320)
        .map(|i| ((i * 7919) % 251) as f32)
        .collect();
    let (ms, _) = time_ms(a.runs.max(1), 1, || {
        engine.bench_detector(&input).map_err(anyhow::Error::from)
    })?;
    println!("detect320 median {ms:.2} ms over {} runs", a.runs.max(1));
    Ok(())
}

/// Load the models once in this (fresh) process and print the milliseconds it took: `--onnx`
/// loads the folded float ONNX pair instead (YuNet 640 + SFace, parsed and optimised by tract).
fn loadonce(a: &Args, onnx: bool) -> Result<()> {
    let t = Instant::now();
    if onnx {
        load_folded(&a.model_dir.join(YUNET_ONNX), &[1, 3, 640, 640])?;
        load_folded(&a.model_dir.join(SFACE_ONNX), &[1, 3, 112, 112])?;
    } else {
        std::hint::black_box(FaceEngine::load(&a.model_dir)?);
    }
    println!("{:.3}", t.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

/// Median over `runs` fresh processes of [`loadonce`].
fn fresh_process_load_ms(dir: &Path, runs: usize, onnx: bool) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg(if onnx { "loadonce-onnx" } else { "loadonce" })
            .arg("--model-dir")
            .arg(dir);
        let o = cmd.output()?;
        anyhow::ensure!(
            o.status.success(),
            "loadonce failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        v.push(String::from_utf8_lossy(&o.stdout).trim().parse::<f64>()?);
    }
    Ok(median(v))
}

/// Embed one synthetic aligned face many times (for profilers); prints the median.
fn embedloop(a: &Args) -> Result<()> {
    let engine = FaceEngine::load(&a.model_dir)?;
    let face: Vec<u8> = (0..112 * 112 * 3)
        .map(|i| ((i * 7919) % 251) as u8)
        .collect();
    let (ms, _) = time_ms(a.runs.max(1), 1, || {
        engine.bench_embedder(&face).map_err(anyhow::Error::from)
    })?;
    println!("embed median {ms:.2} ms over {} runs", a.runs.max(1));
    Ok(())
}

/// SFace's dense head alone (the Rust kernel), many times; prints the median.
fn headloop(a: &Args) -> Result<()> {
    let head = optout_face::head::Head::load(&a.model_dir.join(models::SFACE_HEAD))?;
    let x: Vec<f32> = (0..head.inputs())
        .map(|i| ((i * 7919) % 251) as f32 / 251.0)
        .collect();
    let (ms, _) = time_ms(a.runs.max(1), 1, || {
        head.apply(&x).context("head input size")
    })?;
    println!("head median {ms:.3} ms over {} runs", a.runs.max(1));
    Ok(())
}

fn loadprofile(a: &Args) -> Result<()> {
    use tract_onnx::prelude::*;
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let files: Vec<String> = std::env::var("FILES")
        .map(|f| f.split(',').map(String::from).collect())
        .unwrap_or_else(|_| vec![models::yunet_nnef(320), models::SFACE_NNEF.to_string()]);
    for round in 0..rounds {
        let mut line = format!("round {round}:");
        let mut step = |name: &str, t: Instant, c: f64| {
            line += &format!(
                " {name} {:.1}/{:.1}",
                t.elapsed().as_secs_f64() * 1e3,
                thread_cpu_ms() - c
            );
        };
        let (t0, c0) = (Instant::now(), thread_cpu_ms());
        let (t, c) = (Instant::now(), thread_cpu_ms());
        let nnef = models::nnef_loader();
        step("framework", t, c);
        for file in &files {
            let name = file.split('.').next().unwrap_or(file);
            let (t, c) = (Instant::now(), thread_cpu_ms());
            let proto = models::read_prepared(&a.model_dir.join(file))?;
            step(&format!("{name}:read"), t, c);
            let (t, c) = (Instant::now(), thread_cpu_ms());
            let mut m = nnef.model_for_proto_model(&proto)?;
            step(&format!("{name}:translate({})", m.nodes.len()), t, c);
            let hist = |m: &TypedModel| {
                let mut h = std::collections::BTreeMap::<String, usize>::new();
                for n in &m.nodes {
                    *h.entry(n.op.name().to_string()).or_default() += 1;
                }
                h
            };
            if std::env::var_os("DEBUG_OPS").is_some() && round == 0 {
                println!("{name} translated: {:?}", hist(&m));
            }
            let (t, c) = (Instant::now(), thread_cpu_ms());
            let casts = models::drop_noop_casts(&mut m)?;
            step(&format!("{name}:casts({casts})"), t, c);
            let (t, c) = (Instant::now(), thread_cpu_ms());
            if std::env::var_os("OPT_PASSES").is_some() {
                optimize_by_pass(&mut m)?;
            } else {
                m.optimize()?;
            }
            step(&format!("{name}:optimize({})", m.nodes.len()), t, c);
            if std::env::var_os("DEBUG_OPS").is_some() && round == 0 {
                println!("{name} optimized: {:?}", hist(&m));
            }
            let (t, c) = (Instant::now(), thread_cpu_ms());
            let _p = m.into_runnable()?;
            step(&format!("{name}:runnable"), t, c);
        }
        step("total", t0, c0);
        println!("{line}  (wall/cpu ms)");
    }
    Ok(())
}

/// tract's codegen optimiser, one pass at a time (`OPT_PASSES=1 optout-face-bench loadprofile`):
/// prints each pass's time and how many patches it applied.
fn optimize_by_pass(m: &mut tract_onnx::prelude::TypedModel) -> Result<()> {
    // the session's patch counter is private: read it from its Debug form
    fn patches(session: &dyn std::fmt::Debug) -> usize {
        let text = format!("{session:?}");
        text.split("counter: ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
    let opt = tract_onnx::tract_core::optim::Optimizer::codegen();
    let mut session = opt.session();
    m.compact()?;
    for i in 0.. {
        let start = patches(&session);
        for p in opt.passes.clone().iter_mut() {
            let (t, before) = (Instant::now(), patches(&session));
            session.run_one_pass_outer(i, p.as_mut(), m)?;
            m.compact()?;
            println!(
                "  iteration {i} {p:?}: {:.2} ms, {} patches, {} nodes",
                t.elapsed().as_secs_f64() * 1e3,
                patches(&session) - before,
                m.nodes.len()
            );
        }
        if patches(&session) == start {
            return Ok(());
        }
    }
    Ok(())
}

fn status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `ImageOps.fit(img, (w, h), LANCZOS, centering=(0.5, 0.2))` then JPEG q90.
fn make_bench_photo(src: &Path, dst: &Path, w: u32, h: u32) -> Result<()> {
    if dst.is_file() {
        return Ok(());
    }
    let img = image::open(src)
        .with_context(|| format!("{}: run scripts/setup-models", src.display()))?
        .into_rgb8();
    let (iw, ih) = (img.width() as f64, img.height() as f64);
    let target = f64::from(w) / f64::from(h);
    let (cw, ch) = if iw / ih > target {
        (ih * target, ih)
    } else {
        (iw, iw / target)
    };
    let x = ((iw - cw) * 0.5).round() as u32;
    let y = ((ih - ch) * 0.2).round() as u32;
    let crop = imageops::crop_imm(&img, x, y, cw.round() as u32, ch.round() as u32).to_image();
    let out = imageops::resize(&crop, w, h, FilterType::Lanczos3);
    std::fs::create_dir_all(dst.parent().context("no parent")?)?;
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&out)?;
    std::fs::write(dst, bytes)?;
    Ok(())
}

struct Args {
    cmd: String,
    file: Option<PathBuf>,
    runs: usize,
    model_dir: PathBuf,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        cmd: "bench".into(),
        file: None,
        runs: 21,
        model_dir: optout_face::default_model_dir(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--runs" => a.runs = it.next().context("--runs N")?.parse()?,
            "--model-dir" => a.model_dir = it.next().context("--model-dir DIR")?.into(),
            "--json" => a.json = Some(it.next().context("--json FILE")?.into()),
            "calibrate" | "rss" | "bench" | "loadprofile" | "probe" | "embedloop" | "loadonce"
            | "loadonce-onnx" | "detloop" | "headloop" | "memory" => a.cmd = x,
            other if (a.cmd == "rss" || a.cmd == "probe") && a.file.is_none() => {
                a.file = Some(other.into())
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let a = parse_args()?;
    match a.cmd.as_str() {
        "rss" => rss(&a),
        "memory" => memory(&a),
        "calibrate" => calibrate(&a),
        "loadprofile" => loadprofile(&a),
        "embedloop" => embedloop(&a),
        "headloop" => headloop(&a),
        "detloop" => detloop(&a),
        "loadonce" => loadonce(&a, false),
        "loadonce-onnx" => loadonce(&a, true),
        "probe" => probe(&a),
        _ => bench(&a),
    }
}

fn rss(a: &Args) -> Result<()> {
    let before = status_kb("VmRSS:").unwrap_or(0);
    let engine = FaceEngine::load(&a.model_dir)?;
    let loaded = status_kb("VmRSS:").unwrap_or(0);
    let bytes = std::fs::read(a.file.as_ref().context("rss FILE")?)?;
    let r = engine.analyze(&bytes)?;
    let peak = status_kb("VmHWM:").unwrap_or(0);
    println!(
        "{{\"rss_start_mb\": {:.1}, \"rss_after_load_mb\": {:.1}, \"peak_rss_mb\": {:.1}, \"faces\": {}}}",
        before as f64 / 1024.0,
        loaded as f64 / 1024.0,
        peak as f64 / 1024.0,
        r.faces.len()
    );
    Ok(())
}

/// The embedder function's `MemorySize` in infra/template.yaml, MB.
fn embedder_memory_size() -> Result<u64> {
    let path = root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let mut in_embedder = false;
    for line in text.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            in_embedder = line.trim() == "EmbedderFunction:";
        }
        if in_embedder && let Some(v) = line.trim().strip_prefix("MemorySize:") {
            return Ok(v.trim().parse()?);
        }
    }
    bail!("no MemorySize for EmbedderFunction in {}", path.display())
}

/// A photo of `w`x`h` pixels: a flat, slightly graded background with the fixture portrait pasted
/// at its native size (its face is small in the whole picture, the pipeline's costliest path).
fn big_photo(portrait: &image::RgbImage, w: u32, h: u32) -> image::RgbImage {
    let mut img = image::RgbImage::from_fn(w, h, |_, y| {
        let v = 170 + (y * 60 / h) as u8;
        image::Rgb([v, v, v.saturating_sub(12)])
    });
    imageops::replace(&mut img, portrait, i64::from(w / 3), i64::from(h / 4));
    img
}

/// Peak RSS of the embedding pipeline (models loaded, one photo analysed) for the largest photos
/// the form accepts, each in a fresh process, against the embedder Lambda's memory setting.
fn memory(a: &Args) -> Result<()> {
    use image::ImageEncoder;
    let limits = optout_core::photo::PhotoLimits::default();
    let lambda_mb = embedder_memory_size()?;
    let portrait = image::open(root().join(".cache/fixtures/person_b_1.jpg"))
        .context("person_b_1.jpg: run scripts/setup-models")?
        .into_rgb8();
    let square = (limits.max_pixels as f64).sqrt() as u32;
    let wide = (
        limits.max_side,
        (limits.max_pixels / u64::from(limits.max_side)) as u32,
    );
    let dir = std::env::temp_dir().join(format!("optout-face-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "largest accepted photo: {} pixels, {} a side, {} bytes; embedder MemorySize {lambda_mb} MB",
        limits.max_pixels, limits.max_side, limits.max_bytes
    );
    let mut worst = 0f64;
    for (w, h) in [(square, square), wide] {
        let img = big_photo(&portrait, w, h);
        for format in ["png", "jpeg", "webp-lossless"] {
            let mut bytes = Vec::new();
            let raw = img.as_raw();
            let color = image::ExtendedColorType::Rgb8;
            match format {
                "png" => {
                    image::codecs::png::PngEncoder::new(&mut bytes).write_image(raw, w, h, color)?
                }
                "jpeg" => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                    .write_image(raw, w, h, color)?,
                _ => image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
                    .write_image(raw, w, h, color)?,
            }
            let verified = optout_core::photo::verify(&bytes, None, &limits);
            let path = dir.join(format!("{w}x{h}.{format}"));
            std::fs::write(&path, &bytes)?;
            let o = std::process::Command::new(std::env::current_exe()?)
                .arg("rss")
                .arg(&path)
                .arg("--model-dir")
                .arg(&a.model_dir)
                .output()?;
            let _ = std::fs::remove_file(&path);
            let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let peak = v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
            worst = worst.max(peak);
            println!(
                "{w}x{h} {format:<13} {:>6} KB, form {}: peak RSS {peak:.0} MB ({:.0}% of {lambda_mb} MB; after model load {:.0} MB, faces {})",
                bytes.len() / 1024,
                if verified.is_ok() {
                    "accepts"
                } else {
                    "refuses"
                },
                100.0 * peak / lambda_mb as f64,
                v["rss_after_load_mb"].as_f64().unwrap_or(f64::NAN),
                v["faces"],
            );
            if !o.status.success() {
                println!(
                    "  child failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
        }
    }
    let _ = std::fs::remove_dir(&dir);
    println!(
        "worst peak {worst:.0} MB against MemorySize {lambda_mb} MB: {}",
        if worst < lambda_mb as f64 {
            "within"
        } else {
            "OVER"
        }
    );
    Ok(())
}

fn calibrate(a: &Args) -> Result<()> {
    let engine = FaceEngine::load(&a.model_dir)?;
    let fx = root().join(".cache/fixtures");
    let mut faces: Vec<(String, FaceEmbedding)> = Vec::new();
    for n in [
        "person_a_1",
        "person_a_2",
        "person_b_1",
        "person_b_2",
        "impostor_1",
        "impostor_2",
    ] {
        let r = engine.analyze(&std::fs::read(fx.join(format!("{n}.jpg")))?)?;
        let f = &r.faces[r.chosen_face.context("no face")?];
        println!(
            "{n}: {} face(s), score {:.3}, box {:.0}x{:.0}, sharpness {:.0}, verdict {}",
            r.faces.len(),
            f.score,
            f.bbox.width,
            f.bbox.height,
            f.sharpness,
            r.verdict
        );
        faces.push((n.to_string(), f.embedding.clone()));
    }
    let g = engine.analyze(&std::fs::read(fx.join("t1.jpg"))?)?;
    println!("t1: {} faces, verdict {}", g.faces.len(), g.verdict);
    for (i, f) in g.faces.iter().enumerate() {
        println!(
            "  t1#{i}: score {:.3} box {:.0}x{:.0} sharpness {:.0}",
            f.score, f.bbox.width, f.bbox.height, f.sharpness
        );
        faces.push((format!("t1#{i}"), f.embedding.clone()));
    }
    let same = |x: &str, y: &str| {
        let p = |s: &str| {
            s.rsplit_once('_')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default()
        };
        x.starts_with("person") && p(x) == p(y)
    };
    let (mut s, mut d) = (Vec::new(), Vec::new());
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let c = faces[i].1.similarity(&faces[j].1).get();
            let tag = if same(&faces[i].0, &faces[j].0) {
                "SAME"
            } else {
                "diff"
            };
            println!("{tag} {:>11} ~ {:<11} {c:.4}", faces[i].0, faces[j].0);
            if tag == "SAME" { s.push(c) } else { d.push(c) }
        }
    }
    d.sort_by(f32::total_cmp);
    println!(
        "same-person min {:.4}; different-person max {:.4}, top5 {:?}, n={}; threshold in force {FACE_MATCH_THRESHOLD}",
        s.iter().copied().fold(f32::INFINITY, f32::min),
        d.last().copied().unwrap_or(0.0),
        d.iter()
            .rev()
            .take(5)
            .map(|v| (v * 1e4).round() / 1e4)
            .collect::<Vec<_>>(),
        d.len()
    );
    Ok(())
}

fn bench(a: &Args) -> Result<()> {
    let runs = a.runs;
    let root = root();
    let fx = root.join(".cache/fixtures");
    let bench_dir = root.join(".cache/bench");
    let src = fx.join("person_b_1.jpg");
    let p1024 = bench_dir.join("person_b_1_1024x768_q90.jpg");
    let p4000 = bench_dir.join("person_b_1_4000x3000_q90.jpg");
    make_bench_photo(&src, &p1024, 1024, 768)?;
    make_bench_photo(&src, &p4000, 4000, 3000)?;
    let (busy0, own0) = cpu_counters();
    let wall0 = Instant::now();
    let mut out = serde_json::Map::new();
    let dir = &a.model_dir;

    // ---- cold load
    let t = Instant::now();
    let engine = FaceEngine::load(dir)?;
    let first_load = t.elapsed().as_secs_f64() * 1e3;
    drop(engine);
    let (nnef_ms, nnef_cpu) = time_ms(runs, 1, || {
        FaceEngine::load(dir).map_err(anyhow::Error::from)
    })?;
    let (onnx_ms, onnx_cpu) = time_ms(runs.min(11), 1, || {
        load_folded(&dir.join(YUNET_ONNX), &[1, 3, 640, 640])?;
        load_folded(&dir.join(SFACE_ONNX), &[1, 3, 112, 112])
    })?;
    let (fixed_ms, fixed_cpu) = time_ms(runs, 1, || {
        FaceEngine::load_with(dir, optout_face::EngineOptions::fixed(640))
            .map_err(anyhow::Error::from)
    })?;
    println!(
        "load both models (default: YuNet 320 + SFace; YuNet 640 loads on first need): prepared {nnef_ms:.1} ms \
         (cpu {nnef_cpu:.1}; first in process {first_load:.1}); YuNet 640 + SFace {fixed_ms:.1} ms (cpu {fixed_cpu:.1}); \
         folded ONNX (YuNet 640 + SFace) {onnx_ms:.1} ms (cpu {onnx_cpu:.1}); ratio ONNX/prepared {:.1}x",
        onnx_ms / nnef_ms
    );
    let fresh = fresh_process_load_ms(dir, runs.min(21), false)?;
    let fresh_onnx = fresh_process_load_ms(dir, runs.min(11), true)?;
    println!(
        "cold load in a fresh process (median of {} processes): prepared {fresh:.1} ms; folded ONNX (YuNet 640 + SFace) {fresh_onnx:.1} ms; ratio ONNX/prepared {:.1}x",
        runs.min(21),
        fresh_onnx / fresh
    );
    out.insert("load_fresh_process_ms".into(), fresh.into());
    out.insert("load_fresh_process_onnx_ms".into(), fresh_onnx.into());
    out.insert("load_prepared_fixed640_ms".into(), fixed_ms.into());
    out.insert("load_prepared_ms".into(), nnef_ms.into());
    out.insert("load_prepared_cpu_ms".into(), nnef_cpu.into());
    out.insert("load_prepared_first_ms".into(), first_load.into());
    out.insert("load_onnx_ms".into(), onnx_ms.into());
    out.insert("load_onnx_cpu_ms".into(), onnx_cpu.into());

    // ---- inference
    let engine = FaceEngine::load(dir)?;
    let engine640 = FaceEngine::load_with(dir, optout_face::EngineOptions::fixed(640))?;
    let engine320 = FaceEngine::load_with(dir, optout_face::EngineOptions::fixed(320))?;
    let b1024 = std::fs::read(&p1024)?;
    let b4000 = std::fs::read(&p4000)?;
    let img = decode::decode_full(&b1024)?.image;
    for (side, e) in [(640usize, &engine640), (320, &engine320)] {
        let (x, _) = detect::letterbox(&img, side);
        let (m, c) = time_ms(runs, 3, || Ok(e.bench_detector(&x)?))?;
        println!("YuNet {side}x{side}: {m:.2} ms (cpu {c:.2})");
        out.insert(format!("yunet{side}_ms"), m.into());
        out.insert(format!("yunet{side}_cpu_ms"), c.into());
    }
    let face = vec![128u8; 112 * 112 * 3];
    let (m, c) = time_ms(runs, 3, || Ok(engine.bench_embedder(&face)?))?;
    println!("SFace per face: {m:.2} ms (cpu {c:.2})");
    out.insert("sface_ms".into(), m.into());
    out.insert("sface_cpu_ms".into(), c.into());

    // ---- end to end
    for (label, path, bytes) in [("1024x768", &p1024, &b1024), ("4000x3000", &p4000, &b4000)] {
        for (side, e) in [
            ("adaptive", &engine),
            ("640", &engine640),
            ("320", &engine320),
        ] {
            let mut stages: Vec<optout_face::StageTimings> = Vec::new();
            let (own_a, wall_a) = (cpu_counters().1, Instant::now());
            let (m, c) = time_ms(runs, 2, || {
                let data = std::fs::read(path)?;
                let (r, st) = e.analyze_timed(&data)?;
                stages.push(st);
                Ok(r)
            })?;
            let cpu_ratio = (cpu_counters().1 - own_a) / wall_a.elapsed().as_secs_f64();
            let med =
                |f: fn(&optout_face::StageTimings) -> f64| median(stages.iter().map(f).collect());
            println!(
                "end to end {label} det{side}: {m:.1} ms (main-thread cpu {c:.1}; decode+orient {:.1}, sha256 {:.1}, \
                 pdq {:.1}, letterbox {:.1}, yunet+nms {:.1}, align {:.1}, sface {:.1}); process cpu/wall {cpu_ratio:.2}",
                med(|s| s.decode),
                med(|s| s.sha256),
                med(|s| s.pdq),
                med(|s| s.letterbox),
                med(|s| s.detect),
                med(|s| s.align),
                med(|s| s.embed)
            );
            out.insert(format!("e2e_{label}_det{side}_ms"), m.into());
            out.insert(format!("e2e_{label}_det{side}_cpu_ms"), c.into());
            let r = e.analyze(bytes)?;
            if r.faces.len() != 1 {
                println!("  (warning: {} faces)", r.faces.len());
            }
        }
    }
    let e1 = engine.analyze(&b1024)?;
    let e4 = engine.analyze(&b4000)?;
    let f1 = engine640.analyze(&b1024)?;
    println!(
        "1024x768, adaptive vs 640 detector: cosine of the embeddings {:.4}",
        similarity(e1.embedding(), f1.embedding())
    );
    println!(
        "1024x768 vs 4000x3000 of the same picture: cosine {:.4}, PDQ distance {}",
        similarity(e1.embedding(), e4.embedding()),
        e1.pdq.distance(&e4.pdq)
    );
    println!(
        "PDQ of the bench photos: 1024x768 {} q{}, 4000x3000 {} q{}",
        e1.pdq, e1.pdq_quality, e4.pdq, e4.pdq_quality
    );

    // ---- PDQ speed (read + full-resolution decode + hash, as the reference does)
    for (label, path) in [("1024x768", &p1024), ("4000x3000", &p4000)] {
        let (full, full_cpu) = time_ms(runs, 2, || {
            let d = decode::decode_full(&std::fs::read(path)?)?;
            Ok(pdq::pdq_rgb(&d.image))
        })?;
        let img = decode::decode_full(&std::fs::read(path)?)?.image;
        let (hash_only, hash_cpu) = time_ms(runs, 2, || Ok(pdq::pdq_rgb(&img)))?;
        println!(
            "PDQ {label}: read+decode+hash {full:.1} ms (cpu {full_cpu:.1}; {:.0} hashes/s), hash only {hash_only:.1} ms (cpu {hash_cpu:.1})",
            1000.0 / full
        );
        out.insert(format!("pdq_{label}_full_ms"), full.into());
        out.insert(format!("pdq_{label}_hash_ms"), hash_only.into());
    }

    let (busy1, own1) = cpu_counters();
    let wall = wall0.elapsed().as_secs_f64();
    let other = ((busy1 - busy0) - (own1 - own0)).max(0.0) / wall;
    println!("other processes kept {other:.2} of 2 CPUs busy meanwhile");
    out.insert("other_load_cpus".into(), other.into());

    // ---- peak RSS in a fresh process
    let exe = std::env::current_exe()?;
    let o = std::process::Command::new(exe)
        .arg("rss")
        .arg(&p4000)
        .arg("--model-dir")
        .arg(dir)
        .output()?;
    let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
    println!("memory, fresh process, one 4000x3000 photo: {line}");
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
        out.insert("memory".into(), v);
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(())
}

/// The cosine similarity of two faces (0 when either photo has none).
fn similarity(a: Option<&FaceEmbedding>, b: Option<&FaceEmbedding>) -> f32 {
    match (a, b) {
        (Some(a), Some(b)) => a.similarity(b).get(),
        _ => 0.0,
    }
}
