//! What follows a transition. A transition records its follow-up work on the case itself (the
//! job to enqueue, the receipt to send, the [`Effect`]s it scheduled) in the same write;
//! [`Desk::dispatch`] does that work, idempotently, and records what got done. What fails stays
//! on the case and [`Desk::relay`](crate::housekeeper) retries it.

use crate::case::Command;
use crate::desk::Desk;
use crate::mail;
use crate::model::*;
use crate::ports::*;
use crate::verdict::Verdict;

impl Desk {
    /// Hands the case's job to the queue, sends its receipt and does its scheduled effects, if
    /// not done yet, and records what was done. Failures are logged and left for the next relay.
    pub async fn dispatch(&self, case: Case) -> Case {
        let mut job_enqueued = false;
        if !case.job_dispatched && case.state == CaseState::Received {
            let job = EmbedJob {
                case_id: case.id,
                generation: case.photo_generation(),
            };
            match self.ports.queue.enqueue(&job).await {
                Ok(()) => job_enqueued = true,
                Err(e) => tracing::warn!(case = %case.id, error = %e, "job not enqueued yet"),
            }
        }
        let mut receipt_sent = false;
        if !case.receipt_sent {
            let (_, url, expires) = self.status_link(&case);
            match mail::receipt(&case, &self.settings, &url, expires) {
                Some(m) => match self.send_once(&m).await {
                    Ok(()) => receipt_sent = true,
                    Err(e) => tracing::warn!(case = %case.id, error = %e, "receipt not sent yet"),
                },
                // Nobody to send it to (the personal data is gone): nothing left to do.
                None => receipt_sent = true,
            }
        }
        let mut done = Vec::new();
        for effect in &case.pending {
            match self.effect(&case, effect).await {
                Ok(()) => done.push(effect.clone()),
                Err(e) => {
                    tracing::warn!(case = %case.id, effect = effect.as_str(), error = %e, "effect not done yet");
                }
            }
        }
        if !job_enqueued && !receipt_sent && done.is_empty() {
            return case;
        }
        let record = Command::RecordDispatch {
            version: case.version,
            job_enqueued,
            receipt_sent,
            done,
        };
        match self
            .cases()
            .run_from(case.clone(), |_| Ok(Some(record.clone())))
            .await
        {
            Ok(e) => e.case,
            Err(e) => {
                // Someone else moved the case on (the worker, a withdrawal): what was done is
                // done again, harmlessly, by the relay.
                tracing::info!(case = %case.id, error = %e, "dispatch not recorded");
                case
            }
        }
    }

    async fn effect(&self, case: &Case, effect: &Effect) -> Result<(), String> {
        let now = self.now();
        let photos = &self.ports.photos;
        let store = |e: StoreError| e.to_string();
        match effect {
            Effect::WriteExclusions => {
                let values = self.exclusion_values(case).await?;
                self.ports
                    .exclusions
                    .add_entries(NewEntries::new(case.id, &values, now))
                    .await
                    .map_err(store)?;
                // A withdrawal (or a new decision) may have come in meanwhile: it wins.
                let current = self.ports.cases.get_case(case.id).await.map_err(store)?;
                if current.is_none_or(|c| c.state != CaseState::Approved) {
                    self.ports
                        .exclusions
                        .withdraw_case(case.id, now)
                        .await
                        .map_err(store)?;
                }
                Ok(())
            }
            Effect::WithdrawExclusions => self
                .ports
                .exclusions
                .withdraw_case(case.id, now)
                .await
                .map(|_| ())
                .map_err(store),
            Effect::DeletePhoto => match &case.photo {
                Some(p) => photos.delete(&p.key).await.map_err(store),
                None => Ok(()),
            },
            Effect::DeleteReplacedPhoto(key) => photos.delete(key).await.map_err(store),
            Effect::ClaimPhoto => match &case.photo {
                Some(p) => photos.claim(&p.key).await.map_err(store),
                None => Ok(()),
            },
            Effect::DeleteBiometrics => self
                .ports
                .biometrics
                .delete_biometrics(case.id)
                .await
                .map_err(store),
            Effect::DecisionMail => {
                let m = match case.decision.as_ref().map(|d| d.outcome) {
                    Some(Outcome::BetterPhoto) => self.better_photo_mail(case),
                    Some(_) => mail::decision(case, &self.settings, &self.complaint_url(case)),
                    None => None,
                };
                self.send_if_any(m).await
            }
            Effect::BetterPhotoMail => self.send_if_any(self.better_photo_mail(case)).await,
            Effect::LapsedMail => {
                self.send_if_any(mail::lapsed(case, &self.settings, case.updated_at))
                    .await
            }
            Effect::WithdrawnMail => {
                // The withdrawal is the case's last real change: its time is the case's.
                self.send_if_any(mail::withdrawn(case, &self.settings, case.updated_at))
                    .await
            }
        }
    }

    fn better_photo_mail(&self, case: &Case) -> Option<Mail> {
        mail::better_photo(
            case,
            &self.settings,
            case.quality_issue.unwrap_or(Verdict::Unreadable),
            &self.better_photo_url(case),
        )
    }

    /// Sends `m` once; no message (no personal data left) is nothing to do.
    async fn send_if_any(&self, m: Option<Mail>) -> Result<(), String> {
        match m {
            Some(m) => self.send_once(&m).await.map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// What an approval of `case` excludes: a face opt-out, the face and the photo's hashes; an
    /// image opt-out, the photo's hashes (and its faces when asked); a notice, its links and
    /// the hashes of the images fetched from them.
    async fn exclusion_values(&self, case: &Case) -> Result<Vec<ExclusionValue>, String> {
        let mut values = Vec::new();
        if case.kind.takes_photo() {
            let b = self
                .ports
                .biometrics
                .get_biometrics(case.id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the biometrics of an approved case are missing")?;
            let f = b.findings;
            if case.kind.embeds_face() {
                let emb = f.embedding.ok_or("no face embedding")?;
                values.push(ExclusionValue::Face(emb));
            }
            if case.exclude_faces {
                values.extend(f.face_embeddings.into_iter().map(ExclusionValue::Face));
            }
            values.push(ExclusionValue::Sha256(f.sha256));
            if let Some(pdq) = f.pdq {
                values.push(ExclusionValue::Pdq(pdq));
            }
        }
        for u in &case.source_urls {
            values.push(ExclusionValue::Url(u.normalized().clone()));
        }
        for check in &case.link_checks {
            if let LinkCheck::Hashed { sha256, pdq, .. } = check {
                values.push(ExclusionValue::Sha256(*sha256));
                if let Some(pdq) = pdq {
                    values.push(ExclusionValue::Pdq(*pdq));
                }
            }
        }
        Ok(values)
    }
}
