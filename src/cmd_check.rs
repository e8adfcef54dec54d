//! `optout check --image FILE [--url URL]... [--api URL | --mirror DIR] [--json]`: check a photo
//! (its SHA-256, its PDQ hash and every face found, computed here with the same face pipeline as
//! the desk) and source links against the exclusion data, through the indexer API or offline
//! from a mirror made by `optout sync`.
//!
//! Exit status: 0 nothing is excluded, 1 something is excluded, 2 error (bad arguments, unreadable
//! photo, missing models, API or mirror failure).

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::ArgGroup;
use optout_client::{ClientError, MirrorError, kind_name};
use optout_face::{FaceEngine, PDQ_MATCH_DISTANCE, PhotoAnalysis};
use optout_matcher::wire::{CheckResponse, CheckResult};
use optout_matcher::{Candidate, normalize_url};

use crate::cmd_sync::{ApiArgs, open_mirror};

/// Nothing is excluded.
pub const EXIT_CLEAR: i32 = 0;
/// At least one candidate is excluded.
pub const EXIT_EXCLUDED: i32 = 1;
/// The check could not be done.
pub const EXIT_ERROR: i32 = 2;

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("input").required(true).multiple(true).args(["image", "urls"])))]
pub struct CheckArgs {
    /// Photo to check (JPEG, PNG or WebP): its SHA-256, its PDQ hash and every face found.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// A source link of the photo to check too (repeatable).
    #[arg(long = "url", value_name = "URL", value_parser = parse_url)]
    pub urls: Vec<String>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Answer offline from a mirror directory made by `optout sync --into DIR` (the API is not
    /// contacted).
    #[arg(long, value_name = "DIR")]
    pub mirror: Option<PathBuf>,
    /// With --mirror: PDQ hashes within this many bits match (the server's OPTOUT_PDQ_RADIUS).
    #[arg(long, env = "OPTOUT_PDQ_RADIUS", default_value_t = PDQ_MATCH_DISTANCE,
          value_parser = clap::value_parser!(u32).range(0..=64))]
    pub pdq_radius: u32,
    /// Print the API's JSON answer (`{"position", "results"}`, one result per candidate in the
    /// order sha256, pdq, faces, urls) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Directory of the prepared models (default: .cache/models, made by scripts/setup-models).
    #[arg(long, env = "OPTOUT_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

fn parse_url(s: &str) -> Result<String, String> {
    normalize_url(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A candidate and how to name it to a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Labeled {
    pub candidate: Candidate,
    pub label: String,
}

/// What was checked and the answer.
#[derive(Debug)]
pub struct Outcome {
    pub checked: Vec<Labeled>,
    pub response: CheckResponse,
    /// "the API at URL" or "the mirror in DIR".
    pub source: String,
}

impl Outcome {
    pub fn excluded(&self) -> usize {
        self.response.results.iter().filter(|r| r.excluded).count()
    }

    pub fn exit_code(&self) -> i32 {
        if self.excluded() > 0 {
            EXIT_EXCLUDED
        } else {
            EXIT_CLEAR
        }
    }
}

/// The candidates of a photo and links, in the order of the answer: SHA-256, PDQ, each face (in
/// the detector's order), each link.
pub fn candidates(analysis: Option<&PhotoAnalysis>, urls: &[String]) -> Vec<Labeled> {
    let mut out = Vec::new();
    if let Some(a) = analysis {
        out.push(Labeled {
            candidate: Candidate::from(a.sha256),
            label: a.sha256.to_hex(),
        });
        out.push(Labeled {
            candidate: Candidate::from(a.pdq),
            label: format!("{} (quality {})", a.pdq, a.pdq_quality),
        });
        let n = a.faces.len();
        for (i, f) in a.faces.iter().enumerate() {
            let b = &f.bbox;
            out.push(Labeled {
                candidate: Candidate::from(&f.embedding),
                label: format!(
                    "face {} of {n} at x={:.0} y={:.0} w={:.0} h={:.0}",
                    i + 1,
                    b.x,
                    b.y,
                    b.width,
                    b.height
                ),
            });
        }
    }
    for u in urls {
        out.push(Labeled {
            candidate: Candidate::Url(u.clone()),
            label: u.clone(),
        });
    }
    out
}

/// One line per candidate: kind, excluded=yes|no, the entry and the score of a match, and what
/// was checked.
pub fn render_text(checked: &[Labeled], response: &CheckResponse) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for (c, r) in checked.iter().zip(&response.results) {
        let _ = writeln!(
            s,
            "{:<6}  {:<12}  {:<12}  {:<17}  {}",
            kind_name(c.candidate.kind()),
            if r.excluded {
                "excluded=yes"
            } else {
                "excluded=no"
            },
            r.entry_id
                .map_or_else(|| "-".to_owned(), |id| format!("entry={id}")),
            score(r),
            c.label
        );
    }
    s
}

fn score(r: &CheckResult) -> String {
    match (r.excluded, r.distance, r.similarity) {
        (false, ..) => "-".into(),
        (true, Some(d), _) => format!("distance={d}"),
        (true, None, Some(c)) => format!("similarity={c:.3}"),
        (true, None, None) => "exact".into(),
    }
}

/// Names a refused candidate by its label.
fn refused(checked: &[Labeled], index: usize, why: &str) -> anyhow::Error {
    match checked.get(index) {
        Some(c) => anyhow!(
            "{} {} was refused: {why}",
            kind_name(c.candidate.kind()),
            c.label
        ),
        None => anyhow!("candidate {index} was refused: {why}"),
    }
}

/// Computes the candidates and asks the API or the mirror.
pub async fn execute(args: &CheckArgs) -> anyhow::Result<Outcome> {
    // configuration first: it fails fast, before the models are loaded
    enum Source {
        Api(optout_client::Client),
        Mirror(Box<optout_client::Mirror>),
    }
    let source = match &args.mirror {
        Some(dir) => {
            let m = open_mirror(dir, args.pdq_radius)?;
            if m.position().is_none() {
                return Err(MirrorError::NotSynced { dir: dir.clone() }.into());
            }
            Source::Mirror(Box::new(m))
        }
        None => Source::Api(args.api.client().context(
            "checking needs the API (--api URL or OPTOUT_API_URL, and OPTOUT_API_KEY) or --mirror DIR",
        )?),
    };
    let analysis = match &args.image {
        Some(path) => Some(analyze(path, args.model_dir.as_deref())?),
        None => None,
    };
    let checked = candidates(analysis.as_ref(), &args.urls);
    let list: Vec<Candidate> = checked.iter().map(|c| c.candidate.clone()).collect();
    let (response, source) = match source {
        Source::Api(client) => {
            let r = client.check(&list).await.map_err(|e| match e {
                ClientError::BadRequest {
                    index: Some(i),
                    message,
                    ..
                } => refused(&checked, i, &message),
                e => anyhow::Error::new(e).context("the indexer API"),
            })?;
            (r, format!("the API at {}", client.base_url()))
        }
        Source::Mirror(m) => {
            let r = m.check(&list).map_err(|e| match e {
                MirrorError::InvalidCandidate { index, source } => {
                    refused(&checked, index, &source.to_string())
                }
                e => e.into(),
            })?;
            (r, format!("the mirror in {}", m.dir().display()))
        }
    };
    if response.results.len() != checked.len() {
        return Err(anyhow!(
            "{} results for {} candidates",
            response.results.len(),
            checked.len()
        ));
    }
    Ok(Outcome {
        checked,
        response,
        source,
    })
}

fn analyze(path: &Path, model_dir: Option<&Path>) -> anyhow::Result<PhotoAnalysis> {
    let dir = model_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(optout_face::default_model_dir);
    let engine = FaceEngine::load(&dir)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    engine
        .analyze(&bytes)
        .with_context(|| format!("analysing {}", path.display()))
}

/// Runs the command: prints the answer and returns the exit status (see the module docs).
pub async fn run(args: CheckArgs) -> i32 {
    let outcome = match execute(&args).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_ERROR;
        }
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&outcome.response) {
            Ok(j) => j + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        }
    } else {
        render_text(&outcome.checked, &outcome.response)
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return EXIT_ERROR;
        }
    }
    eprintln!(
        "{} of {} candidates excluded (checked against {}, position {})",
        outcome.excluded(),
        outcome.checked.len(),
        outcome.source,
        outcome.response.position
    );
    outcome.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use optout_client::{Mirror, Snapshot, WireEntry, WireState, WireValue};
    use optout_matcher::{Kind, Similarity};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: CheckArgs,
    }

    fn parse(args: &[&str]) -> Result<CheckArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("check").chain(args.iter().copied())).map(|c| c.args)
    }

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn model_dir() -> PathBuf {
        match std::env::var_os("OPTOUT_MODEL_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => root().join(".cache/models"),
        }
    }

    /// A test photo; fails (never skips) when the photos have not been fetched.
    fn photo(name: &str) -> PathBuf {
        let path = root().join(".cache/fixtures").join(name);
        assert!(
            path.is_file(),
            "test photo {} is missing: run scripts/setup-models first",
            path.display()
        );
        path
    }

    fn engine() -> FaceEngine {
        FaceEngine::load(&model_dir())
            .unwrap_or_else(|e| panic!("cannot load the face models: {e}"))
    }

    #[test]
    fn a_photo_or_a_link_is_required() {
        let e = parse(&["--mirror", "m"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let a = parse(&[
            "--url",
            "https://example.com/a.jpg",
            "--url",
            "http://example.org/b",
        ])
        .unwrap();
        assert_eq!(a.urls.len(), 2);
        assert!(a.image.is_none());
        let a = parse(&["--image", "p.jpg", "--json"]).unwrap();
        assert_eq!(a.image, Some(PathBuf::from("p.jpg")));
        assert!(a.json);
    }

    #[test]
    fn links_and_the_pdq_radius_are_checked_when_parsed() {
        for bad in [
            "ftp://example.com/a.jpg",
            "example.com/a.jpg",
            "https://user@example.com/",
        ] {
            let e = parse(&["--url", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let e = parse(&["--url", "https://example.com/", "--pdq-radius", "65"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[tokio::test]
    async fn configuration_errors_fail_before_anything_is_computed() {
        let dir = tempfile::tempdir().unwrap();
        let args = parse(&[
            "--image",
            "/nonexistent/photo.jpg",
            "--mirror",
            dir.path().to_str().unwrap(),
        ])
        .unwrap();
        let e = format!("{:#}", execute(&args).await.unwrap_err());
        assert!(e.contains("optout sync --into"), "{e}");
        assert_eq!(run(args).await, EXIT_ERROR);

        let args = CheckArgs {
            api: ApiArgs {
                api_url: None,
                key: None,
            },
            ..parse(&["--url", "https://example.com/a.jpg"]).unwrap()
        };
        let e = format!("{:#}", execute(&args).await.unwrap_err());
        assert!(e.contains("--mirror DIR"), "{e}");
    }

    fn hit(kind: Kind, id: u64, distance: Option<u32>, similarity: Option<f32>) -> CheckResult {
        CheckResult {
            excluded: true,
            kind: Some(kind),
            entry_id: Some(id),
            distance,
            similarity: similarity.map(Similarity),
        }
    }

    #[test]
    fn text_output_has_one_line_per_candidate() {
        let checked = vec![
            Labeled {
                candidate: Candidate::Sha256("ab".repeat(32)),
                label: "ab".repeat(32),
            },
            Labeled {
                candidate: Candidate::Pdq("cd".repeat(32)),
                label: "pdq-label".into(),
            },
            Labeled {
                candidate: Candidate::Face(vec![0.0; 128]),
                label: "face 1 of 1 at x=1 y=2 w=3 h=4".into(),
            },
            Labeled {
                candidate: Candidate::Url("https://example.com/a.jpg".into()),
                label: "https://example.com/a.jpg".into(),
            },
        ];
        let response = CheckResponse {
            position: 9,
            results: vec![
                CheckResult::not_excluded(),
                hit(Kind::Pdq, 12, Some(3), None),
                hit(Kind::Face, 14, None, Some(0.87349)),
                hit(Kind::Url, 15, None, None),
            ],
        };
        let text = render_text(&checked, &response);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                format!("sha256  excluded=no   -             -                  {}", "ab".repeat(32)),
                "pdq     excluded=yes  entry=12      distance=3         pdq-label".into(),
                "face    excluded=yes  entry=14      similarity=0.873   face 1 of 1 at x=1 y=2 w=3 h=4".into(),
                "url     excluded=yes  entry=15      exact              https://example.com/a.jpg".into(),
            ]
        );
        let outcome = Outcome {
            checked,
            response,
            source: "test".into(),
        };
        assert_eq!(
            (outcome.excluded(), outcome.exit_code()),
            (3, EXIT_EXCLUDED)
        );
    }

    /// A mirror in `dir` at position 20 holding `entries` (all active).
    fn mirror_with(dir: &Path, entries: Vec<(Kind, WireValue)>) {
        let mut m = Mirror::open(dir).unwrap();
        let entries = entries
            .into_iter()
            .enumerate()
            .map(|(i, (kind, value))| WireEntry {
                id: 100 + i as u64,
                position: 1 + i as u64,
                state: WireState::Active,
                kind,
                value,
            })
            .collect();
        m.load_snapshot(Snapshot {
            position: 20,
            entries,
        })
        .unwrap();
        m.save().unwrap();
    }

    fn with_models(mut args: CheckArgs) -> CheckArgs {
        args.model_dir = Some(model_dir());
        args
    }

    #[tokio::test]
    async fn a_photo_of_an_excluded_face_is_found_in_a_mirror() {
        let engine = engine();
        let other = engine
            .analyze(&std::fs::read(photo("person_a_2.jpg")).unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = "https://example.com/photos/a.jpg";
        mirror_with(
            dir.path(),
            vec![
                (
                    Kind::Face,
                    WireValue::Vector(other.embedding().unwrap().as_slice().to_vec()),
                ),
                (
                    Kind::Url,
                    WireValue::Text(normalize_url(link).unwrap().to_string()),
                ),
                (Kind::Sha256, WireValue::Text(other.sha256.to_hex())),
            ],
        );
        let image = photo("person_a_1.jpg");
        let args = with_models(
            parse(&[
                "--image",
                image.to_str().unwrap(),
                "--url",
                "HTTPS://EXAMPLE.com/photos/a.jpg",
                "--url",
                "https://example.com/photos/b.jpg",
                "--mirror",
                dir.path().to_str().unwrap(),
            ])
            .unwrap(),
        );
        let outcome = execute(&args).await.unwrap();
        assert_eq!(outcome.response.position, 20);
        let kinds: Vec<&str> = outcome
            .checked
            .iter()
            .map(|c| kind_name(c.candidate.kind()))
            .collect();
        assert_eq!(
            kinds,
            ["sha256", "pdq", "face", "url", "url"],
            "one face in the photo"
        );
        let r = &outcome.response.results;
        assert!(!r[0].excluded, "another photo's SHA-256");
        assert!(!r[1].excluded, "another photo's PDQ hash");
        assert_eq!(r[2].entry_id, Some(100), "the same person, years apart");
        assert!(r[2].similarity.unwrap() >= optout_face::FACE_MATCH_THRESHOLD);
        assert_eq!(
            r[3].entry_id,
            Some(101),
            "the same link, written differently"
        );
        assert!(!r[4].excluded);
        assert_eq!(outcome.exit_code(), EXIT_EXCLUDED);

        let text = render_text(&outcome.checked, &outcome.response);
        assert_eq!(text.lines().count(), 5);
        assert!(
            text.lines()
                .nth(2)
                .unwrap()
                .starts_with("face    excluded=yes  entry=100 ")
        );
        // --json prints the CheckResponse itself
        let json = serde_json::to_string_pretty(&outcome.response).unwrap();
        assert_eq!(
            serde_json::from_str::<CheckResponse>(&json).unwrap(),
            outcome.response
        );
    }

    #[tokio::test]
    async fn the_same_file_matches_by_hash_and_a_stranger_is_clear() {
        let engine = engine();
        let bytes = std::fs::read(photo("person_b_1.jpg")).unwrap();
        let a = engine.analyze(&bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        mirror_with(
            dir.path(),
            vec![
                (Kind::Sha256, WireValue::Text(a.sha256.to_hex())),
                (Kind::Pdq, WireValue::Text(a.pdq.to_hex())),
                (
                    Kind::Face,
                    WireValue::Vector(a.embedding().unwrap().as_slice().to_vec()),
                ),
            ],
        );
        let check = |name: &str| {
            let image = photo(name);
            with_models(
                parse(&[
                    "--image",
                    image.to_str().unwrap(),
                    "--mirror",
                    dir.path().to_str().unwrap(),
                ])
                .unwrap(),
            )
        };
        let same = execute(&check("person_b_1.jpg")).await.unwrap();
        let r = &same.response.results;
        assert_eq!((r[0].entry_id, r[0].kind), (Some(100), Some(Kind::Sha256)));
        assert_eq!((r[1].entry_id, r[1].distance), (Some(101), Some(0)));
        assert_eq!(r[2].entry_id, Some(102));

        let stranger = execute(&check("impostor_1.jpg")).await.unwrap();
        assert!(stranger.checked.len() >= 3, "a face was found");
        assert_eq!(stranger.excluded(), 0, "{:?}", stranger.response);
        assert_eq!(stranger.exit_code(), EXIT_CLEAR);
    }
}
