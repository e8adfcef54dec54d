//! `optout admin-url --reviewer NAME --ttl DURATION`: mints a signed, expiring admin link with the
//! signing keys `optout serve` uses (`OPTOUT_SIGNING_KEYS`, or the embedded mode's
//! `DIR/keys/signing.keys`).

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use optout_core::model::ReviewerName;
use optout_core::signing::admin;
use std::path::PathBuf;

use crate::config::DeskArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct AdminUrlArgs {
    /// The reviewer's name (1-64 letters, digits, '.', '-', '_' or '@'), recorded in the audit trail.
    #[arg(long)]
    pub reviewer: String,
    /// How long the link (and the session it opens) stays valid: 30m, 8h, 7d ... (at most 30d).
    #[arg(long, default_value = "8h")]
    pub ttl: String,
    /// The data directory of the embedded mode (where its generated key is kept).
    #[arg(long, env = "OPTOUT_DATA_DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Public base URL of the desk (default: http://OPTOUT_LISTEN).
    #[arg(long, env = "OPTOUT_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[arg(
        long,
        env = "OPTOUT_LISTEN",
        default_value = "127.0.0.1:8080",
        hide = true
    )]
    pub listen: String,
    #[command(flatten)]
    pub desk: DeskArgs,
}

/// The admin link and its expiry.
pub fn mint(args: &AdminUrlArgs, now: DateTime<Utc>) -> anyhow::Result<(String, DateTime<Utc>)> {
    let Some(reviewer) = ReviewerName::parse(&args.reviewer) else {
        bail!("--reviewer must be 1-64 letters, digits, '.', '-', '_' or '@'");
    };
    let Some(ttl) = admin::parse_ttl(&args.ttl) else {
        bail!(
            "--ttl must be a number and a unit (s, m, h, d), between 1 minute and {} days",
            admin::MAX_TTL_DAYS
        );
    };
    if args.desk.signing_keys.is_none() && !args.data.join("keys/signing.keys").exists() {
        bail!(
            "no signing keys: set OPTOUT_SIGNING_KEYS, or start `optout serve --data {}` once",
            args.data.display()
        );
    }
    let keys = args
        .desk
        .keys(Some(&args.data))
        .context("reading the signing keys")?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    // The same checks as `optout serve` (http(s) URL).
    args.desk.settings(&public_url)?;
    Ok(admin::link(&keys, &public_url, &reviewer, ttl, now))
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
