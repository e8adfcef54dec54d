//! Settings of the use cases (not of a runtime): bounds, periods and public addresses.

use chrono::Duration;

use crate::decode_gate::DecodeGate;
use crate::photo::PhotoLimits;

/// What the use cases need to know; built once from the typed configuration of a runtime.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public base URL of the web app, without a trailing slash (`https://optout.example.org`),
    /// used in emails and redirects.
    pub public_url: String,
    /// Whether the phone number is required (default) or optional.
    pub phone_required: bool,
    pub photo: PhotoLimits,
    /// The limit on photos decoded at once, shared by the submission checks and the embedding
    /// worker of this process (clones of the settings share it). One slot per core by default.
    pub decodes: DecodeGate,
    /// How long a status link stays valid.
    pub status_link_ttl: Duration,
    /// How long an upload form (a presigned upload) stays valid.
    pub upload_ttl: Duration,
    /// The time within which a decision is due (one month for personal-data requests).
    pub decision_due: Duration,
    /// How long personal data is kept after a decision (the complaint window by default).
    pub retention: Duration,
    /// How long after a decision the requester may contest it (six months).
    pub complaint_window: Duration,
    /// How long a case waits for a usable photo before it lapses (30 days).
    pub lapse_after: Duration,
    /// Who gets the daily email of the cases due soon and overdue (none: nobody).
    pub reviewer_emails: Vec<String>,
    /// The hour of the day (UTC) from which that email goes out.
    pub digest_hour: u32,
    /// Where complaints and questions about decisions go, shown in emails.
    pub contact_email: String,
    /// The name the desk signs with.
    pub operator_name: String,
    /// The relay leaves a case alone until this long after its last change: a submission or a
    /// decision in flight sends its own receipt or email and records it; relaying it at the same
    /// moment would send it twice.
    pub relay_grace: Duration,
}

impl Settings {
    /// The periods the rules of a case depend on.
    pub fn policy(&self) -> crate::case::Policy {
        crate::case::Policy {
            decision_due: self.decision_due,
            complaint_window: self.complaint_window,
            retention: self.retention,
            lapse_after: self.lapse_after,
        }
    }

    /// Defaults for a local run on `public_url`.
    pub fn local(public_url: &str) -> Self {
        Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            phone_required: true,
            photo: PhotoLimits::default(),
            decodes: DecodeGate::per_core(),
            status_link_ttl: Duration::days(400),
            upload_ttl: Duration::hours(1),
            decision_due: Duration::days(30),
            retention: Duration::days(183),
            complaint_window: Duration::days(183),
            lapse_after: Duration::days(30),
            reviewer_emails: Vec::new(),
            digest_hour: 7,
            contact_email: "privacy@localhost".to_owned(),
            operator_name: "optout".to_owned(),
            relay_grace: Duration::seconds(60),
        }
    }
}
