//! `optout admin-url --reviewer NAME --ttl DURATION`: mints a signed, expiring admin link with the
//! signing keys `optout serve` uses (`OPTOUT_SIGNING_KEYS`, or the embedded mode's
//! `DIR/keys/signing.keys`).

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use optout_core::model::ReviewerName;
use optout_core::signing::admin;

use crate::config::ServeArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct AdminUrlArgs {
    /// The reviewer's name (1-64 letters, digits, '.', '-', '_' or '@'), recorded in the audit trail.
    #[arg(long)]
    pub reviewer: String,
    /// How long the link (and the session it opens) stays valid: 30m, 8h, 7d ... (at most 30d).
    #[arg(long, default_value = "8h")]
    pub ttl: String,
    /// The embedded mode's settings, as `optout serve` reads them (the data directory, where its
    /// generated key is kept, and the public URL).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// `--aws [--stack NAME] [--region R]`: mint the link of a deployed stack (its public URL and
    /// key ring) instead (see [`crate::cmd_aws::admin_url`]).
    #[command(flatten)]
    pub aws: crate::cmd_aws::AwsTarget,
}

impl AdminUrlArgs {
    /// The reviewer and the link's lifetime, checked (the same for both modes).
    pub fn grant(&self) -> anyhow::Result<(ReviewerName, chrono::Duration)> {
        let Some(reviewer) = ReviewerName::parse(&self.reviewer) else {
            bail!("--reviewer must be 1-64 letters, digits, '.', '-', '_' or '@'");
        };
        let Some(ttl) = admin::parse_ttl(&self.ttl) else {
            bail!(
                "--ttl must be a number and a unit (s, m, h, d), between 1 minute and {} days",
                admin::MAX_TTL_DAYS
            );
        };
        Ok((reviewer, ttl))
    }
}

/// The admin link and its expiry.
pub fn mint(args: &AdminUrlArgs, now: DateTime<Utc>) -> anyhow::Result<(String, DateTime<Utc>)> {
    let (reviewer, ttl) = args.grant()?;
    // The same sources and checks as `optout serve`.
    let sources = args.serve.sources()?;
    let config = sources.resolve(sources.listen()?)?;
    if !config.has_keys() {
        bail!(
            "no signing keys: set OPTOUT_SIGNING_KEYS, or start `optout serve --data {}` once",
            config.data.display()
        );
    }
    let keys = config.keys().context("reading the signing keys")?;
    let public_url = &config.desk.settings.public_url;
    Ok(admin::link(&keys, public_url, &reviewer, ttl, now))
}

/// Prints the link (stdout) and its expiry (stderr).
pub fn run(args: &AdminUrlArgs) -> anyhow::Result<()> {
    let (url, expires) = mint(args, Utc::now())?;
    println!("{url}");
    eprintln!(
        "admin link for {} valid until {}",
        args.reviewer,
        expires.to_rfc3339()
    );
    Ok(())
}
