//! The durable job queue of the embedded mode (a table of the database) and the in-process worker
//! that drains it: leases with a visibility timeout, bounded attempts with backoff, and a parked
//! `failed` state with the reason (the embedded mode's dead-letter queue).

use async_trait::async_trait;
use optout_core::model::EmbedJob;
use optout_core::ports::{Clock, JobError, JobHandler, JobQueue, StoreError};
use rusqlite::{OptionalExtension, Transaction, params};
use std::sync::Arc;
use std::time::Duration;

use crate::db::{Db, unavailable};

/// Inserts a job unless one with the same id exists (enqueuing is idempotent).
pub(crate) fn insert_job(
    tx: &Transaction<'_>,
    job: &EmbedJob,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO jobs (id, body, state, attempts, available_at, updated_at) VALUES (?1, ?2, 'queued', 0, ?3, ?3)",
        params![job.id(), job.to_json(), now_ms],
    )
    .map_err(unavailable)?;
    Ok(())
}

/// One row of the jobs table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub body: String,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The embedded [`JobQueue`].
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl SqliteQueue {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        SqliteQueue { db, clock }
    }

    /// Every job, oldest first (operators and tests).
    pub async fn jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        self.db
            .call(|conn| {
                let mut st = conn
                    .prepare("SELECT id, body, state, attempts, last_error FROM jobs ORDER BY updated_at, id")
                    .map_err(unavailable)?;
                let rows = st
                    .query_map([], |r| {
                        Ok(JobRow {
                            id: r.get(0)?,
                            body: r.get(1)?,
                            state: r.get(2)?,
                            attempts: r.get::<_, i64>(3)? as u32,
                            last_error: r.get(4)?,
                        })
                    })
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .await
    }

    /// Takes the next ready job: it becomes invisible for `lease` and its attempt count grows.
    async fn lease(&self, lease: Duration) -> Result<Option<(String, String, u32)>, StoreError> {
        let now = self.clock.now().timestamp_millis();
        let until = now + lease.as_millis() as i64;
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let next: Option<(String, String, i64)> = tx
                    .query_row(
                        "SELECT id, body, attempts FROM jobs WHERE state IN ('queued', 'running') AND available_at <= ?1
                         ORDER BY available_at LIMIT 1",
                        [now],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let Some((id, body, attempts)) = next else { return Ok(None) };
                tx.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, available_at = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, until, now],
                )
                .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(Some((id, body, attempts as u32 + 1)))
            })
            .await
    }

    async fn finish(
        &self,
        id: &str,
        state: &str,
        error: Option<String>,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        let state = state.to_owned();
        let now = self.clock.now().timestamp_millis();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE jobs SET state = ?2, last_error = ?3, available_at = COALESCE(?4, available_at), updated_at = ?5 WHERE id = ?1",
                    params![id, state, error, retry_at_ms, now],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn enqueue(&self, job: &EmbedJob) -> Result<(), StoreError> {
        let job = job.clone();
        let now = self.clock.now().timestamp_millis();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                insert_job(&tx, &job, now)?;
                tx.commit().map_err(unavailable)
            })
            .await
    }
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a job stays invisible while it runs (a crashed run is retried after it).
    pub lease: Duration,
    /// After this many attempts a failing job is parked as `failed`.
    pub max_attempts: u32,
    /// Backoff of the first retry; doubles with every attempt.
    pub backoff: Duration,
    /// How long to sleep when the queue is empty.
    pub idle: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(300),
            max_attempts: 5,
            backoff: Duration::from_secs(5),
            idle: Duration::from_millis(500),
        }
    }
}

/// Drains the queue with a handler.
pub struct Worker {
    pub queue: SqliteQueue,
    pub handler: Arc<dyn JobHandler>,
    pub config: WorkerConfig,
}

/// What one step of the worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Idle,
    Done(String),
    Retry(String),
    Failed(String),
}

impl Worker {
    /// Runs at most one job.
    pub async fn step(&self) -> Result<Step, StoreError> {
        let Some((id, body, attempts)) = self.queue.lease(self.config.lease).await? else {
            return Ok(Step::Idle);
        };
        let result = match EmbedJob::from_json(&body) {
            Ok(job) => self.handler.handle(&job).await,
            Err(e) => Err(JobError::Permanent(e)),
        };
        match result {
            Ok(()) => {
                self.queue.finish(&id, "done", None, None).await?;
                Ok(Step::Done(id))
            }
            Err(JobError::Retry(why)) if attempts < self.config.max_attempts => {
                let delay =
                    self.config.backoff.as_millis() as i64 * (1i64 << (attempts - 1).min(10));
                let at = self.queue.clock.now().timestamp_millis() + delay;
                tracing::warn!(job = %id, attempts, reason = %why, "job failed, will retry");
                self.queue
                    .finish(&id, "queued", Some(why), Some(at))
                    .await?;
                Ok(Step::Retry(id))
            }
            Err(e) => {
                tracing::error!(job = %id, attempts, reason = %e, "job failed for good");
                self.queue
                    .finish(&id, "failed", Some(e.to_string()), None)
                    .await?;
                Ok(Step::Failed(id))
            }
        }
    }

    /// Runs until `shutdown` fires.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.step().await {
                Ok(Step::Idle) => self.config.idle,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(error = %e, "job queue unavailable");
                    self.config.idle * 4
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}
