//! The embedding job: compute the embedding and hashes of a case's photo, store them apart from
//! the personal data and move the case on: to *awaiting review*, or to *needs a better photo*
//! (with an email that says why and links to a new upload). Idempotent under redelivery: a job
//! for a case that moved on, or for an older photo, does nothing.

use async_trait::async_trait;
use std::sync::Arc;

use crate::mail;
use crate::model::{Actor, AuditEvent, Case, CaseKind, CaseState, EmbedJob};
use crate::ports::*;
use crate::service::Desk;
use crate::verdict::Verdict;

/// The [`JobHandler`] of embedding jobs.
pub struct EmbedJobs {
    pub desk: Desk,
    pub analyzer: Arc<dyn PhotoAnalyzer>,
}

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

impl EmbedJobs {
    async fn transition(
        &self,
        case: &Case,
        to: CaseState,
        action: &str,
        issue: Option<Verdict>,
    ) -> Result<Case, JobError> {
        let now = self.desk.ports.clock.now();
        let mut next = case.clone();
        next.state = to;
        next.quality_issue = if to == CaseState::NeedsBetterPhoto {
            issue
        } else {
            None
        };
        next.version += 1;
        next.updated_at = now;
        let audit = AuditEvent {
            case_id: case.id,
            at: now,
            actor: Actor::System,
            action: action.into(),
            state: to,
            detail: issue.map(|v| v.as_str().to_owned()),
        };
        match self.desk.ports.cases.update_case(&next, &audit).await {
            Ok(()) => Ok(next),
            // Someone else moved the case on (a withdrawal, a redelivered job): try again from the top.
            Err(StoreError::Conflict) => {
                Err(JobError::Retry("the case changed while embedding".into()))
            }
            Err(e) => Err(retry(e)),
        }
    }

    /// The link that lets the requester upload a better photo for the same case.
    pub fn better_photo_url(&self, case: &Case) -> String {
        format!("{}/photo", self.desk.status_url(case))
    }
}

#[async_trait]
impl JobHandler for EmbedJobs {
    async fn handle(&self, job: &EmbedJob) -> Result<(), JobError> {
        let Some(case) = self
            .desk
            .ports
            .cases
            .get_case(job.case_id)
            .await
            .map_err(retry)?
        else {
            tracing::info!(case = %job.case_id, "embedding job for a case that no longer exists: nothing to do");
            return Ok(());
        };
        let current_generation = case.photo.as_ref().map_or(0, |p| p.generation);
        if !matches!(case.state, CaseState::Received | CaseState::Embedding)
            || current_generation != job.generation
        {
            tracing::info!(case = %case.id, state = %case.state, "stale embedding job: nothing to do");
            return Ok(());
        }
        if case.kind == CaseKind::DsaNotice || case.photo.is_none() {
            self.transition(&case, CaseState::AwaitingReview, "ready_for_review", None)
                .await?;
            return Ok(());
        }
        let case = if case.state == CaseState::Received {
            self.transition(&case, CaseState::Embedding, "embedding_started", None)
                .await?
        } else {
            case
        };
        let photo = case
            .photo
            .clone()
            .ok_or_else(|| JobError::Permanent("photo vanished".into()))?;
        if let Err(e) = self.desk.ports.photos.claim(&photo.key).await {
            return Err(retry(e));
        }
        let stored = match self
            .desk
            .ports
            .photos
            .read(&photo.key, self.desk.settings.photo.max_bytes)
            .await
        {
            Ok(p) => p,
            Err(PhotoReadError::Store(e)) => return Err(retry(e)),
            Err(e) => {
                return Err(JobError::Permanent(format!(
                    "photo of the case cannot be read: {e}"
                )));
            }
        };
        let analyzer = self.analyzer.clone();
        // The decode slot is shared with the submission checks of this process (see
        // `decode_gate`), so that the worker and a crowd of uploads never decode all at once.
        let slot = self
            .desk
            .settings
            .decodes
            .enter(analyzer.decode_cost(&stored.bytes))
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let analysis = tokio::task::spawn_blocking(move || analyzer.analyze(&stored.bytes)).await;
        drop(slot);
        let analysis =
            analysis.map_err(|e| JobError::Retry(format!("analysis task failed: {e}")))?;
        let findings = match analysis {
            Ok(f) => f,
            Err(AnalyzerError::Unreadable(why)) => PhotoFindings {
                verdict: Verdict::Unreadable,
                embedding: None,
                sha256: photo.sha256,
                pdq: None,
                pdq_quality: 0,
                details: serde_json::json!({ "error": why }),
            },
            Err(AnalyzerError::Failed(why)) => return Err(JobError::Retry(why)),
        };
        let now = self.desk.ports.clock.now();
        if findings.verdict.is_ok() && findings.embedding.is_some() {
            let b = Biometrics {
                case_id: case.id,
                generation: photo.generation,
                findings,
                created_at: now,
            };
            self.desk
                .ports
                .biometrics
                .put_biometrics(&b)
                .await
                .map_err(retry)?;
            self.transition(&case, CaseState::AwaitingReview, "embedded", None)
                .await?;
            tracing::info!(case = %case.id, "photo embedded; awaiting review");
            return Ok(());
        }
        let code = findings.verdict;
        let next = self
            .transition(
                &case,
                CaseState::NeedsBetterPhoto,
                "needs_better_photo",
                Some(code),
            )
            .await?;
        let url = self.better_photo_url(&next);
        if let Some(m) = mail::better_photo(&next, &self.desk.settings, code, &url)
            && let Err(e) = self.desk.send_once(&m).await
        {
            tracing::warn!(case = %case.id, error = %e, "better-photo email not sent");
        }
        tracing::info!(case = %case.id, verdict = %code, "photo unusable; asked for a better one");
        Ok(())
    }
}
