//! The reviewer's use cases: the queue, a case as a reviewer sees it (with the most similar
//! exclusions of other cases), its photo, and decisions with their statement of reasons.

use crate::case::{Command, DecisionInput, DomainError, ExecError};
use crate::desk::Desk;
use crate::i18n::{Lang, fill, kind_texts, quality_message, reject_reason_text, texts};
use crate::mail::human_date;
use crate::model::*;
use crate::ports::*;
use optout_matcher::Similarity;

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

impl From<DomainError> for ReviewError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::WrongState { state, .. } | DomainError::Stale(state) => {
                ReviewError::AlreadyDecided(state)
            }
            DomainError::Gone => ReviewError::AlreadyDecided(CaseState::Erased),
            DomainError::SameReviewer => ReviewError::SameReviewer,
            DomainError::NotReady(why) => ReviewError::NotReady(why),
            DomainError::Invalid(field) => ReviewError::Invalid(field),
        }
    }
}

impl From<ExecError> for ReviewError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::NotFound => ReviewError::NotFound,
            ExecError::Refused(e) => e.into(),
            ExecError::Busy => ReviewError::Unavailable(e.to_string()),
            ExecError::Store(e) => e.into(),
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
    async fn case(&self, id: CaseId) -> Result<Case, ReviewError> {
        self.ports
            .cases
            .get_case(id)
            .await?
            .ok_or(ReviewError::NotFound)
    }

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
            .list_cases(filter, Paging::new(limit.clamp(1, 200), after.copied()))
            .await?)
    }

    /// A case with its biometrics, audit trail, entries and the most similar active exclusions of
    /// other cases (brute force over the active entries).
    pub async fn review_case(&self, id: CaseId) -> Result<CaseReview, ReviewError> {
        let case = self.case(id).await?;
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

    /// The statement of reasons of the decision `input` on `case`, in `lang`; `on_complaint`:
    /// the decision answers a complaint (it is not contested with us again).
    fn statement(
        &self,
        case: &Case,
        input: &DecisionInput,
        lang: Lang,
        on_complaint: bool,
    ) -> Statement {
        let t = texts(lang);
        let date = human_date(lang, case.created_at);
        let count = case.source_urls.len().to_string();
        let k = kind_texts(lang, case.kind);
        let facts = fill(k.facts, &[("date", &date), ("count", &count)]);
        let automated = k.automated.to_owned();
        let (action, ground) = match input {
            DecisionInput::Approve { .. } => (
                fill(k.action_approved, &[("count", &count)]),
                k.ground_approved.to_owned(),
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
            // A decision on a complaint is not contested with us again.
            redress: if on_complaint {
                t.redress_after_complaint
            } else {
                t.redress
            }
            .to_owned(),
        }
    }

    /// The case a reviewer takes up after `id`: the first of the queue (awaiting review, earliest
    /// due first) other than `id`.
    pub async fn next_in_queue(&self, id: CaseId) -> Result<Option<CaseId>, ReviewError> {
        let filter = CaseFilter {
            states: vec![CaseState::AwaitingReview],
            ..Default::default()
        };
        let page = self
            .ports
            .cases
            .list_cases(&filter, Paging::new(2, None))
            .await?;
        Ok(page.cases.into_iter().map(|c| c.id).find(|c| *c != id))
    }

    /// The statement of reasons of the case's decision in the reviewer's language (English), for a
    /// case decided in another language; `None` otherwise. What the requester was sent is the
    /// stored statement; this says the same for a reviewer who does not read it.
    pub fn statement_for_reviewer(&self, case: &Case) -> Option<Statement> {
        let d = case.decision.as_ref()?;
        if case.lang == Lang::En {
            return None;
        }
        let note = d.note.clone();
        let input = match d.outcome {
            Outcome::Approved => DecisionInput::Approve { note },
            Outcome::Rejected => DecisionInput::Reject {
                reason: d.reject_reason?,
                note,
            },
            Outcome::BetterPhoto => DecisionInput::BetterPhoto {
                code: case.quality_issue?,
                note,
            },
        };
        Some(self.statement(case, &input, Lang::En, d.on_complaint))
    }

    /// Decides a case awaiting review. `expected_version` is the version the reviewer saw: if the
    /// case changed since (someone else decided), nothing is written and the answer is
    /// [`ReviewError::AlreadyDecided`]. Of two concurrent decisions exactly one wins (conditional
    /// write). The decision's effects (exclusion entries, photo deletion, decision email) follow
    /// from its outbox and are retried by the relay when interrupted.
    pub async fn decide(
        &self,
        id: CaseId,
        reviewer: &ReviewerName,
        expected_version: u64,
        input: DecisionInput,
    ) -> Result<Case, ReviewError> {
        let case = self.case(id).await?;
        let embedding_ready = match input {
            DecisionInput::Approve { .. } if case.kind.embeds_face() => self
                .ports
                .biometrics
                .get_biometrics(id)
                .await?
                .is_some_and(|b| b.findings.embedding.is_some()),
            _ => true,
        };
        let on_complaint = case.open_complaint().is_some();
        let statement = self.statement(&case, &input, case.lang, on_complaint);
        let done = self
            .cases()
            .run_from(case, |_| {
                Ok(Some(Command::Decide {
                    reviewer: reviewer.clone(),
                    expected_version,
                    input: input.clone(),
                    statement: statement.clone(),
                    embedding_ready,
                }))
            })
            .await?;
        tracing::info!(case = %id, outcome = input.outcome().as_str(), "case decided");
        Ok(self.dispatch(done.case).await)
    }
}
