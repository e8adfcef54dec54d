//! The one typed configuration of the desk, read once at start by every runtime through the same
//! code: the embedded mode (flags, then environment variables, then a config file) and the AWS
//! functions (environment variables set from the SAM template's parameters) both hand a lookup to
//! [`DeskConfig::from_lookup`]. A missing or invalid value is an error that names the variable.
//!
//! What is *not* here is runtime wiring: where the data lives (a directory, tables, a bucket), the
//! listen address, and secrets (signing keys, indexer keys), which each runtime reads its own way.

use chrono::Duration;

use optout_matcher::Similarity;

use crate::exclusions::{MAX_PDQ_RADIUS, MatchSettings};
use crate::settings::Settings;

/// One configuration variable: its name, what it means and its default, as documented (the README's
/// table and `optout serve --help` are written from this list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub meaning: &'static str,
    /// The default, or `None` when the variable is required (or derived, as said in `meaning`).
    pub default: Option<&'static str>,
}

/// The public base URL, used in emails and redirects.
pub const PUBLIC_URL: &str = "OPTOUT_PUBLIC_URL";
/// The name the desk signs with.
pub const OPERATOR_NAME: &str = "OPTOUT_OPERATOR_NAME";
/// The support address shown on every public page and email.
pub const SUPPORT_EMAIL: &str = "OPTOUT_SUPPORT_EMAIL";
/// The sender of every email.
pub const MAIL_FROM: &str = "OPTOUT_MAIL_FROM";
/// Whether the phone number is required.
pub const PHONE_REQUIRED: &str = "OPTOUT_PHONE_REQUIRED";
/// Days until a decision is due.
pub const DECISION_DAYS: &str = "OPTOUT_DECISION_DAYS";
/// Days personal data is kept after the decision.
pub const RETENTION_DAYS: &str = "OPTOUT_RETENTION_DAYS";
/// Days a case waits for a usable photo before it lapses.
pub const LAPSE_DAYS: &str = "OPTOUT_LAPSE_DAYS";
/// Who gets the daily email of the cases due soon and overdue (comma-separated addresses).
pub const REVIEWER_EMAILS: &str = "OPTOUT_REVIEWER_EMAILS";
/// The hour of the day (UTC) from which that email goes out.
pub const DIGEST_HOUR: &str = "OPTOUT_DIGEST_HOUR";
/// Days a decision may be contested.
pub const COMPLAINT_DAYS: &str = "OPTOUT_COMPLAINT_DAYS";
/// Days a status link stays valid.
pub const STATUS_LINK_DAYS: &str = "OPTOUT_STATUS_LINK_DAYS";
/// Minutes an upload form (presigned upload) stays valid.
pub const UPLOAD_LINK_MINUTES: &str = "OPTOUT_UPLOAD_LINK_MINUTES";
/// PDQ match radius of indexer checks.
pub const PDQ_RADIUS: &str = "OPTOUT_PDQ_RADIUS";
/// Face match threshold of indexer checks.
pub const FACE_THRESHOLD: &str = "OPTOUT_FACE_THRESHOLD";
/// The log filter (`tracing` syntax), the same variable in every runtime.
pub const LOG_FILTER: &str = "RUST_LOG";

/// Every variable of the shared configuration, in the order the README lists them.
pub const VARS: &[Var] = &[
    Var {
        name: PUBLIC_URL,
        meaning: "public base URL of the desk (http(s)://host[:port][/path]), used in emails and redirects",
        default: None,
    },
    Var {
        name: OPERATOR_NAME,
        meaning: "the name the desk signs pages and emails with (your service's name)",
        default: Some("optout"),
    },
    Var {
        name: SUPPORT_EMAIL,
        meaning: "support address for questions and complaints, shown on every public page and email (default: the address of OPTOUT_MAIL_FROM)",
        default: None,
    },
    Var {
        name: MAIL_FROM,
        meaning: "sender of the emails (`Name <address>` or an address)",
        default: None,
    },
    Var {
        name: PHONE_REQUIRED,
        meaning: "whether the phone number is required (true/false)",
        default: Some("true"),
    },
    Var {
        name: DECISION_DAYS,
        meaning: "days until a decision is due (1-3650)",
        default: Some("30"),
    },
    Var {
        name: RETENTION_DAYS,
        meaning: "days personal data is kept after the decision (1-3650)",
        default: Some("183"),
    },
    Var {
        name: LAPSE_DAYS,
        meaning: "days a request waits for a usable photo before it lapses and its photo is erased (1-3650)",
        default: Some("30"),
    },
    Var {
        name: REVIEWER_EMAILS,
        meaning: "reviewers who get one email a day listing the cases due within 48 hours and those overdue (comma-separated addresses; none: no such email)",
        default: None,
    },
    Var {
        name: DIGEST_HOUR,
        meaning: "the hour of the day, UTC (0-23), from which that daily email goes out",
        default: Some("7"),
    },
    Var {
        name: COMPLAINT_DAYS,
        meaning: "days after a decision during which the requester may contest it (1-3650)",
        default: Some("183"),
    },
    Var {
        name: STATUS_LINK_DAYS,
        meaning: "days a requester's status link stays valid (1-3650)",
        default: Some("400"),
    },
    Var {
        name: UPLOAD_LINK_MINUTES,
        meaning: "minutes a photo upload form stays valid (5-1440)",
        default: Some("60"),
    },
    // The defaults of the two thresholds are those of `optout_matcher::thresholds` (the test
    // `defaults` holds them equal).
    Var {
        name: PDQ_RADIUS,
        meaning: "indexer checks match PDQ hashes within this Hamming distance in bits (0-64)",
        default: Some("31"),
    },
    Var {
        name: FACE_THRESHOLD,
        meaning: "indexer checks match face embeddings at or above this cosine similarity (0-1; 0.5 is the calibrated value)",
        default: Some("0.5"),
    },
    Var {
        name: LOG_FILTER,
        meaning: "log filter (`tracing` syntax, e.g. `info` or `info,optout_core=debug`); logs never hold personal data",
        default: Some("info"),
    },
];

/// A missing or invalid configuration value, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration value {0}")]
    Missing(&'static str),
    #[error("invalid value of {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// The variable at fault.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigError::Missing(n) | ConfigError::Invalid { name: n, .. } => n,
        }
    }
}

/// The desk's configuration: what the use cases need ([`Settings`]), the sender of the emails,
/// how indexer candidates match and the log filter.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub settings: Settings,
    pub mail_from: String,
    pub matching: MatchSettings,
    pub log_filter: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The address part of `Name <address>` or of a bare address.
fn address_of(mailbox: &str) -> &str {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => mailbox[a + 1..b].trim(),
        _ => mailbox.trim(),
    }
}

/// A plausible address: one `@` with something on both sides, no spaces or control characters or
/// angle brackets, at most 254 characters. (Delivery is the mail system's concern; this catches
/// typos and a value put in the wrong variable.)
/// A comma-separated list of email addresses (at least one, at most 50).
fn parse_addresses(name: &'static str, list: &str) -> Result<Vec<String>, ConfigError> {
    let all: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if all.len() > 50 {
        return Err(invalid(name, "at most 50 addresses"));
    }
    match all.iter().find(|a| !plausible_address(a)) {
        Some(_) => Err(invalid(
            name,
            "expected email addresses separated by commas",
        )),
        None => Ok(all),
    }
}

fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && a.len() <= 254
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(invalid(name, "expected true or false")),
    }
}

fn parse_range(
    name: &'static str,
    v: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    match v.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(
            name,
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Checks a public URL: http(s), a host, no query, fragment or credentials; returned without a
/// trailing slash.
pub fn parse_public_url(v: &str) -> Result<String, ConfigError> {
    let trimmed = v.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| invalid(PUBLIC_URL, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(PUBLIC_URL, "expected http(s)://host[:port][/path]"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            PUBLIC_URL,
            "expected a base URL without query, fragment or credentials",
        ));
    }
    Ok(trimmed.to_owned())
}

impl DeskConfig {
    /// Reads every value through `get` (a variable's name → its value, if set). Blank values count
    /// as unset. Defaults are those of [`VARS`]; `OPTOUT_PUBLIC_URL` and `OPTOUT_MAIL_FROM` have
    /// none here (the embedded mode supplies its local ones through `get`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |name: &'static str| -> Option<String> {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .or_else(|| {
                    VARS.iter()
                        .find(|v| v.name == name)
                        .and_then(|v| v.default)
                        .map(str::to_owned)
                })
        };
        let required = |name: &'static str| value(name).ok_or(ConfigError::Missing(name));
        let days = |name: &'static str| -> Result<Duration, ConfigError> {
            Ok(Duration::days(parse_range(
                name,
                &required(name)?,
                1..=3650,
            )?))
        };

        let public_url = parse_public_url(&required(PUBLIC_URL)?)?;
        let mail_from = required(MAIL_FROM)?;
        if mail_from.chars().any(char::is_control) || !plausible_address(address_of(&mail_from)) {
            return Err(invalid(
                MAIL_FROM,
                "expected an email address or `Name <address>`",
            ));
        }
        let support = match value(SUPPORT_EMAIL) {
            Some(s) => s,
            None => address_of(&mail_from).to_owned(),
        };
        if !plausible_address(&support) {
            return Err(invalid(SUPPORT_EMAIL, "expected an email address"));
        }
        let operator_name = required(OPERATOR_NAME)?;
        if operator_name.chars().count() > 100 || operator_name.chars().any(char::is_control) {
            return Err(invalid(
                OPERATOR_NAME,
                "expected at most 100 printable characters",
            ));
        }
        let upload_minutes = parse_range(
            UPLOAD_LINK_MINUTES,
            &required(UPLOAD_LINK_MINUTES)?,
            5..=1440,
        )?;
        let pdq_radius = parse_range(
            PDQ_RADIUS,
            &required(PDQ_RADIUS)?,
            0..=i64::from(MAX_PDQ_RADIUS),
        )? as u32;
        let face_threshold = required(FACE_THRESHOLD)?
            .parse::<f32>()
            .map(Similarity)
            .map_err(|_| invalid(FACE_THRESHOLD, "expected a number"))?;
        let matching = MatchSettings {
            pdq_radius,
            face_threshold,
        };
        matching
            .validate()
            .map_err(|e| invalid(FACE_THRESHOLD, e.to_string()))?;

        let mut settings = Settings::local(&public_url);
        settings.operator_name = operator_name;
        settings.contact_email = support;
        settings.phone_required = parse_bool(PHONE_REQUIRED, &required(PHONE_REQUIRED)?)?;
        settings.decision_due = days(DECISION_DAYS)?;
        settings.retention = days(RETENTION_DAYS)?;
        settings.complaint_window = days(COMPLAINT_DAYS)?;
        settings.lapse_after = days(LAPSE_DAYS)?;
        settings.reviewer_emails = match value(REVIEWER_EMAILS) {
            None => Vec::new(),
            Some(list) => parse_addresses(REVIEWER_EMAILS, &list)?,
        };
        settings.digest_hour = parse_range(DIGEST_HOUR, &required(DIGEST_HOUR)?, 0..=23)? as u32;
        settings.status_link_ttl = days(STATUS_LINK_DAYS)?;
        settings.upload_ttl = Duration::minutes(upload_minutes);
        Ok(DeskConfig {
            settings,
            mail_from,
            matching,
            log_filter: required(LOG_FILTER)?,
        })
    }
}

/// A configuration file: `NAME=value` lines (the variables of [`VARS`] and any runtime's own),
/// `#` comments and blank lines, optional quotes around a value — the format of systemd's
/// `EnvironmentFile=` and of `.env` files. Returns the pairs in order.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected NAME=value", i + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: {k:?} is not a variable name", i + 1));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .unwrap_or(v);
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use optout_matcher::{FACE_MATCH_THRESHOLD, PDQ_MATCH_DISTANCE, Similarity};
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: [(&str, &str); 2] = [
        (PUBLIC_URL, "https://optout.example.org/"),
        (MAIL_FROM, "Example Search <no-reply@example.org>"),
    ];

    #[test]
    fn defaults() {
        let c = DeskConfig::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.settings.public_url, "https://optout.example.org");
        assert_eq!(c.settings.operator_name, "optout");
        assert_eq!(c.settings.contact_email, "no-reply@example.org");
        assert!(c.settings.phone_required);
        assert_eq!(c.settings.decision_due, Duration::days(30));
        assert_eq!(c.settings.retention, Duration::days(183));
        assert_eq!(c.settings.lapse_after, Duration::days(30));
        assert!(c.settings.reviewer_emails.is_empty());
        assert_eq!(c.settings.digest_hour, 7);
        assert_eq!(c.settings.complaint_window, Duration::days(183));
        assert_eq!(c.settings.status_link_ttl, Duration::days(400));
        assert_eq!(c.settings.upload_ttl, Duration::minutes(60));
        // The documented defaults of VARS are the thresholds of `optout_matcher::thresholds`.
        assert_eq!(c.matching.pdq_radius, PDQ_MATCH_DISTANCE);
        assert_eq!(c.matching.face_threshold, FACE_MATCH_THRESHOLD);
        assert_eq!(c.log_filter, "info");
    }

    #[test]
    fn every_value_is_read() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            (OPERATOR_NAME, "Example Search"),
            (SUPPORT_EMAIL, "privacy@example.org"),
            (PHONE_REQUIRED, "no"),
            (DECISION_DAYS, "14"),
            (RETENTION_DAYS, "90"),
            (COMPLAINT_DAYS, "60"),
            (LAPSE_DAYS, "10"),
            (REVIEWER_EMAILS, " alice@example.org, bob@example.net "),
            (DIGEST_HOUR, "9"),
            (STATUS_LINK_DAYS, "200"),
            (UPLOAD_LINK_MINUTES, "15"),
            (PDQ_RADIUS, "24"),
            (FACE_THRESHOLD, "0.6"),
            (LOG_FILTER, "debug"),
        ]);
        let c = DeskConfig::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(c.settings.operator_name, "Example Search");
        assert_eq!(c.settings.contact_email, "privacy@example.org");
        assert!(!c.settings.phone_required);
        assert_eq!(c.settings.decision_due, Duration::days(14));
        assert_eq!(c.settings.retention, Duration::days(90));
        assert_eq!(c.settings.lapse_after, Duration::days(10));
        assert_eq!(
            c.settings.reviewer_emails,
            ["alice@example.org", "bob@example.net"]
        );
        assert_eq!(c.settings.digest_hour, 9);
        assert_eq!(c.settings.complaint_window, Duration::days(60));
        assert_eq!(c.settings.status_link_ttl, Duration::days(200));
        assert_eq!(c.settings.upload_ttl, Duration::minutes(15));
        assert_eq!(c.matching.pdq_radius, 24);
        assert_eq!(c.matching.face_threshold, Similarity(0.6));
        assert_eq!(c.log_filter, "debug");
    }

    #[test]
    fn missing_values_are_named() {
        let e = DeskConfig::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert_eq!(e, ConfigError::Missing(PUBLIC_URL));
        assert!(e.to_string().contains("OPTOUT_PUBLIC_URL"), "{e}");
        let e = DeskConfig::from_lookup(lookup(&BASE[..1])).unwrap_err();
        assert_eq!(e, ConfigError::Missing(MAIL_FROM));
        // Blank is unset.
        let e = DeskConfig::from_lookup(lookup(&[(PUBLIC_URL, "  "), BASE[1]])).unwrap_err();
        assert_eq!(e, ConfigError::Missing(PUBLIC_URL));
    }

    #[test]
    fn invalid_values_are_named() {
        for (name, bad) in [
            (PUBLIC_URL, "ftp://example.org"),
            (PUBLIC_URL, "example.org"),
            (PUBLIC_URL, "https://example.org/?x=1"),
            (MAIL_FROM, "nobody"),
            (MAIL_FROM, "Desk <>"),
            (SUPPORT_EMAIL, "privacy at example.org"),
            (SUPPORT_EMAIL, "a@b, c@d"),
            (PHONE_REQUIRED, "maybe"),
            (DECISION_DAYS, "0"),
            (DECISION_DAYS, "thirty"),
            (RETENTION_DAYS, "3651"),
            (COMPLAINT_DAYS, "-1"),
            (LAPSE_DAYS, "0"),
            (DIGEST_HOUR, "24"),
            (REVIEWER_EMAILS, "alice@example.org, bob"),
            (STATUS_LINK_DAYS, "1.5"),
            (UPLOAD_LINK_MINUTES, "1"),
            (PDQ_RADIUS, "65"),
            (FACE_THRESHOLD, "1.5"),
            (FACE_THRESHOLD, "NaN"),
            (FACE_THRESHOLD, "high"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, bad));
            match DeskConfig::from_lookup(lookup(&pairs)) {
                Err(e) => {
                    assert_eq!(e.name(), name, "{name}={bad}: {e}");
                    assert!(e.to_string().contains(name), "{e}");
                }
                Ok(_) => panic!("{name}={bad} was accepted"),
            }
        }
    }

    #[test]
    fn every_var_with_a_default_parses_alone() {
        // The documented defaults are valid values (a typo in VARS would show here).
        let c = DeskConfig::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.settings.operator_name, "optout");
        let names: Vec<_> = VARS.iter().map(|v| v.name).collect();
        for n in [PUBLIC_URL, MAIL_FROM, SUPPORT_EMAIL, LOG_FILTER] {
            assert!(names.contains(&n), "{n}");
        }
    }

    #[test]
    fn env_file() {
        let text = "# desk\n\nOPTOUT_OPERATOR_NAME=\"Example Search\"\nexport OPTOUT_DECISION_DAYS = 14\nOPTOUT_SUPPORT_EMAIL='a@b.org'\n";
        let pairs = parse_env_file(text).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("OPTOUT_OPERATOR_NAME".into(), "Example Search".into()),
                ("OPTOUT_DECISION_DAYS".into(), "14".into()),
                ("OPTOUT_SUPPORT_EMAIL".into(), "a@b.org".into()),
            ]
        );
        assert!(parse_env_file("just words").unwrap_err().contains("line 1"));
        assert!(parse_env_file("A B=1").is_err());
    }
}
