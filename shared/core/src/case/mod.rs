//! The case as an aggregate. [`Case::apply`] is the only way a stored case changes: it checks the
//! state diagram ([`CaseState::can_become`]) and the command's own rules, bumps the version once,
//! writes the audit event and schedules what must follow (the outbox: emails, photo deletion,
//! exclusion changes) on the case itself, so that one conditional write records all of it.
//! [`Executor`] does that write, with the one retry policy, for every store.
//!
//! Nothing here reads a store or the clock: a command carries what it needs (the time comes as an
//! argument), so every transition, allowed or refused, is a plain function to test.

mod decision;
mod executor;
#[cfg(test)]
mod tests;

pub use decision::{DecisionInput, NOTE_MAX, parse_note};
pub use executor::{ExecError, Executed, Executor, MAX_ATTEMPTS};

use chrono::{DateTime, Duration, Utc};

use crate::lang::Lang;
use crate::model::{
    Actor, AuditEvent, Case, CaseId, CaseKind, CaseState, Complaint, Decision, Effect, LinkCheck,
    Outcome, Personal, PhotoRef, Reason, RejectReason, ReviewerName, SourceUrl, Statement,
};
use crate::verdict::Verdict;

/// The periods the rules of a case depend on (from [`crate::settings::Settings::policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The time within which a decision is due (from receipt, or from a complaint).
    pub decision_due: Duration,
    /// How long after a decision the requester may contest it.
    pub complaint_window: Duration,
    /// How long a closed case keeps its personal data after its last change.
    pub retention: Duration,
    /// How long a case waits for a usable photo before it lapses.
    pub lapse_after: Duration,
}

/// Something that happens to a case, by whom it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Worker: the embedding of photo `generation` begins.
    StartEmbedding { generation: u32 },
    /// Worker: a case with no photo (a notice) has nothing to embed and goes to review, with what
    /// fetching the images behind its links found (one check per link, in order).
    ReadyForReview { links: Vec<LinkCheck> },
    /// Worker: the face of photo `generation` was embedded (its biometrics are stored).
    Embedded { generation: u32 },
    /// Worker: photo `generation` cannot be used; `verdict` says why (a quality code).
    PhotoUnusable { generation: u32, verdict: Verdict },
    /// Requester: a new photo for a case that needs a better one (its generation is set here).
    ReplacePhoto { photo: PhotoRef },
    /// Requester: a face opt-out whose photo has no usable face goes on as an image opt-out of
    /// the same photo (excluded by its hashes).
    ContinueAsImage,
    /// Housekeeper: no usable photo came within the lapse period; the case ends undecided.
    Lapse,
    /// Requester: withdraws the request.
    Withdraw,
    /// Requester: contests the decision.
    Complain { text: Reason },
    /// Reviewer: decides a case awaiting review, as it was at `expected_version`.
    Decide {
        reviewer: ReviewerName,
        expected_version: u64,
        input: DecisionInput,
        /// The statement of reasons, in the case's language.
        statement: Statement,
        /// Whether the face embedding an approval of a face opt-out needs is stored.
        embedding_ready: bool,
    },
    /// Housekeeper: the retention period ended; the personal data goes.
    Erase,
    /// System: records what the outbox of version `version` has done (the state stays).
    RecordDispatch {
        version: u64,
        job_enqueued: bool,
        receipt_sent: bool,
        done: Vec<Effect>,
    },
}

impl Command {
    /// A short name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::StartEmbedding { .. } => "start_embedding",
            Command::ReadyForReview { .. } => "ready_for_review",
            Command::Embedded { .. } => "embedded",
            Command::PhotoUnusable { .. } => "photo_unusable",
            Command::ReplacePhoto { .. } => "replace_photo",
            Command::ContinueAsImage => "continue_as_image",
            Command::Lapse => "lapse",
            Command::Withdraw => "withdraw",
            Command::Complain { .. } => "complain",
            Command::Decide { .. } => "decide",
            Command::Erase => "erase",
            Command::RecordDispatch { .. } => "record_dispatch",
        }
    }
}

/// Why a command was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The state diagram, or the command's rule, does not allow it in this state.
    #[error("{command} is not allowed in state {state}")]
    WrongState {
        state: CaseState,
        command: &'static str,
    },
    /// The case was erased: nothing applies to it any more.
    #[error("the case was erased")]
    Gone,
    /// The command was about an earlier version (or photo) of the case, which has changed since.
    #[error("the case changed (now {0})")]
    Stale(CaseState),
    /// A complaint must be decided by someone other than the contested decision's reviewer.
    #[error("a complaint must be decided by another reviewer")]
    SameReviewer,
    /// The case lacks what the command needs.
    #[error("not ready: {0}")]
    NotReady(&'static str),
    /// A value of the command is not valid for this case (the field is named).
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// What a command did: the case after it (version bumped once, with its outbox), the audit event
/// to append with it, and the effects it scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: CaseState,
    pub case: Case,
    pub audit: AuditEvent,
    /// The effects this transition added to the case's outbox (`case.pending`).
    pub scheduled: Vec<Effect>,
}

/// A new request, its fields parsed and its photo verified.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub id: CaseId,
    pub kind: CaseKind,
    pub lang: Lang,
    pub personal: Personal,
    pub photo: Option<PhotoRef>,
    pub source_urls: Vec<SourceUrl>,
    /// Consent to biometric processing (kept for a face opt-out only).
    pub consent: bool,
    /// The good-faith statement (kept for a DSA notice only).
    pub good_faith: bool,
    /// Exclude the faces the image shows too (kept for an image opt-out only).
    pub exclude_faces: bool,
}

/// What one command changes, before the common steps (state check, version, audit, outbox).
struct Change {
    to: CaseState,
    actor: Actor,
    action: String,
    detail: Option<String>,
    effects: Vec<Effect>,
    /// Whether `updated_at` moves (bookkeeping of the outbox leaves it: the relay's grace period
    /// and the retention period count from the last real change).
    touches: bool,
}

impl Change {
    fn system(to: CaseState, action: &str) -> Self {
        Change {
            to,
            actor: Actor::System,
            action: action.to_owned(),
            detail: None,
            effects: Vec::new(),
            touches: true,
        }
    }
    fn by(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }
    fn detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
    fn then(mut self, effects: impl IntoIterator<Item = Effect>) -> Self {
        self.effects.extend(effects);
        self
    }
}

impl Case {
    /// A case received at `now`: the one way a case begins (in state `received`, version 1, its
    /// photo to be claimed). `from` of the transition is `received` too.
    pub fn receive(request: NewRequest, now: DateTime<Utc>, policy: &Policy) -> Transition {
        let NewRequest {
            id,
            kind,
            lang,
            personal,
            photo,
            source_urls,
            consent,
            good_faith,
            exclude_faces,
        } = request;
        let scheduled: Vec<Effect> = photo.iter().map(|_| Effect::ClaimPhoto).collect();
        let case = Case {
            id,
            kind,
            state: CaseState::Received,
            lang,
            version: 1,
            created_at: now,
            updated_at: now,
            due_at: now + policy.decision_due,
            personal: Some(personal),
            photo,
            source_urls,
            consent: consent && kind.needs_consent(),
            good_faith: good_faith && kind.needs_good_faith(),
            exclude_faces: exclude_faces && kind.offers_faces(),
            link_checks: Vec::new(),
            job_dispatched: false,
            receipt_sent: false,
            quality_issue: None,
            decision: None,
            complaint: None,
            pending: scheduled.clone(),
        };
        let audit = AuditEvent {
            case_id: id,
            at: now,
            actor: Actor::Requester,
            action: "submitted".into(),
            state: CaseState::Received,
            detail: None,
        };
        Transition {
            from: CaseState::Received,
            case,
            audit,
            scheduled,
        }
    }

    /// The generation of the current photo (0 without one).
    pub fn photo_generation(&self) -> u32 {
        self.photo.as_ref().map_or(0, |p| p.generation)
    }

    /// Whether the case's outbox holds work: its job not handed to the queue, its receipt not
    /// sent, or scheduled effects not done. The one rule every store indexes for the relay.
    pub fn has_outbox(&self) -> bool {
        (!self.job_dispatched && self.state == CaseState::Received)
            || !self.receipt_sent
            || !self.pending.is_empty()
    }

    /// Whether the requester may contest the decision at `now`.
    pub fn complaint_open(&self, now: DateTime<Utc>, policy: &Policy) -> bool {
        self.complaint_closed(now, policy).is_none()
    }

    /// Why the requester may not contest the decision at `now` (`None`: a complaint is possible).
    /// One complaint per case: the decision that answers it is not contested with us again.
    pub fn complaint_closed(
        &self,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Option<crate::model::ComplaintClosed> {
        use crate::model::ComplaintClosed;
        if !matches!(self.state, CaseState::Approved | CaseState::Rejected) {
            let ended = matches!(self.state, CaseState::Withdrawn | CaseState::Erased);
            return Some(match self.open_complaint() {
                Some(_) if !ended => ComplaintClosed::Pending,
                _ => ComplaintClosed::NoDecision,
            });
        }
        if self.complaint.is_some() {
            return Some(ComplaintClosed::Decided);
        }
        match &self.decision {
            Some(d) if matches!(d.outcome, Outcome::Approved | Outcome::Rejected) => {
                (now >= d.at + policy.complaint_window).then_some(ComplaintClosed::WindowEnded)
            }
            _ => Some(ComplaintClosed::NoDecision),
        }
    }

    /// Applies `command` at `now`: checks it, and returns the case after it with its audit event
    /// and outbox, or why it is refused. The only function that moves a case.
    pub fn apply(
        &self,
        command: Command,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Transition, DomainError> {
        let name = command.name();
        let refuse = || DomainError::WrongState {
            state: self.state,
            command: name,
        };
        // An erased case only finishes its outbox.
        if self.state == CaseState::Erased && !matches!(command, Command::RecordDispatch { .. }) {
            return Err(DomainError::Gone);
        }
        let mut next = self.clone();
        let change = match command {
            Command::StartEmbedding { generation } => {
                self.require(CaseState::Received, refuse)?;
                self.require_photo(generation)?;
                next.quality_issue = None;
                Change::system(CaseState::Embedding, "embedding_started")
            }
            Command::ReadyForReview { links } => {
                self.require(CaseState::Received, refuse)?;
                if self.photo.is_some() {
                    return Err(DomainError::NotReady("the photo is not embedded yet"));
                }
                if links.len() != self.source_urls.len() {
                    return Err(DomainError::Invalid("links"));
                }
                let hashed = links
                    .iter()
                    .filter(|l| matches!(l, LinkCheck::Hashed { .. }))
                    .count();
                next.link_checks = links;
                Change::system(CaseState::AwaitingReview, "ready_for_review")
                    .detail(format!("links_hashed={hashed}/{}", self.source_urls.len()))
            }
            Command::Embedded { generation } => {
                self.require(CaseState::Embedding, refuse)?;
                self.require_photo(generation)?;
                next.quality_issue = None;
                Change::system(CaseState::AwaitingReview, "embedded")
            }
            Command::PhotoUnusable {
                generation,
                verdict,
            } => {
                self.require(CaseState::Embedding, refuse)?;
                self.require_photo(generation)?;
                next.quality_issue = Some(verdict);
                Change::system(CaseState::NeedsBetterPhoto, "needs_better_photo")
                    .detail(verdict.as_str().to_owned())
                    .then([Effect::BetterPhotoMail])
            }
            Command::ReplacePhoto { mut photo } => {
                self.require(CaseState::NeedsBetterPhoto, refuse)?;
                // An email asking for a better photo that has not gone out yet is moot now.
                next.pending
                    .retain(|e| !matches!(e, Effect::BetterPhotoMail | Effect::DecisionMail));
                photo.generation = self.photo_generation() + 1;
                next.photo = Some(photo);
                next.quality_issue = None;
                next.job_dispatched = false;
                let old = self
                    .photo
                    .as_ref()
                    .map(|p| Effect::DeleteReplacedPhoto(p.key.clone()));
                Change::system(CaseState::Received, "photo_replaced")
                    .by(Actor::Requester)
                    .then([Effect::ClaimPhoto])
                    .then(old)
            }
            Command::ContinueAsImage => {
                self.require(CaseState::NeedsBetterPhoto, refuse)?;
                if !self.kind.embeds_face() {
                    return Err(refuse());
                }
                let Some(photo) = next.photo.as_mut() else {
                    return Err(DomainError::NotReady("the case has no photo"));
                };
                // The same photo, analysed again as an image: a new generation, so that the job
                // of the face analysis is not taken for this one.
                photo.generation += 1;
                next.kind = CaseKind::ImageOptOut;
                next.exclude_faces = false;
                next.quality_issue = None;
                next.job_dispatched = false;
                next.pending
                    .retain(|e| !matches!(e, Effect::BetterPhotoMail | Effect::DecisionMail));
                Change::system(CaseState::Received, "continued_as_image").by(Actor::Requester)
            }
            Command::Lapse => {
                self.require(CaseState::NeedsBetterPhoto, refuse)?;
                if self.updated_at > now - policy.lapse_after {
                    return Err(DomainError::NotReady("the lapse period has not ended"));
                }
                next.pending
                    .retain(|e| !matches!(e, Effect::BetterPhotoMail | Effect::DecisionMail));
                Change::system(CaseState::Lapsed, "lapsed")
                    .detail("no usable photo within the lapse period".into())
                    .then([
                        Effect::DeletePhoto,
                        Effect::DeleteBiometrics,
                        Effect::LapsedMail,
                    ])
            }
            Command::Withdraw => {
                if !self.state.can_withdraw() {
                    return Err(refuse());
                }
                // Entries of an approval (or of an earlier one, before a complaint) stop applying.
                Change::system(CaseState::Withdrawn, "withdrawn")
                    .by(Actor::Requester)
                    .then([
                        Effect::WithdrawExclusions,
                        Effect::DeletePhoto,
                        Effect::DeleteBiometrics,
                        Effect::WithdrawnMail,
                    ])
            }
            Command::Complain { text } => {
                if !self.complaint_open(now, policy) {
                    return Err(refuse());
                }
                let d = self.decision.as_ref().ok_or_else(refuse)?;
                next.due_at = now + policy.decision_due;
                next.complaint = Some(Complaint {
                    at: now,
                    text: Some(text),
                    first_reviewer: d.reviewer.clone(),
                    contested: d.outcome,
                    resolved_at: None,
                });
                Change::system(CaseState::AwaitingReview, "complaint")
                    .by(Actor::Requester)
                    .detail(format!("contested={}", d.outcome.as_str()))
            }
            Command::Decide {
                reviewer,
                expected_version,
                input,
                statement,
                embedding_ready,
            } => self.decide(
                &mut next,
                now,
                reviewer,
                expected_version,
                input,
                statement,
                embedding_ready,
            )?,
            Command::Erase => {
                if !self.state.can_become(CaseState::Erased) {
                    return Err(refuse());
                }
                if self.updated_at > now - policy.retention {
                    return Err(DomainError::NotReady("the retention period has not ended"));
                }
                next.personal = None;
                next.source_urls.clear();
                next.link_checks.clear();
                next.quality_issue = None;
                if let Some(d) = next.decision.as_mut() {
                    d.note = None;
                }
                if let Some(c) = next.complaint.as_mut() {
                    c.text = None;
                }
                Change::system(CaseState::Erased, "erased")
                    .detail("retention period ended".into())
                    .then([Effect::DeleteBiometrics, Effect::DeletePhoto])
            }
            Command::RecordDispatch {
                version,
                job_enqueued,
                receipt_sent,
                done,
            } => {
                if version != self.version {
                    return Err(DomainError::Stale(self.state));
                }
                let mut actions = Vec::new();
                if job_enqueued && !self.job_dispatched {
                    next.job_dispatched = true;
                    actions.push("job_enqueued");
                }
                if receipt_sent && !self.receipt_sent {
                    next.receipt_sent = true;
                    actions.push("receipt_sent");
                }
                for effect in &done {
                    if let Some(i) = next.pending.iter().position(|p| p == effect) {
                        next.pending.remove(i);
                        actions.push(effect.as_str());
                    }
                }
                if actions.is_empty() {
                    return Err(DomainError::NotReady("nothing was done"));
                }
                Change {
                    touches: false,
                    ..Change::system(self.state, &actions.join(","))
                }
            }
        };
        if change.to != self.state && !self.state.can_become(change.to) {
            return Err(refuse());
        }
        next.state = change.to;
        next.version = self.version + 1;
        if change.touches {
            next.updated_at = now;
        }
        for effect in &change.effects {
            next.schedule(effect.clone());
        }
        let audit = AuditEvent {
            case_id: self.id,
            at: now,
            actor: change.actor,
            action: change.action,
            state: change.to,
            detail: change.detail,
        };
        Ok(Transition {
            from: self.state,
            case: next,
            audit,
            scheduled: change.effects,
        })
    }

    fn require(
        &self,
        state: CaseState,
        refuse: impl FnOnce() -> DomainError,
    ) -> Result<(), DomainError> {
        if self.state == state {
            Ok(())
        } else {
            Err(refuse())
        }
    }

    /// A worker's command about photo `generation` applies only while it is the current photo.
    fn require_photo(&self, generation: u32) -> Result<(), DomainError> {
        if self.photo.is_none() {
            return Err(DomainError::NotReady("the case has no photo"));
        }
        if self.photo_generation() != generation {
            return Err(DomainError::Stale(self.state));
        }
        Ok(())
    }

    /// Adds an effect to the outbox once. Writing and withdrawing the exclusions cancel each
    /// other: the later one is what the case now asks for.
    fn schedule(&mut self, effect: Effect) {
        let opposite = match effect {
            Effect::WriteExclusions => Some(Effect::WithdrawExclusions),
            Effect::WithdrawExclusions => Some(Effect::WriteExclusions),
            _ => None,
        };
        if let Some(o) = opposite {
            self.pending.retain(|p| *p != o);
        }
        if !self.pending.contains(&effect) {
            self.pending.push(effect);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        next: &mut Case,
        now: DateTime<Utc>,
        reviewer: ReviewerName,
        expected_version: u64,
        input: DecisionInput,
        statement: Statement,
        embedding_ready: bool,
    ) -> Result<Change, DomainError> {
        if self.state != CaseState::AwaitingReview || self.version != expected_version {
            return Err(DomainError::Stale(self.state));
        }
        if self
            .open_complaint()
            .is_some_and(|c| c.first_reviewer == reviewer)
        {
            return Err(DomainError::SameReviewer);
        }
        let face = self.kind.embeds_face();
        let outcome = input.outcome();
        if outcome == Outcome::Approved && face && !embedding_ready {
            return Err(DomainError::NotReady("the face embedding is missing"));
        }
        if outcome == Outcome::BetterPhoto && !face {
            return Err(DomainError::Invalid("decision"));
        }
        let on_complaint = self.open_complaint().is_some();
        let (reject_reason, note, code) = match input {
            DecisionInput::Approve { note } => (None, note, None),
            DecisionInput::Reject { reason, note } => (Some(reason), note, None),
            DecisionInput::BetterPhoto { code, note } => (None, note, Some(code)),
        };
        next.decision = Some(Decision {
            outcome,
            reviewer: reviewer.clone(),
            at: now,
            reject_reason,
            note,
            statement,
            on_complaint,
        });
        next.quality_issue = code;
        if outcome != Outcome::BetterPhoto
            && let Some(c) = next.complaint.as_mut()
            && c.resolved_at.is_none()
        {
            c.resolved_at = Some(now);
        }
        let (to, effects) = match outcome {
            Outcome::Approved => (
                CaseState::Approved,
                vec![
                    Effect::WriteExclusions,
                    Effect::DeletePhoto,
                    Effect::DecisionMail,
                ],
            ),
            Outcome::Rejected => (
                CaseState::Rejected,
                vec![
                    Effect::WithdrawExclusions,
                    Effect::DeletePhoto,
                    Effect::DecisionMail,
                ],
            ),
            Outcome::BetterPhoto => (CaseState::NeedsBetterPhoto, vec![Effect::DecisionMail]),
        };
        let ground = match (outcome, self.kind) {
            (Outcome::Approved, kind) => kind.approval_ground(),
            (Outcome::Rejected, _) => "reject_reason",
            (Outcome::BetterPhoto, _) => "quality",
        };
        Ok(
            Change::system(to, &format!("decision:{}", outcome.as_str()))
                .by(Actor::Reviewer(reviewer.to_string()))
                .detail(format!(
                    "reason={} quality={} on_complaint={on_complaint} ground={ground}",
                    reject_reason.map_or("-", RejectReason::as_str),
                    code.map_or("-", Verdict::as_str),
                ))
                .then(effects),
        )
    }
}
