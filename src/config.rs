//! Typed configuration of the embedded mode, read once from flags and environment variables.

use anyhow::{Context, bail};
use chrono::Duration;
use optout_core::exclusions::MatchSettings;
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `optout serve` options (each also from its environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OPTOUT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory that holds everything: database, photos, outbox, generated keys.
    #[arg(long, env = "OPTOUT_DATA_DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Public base URL used in emails and redirects (default: http://LISTEN).
    #[arg(long, env = "OPTOUT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PDQ hashes within this Hamming distance (bits) of an exclusion entry match (0-64).
    #[arg(long, env = "OPTOUT_PDQ_RADIUS", default_value_t = optout_core::exclusions::DEFAULT_PDQ_RADIUS)]
    pub pdq_radius: u32,
    /// Face embeddings at or above this cosine similarity to an exclusion entry match (the value
    /// calibrated for the bundled models is the default; see the README before changing it).
    #[arg(long, env = "OPTOUT_FACE_THRESHOLD", default_value_t = optout_face::FACE_MATCH_THRESHOLD)]
    pub face_threshold: f32,
    #[command(flatten)]
    pub desk: DeskArgs,
}

impl ServeArgs {
    /// How indexer candidates match: the PDQ radius and face threshold configured (by default the
    /// threshold calibrated for this binary's face pipeline, `optout_face::FACE_MATCH_THRESHOLD`).
    pub fn match_settings(&self) -> anyhow::Result<MatchSettings> {
        let s = MatchSettings {
            pdq_radius: self.pdq_radius,
            face_threshold: self.face_threshold,
        };
        s.validate()
            .context("OPTOUT_PDQ_RADIUS / OPTOUT_FACE_THRESHOLD")?;
        Ok(s)
    }
}

/// Settings shared by every runtime.
#[derive(Debug, Clone, clap::Args)]
pub struct DeskArgs {
    /// Signing keys `ID:BASE64URL_SECRET[,ID:SECRET...]` (the first signs; all verify). In the
    /// embedded mode a key is generated and kept in DIR/keys/signing.keys when this is not set.
    #[arg(long, env = "OPTOUT_SIGNING_KEYS", hide_env_values = true)]
    pub signing_keys: Option<String>,
    /// Sender of the emails.
    #[arg(
        long,
        env = "OPTOUT_MAIL_FROM",
        default_value = "optout <desk@localhost>"
    )]
    pub mail_from: String,
    /// Address shown in emails for questions and complaints.
    #[arg(
        long,
        env = "OPTOUT_CONTACT_EMAIL",
        default_value = "privacy@localhost"
    )]
    pub contact_email: String,
    /// Name the desk signs its emails with.
    #[arg(long, env = "OPTOUT_OPERATOR_NAME", default_value = "optout")]
    pub operator_name: String,
    /// Whether the phone number is required.
    #[arg(long, env = "OPTOUT_PHONE_REQUIRED", default_value_t = true, action = clap::ArgAction::Set)]
    pub phone_required: bool,
    /// Days until a decision is due.
    #[arg(long, env = "OPTOUT_DECISION_DAYS", default_value_t = 30)]
    pub decision_days: i64,
    /// Days personal data is kept after a decision.
    #[arg(long, env = "OPTOUT_RETENTION_DAYS", default_value_t = 183)]
    pub retention_days: i64,
    /// Days a status link stays valid.
    #[arg(long, env = "OPTOUT_STATUS_LINK_DAYS", default_value_t = 400)]
    pub status_link_days: i64,
}

impl DeskArgs {
    pub fn settings(&self, public_url: &str) -> anyhow::Result<Settings> {
        for (name, v) in [
            ("OPTOUT_DECISION_DAYS", self.decision_days),
            ("OPTOUT_RETENTION_DAYS", self.retention_days),
            ("OPTOUT_STATUS_LINK_DAYS", self.status_link_days),
        ] {
            if !(1..=3650).contains(&v) {
                bail!("{name} must be between 1 and 3650 days");
            }
        }
        let url =
            url::Url::parse(public_url).with_context(|| format!("public URL {public_url:?}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!("the public URL must be http(s)://host[:port]");
        }
        let mut s = Settings::local(public_url);
        s.phone_required = self.phone_required;
        s.decision_due = Duration::days(self.decision_days);
        s.retention = Duration::days(self.retention_days);
        s.status_link_ttl = Duration::days(self.status_link_days);
        s.contact_email = self.contact_email.clone();
        s.operator_name = self.operator_name.clone();
        Ok(s)
    }

    /// The signing keys: from the configuration, or (embedded mode) generated once and kept in
    /// `DIR/keys/signing.keys` (mode 0600).
    pub fn keys(&self, data_dir: Option<&Path>) -> anyhow::Result<KeyRing> {
        if let Some(spec) = &self.signing_keys {
            return KeyRing::parse(spec).context("OPTOUT_SIGNING_KEYS");
        }
        let Some(dir) = data_dir else {
            bail!("OPTOUT_SIGNING_KEYS is required")
        };
        let path = dir.join("keys").join("signing.keys");
        if path.exists() {
            let spec = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return KeyRing::parse(spec.trim())
                .with_context(|| format!("{} is corrupt", path.display()));
        }
        let ring = KeyRing::generate(&format!("k{}", chrono::Utc::now().format("%Y%m%d")));
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        write_private(&path, &ring.to_spec())?;
        tracing::info!(path = %path.display(), "generated a signing key for the embedded mode");
        Ok(ring)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content)?;
    Ok(())
}
