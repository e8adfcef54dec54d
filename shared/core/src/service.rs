//! The use cases of the public desk, on top of the ports: upload forms, submissions, the status
//! page, withdrawal, and the relay that finishes what a failure interrupted.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::error::{FieldCode, FieldCodeWithLimit, FieldErrors};
use crate::i18n::Lang;
use crate::mail;
use crate::model::*;
use crate::photo::{self, VerifiedPhoto};
use crate::ports::*;
use crate::settings::Settings;
use crate::signing::{KeyRing, random_token, scope};

/// The capabilities a [`Desk`] runs on.
#[derive(Clone)]
pub struct Ports {
    pub cases: Arc<dyn CaseStore>,
    pub photos: Arc<dyn PhotoStore>,
    pub queue: Arc<dyn JobQueue>,
    pub mailer: Arc<dyn Mailer>,
    /// What was sent: every email goes through [`Desk::send_once`].
    pub mail_ledger: Arc<dyn MailLedger>,
    pub biometrics: Arc<dyn BiometricStore>,
    /// The exclusion table (entries written when a case is approved).
    pub exclusions: Arc<dyn ExclusionStore>,
    /// Where the matcher's snapshot of that table is kept (AWS: S3; the embedded mode loads
    /// from its local database and has none).
    pub matcher_snapshots: Option<Arc<dyn MatcherSnapshots>>,
    pub clock: Arc<dyn Clock>,
}

/// A submission as it arrives from the form or the JSON API: raw strings, nothing trusted yet.
#[derive(Debug, Clone, Default)]
pub struct SubmissionInput {
    pub kind: Option<CaseKind>,
    pub lang: Lang,
    pub country: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub reason: String,
    pub consent: bool,
    pub good_faith: bool,
    pub source_urls: Vec<String>,
    /// The key of the uploaded photo (face opt-out).
    pub upload_key: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The input is wrong; nothing was stored and nothing was sent.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// A link is unknown, tampered with or expired (answered without saying which).
    #[error("invalid or expired link")]
    InvalidLink,
    /// The case is not in a state that allows this.
    #[error("not allowed in state {0}")]
    WrongState(CaseState),
    /// An infrastructure failure; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        DeskError::Unavailable(e.to_string())
    }
}

/// A stored case and the requester's private status link.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub case: Case,
    pub status_url: String,
    /// False when the submission repeated an earlier one (same idempotency key or photo).
    pub created: bool,
}

/// What the status page shows.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub case: Case,
    pub token: String,
    pub link_expires: DateTime<Utc>,
}

/// The public desk.
#[derive(Clone)]
pub struct Desk {
    pub ports: Ports,
    pub keys: KeyRing,
    pub settings: Arc<Settings>,
}

/// The prefix of photo keys created by upload forms.
pub const UPLOAD_PREFIX: &str = "uploads/";

/// Checks that `key` is a key this desk hands out (`uploads/` and 22 base64url characters).
pub fn valid_upload_key(key: &str) -> bool {
    key.strip_prefix(UPLOAD_PREFIX).is_some_and(|id| {
        id.len() == 22
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// An idempotency key: 8..=128 visible ASCII characters.
fn valid_idempotency_key(k: &str) -> bool {
    (8..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `new` (a submission not stored because it repeated a key or photo of `stored`) asks
/// for the same thing as `stored`: the same kind, personal data, links and photo. Values are
/// compared parsed, so a retry that differs only in spacing or letter case of the email's
/// domain is the same request. The photo is compared while the case still has its first one (a
/// replaced photo's upload key is no longer known).
fn same_request(stored: &Case, new: &Case, upload_key: Option<&str>) -> bool {
    let photo_matches = match (&stored.photo, upload_key) {
        (Some(p), Some(k)) if p.generation == 1 => p.key == k,
        (Some(_), Some(_)) => true,
        (None, None) => true,
        _ => false,
    };
    stored.kind == new.kind
        && stored.personal.is_some()
        && stored.personal == new.personal
        && stored.source_urls == new.source_urls
        && photo_matches
}

/// The fields of a submission, parsed.
struct Parsed {
    kind: CaseKind,
    personal: Personal,
    source_urls: Vec<SourceUrl>,
}

impl Desk {
    pub fn new(ports: Ports, keys: KeyRing, settings: Settings) -> Self {
        Desk {
            ports,
            keys,
            settings: Arc::new(settings),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// A new upload form for one photo. `redirect` is where the browser goes afterwards.
    pub async fn new_upload(&self, redirect: Option<&str>) -> Result<UploadForm, DeskError> {
        let key = format!("{UPLOAD_PREFIX}{}", random_token());
        let expires = self.now() + self.settings.upload_ttl;
        Ok(self
            .ports
            .photos
            .upload_form(&key, self.settings.photo.max_bytes, expires, redirect)
            .await?)
    }

    /// Reads and verifies an uploaded photo; errors are reported on the field `photo`.
    pub async fn check_upload(&self, key: &str) -> Result<VerifiedPhoto, DeskError> {
        let invalid = |code: FieldCodeWithLimit| {
            let mut e = FieldErrors::default();
            e.take::<()>("photo", Err(code));
            DeskError::Invalid(e)
        };
        let stored = self.read_upload(key).await?;
        let limits = self.settings.photo;
        let inspected = photo::inspect(&stored.bytes, stored.declared_type.as_deref(), &limits)
            .map_err(invalid)?;
        // One of the process's few decode slots, shared with the embedding worker (see
        // `decode_gate`): eight uploads checked at once must not cost eight decodes of memory.
        let slot = self
            .settings
            .decodes
            .enter(inspected.verify_cost())
            .await
            .map_err(|e| DeskError::Unavailable(e.to_string()))?;
        // Decoding a large image takes a while: keep it off the async workers.
        let verified =
            tokio_blocking(move || photo::verify_inspected(&stored.bytes, &inspected, &limits))
                .await;
        drop(slot);
        verified.map_err(invalid)
    }

    fn parse(&self, input: &SubmissionInput) -> Result<Parsed, FieldErrors> {
        let mut errs = FieldErrors::default();
        let kind = input.kind;
        if kind.is_none() {
            errs.push("kind", FieldCode::Required);
        }
        let country = errs.take("country", Country::parse(&input.country));
        let first_name = errs.take("first_name", PersonName::parse(&input.first_name));
        let last_name = errs.take("last_name", PersonName::parse(&input.last_name));
        let email = errs.take("email", Email::parse(&input.email));
        let phone = if input.phone.trim().is_empty() && !self.settings.phone_required {
            Some(None)
        } else {
            errs.take("phone", Phone::parse(&input.phone)).map(Some)
        };
        let reason = errs.take("reason", Reason::parse(&input.reason));
        let mut source_urls = Vec::new();
        match kind {
            Some(CaseKind::FaceOptOut) if !input.consent => {
                errs.push("consent", FieldCode::ConsentRequired);
            }
            Some(CaseKind::FaceOptOut) => {}
            Some(CaseKind::DsaNotice) => {
                if !input.good_faith {
                    errs.push("good_faith", FieldCode::GoodFaithRequired);
                }
                let urls: Vec<&str> = input
                    .source_urls
                    .iter()
                    .map(|u| u.trim())
                    .filter(|u| !u.is_empty())
                    .collect();
                if urls.is_empty() {
                    errs.push("source_urls", FieldCode::Required);
                } else if urls.len() > URLS_MAX {
                    errs.push_limit("source_urls", FieldCode::TooManyUrls, URLS_MAX as u64);
                } else {
                    for u in urls {
                        match SourceUrl::parse(u) {
                            Ok(u) if source_urls.contains(&u) => {
                                errs.push("source_urls", FieldCode::DuplicateUrl);
                                break;
                            }
                            Ok(u) => source_urls.push(u),
                            Err(e) => {
                                errs.take::<()>("source_urls", Err(e));
                                break;
                            }
                        }
                    }
                }
            }
            None => {}
        }
        if kind == Some(CaseKind::DsaNotice) && input.upload_key.is_some() {
            // A notice names images by their links; a photo sent with it would be silently
            // dropped, so the client is told instead.
            errs.push("upload_key", FieldCode::NotAllowed);
        }
        if let Some(k) = input.idempotency_key.as_deref()
            && !valid_idempotency_key(k)
        {
            errs.push("idempotency_key", FieldCode::InvalidValue);
        }
        match (kind, country, first_name, last_name, email, phone, reason) {
            (
                Some(kind),
                Some(country),
                Some(first_name),
                Some(last_name),
                Some(email),
                Some(phone),
                Some(reason),
            ) if errs.is_empty() => Ok(Parsed {
                kind,
                personal: Personal {
                    first_name,
                    last_name,
                    email,
                    phone,
                    country,
                    reason,
                },
                source_urls,
            }),
            _ => Err(errs),
        }
    }

    /// Accepts a request: validates every field (and the photo), stores the case with its audit
    /// event and job atomically, then enqueues the job and sends the receipt. A repeated
    /// submission returns the case of the first one.
    pub async fn submit(&self, input: SubmissionInput) -> Result<Submitted, DeskError> {
        let parsed = self.parse(&input);
        let photo = match (input.kind, input.upload_key.as_deref()) {
            (Some(CaseKind::FaceOptOut), Some(key)) => {
                Some(self.check_upload(key).await.map(|v| (key.to_owned(), v)))
            }
            (Some(CaseKind::FaceOptOut), None) => {
                let mut e = FieldErrors::default();
                e.push("photo", FieldCode::UploadMissing);
                Some(Err(DeskError::Invalid(e)))
            }
            _ => None,
        };
        // Report every problem at once: the fields' and the photo's.
        let (parsed, photo) = match (parsed, photo.transpose()) {
            (Ok(p), Ok(ph)) => (p, ph),
            (Err(mut fe), Err(DeskError::Invalid(pe))) => {
                fe.0.extend(pe.0);
                return Err(DeskError::Invalid(fe));
            }
            (_, Err(e)) => return Err(e),
            (Err(fe), Ok(_)) => return Err(DeskError::Invalid(fe)),
        };
        let now = self.now();
        let id = CaseId::new(now);
        let photo = photo.map(|(key, v)| PhotoRef {
            key,
            content_type: v.kind.mime().to_owned(),
            bytes: v.bytes,
            width: v.width,
            height: v.height,
            sha256: v.sha256,
            generation: 1,
        });
        let case = Case {
            id,
            kind: parsed.kind,
            state: CaseState::Received,
            lang: input.lang,
            version: 1,
            created_at: now,
            updated_at: now,
            due_at: now + self.settings.decision_due,
            personal: Some(parsed.personal),
            photo,
            source_urls: parsed.source_urls,
            consent: input.consent && parsed.kind == CaseKind::FaceOptOut,
            good_faith: input.good_faith && parsed.kind == CaseKind::DsaNotice,
            job_dispatched: false,
            receipt_sent: false,
            quality_issue: None,
            decision: None,
            complaint: None,
            pending: Vec::new(),
        };
        let audit = AuditEvent {
            case_id: id,
            at: now,
            actor: Actor::Requester,
            action: "submitted".into(),
            state: CaseState::Received,
            detail: None,
        };
        let job = EmbedJob {
            case_id: id,
            generation: case.photo.as_ref().map_or(0, |p| p.generation),
        };
        let new = NewCase {
            case: &case,
            audit: &audit,
            idempotency_key: input.idempotency_key.as_deref(),
            job: Some(&job),
        };
        let (case, created) = match self.ports.cases.insert_case(new).await? {
            InsertOutcome::Inserted => {
                tracing::info!(case = %case.id, kind = case.kind.as_str(), "case received");
                (case, true)
            }
            InsertOutcome::Duplicate(existing, rule) => {
                let stored =
                    self.ports.cases.get_case(existing).await?.ok_or_else(|| {
                        DeskError::Unavailable("duplicate of a missing case".into())
                    })?;
                // A replay is answered with the first request's case (and its status link) only
                // if it is the same request: a key or photo someone else used gets a 422.
                if !same_request(&stored, &case, input.upload_key.as_deref()) {
                    tracing::info!(case = %stored.id, rule = ?rule, "key or photo reused for another request");
                    let (field, code) = match rule {
                        Unique::IdempotencyKey => ("idempotency_key", FieldCode::KeyReused),
                        Unique::Photo => ("photo", FieldCode::PhotoReused),
                    };
                    let mut e = FieldErrors::default();
                    e.push(field, code);
                    return Err(DeskError::Invalid(e));
                }
                tracing::info!(case = %stored.id, "repeated submission");
                (stored, false)
            }
        };
        if created
            && let Some(p) = &case.photo
            && let Err(e) = self.ports.photos.claim(&p.key).await
        {
            // The embedding job claims it again.
            tracing::warn!(case = %case.id, error = %e, "could not claim the photo yet");
        }
        let case = self.dispatch(case).await;
        let status_url = self.status_url(&case);
        Ok(Submitted {
            case,
            status_url,
            created,
        })
    }

    /// Hands the case's job to the queue and sends its receipt, if not done yet, and records it.
    /// Failures are logged and left for the next [`Desk::relay`].
    pub async fn dispatch(&self, mut case: Case) -> Case {
        let mut done = Vec::new();
        if !case.job_dispatched && case.state == CaseState::Received {
            let job = EmbedJob {
                case_id: case.id,
                generation: case.photo.as_ref().map_or(0, |p| p.generation),
            };
            match self.ports.queue.enqueue(&job).await {
                Ok(()) => {
                    case.job_dispatched = true;
                    done.push("job_enqueued");
                }
                Err(e) => tracing::warn!(case = %case.id, error = %e, "job not enqueued yet"),
            }
        }
        if !case.receipt_sent {
            let (_, url, expires) = self.status_link(&case);
            match mail::receipt(&case, &self.settings, &url, expires) {
                Some(m) => match self.send_once(&m).await {
                    Ok(()) => {
                        case.receipt_sent = true;
                        done.push("receipt_sent");
                    }
                    Err(e) => tracing::warn!(case = %case.id, error = %e, "receipt not sent yet"),
                },
                None => case.receipt_sent = true,
            }
        }
        if !case.pending.is_empty() {
            self.run_effects(&mut case, &mut done).await;
        }
        if done.is_empty() {
            return case;
        }
        let before = case.clone();
        let mut updated = case;
        updated.version += 1;
        let audit = AuditEvent {
            case_id: updated.id,
            at: self.now(),
            actor: Actor::System,
            action: done.join(","),
            state: updated.state,
            detail: None,
        };
        match self.ports.cases.update_case(&updated, &audit).await {
            Ok(()) => updated,
            Err(e) => {
                // Someone else moved the case on (the worker, a withdrawal); the relay re-checks it.
                tracing::info!(case = %updated.id, error = %e, "dispatch flags not recorded");
                before
            }
        }
    }

    /// Finishes interrupted dispatches (jobs not enqueued, receipts not sent). Returns how many
    /// cases it looked at.
    ///
    /// Cases changed within the last [`Settings::relay_grace`] are left to the request that is
    /// still dispatching them (a receipt or decision email would otherwise go out twice).
    pub async fn relay(&self, limit: usize) -> Result<usize, DeskError> {
        let pending = self.ports.cases.undispatched(limit).await?;
        let settled = self.now() - self.settings.relay_grace;
        let mut n = 0;
        for case in pending {
            if case.created_at.max(case.updated_at) > settled {
                continue;
            }
            n += 1;
            self.dispatch(case).await;
        }
        Ok(n)
    }

    /// The status token and link of a case, and when it expires.
    pub fn status_link(&self, case: &Case) -> (String, String, DateTime<Utc>) {
        let expires = case.created_at + self.settings.status_link_ttl;
        let token = self.keys.sign(scope::STATUS, &case.id.to_string(), expires);
        let url = format!("{}/status/{}", self.settings.public_url, token);
        (token, url, expires)
    }

    pub fn status_url(&self, case: &Case) -> String {
        self.status_link(case).1
    }

    /// The case behind a status token. Unknown, tampered and expired tokens are all `InvalidLink`.
    pub async fn status(&self, token: &str) -> Result<StatusView, DeskError> {
        let (subject, link_expires) = self
            .keys
            .verify(scope::STATUS, token, self.now())
            .map_err(|_| DeskError::InvalidLink)?;
        let id = CaseId::parse(&subject).ok_or(DeskError::InvalidLink)?;
        let case = self
            .ports
            .cases
            .get_case(id)
            .await?
            .ok_or(DeskError::InvalidLink)?;
        if case.state == CaseState::Erased {
            return Err(DeskError::InvalidLink);
        }
        Ok(StatusView {
            case,
            token: token.to_owned(),
            link_expires,
        })
    }

    /// Withdraws the request behind a status token: the case becomes `withdrawn`, its photo is
    /// deleted and a confirmation is sent. Withdrawing twice is harmless.
    pub async fn withdraw(&self, token: &str) -> Result<Case, DeskError> {
        for _ in 0..3 {
            let view = self.status(token).await?;
            let case = view.case;
            if case.state == CaseState::Withdrawn {
                return Ok(case);
            }
            if !case.state.can_become(CaseState::Withdrawn) {
                return Err(DeskError::WrongState(case.state));
            }
            let now = self.now();
            let mut next = case.clone();
            next.state = CaseState::Withdrawn;
            // Entries of an approval (or of an earlier one, before a complaint) stop applying.
            if !next.pending.contains(&Effect::WithdrawExclusions) {
                next.pending.push(Effect::WithdrawExclusions);
            }
            next.version += 1;
            next.updated_at = now;
            let audit = AuditEvent {
                case_id: case.id,
                at: now,
                actor: Actor::Requester,
                action: "withdrawn".into(),
                state: CaseState::Withdrawn,
                detail: None,
            };
            match self.ports.cases.update_case(&next, &audit).await {
                Ok(()) => {
                    tracing::info!(case = %case.id, "case withdrawn");
                    if let Some(p) = &next.photo
                        && let Err(e) = self.ports.photos.delete(&p.key).await
                    {
                        tracing::warn!(case = %case.id, error = %e, "photo of a withdrawn case not deleted yet");
                    }
                    if let Err(e) = self.ports.biometrics.delete_biometrics(case.id).await {
                        tracing::warn!(case = %case.id, error = %e, "biometrics of a withdrawn case not deleted yet");
                    }
                    if let Some(m) = mail::withdrawn(&next, &self.settings, now)
                        && let Err(e) = self.send_once(&m).await
                    {
                        tracing::warn!(case = %case.id, error = %e, "withdrawal confirmation not sent");
                    }
                    return Ok(self.dispatch(next).await);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Unavailable(
            "the case kept changing; try again".into(),
        ))
    }
}

impl Desk {
    /// Replaces the photo of a case that needs a better one (from its status link): the new photo
    /// is verified, the case goes back to `received` with a new photo generation, the old photo is
    /// deleted and the embedding job of the new one is enqueued.
    pub async fn replace_photo(&self, token: &str, upload_key: &str) -> Result<Case, DeskError> {
        for _ in 0..3 {
            let case = self.status(token).await?.case;
            if case.photo.as_ref().is_some_and(|p| p.key == upload_key) {
                return Ok(case); // the same form posted twice
            }
            if case.state != CaseState::NeedsBetterPhoto {
                return Err(DeskError::WrongState(case.state));
            }
            let v = self.check_upload(upload_key).await?;
            let now = self.now();
            let old = case.photo.clone();
            let mut next = case.clone();
            next.photo = Some(PhotoRef {
                key: upload_key.to_owned(),
                content_type: v.kind.mime().to_owned(),
                bytes: v.bytes,
                width: v.width,
                height: v.height,
                sha256: v.sha256,
                generation: old.as_ref().map_or(1, |p| p.generation + 1),
            });
            next.state = CaseState::Received;
            next.quality_issue = None;
            next.job_dispatched = false;
            next.version += 1;
            next.updated_at = now;
            let audit = AuditEvent {
                case_id: case.id,
                at: now,
                actor: Actor::Requester,
                action: "photo_replaced".into(),
                state: CaseState::Received,
                detail: None,
            };
            match self.ports.cases.update_case(&next, &audit).await {
                Ok(()) => {
                    if let Err(e) = self.ports.photos.claim(upload_key).await {
                        tracing::warn!(case = %case.id, error = %e, "could not claim the new photo yet");
                    }
                    if let Some(old) = old
                        && let Err(e) = self.ports.photos.delete(&old.key).await
                    {
                        tracing::warn!(case = %case.id, error = %e, "old photo not deleted yet");
                    }
                    tracing::info!(case = %case.id, "better photo received");
                    return Ok(self.dispatch(next).await);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Unavailable(
            "the case kept changing; try again".into(),
        ))
    }
}

/// Runs CPU-bound work off the async executor when there is one.
async fn tokio_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
