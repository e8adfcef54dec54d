//! The requester's use cases: upload forms, submissions, the status page, withdrawal, a better
//! photo, and complaints against decisions.

use chrono::{DateTime, Utc};

use crate::case::{Command, Executed, NewRequest};
use crate::desk::{Desk, DeskError, tokio_blocking};
use crate::error::{FieldCode, FieldCodeWithLimit, FieldErrors, FieldItem};
use crate::i18n::Lang;
use crate::model::*;
use crate::photo::{self, VerifiedPhoto};
use crate::ports::*;
use crate::signing::{random_token, scope};

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
    /// An image opt-out asks that the faces the image shows be excluded too.
    pub exclude_faces: bool,
    pub source_urls: Vec<String>,
    /// The key of the uploaded photo (face opt-out).
    pub upload_key: Option<String>,
    pub idempotency_key: Option<String>,
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
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSubmission {
    pub kind: CaseKind,
    pub personal: Personal,
    pub source_urls: Vec<SourceUrl>,
}

impl Desk {
    /// A new upload form for one photo. `redirect` is where the browser goes afterwards.
    pub async fn new_upload(&self, redirect: Option<&str>) -> Result<UploadForm, DeskError> {
        let key = format!("{UPLOAD_PREFIX}{}", random_token());
        let expires = self.now() + self.settings.upload_ttl;
        Ok(self
            .ports
            .photos
            .upload_form(UploadRequest {
                key: &key,
                max_bytes: self.settings.photo.max_bytes,
                expires_at: expires,
                redirect,
            })
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

    /// Accepts a request: validates every field (and the photo), stores the case with its audit
    /// event and job atomically, then enqueues the job and sends the receipt. A repeated
    /// submission returns the case of the first one.
    pub async fn submit(&self, input: SubmissionInput) -> Result<Submitted, DeskError> {
        let parsed = parse_submission(&input, self.settings.phone_required);
        let takes_photo = input.kind.is_some_and(CaseKind::takes_photo);
        let photo = match (takes_photo, input.upload_key.as_deref()) {
            (true, Some(key)) => Some(self.check_upload(key).await.map(|v| (key.to_owned(), v))),
            (true, None) => {
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
        let photo = photo.map(|(key, v)| PhotoRef {
            key,
            content_type: v.kind.mime().to_owned(),
            bytes: v.bytes,
            width: v.width,
            height: v.height,
            sha256: v.sha256,
            generation: 1,
        });
        let received = Case::receive(
            NewRequest {
                id: CaseId::new(now),
                kind: parsed.kind,
                lang: input.lang,
                personal: parsed.personal,
                photo,
                source_urls: parsed.source_urls,
                consent: input.consent,
                good_faith: input.good_faith,
                exclude_faces: input.exclude_faces,
            },
            now,
            &self.settings.policy(),
        );
        let (case, audit) = (received.case, received.audit);
        let job = EmbedJob {
            case_id: case.id,
            generation: case.photo_generation(),
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
        let case = self.dispatch(case).await;
        let status_url = self.status_url(&case);
        Ok(Submitted {
            case,
            status_url,
            created,
        })
    }

    /// The case behind a status token. Unknown, tampered and expired tokens are all `InvalidLink`.
    pub async fn status(&self, token: &str) -> Result<StatusView, DeskError> {
        let (id, link_expires) = self.token_case(token)?;
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

    /// The case id a status token names and when the token expires (unknown, tampered and
    /// expired tokens are `InvalidLink`).
    fn token_case(&self, token: &str) -> Result<(CaseId, DateTime<Utc>), DeskError> {
        let (subject, expires) = self
            .keys
            .verify(scope::STATUS, token, self.now())
            .map_err(|_| DeskError::InvalidLink)?;
        let id = CaseId::parse(&subject).ok_or(DeskError::InvalidLink)?;
        Ok((id, expires))
    }

    /// Runs a requester's command on the case behind a status token (an erased case is answered
    /// like an invalid link), then its outbox.
    async fn by_token(
        &self,
        token: &str,
        mut decide: impl FnMut(&Case) -> Option<Command>,
    ) -> Result<Case, DeskError> {
        let (id, _) = self.token_case(token)?;
        let done = self.cases().run(id, |c| Ok(decide(c))).await?;
        Ok(self.after(done).await)
    }

    /// The case after a command: its outbox is run when the command scheduled something.
    async fn after(&self, done: Executed) -> Case {
        if done.transition.is_some_and(|t| !t.scheduled.is_empty()) {
            return self.dispatch(done.case).await;
        }
        done.case
    }

    /// Withdraws the request behind a status token: the case becomes `withdrawn`, and its outbox
    /// withdraws its exclusions, deletes its photo and biometrics and confirms by email.
    /// Withdrawing twice is harmless.
    pub async fn withdraw(&self, token: &str) -> Result<Case, DeskError> {
        let case = self
            .by_token(token, |c| {
                (c.state != CaseState::Withdrawn).then_some(Command::Withdraw)
            })
            .await?;
        tracing::info!(case = %case.id, "case withdrawn");
        Ok(case)
    }

    /// Replaces the photo of a case that needs a better one (from its status link): the new photo
    /// is verified, the case goes back to `received` with a new photo generation, and its outbox
    /// claims the new photo, deletes the old one and enqueues the new embedding job.
    pub async fn replace_photo(&self, token: &str, upload_key: &str) -> Result<Case, DeskError> {
        let case = self.status(token).await?.case;
        let same_form = |c: &Case| c.photo.as_ref().is_some_and(|p| p.key == upload_key);
        if same_form(&case) {
            return Ok(case); // the same form posted twice
        }
        if case.state != CaseState::NeedsBetterPhoto {
            return Err(DeskError::WrongState(case.state));
        }
        let v = self.check_upload(upload_key).await?;
        let photo = PhotoRef {
            key: upload_key.to_owned(),
            content_type: v.kind.mime().to_owned(),
            bytes: v.bytes,
            width: v.width,
            height: v.height,
            sha256: v.sha256,
            generation: 0, // set by the case
        };
        // The case as read above: a change while the photo was checked is a lost race, and the
        // executor reads it again.
        let done = self
            .cases()
            .run_from(case, |c| {
                Ok((!same_form(c)).then(|| Command::ReplacePhoto {
                    photo: photo.clone(),
                }))
            })
            .await?;
        let case = self.after(done).await;
        tracing::info!(case = %case.id, "better photo received");
        Ok(case)
    }

    /// Goes on with a face opt-out whose photo has no usable face as an image opt-out of the same
    /// photo (from its status link): the case goes back to `received` as an image opt-out and its
    /// job, which hashes the photo, is enqueued. Asking twice is harmless.
    pub async fn continue_as_image(&self, token: &str) -> Result<Case, DeskError> {
        let (id, _) = self.token_case(token)?;
        let done = self
            .cases()
            .run(id, |c| {
                Ok(match (c.kind, c.state) {
                    (CaseKind::ImageOptOut, _) => None, // done already
                    _ => Some(Command::ContinueAsImage),
                })
            })
            .await?;
        let moved = done.transition.is_some();
        let case = if moved {
            self.dispatch(done.case).await
        } else {
            done.case
        };
        if moved {
            tracing::info!(case = %case.id, "face opt-out continued as an image opt-out");
        }
        Ok(case)
    }

    /// Whether the requester may contest the case's decision now.
    pub fn complaint_open(&self, case: &Case) -> bool {
        case.complaint_open(self.now(), &self.settings.policy())
    }

    /// Why the requester may not contest the case's decision now (`None`: they may).
    pub fn complaint_closed(&self, case: &Case) -> Option<ComplaintClosed> {
        case.complaint_closed(self.now(), &self.settings.policy())
    }

    /// A complaint against the decision behind a status token: the case goes back to the queue
    /// marked as a complaint, to be decided by another reviewer. One complaint per case, within
    /// the window: otherwise [`DeskError::ComplaintClosed`] says why.
    pub async fn complain(&self, token: &str, text: &str) -> Result<Case, DeskError> {
        let text = Reason::parse(text).map_err(|e| {
            let mut errs = FieldErrors::default();
            errs.take::<()>("complaint", Err(e));
            DeskError::Invalid(errs)
        })?;
        // Why the case as last read refuses a complaint, if it does (the case refuses it itself).
        let mut closed = None;
        let case = self
            .by_token(token, |c| {
                closed = self.complaint_closed(c);
                Some(Command::Complain { text: text.clone() })
            })
            .await
            .map_err(|e| match (e, closed) {
                (DeskError::WrongState(_), Some(why)) => DeskError::ComplaintClosed(why),
                (e, _) => e,
            })?;
        tracing::info!(case = %case.id, "complaint received");
        Ok(case)
    }
}

/// A field error for the complaint form (used by the web layer for a missing text).
pub fn complaint_required() -> FieldErrors {
    let mut e = FieldErrors::default();
    e.push("complaint", FieldCode::Required);
    e
}

/// Parses every field of a submission (the photo apart) and reports every problem at once.
/// The phone may be left empty unless `phone_required`; a national number is read in the
/// country of residence.
pub fn parse_submission(
    input: &SubmissionInput,
    phone_required: bool,
) -> Result<ParsedSubmission, FieldErrors> {
    let mut errs = FieldErrors::default();
    let kind = input.kind;
    if kind.is_none() {
        errs.push("kind", FieldCode::Required);
    }
    let country = errs.take("country", Country::parse(&input.country));
    let first_name = errs.take("first_name", PersonName::parse(&input.first_name));
    let last_name = errs.take("last_name", PersonName::parse(&input.last_name));
    let email = errs.take("email", Email::parse(&input.email));
    // Read in the country of residence (a national number), or as an international one.
    let phone = if input.phone.trim().is_empty() && !phone_required {
        Some(None)
    } else {
        match Phone::parse_in(&input.phone, country) {
            Ok(p) => Some(Some(p)),
            Err(PhoneError::Field(e)) => errs.take("phone", Err(e)),
            Err(PhoneError::NotValidIn(c)) => {
                errs.push_country("phone", FieldCode::InvalidPhoneForCountry, c);
                None
            }
            // A national number waits for a valid country: the country's error says what to do.
            Err(PhoneError::NeedsCountry) => None,
        }
    };
    let reason = errs.take("reason", Reason::parse(&input.reason));
    let mut source_urls = Vec::new();
    if kind.is_some_and(CaseKind::needs_consent) && !input.consent {
        errs.push("consent", FieldCode::ConsentRequired);
    }
    if kind.is_some_and(CaseKind::needs_good_faith) && !input.good_faith {
        errs.push("good_faith", FieldCode::GoodFaithRequired);
    }
    if kind.is_some_and(CaseKind::takes_links) {
        // Each link with its line (from 1: the position in the list, blank lines counted), so
        // that an error says which link it is about.
        let urls: Vec<(usize, &str)> = input
            .source_urls
            .iter()
            .map(|u| u.trim())
            .enumerate()
            .filter(|(_, u)| !u.is_empty())
            .map(|(i, u)| (i + 1, u))
            .collect();
        if urls.is_empty() {
            errs.push("source_urls", FieldCode::Required);
        } else if urls.len() > URLS_MAX {
            errs.push_limit("source_urls", FieldCode::TooManyUrls, URLS_MAX as u64);
        } else {
            for (line, raw) in urls {
                let item = FieldItem::new(line, raw);
                match SourceUrl::parse(raw) {
                    Ok(u) if source_urls.contains(&u) => {
                        errs.push_item("source_urls", FieldCode::DuplicateUrl.into(), item);
                    }
                    Ok(u) => source_urls.push(u),
                    Err(e) => errs.push_item("source_urls", e, item),
                }
            }
        }
    }
    if kind.is_some_and(|k| !k.offers_faces()) && input.exclude_faces {
        errs.push("exclude_faces", FieldCode::NotAllowed);
    }
    if kind.is_some_and(|k| !k.takes_photo()) && input.upload_key.is_some() {
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
        ) if errs.is_empty() => Ok(ParsedSubmission {
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
