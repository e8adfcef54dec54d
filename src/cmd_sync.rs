//! `optout sync --into DIR [--api URL] [--watch SECS]`: create or update a local mirror of the
//! exclusion data (a snapshot the first time, then the change feed), for offline checks with
//! `optout check --mirror DIR`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use optout_client::{ApiKey, Client, Mirror, MirrorError, SyncReport};
use optout_matcher::{ExclusionConfig, FaceConfig};

/// Where the API is and the key to use (shared by `check` and `sync`).
#[derive(Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the optout API (e.g. https://optout.example.org).
    #[arg(long = "api", env = "OPTOUT_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Indexer API key (`optk_...`). Prefer the OPTOUT_API_KEY environment variable: a flag is
    /// visible to other users of the machine in the process list.
    #[arg(
        long,
        env = "OPTOUT_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub key: Option<String>,
}

impl fmt::Debug for ApiArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiArgs")
            .field("api_url", &self.api_url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ApiArgs {
    /// The API client; errors name what is missing without ever echoing the key.
    pub fn client(&self) -> anyhow::Result<Client> {
        let url = self
            .api_url
            .as_deref()
            .ok_or_else(|| anyhow!("no API URL: pass --api URL or set OPTOUT_API_URL"))?;
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| anyhow!("no API key: set OPTOUT_API_KEY (preferred) or pass --key"))?;
        let key = ApiKey::new(key).context("the API key (OPTOUT_API_KEY or --key)")?;
        Ok(Client::new(url, key)?)
    }
}

/// The matching settings of a mirror: the desk's calibrated face threshold and the given PDQ
/// radius, built the way the server builds its index, so a mirror answers like the API.
pub fn mirror_config(pdq_radius: u32) -> ExclusionConfig {
    ExclusionConfig {
        pdq_radius,
        face: FaceConfig {
            threshold: optout_face::FACE_MATCH_THRESHOLD,
            ..FaceConfig::default()
        },
    }
}

/// Opens the mirror in `dir` with [`mirror_config`].
pub fn open_mirror(dir: &Path, pdq_radius: u32) -> anyhow::Result<Mirror> {
    Ok(Mirror::open_with(dir, mirror_config(pdq_radius))?)
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Mirror directory (created if needed; holds one state file, mirror.bin).
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Keep syncing every SECS seconds until Ctrl-C (transient failures are reported and
    /// retried at the next round).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,
}

/// One line about a finished sync: where, the position and the number of active entries.
pub fn summary(dir: &Path, r: &SyncReport) -> String {
    let how = if r.snapshot_loaded {
        format!("snapshot, then {} changes in {} pages", r.applied, r.pages)
    } else {
        format!("{} changes in {} pages", r.applied, r.pages)
    };
    format!(
        "{}: position {}, {} active entries ({how})",
        dir.display(),
        r.position,
        r.active
    )
}

/// Whether a failed round of `--watch` should be retried at the next round.
fn transient(e: &MirrorError) -> bool {
    matches!(e, MirrorError::Client(c) if c.is_transient())
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let client = args.api.client()?;
    let mut mirror = open_mirror(&args.into, optout_face::PDQ_MATCH_DISTANCE)?;
    let Some(secs) = args.watch else {
        let report = mirror
            .sync(&client)
            .await
            .with_context(|| format!("syncing {}", args.into.display()))?;
        println!("{}", summary(&args.into, &report));
        return Ok(());
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut last = None;
    loop {
        tokio::select! {
            r = mirror.sync(&client) => match r {
                Ok(report) => {
                    let now = (report.position, report.active);
                    if last != Some(now) {
                        println!("{}", summary(&args.into, &report));
                        last = Some(now);
                    }
                }
                Err(e) if transient(&e) => {
                    tracing::warn!(error = %e, retry_in_s = secs, "sync failed; retrying");
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("syncing {}", args.into.display()));
                }
            },
            _ = &mut ctrl_c => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
            _ = &mut ctrl_c => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: SyncArgs,
    }

    fn parse(args: &[&str]) -> Result<SyncArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("sync").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn sync_needs_a_directory_and_a_positive_interval() {
        let e = parse(&["--api", "http://x.example"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let e = parse(&["--into", "m", "--watch", "0"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        let a = parse(&["--into", "m", "--api", "http://x.example", "--watch", "60"]).unwrap();
        assert_eq!(a.into, PathBuf::from("m"));
        assert_eq!(a.watch, Some(60));
        assert_eq!(a.api.api_url.as_deref(), Some("http://x.example"));
    }

    #[test]
    fn missing_or_bad_keys_are_named_but_never_echoed() {
        let api = |key: Option<&str>| ApiArgs {
            api_url: Some("http://127.0.0.1:1".into()),
            key: key.map(str::to_owned),
        };
        let e = api(None).client().unwrap_err().to_string();
        assert!(e.contains("OPTOUT_API_KEY"), "{e}");
        let e = format!("{:#}", api(Some("optk_a b_s3cr3t")).client().unwrap_err());
        assert!(e.contains("OPTOUT_API_KEY") && !e.contains("s3cr3t"), "{e}");
        assert!(!format!("{:?}", api(Some("optk_a_s3cr3t"))).contains("s3cr3t"));
        assert!(api(Some("optk_a_s3cr3t")).client().is_ok());
        let no_url = ApiArgs {
            api_url: None,
            key: Some("optk_a_b".into()),
        };
        assert!(no_url.client().unwrap_err().to_string().contains("--api"));
    }

    #[test]
    fn the_summary_names_the_position_and_the_active_entries() {
        let r = SyncReport {
            snapshot_loaded: true,
            pages: 3,
            applied: 57,
            position: 1042,
            active: 998,
        };
        assert_eq!(
            summary(Path::new("/var/mirror"), &r),
            "/var/mirror: position 1042, 998 active entries (snapshot, then 57 changes in 3 pages)"
        );
        let r = SyncReport {
            snapshot_loaded: false,
            ..r
        };
        assert!(summary(Path::new("m"), &r).ends_with("(57 changes in 3 pages)"));
    }

    #[test]
    fn mirrors_match_with_the_calibrated_thresholds() {
        let c = mirror_config(12);
        assert_eq!(c.pdq_radius, 12);
        assert_eq!(c.face.threshold, optout_face::FACE_MATCH_THRESHOLD);
    }
}
