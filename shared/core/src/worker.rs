//! The job worker's use case: compute the embedding and hashes of a case's photo (for an image
//! opt-out, its hashes and, when asked, the embeddings of the faces it shows), store them apart
//! from the personal data and move the case on: to *awaiting review*, or to *needs a better
//! photo* (its outbox then asks the requester for another). A notice has no photo: the images
//! behind its links are fetched and hashed instead, and what each fetch found goes to review with
//! it. Idempotent under redelivery: a job for a case that moved on, or for an older photo, does
//! nothing.

use async_trait::async_trait;
use std::sync::Arc;

use crate::case::{Command, ExecError};
use crate::desk::Desk;
use crate::model::{Case, CaseKind, CaseState, EmbedJob, LinkCheck};
use crate::ports::*;
use crate::verdict::Verdict;

/// The [`JobHandler`] of embedding jobs.
pub struct EmbedJobs {
    pub desk: Desk,
    pub analyzer: Arc<dyn PhotoAnalyzer>,
    /// Fetches the images behind a notice's links.
    pub fetcher: Arc<dyn LinkFetcher>,
}

/// How many links of one notice are fetched at once.
const LINK_FETCHES_AT_ONCE: usize = 4;

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

/// Whether `job` is still the work `case` waits for.
fn current(case: &Case, job: &EmbedJob) -> bool {
    matches!(case.state, CaseState::Received | CaseState::Embedding)
        && case.photo_generation() == job.generation
}

impl EmbedJobs {
    /// Moves the case on with `command` if `job` is still current and the case is still in
    /// `from`. Returns the case as it now is, and whether this call moved it.
    async fn step(
        &self,
        case: Case,
        job: &EmbedJob,
        from: CaseState,
        command: Command,
    ) -> Result<(Case, bool), JobError> {
        let done = self
            .desk
            .cases()
            .run_from(case, |c| {
                Ok((current(c, job) && c.state == from).then(|| command.clone()))
            })
            .await
            .map_err(|e| match e {
                ExecError::Store(e) => retry(e),
                ExecError::Busy => JobError::Retry("the case kept changing".into()),
                e => JobError::Permanent(e.to_string()),
            })?;
        Ok((done.case, done.transition.is_some()))
    }

    /// Runs the analyzer on `bytes` off the executor, within the process's decode slots.
    async fn analyze(
        &self,
        bytes: Vec<u8>,
    ) -> Result<Result<PhotoFindings, AnalyzerError>, JobError> {
        let analyzer = self.analyzer.clone();
        // The decode slot is shared with the submission checks of this process (see
        // `decode_gate`), so that the worker and a crowd of uploads never decode all at once.
        let slot = self
            .desk
            .settings
            .decodes
            .enter(analyzer.decode_cost(&bytes))
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let analysis = tokio::task::spawn_blocking(move || analyzer.analyze(&bytes)).await;
        drop(slot);
        analysis.map_err(|e| JobError::Retry(format!("analysis task failed: {e}")))
    }

    /// Fetches and hashes the image behind each link of `case`, in order. A link that cannot be
    /// fetched or read is recorded as such (the link stays excluded by its address): only an
    /// analyzer failure (infrastructure) fails the job.
    async fn check_links(&self, case: &Case) -> Result<Vec<LinkCheck>, JobError> {
        use futures_util::{StreamExt, TryStreamExt, stream};
        let fetches: Vec<_> = case
            .source_urls
            .iter()
            .map(|url| Box::pin(self.check_link(case, url.normalized())))
            .collect();
        stream::iter(fetches)
            .buffered(LINK_FETCHES_AT_ONCE)
            .try_collect()
            .await
    }

    async fn check_link(
        &self,
        case: &Case,
        url: &optout_matcher::NormalizedUrl,
    ) -> Result<LinkCheck, JobError> {
        let fetched = match self.fetcher.fetch(url).await {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(case = %case.id, error = %e, "a link's image could not be fetched");
                return Ok(LinkCheck::Failed { why: e.to_string() });
            }
        };
        let bytes = fetched.bytes.len() as u64;
        match self.analyze(fetched.bytes).await? {
            Ok(f) => Ok(LinkCheck::Hashed {
                sha256: f.sha256,
                pdq: f.pdq,
                bytes,
            }),
            Err(AnalyzerError::Unreadable(why)) => Ok(LinkCheck::Failed {
                why: format!("not a readable image: {why}"),
            }),
            Err(AnalyzerError::Failed(why)) => Err(JobError::Retry(why)),
        }
    }
}

/// Whether the analysis of a case's photo lets the case go to review: a face opt-out needs one
/// usable face; an image opt-out only a readable image.
fn usable(kind: CaseKind, f: &PhotoFindings) -> bool {
    if kind.embeds_face() {
        f.verdict.is_ok() && f.embedding.is_some()
    } else {
        f.verdict != Verdict::Unreadable
    }
}

/// Keeps of `f` only the face data the case asks to exclude: a face opt-out, the chosen face; an
/// image opt-out, every face when asked, none otherwise.
fn keep_asked_faces(case: &Case, mut f: PhotoFindings) -> PhotoFindings {
    if !case.kind.embeds_face() {
        f.embedding = None;
    }
    if !case.exclude_faces {
        f.face_embeddings.clear();
    }
    f
}

#[async_trait]
impl JobHandler for EmbedJobs {
    async fn handle(&self, job: &EmbedJob) -> Result<(), JobError> {
        let ports = &self.desk.ports;
        let Some(case) = ports.cases.get_case(job.case_id).await.map_err(retry)? else {
            tracing::info!(case = %job.case_id, "embedding job for a case that no longer exists: nothing to do");
            return Ok(());
        };
        if !current(&case, job) {
            tracing::info!(case = %case.id, state = %case.state, "stale embedding job: nothing to do");
            return Ok(());
        }
        let Some(photo) = case.photo.clone() else {
            // A notice: the images behind its links are fetched and hashed.
            let links = self.check_links(&case).await?;
            let ready = Command::ReadyForReview { links };
            self.step(case, job, CaseState::Received, ready).await?;
            return Ok(());
        };
        let generation = photo.generation;
        let start = Command::StartEmbedding { generation };
        let (case, _) = self.step(case, job, CaseState::Received, start).await?;
        if !current(&case, job) {
            return Ok(()); // withdrawn, or a newer photo, meanwhile
        }
        if let Err(e) = ports.photos.claim(&photo.key).await {
            return Err(retry(e));
        }
        let stored = match ports
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
        let findings = match self.analyze(stored.bytes).await? {
            Ok(f) => f,
            Err(AnalyzerError::Unreadable(why)) => PhotoFindings {
                verdict: Verdict::Unreadable,
                embedding: None,
                face_embeddings: Vec::new(),
                sha256: photo.sha256,
                pdq: None,
                pdq_quality: 0,
                details: serde_json::json!({ "error": why }),
            },
            Err(AnalyzerError::Failed(why)) => return Err(JobError::Retry(why)),
        };
        if usable(case.kind, &findings) {
            let b = Biometrics {
                case_id: case.id,
                generation,
                findings: keep_asked_faces(&case, findings),
                created_at: self.desk.now(),
            };
            ports.biometrics.put_biometrics(&b).await.map_err(retry)?;
            let embedded = Command::Embedded { generation };
            let (now, moved) = self.step(case, job, CaseState::Embedding, embedded).await?;
            if moved {
                tracing::info!(case = %job.case_id, kind = now.kind.as_str(), "photo analysed; awaiting review");
            } else if matches!(now.state, CaseState::Withdrawn | CaseState::Erased) {
                // Withdrawn while the photo was analysed: its clean-up ran before these
                // biometrics were stored, so they go now.
                ports
                    .biometrics
                    .delete_biometrics(now.id)
                    .await
                    .map_err(retry)?;
            }
            return Ok(());
        }
        let verdict = findings.verdict;
        let unusable = Command::PhotoUnusable {
            generation,
            verdict,
        };
        let (next, moved) = self.step(case, job, CaseState::Embedding, unusable).await?;
        if moved {
            tracing::info!(case = %next.id, verdict = %verdict, "photo unusable; asking for a better one");
            self.desk.dispatch(next).await;
        }
        Ok(())
    }
}
