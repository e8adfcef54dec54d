//! `optout embed FILE [--json]`: run the face pipeline on one image and print what it found.

use std::path::PathBuf;

use anyhow::Context;
use optout_face::{FACE_MATCH_THRESHOLD, FaceEngine, PDQ_MATCH_DISTANCE, PhotoAnalysis};

#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Image file (JPEG, PNG or WebP).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Directory of the prepared models (default: .cache/models, made by scripts/setup-models).
    #[arg(long, env = "OPTOUT_MODEL_DIR")]
    model_dir: Option<PathBuf>,
}

pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    let dir = args
        .model_dir
        .clone()
        .unwrap_or_else(optout_face::default_model_dir);
    let engine = FaceEngine::load(&dir)?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let analysis = engine.analyze(&bytes)?;
    if args.json {
        let out = serde_json::json!({
            "file": args.file,
            "analysis": analysis,
            "verdict_description": analysis.verdict.description(),
            "face_match_threshold": FACE_MATCH_THRESHOLD,
            "pdq_match_distance": PDQ_MATCH_DISTANCE,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render(&args.file, &analysis));
    }
    Ok(())
}

fn render(file: &std::path::Path, a: &PhotoAnalysis) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "file:      {}", file.display());
    let _ = writeln!(s, "size:      {}x{} (upright)", a.width, a.height);
    let _ = writeln!(s, "sha256:    {}", a.sha256);
    let _ = writeln!(s, "pdq:       {} (quality {})", a.pdq, a.pdq_quality);
    let _ = writeln!(s, "faces:     {}", a.faces.len());
    for (i, f) in a.faces.iter().enumerate() {
        let chosen = if a.chosen_face == Some(i) {
            "  <- chosen"
        } else {
            ""
        };
        let b = &f.bbox;
        let _ = writeln!(
            s,
            "  face {i}: box x={:.1} y={:.1} w={:.1} h={:.1}  score {:.4}  sharpness {:.1}{chosen}",
            b.x, b.y, b.width, b.height, f.score, f.sharpness
        );
        let lm: Vec<String> = f
            .landmarks
            .iter()
            .map(|p| format!("({:.1},{:.1})", p[0], p[1]))
            .collect();
        let _ = writeln!(
            s,
            "    landmarks (right eye, left eye, nose, right mouth, left mouth): {}",
            lm.join(" ")
        );
        let emb: Vec<String> = f
            .embedding
            .as_slice()
            .iter()
            .map(|v| format!("{v:.5}"))
            .collect();
        let _ = writeln!(s, "    embedding [{}]: {}", emb.len(), emb.join(" "));
    }
    let _ = writeln!(
        s,
        "verdict:   {} ({})",
        a.verdict.code(),
        a.verdict.description()
    );
    let _ = writeln!(
        s,
        "thresholds: face match if cosine >= {FACE_MATCH_THRESHOLD}; PDQ match if distance <= {PDQ_MATCH_DISTANCE}"
    );
    s
}
