//! The review desk's use cases: the queue, a case as a reviewer sees it, decisions with their
//! statement of reasons (approve, reject, ask for a better photo), complaints against decisions,
//! the side effects of decisions (exclusion entries, photo deletion, decision email) and the
//! retention sweep that erases personal data.

use chrono::{DateTime, Utc};

use crate::error::{FieldCode, FieldErrors};
use crate::i18n::{fill, quality_message, reject_reason_text, texts};
use crate::mail::{self, human_date};
use crate::model::*;
use crate::ports::*;
use crate::service::{Desk, DeskError};
use crate::verdict::Verdict;
use optout_matcher::Similarity;

/// The longest reviewer note.
pub const NOTE_MAX: usize = 2000;
/// How many similar exclusions the case page shows per kind.
pub const SIMILAR_MAX: usize = 5;
/// How long a photo's view URL is valid: enough for the browser to follow the redirect at once,
/// short enough that a URL copied from the browser soon stops working.
pub const PHOTO_VIEW_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How the reviewer's browser gets a case's photo.
#[derive(Clone, PartialEq, Eq)]
pub enum PhotoView {
    /// Straight from the photo store at this short-lived URL (a bearer credential: never log it).
    Url(String),
    /// Through the app: the photo and its verified content type.
    Bytes {
        bytes: Vec<u8>,
        content_type: String,
    },
}

/// Says which way without the URL or the bytes, so that a debug log leaks neither.
impl std::fmt::Debug for PhotoView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhotoView::Url(_) => f.write_str("PhotoView::Url(..)"),
            PhotoView::Bytes {
                bytes,
                content_type,
            } => write!(f, "PhotoView::Bytes({content_type}, {} bytes)", bytes.len()),
        }
    }
}

/// Why a reviewer's action did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no such case")]
    NotFound,
    /// Someone decided first, or the case moved on since the reviewer loaded it.
    #[error("already decided (state {0})")]
    AlreadyDecided(CaseState),
    /// A complaint must be decided by someone other than the first decision's reviewer.
    #[error("a complaint must be decided by another reviewer")]
    SameReviewer,
    /// A field of the decision form is wrong (named).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The case lacks what the decision needs (e.g. the face embedding).
    #[error("not ready: {0}")]
    NotReady(&'static str),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for ReviewError {
    fn from(e: StoreError) -> Self {
        ReviewError::Unavailable(e.to_string())
    }
}

/// What a reviewer decides, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionInput {
    Approve {
        note: Option<String>,
    },
    Reject {
        reason: RejectReason,
        note: Option<String>,
    },
    BetterPhoto {
        code: Verdict,
        note: Option<String>,
    },
}

/// A reviewer's free-text note: optional, at most [`NOTE_MAX`] characters, line breaks allowed,
/// no other control characters.
pub fn parse_note(raw: &str) -> Result<Option<String>, ReviewError> {
    let s = raw.trim().replace("\r\n", "\n");
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > NOTE_MAX
        || s.chars().any(|c| c.is_control() && c != '\n')
        || s.chars().any(|c| {
            matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
    {
        return Err(ReviewError::Invalid("note"));
    }
    Ok(Some(s))
}

impl DecisionInput {
    /// Parses the fields of a decision form: `decision` (`approve`, `reject`, `better_photo`),
    /// `reason` (a [`RejectReason`] code, for `reject`), `quality` (a code of
    /// [`BETTER_PHOTO_CODES`], for `better_photo`) and `note`.
    pub fn parse(
        decision: &str,
        reason: Option<&str>,
        quality: Option<&str>,
        note: Option<&str>,
    ) -> Result<Self, ReviewError> {
        let note = parse_note(note.unwrap_or(""))?;
        match decision {
            "approve" => Ok(DecisionInput::Approve { note }),
            "reject" => {
                let reason = reason
                    .and_then(RejectReason::parse)
                    .ok_or(ReviewError::Invalid("reason"))?;
                if reason == RejectReason::Other && note.is_none() {
                    return Err(ReviewError::Invalid("note"));
                }
                Ok(DecisionInput::Reject { reason, note })
            }
            "better_photo" => {
                let code = quality
                    .and_then(Verdict::parse)
                    .filter(|c| BETTER_PHOTO_CODES.contains(c))
                    .ok_or(ReviewError::Invalid("quality"))?;
                Ok(DecisionInput::BetterPhoto { code, note })
            }
            _ => Err(ReviewError::Invalid("decision")),
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            DecisionInput::Approve { .. } => Outcome::Approved,
            DecisionInput::Reject { .. } => Outcome::Rejected,
            DecisionInput::BetterPhoto { .. } => Outcome::BetterPhoto,
        }
    }
}

/// An active exclusion of another case that resembles this case.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    pub case_id: CaseId,
    pub entry_id: u64,
    /// `face` (cosine similarity in `score`), `pdq` (Hamming distance in `distance`), `sha256`
    /// (identical bytes) or `url` (the same link).
    pub kind: &'static str,
    pub score: Option<Similarity>,
    pub distance: Option<u32>,
}

/// Everything a reviewer sees of one case.
#[derive(Debug, Clone)]
pub struct CaseReview {
    pub case: Case,
    pub biometrics: Option<Biometrics>,
    pub audit: Vec<AuditEvent>,
    pub entries: Vec<ExclusionEntry>,
    pub similar: Vec<Similar>,
}

impl Desk {
    /// A page of the review queue.
    pub async fn queue(
        &self,
        filter: &CaseFilter,
        limit: usize,
        after: Option<&QueueCursor>,
    ) -> Result<CasePage, ReviewError> {
        Ok(self
            .ports
            .cases
            .list_cases(filter, limit.clamp(1, 200), after)
            .await?)
    }

    /// A case with its biometrics, audit trail, entries and the most similar active exclusions of
    /// other cases (brute force over the active entries).
    pub async fn review_case(&self, id: CaseId) -> Result<CaseReview, ReviewError> {
        let case = self
            .ports
            .cases
            .get_case(id)
            .await?
            .ok_or(ReviewError::NotFound)?;
        let biometrics = self.ports.biometrics.get_biometrics(id).await?;
        let audit = self.ports.cases.audit_trail(id).await?;
        let entries = self.ports.exclusions.case_entries(id).await?;
        let mut similar = Vec::new();
        let active = self.ports.exclusions.active().await?;
        let findings = biometrics.as_ref().map(|b| &b.findings);
        let mut faces = Vec::new();
        let mut pdqs = Vec::new();
        for e in active.iter().filter(|e| e.case_id != id) {
            let s = |kind, score, distance| Similar {
                case_id: e.case_id,
                entry_id: e.id,
                kind,
                score,
                distance,
            };
            match (&e.value, findings) {
                (ExclusionValue::Face(v), Some(f)) => {
                    if let Some(mine) = &f.embedding {
                        faces.push(s("face", Some(mine.similarity(v)), None));
                    }
                }
                (ExclusionValue::Pdq(h), Some(f)) => {
                    if let Some(mine) = &f.pdq {
                        pdqs.push(s("pdq", None, Some(mine.distance(h))));
                    }
                }
                (ExclusionValue::Sha256(h), _) => {
                    let mine = findings
                        .map(|f| f.sha256)
                        .or(case.photo.as_ref().map(|p| p.sha256));
                    if mine == Some(*h) {
                        similar.push(s("sha256", None, Some(0)));
                    }
                }
                (ExclusionValue::Url(u), _)
                    if case.source_urls.iter().any(|x| x.normalized() == u) =>
                {
                    similar.push(s("url", None, Some(0)));
                }
                _ => {}
            }
        }
        faces.sort_by(|a, b| {
            b.score
                .unwrap_or_default()
                .total_cmp(&a.score.unwrap_or_default())
        });
        pdqs.sort_by_key(|s| s.distance.unwrap_or(u32::MAX));
        similar.extend(faces.into_iter().take(SIMILAR_MAX));
        similar.extend(pdqs.into_iter().take(SIMILAR_MAX));
        Ok(CaseReview {
            case,
            biometrics,
            audit,
            entries,
            similar,
        })
    }

    /// Whether the photo of `case` is still stored (a cheap check: the photo is not read).
    pub async fn photo_available(&self, case: &Case) -> Result<bool, ReviewError> {
        match &case.photo {
            Some(p) => Ok(self.ports.photos.exists(&p.key).await?),
            None => Ok(false),
        }
    }

    /// How a reviewer's browser gets the photo of case `id`, while it exists: straight from the
    /// photo store at a short-lived URL when the store gives one (AWS: the photo never passes
    /// through the api function), else its bytes through the app. The type is the verified one.
    pub async fn photo_view(&self, id: CaseId) -> Result<Option<PhotoView>, ReviewError> {
        let Some(case) = self.ports.cases.get_case(id).await? else {
            return Ok(None);
        };
        let Some(p) = case.photo else {
            return Ok(None);
        };
        let photos = &self.ports.photos;
        if let Some(url) = photos
            .view_url(&p.key, &p.content_type, PHOTO_VIEW_TTL)
            .await?
        {
            // The photo is deleted when the case is decided: say so here rather than send the
            // browser to the store's own "not found".
            return Ok(photos.exists(&p.key).await?.then_some(PhotoView::Url(url)));
        }
        match photos.read(&p.key, self.settings.photo.max_bytes).await {
            Ok(s) => Ok(Some(PhotoView::Bytes {
                bytes: s.bytes,
                content_type: p.content_type,
            })),
            Err(PhotoReadError::Store(e)) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    fn statement(&self, case: &Case, input: &DecisionInput) -> Statement {
        let lang = case.lang;
        let t = texts(lang);
        let date = human_date(lang, case.created_at);
        let count = case.source_urls.len().to_string();
        let face = case.kind == CaseKind::FaceOptOut;
        let facts = if face {
            fill(t.facts_face, &[("date", &date)])
        } else {
            fill(t.facts_dsa, &[("date", &date), ("count", &count)])
        };
        let automated = if face {
            t.automated_face
        } else {
            t.automated_dsa
        }
        .to_owned();
        let (action, ground) = match input {
            DecisionInput::Approve { .. } if face => (
                t.action_face_approved.to_owned(),
                t.ground_face_approved.to_owned(),
            ),
            DecisionInput::Approve { .. } => (
                fill(t.action_dsa_approved, &[("count", &count)]),
                t.ground_dsa_approved.to_owned(),
            ),
            DecisionInput::Reject { reason, .. } => {
                let (label, ground) = reject_reason_text(lang, *reason);
                (
                    format!("{} ({label})", t.action_rejected),
                    ground.to_owned(),
                )
            }
            DecisionInput::BetterPhoto { code, .. } => (
                t.action_better_photo.to_owned(),
                quality_message(lang, *code).to_owned(),
            ),
        };
        Statement {
            action,
            facts,
            automated,
            ground,
            redress: t.redress.to_owned(),
        }
    }

    /// Decides a case awaiting review. `expected_version` is the version the reviewer saw: if the
    /// case changed since (someone else decided), nothing is written and the answer is
    /// [`ReviewError::AlreadyDecided`]. Of two concurrent decisions exactly one wins (conditional
    /// write). The decision's effects (exclusion entries, photo deletion, decision email) follow
    /// and are retried by the relay when interrupted.
    pub async fn decide(
        &self,
        id: CaseId,
        reviewer: &ReviewerName,
        expected_version: u64,
        input: DecisionInput,
    ) -> Result<Case, ReviewError> {
        let case = self
            .ports
            .cases
            .get_case(id)
            .await?
            .ok_or(ReviewError::NotFound)?;
        if case.state != CaseState::AwaitingReview || case.version != expected_version {
            return Err(ReviewError::AlreadyDecided(case.state));
        }
        if let Some(c) = case.open_complaint()
            && c.first_reviewer == *reviewer
        {
            return Err(ReviewError::SameReviewer);
        }
        if matches!(input, DecisionInput::Approve { .. }) && case.kind == CaseKind::FaceOptOut {
            let ready = self
                .ports
                .biometrics
                .get_biometrics(id)
                .await?
                .is_some_and(|b| b.findings.embedding.is_some());
            if !ready {
                return Err(ReviewError::NotReady("the face embedding is missing"));
            }
        }
        if matches!(input, DecisionInput::BetterPhoto { .. }) && case.kind != CaseKind::FaceOptOut {
            return Err(ReviewError::Invalid("decision"));
        }
        let now = self.ports.clock.now();
        let outcome = input.outcome();
        let statement = self.statement(&case, &input);
        let on_complaint = case.open_complaint().is_some();
        let (reject_reason, note, code) = match &input {
            DecisionInput::Approve { note } => (None, note.clone(), None),
            DecisionInput::Reject { reason, note } => (Some(*reason), note.clone(), None),
            DecisionInput::BetterPhoto { code, note } => (None, note.clone(), Some(*code)),
        };
        let mut next = case.clone();
        next.version += 1;
        next.updated_at = now;
        next.decision = Some(Decision {
            outcome,
            reviewer: reviewer.clone(),
            at: now,
            reject_reason,
            note,
            statement,
            on_complaint,
        });
        next.state = match outcome {
            Outcome::Approved => CaseState::Approved,
            Outcome::Rejected => CaseState::Rejected,
            Outcome::BetterPhoto => CaseState::NeedsBetterPhoto,
        };
        next.quality_issue = code;
        if outcome != Outcome::BetterPhoto
            && let Some(c) = next.complaint.as_mut()
            && c.resolved_at.is_none()
        {
            c.resolved_at = Some(now);
        }
        next.pending = match outcome {
            Outcome::Approved => vec![
                Effect::WriteExclusions,
                Effect::DeletePhoto,
                Effect::DecisionMail,
            ],
            Outcome::Rejected => vec![
                Effect::WithdrawExclusions,
                Effect::DeletePhoto,
                Effect::DecisionMail,
            ],
            Outcome::BetterPhoto => vec![Effect::DecisionMail],
        };
        let audit = AuditEvent {
            case_id: id,
            at: now,
            actor: Actor::Reviewer(reviewer.to_string()),
            action: format!("decision:{}", outcome.as_str()),
            state: next.state,
            detail: Some(format!(
                "reason={} quality={} on_complaint={on_complaint} ground={}",
                reject_reason.map_or("-", RejectReason::as_str),
                code.map_or("-", Verdict::as_str),
                match (outcome, case.kind) {
                    (Outcome::Approved, CaseKind::FaceOptOut) => "gdpr_art17_21,pdpa_s32_33",
                    (Outcome::Approved, CaseKind::DsaNotice) => "dsa_art16",
                    (Outcome::Rejected, _) => "reject_reason",
                    (Outcome::BetterPhoto, _) => "quality",
                }
            )),
        };
        match self.ports.cases.update_case(&next, &audit).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let state = self
                    .ports
                    .cases
                    .get_case(id)
                    .await?
                    .map_or(case.state, |c| c.state);
                return Err(ReviewError::AlreadyDecided(state));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(case = %id, outcome = outcome.as_str(), "case decided");
        Ok(self.dispatch(next).await)
    }

    /// Runs the pending effects of a case; returns what was done (the case is updated in place
    /// and recorded by the caller).
    pub(crate) async fn run_effects(&self, case: &mut Case, done: &mut Vec<&'static str>) {
        let pending = std::mem::take(&mut case.pending);
        for effect in pending {
            match self.effect(case, effect).await {
                Ok(()) => done.push(effect.as_str()),
                Err(e) => {
                    tracing::warn!(case = %case.id, effect = effect.as_str(), error = %e, "effect not done yet");
                    case.pending.push(effect);
                }
            }
        }
    }

    async fn effect(&self, case: &Case, effect: Effect) -> Result<(), String> {
        let now = self.ports.clock.now();
        match effect {
            Effect::WriteExclusions => {
                let values = self.exclusion_values(case).await?;
                self.ports
                    .exclusions
                    .add_entries(case.id, &values, now)
                    .await
                    .map_err(|e| e.to_string())?;
                // A withdrawal (or a new decision) may have come in meanwhile: it wins.
                let current = self
                    .ports
                    .cases
                    .get_case(case.id)
                    .await
                    .map_err(|e| e.to_string())?;
                if current.is_none_or(|c| c.state != CaseState::Approved) {
                    self.ports
                        .exclusions
                        .withdraw_case(case.id, now)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Effect::WithdrawExclusions => self
                .ports
                .exclusions
                .withdraw_case(case.id, now)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Effect::DeletePhoto => match &case.photo {
                Some(p) => self
                    .ports
                    .photos
                    .delete(&p.key)
                    .await
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            },
            Effect::DeleteBiometrics => self
                .ports
                .biometrics
                .delete_biometrics(case.id)
                .await
                .map_err(|e| e.to_string()),
            Effect::DecisionMail => {
                let m = match case.decision.as_ref().map(|d| d.outcome) {
                    Some(Outcome::BetterPhoto) => mail::better_photo(
                        case,
                        &self.settings,
                        case.quality_issue.unwrap_or(Verdict::Unreadable),
                        &format!("{}/photo", self.status_url(case)),
                    ),
                    Some(_) => mail::decision(case, &self.settings, &self.complaint_url(case)),
                    None => None,
                };
                match m {
                    Some(m) => self.send_once(&m).await.map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
        }
    }

    async fn exclusion_values(&self, case: &Case) -> Result<Vec<ExclusionValue>, String> {
        let mut values = Vec::new();
        if case.kind == CaseKind::FaceOptOut {
            let b = self
                .ports
                .biometrics
                .get_biometrics(case.id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the biometrics of an approved case are missing")?;
            let f = b.findings;
            let emb = f.embedding.ok_or("no face embedding")?;
            values.push(ExclusionValue::Face(emb));
            values.push(ExclusionValue::Sha256(f.sha256));
            if let Some(pdq) = f.pdq {
                values.push(ExclusionValue::Pdq(pdq));
            }
        }
        for u in &case.source_urls {
            values.push(ExclusionValue::Url(u.normalized().clone()));
        }
        Ok(values)
    }

    /// The complaint form of a case (from its status link).
    pub fn complaint_url(&self, case: &Case) -> String {
        format!("{}/complaint", self.status_url(case))
    }

    /// Whether the requester may contest the case's decision now.
    pub fn complaint_open(&self, case: &Case) -> bool {
        matches!(case.state, CaseState::Approved | CaseState::Rejected)
            && case.complaint.is_none()
            && case.decision.as_ref().is_some_and(|d| {
                matches!(d.outcome, Outcome::Approved | Outcome::Rejected)
                    && self.ports.clock.now() < d.at + self.settings.complaint_window
            })
    }

    /// A complaint against the decision behind a status token: the case goes back to the queue
    /// marked as a complaint, to be decided by another reviewer.
    pub async fn complain(&self, token: &str, text: &str) -> Result<Case, DeskError> {
        let text = Reason::parse(text).map_err(|e| {
            let mut errs = FieldErrors::default();
            errs.take::<()>("complaint", Err(e));
            DeskError::Invalid(errs)
        })?;
        for _ in 0..3 {
            let case = self.status(token).await?.case;
            if !self.complaint_open(&case) {
                return Err(DeskError::WrongState(case.state));
            }
            let Some(d) = case.decision.clone() else {
                return Err(DeskError::WrongState(case.state));
            };
            let now = self.ports.clock.now();
            let mut next = case.clone();
            next.version += 1;
            next.updated_at = now;
            next.state = CaseState::AwaitingReview;
            next.due_at = now + self.settings.decision_due;
            next.complaint = Some(Complaint {
                at: now,
                text: Some(text.clone()),
                first_reviewer: d.reviewer,
                contested: d.outcome,
                resolved_at: None,
            });
            let audit = AuditEvent {
                case_id: case.id,
                at: now,
                actor: Actor::Requester,
                action: "complaint".into(),
                state: CaseState::AwaitingReview,
                detail: Some(format!("contested={}", d.outcome.as_str())),
            };
            match self.ports.cases.update_case(&next, &audit).await {
                Ok(()) => {
                    tracing::info!(case = %case.id, "complaint received");
                    return Ok(next);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Unavailable(
            "the case kept changing; try again".into(),
        ))
    }

    /// Erases the personal data of closed cases whose last change is older than the retention
    /// period: the case becomes `erased` and keeps only what the audit needs (state, dates,
    /// decision and its statement without the reviewer's note, hashes); its biometrics and photo
    /// are deleted. Exclusion entries of approved cases stay. Returns how many cases were erased.
    pub async fn sweep_retention(&self, now: DateTime<Utc>) -> Result<usize, DeskError> {
        let filter = CaseFilter {
            states: vec![
                CaseState::Approved,
                CaseState::Rejected,
                CaseState::Withdrawn,
            ],
            updated_before: Some(now - self.settings.retention),
            ..Default::default()
        };
        let mut after = None;
        let mut erased = 0;
        loop {
            let page = self
                .ports
                .cases
                .list_cases(&filter, 100, after.as_ref())
                .await?;
            for case in page.cases {
                let mut next = case.clone();
                next.version += 1;
                next.updated_at = now;
                next.state = CaseState::Erased;
                next.personal = None;
                next.source_urls.clear();
                next.quality_issue = None;
                if let Some(d) = next.decision.as_mut() {
                    d.note = None;
                }
                if let Some(c) = next.complaint.as_mut() {
                    c.text = None;
                }
                next.pending = vec![Effect::DeleteBiometrics, Effect::DeletePhoto];
                let audit = AuditEvent {
                    case_id: case.id,
                    at: now,
                    actor: Actor::System,
                    action: "erased".into(),
                    state: CaseState::Erased,
                    detail: Some("retention period ended".into()),
                };
                match self.ports.cases.update_case(&next, &audit).await {
                    Ok(()) => {
                        erased += 1;
                        self.dispatch(next).await;
                    }
                    Err(StoreError::Conflict) => {} // it changed: the next sweep looks again
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        if erased > 0 {
            tracing::info!(erased, "personal data erased after the retention period");
        }
        Ok(erased)
    }
}

/// What one round of [`Desk::housekeep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Cases whose pending dispatches or decision effects were retried.
    pub relayed: usize,
    /// Cases whose personal data was erased at the end of the retention period.
    pub erased: usize,
}

impl Desk {
    /// One round of the periodic work both modes run (a loop in the embedded mode, a scheduled
    /// function in AWS): finish interrupted dispatches and decision effects (at most `batch`
    /// cases), then erase personal data whose retention period ended. Both steps run even when
    /// the first fails; the first error is returned after the second step.
    pub async fn housekeep(&self, batch: usize) -> Result<Housekeeping, DeskError> {
        let relayed = self.relay(batch).await;
        let erased = self.sweep_retention(self.ports.clock.now()).await;
        match (relayed, erased) {
            (Ok(relayed), Ok(erased)) => Ok(Housekeeping { relayed, erased }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

/// A field error for the complaint form (used by the web layer for a missing text).
pub fn complaint_required() -> FieldErrors {
    let mut e = FieldErrors::default();
    e.push("complaint", FieldCode::Required);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_parse() {
        assert_eq!(
            DecisionInput::parse("approve", None, None, Some("  ")).unwrap(),
            DecisionInput::Approve { note: None }
        );
        assert!(matches!(
            DecisionInput::parse("reject", Some("nope"), None, None),
            Err(ReviewError::Invalid("reason"))
        ));
        assert!(matches!(
            DecisionInput::parse("reject", Some("other"), None, None),
            Err(ReviewError::Invalid("note"))
        ));
        assert!(DecisionInput::parse("reject", Some("not_illegal"), None, None).is_ok());
        assert!(matches!(
            DecisionInput::parse("better_photo", None, Some("x"), None),
            Err(ReviewError::Invalid("quality"))
        ));
        assert!(matches!(
            DecisionInput::parse("delete", None, None, None),
            Err(ReviewError::Invalid("decision"))
        ));
        assert!(parse_note("a\u{7}b").is_err());
        assert!(parse_note(&"x".repeat(NOTE_MAX + 1)).is_err());
        assert!(matches!(
            DecisionInput::parse("better_photo", None, Some("ok"), None),
            Err(ReviewError::Invalid("quality"))
        ));
        assert_eq!(
            DecisionInput::parse("better_photo", None, Some("too_blurred"), None).unwrap(),
            DecisionInput::BetterPhoto {
                code: Verdict::TooBlurred,
                note: None
            }
        );
    }
}
