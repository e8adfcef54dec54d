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

    /// Makes every job marked running ready again. Only for a process that knows no other runs
    /// jobs on this database (`optout serve` holds the data directory's lock): those jobs belong
    /// to a process that died, and are retried at once instead of when their lease ends. Their
    /// attempt stays counted, so a photo that kills the process every time is parked in the end.
    pub async fn requeue_orphans(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().timestamp_millis();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE jobs SET state = 'queued', available_at = ?1, updated_at = ?1 WHERE state = 'running'",
                    [now],
                )
                .map_err(unavailable)
            })
            .await
    }

    /// Extends the lease of a running job, if it is still the lease taken at attempt `attempts`
    /// (a job whose lease ended and was taken again belongs to its new runner).
    async fn renew(&self, id: &str, attempts: u32, lease: Duration) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let now = self.clock.now().timestamp_millis();
        let until = now + lease.as_millis() as i64;
        self.db
            .call(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE jobs SET available_at = ?3, updated_at = ?4 WHERE id = ?1 AND state = 'running' AND attempts = ?2",
                        params![id, attempts as i64, until, now],
                    )
                    .map_err(unavailable)?;
                Ok(n == 1)
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
    /// How long a job stays invisible without a sign of life from its runner: the worker renews
    /// it every third of this while the job runs, so a job of any length keeps it, and a job
    /// whose process died (a crash, a kill -9) is retried within this after the process is back.
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
            lease: Duration::from_secs(60),
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
        let work = async {
            match EmbedJob::from_json(&body) {
                Ok(job) => self.handler.handle(&job).await,
                Err(e) => Err(JobError::Permanent(e)),
            }
        };
        tokio::pin!(work);
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = tokio::time::sleep(every) => {
                    match self.queue.renew(&id, attempts, self.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = %id, "job lease lost; another run may have it"),
                        Err(e) => tracing::warn!(job = %id, error = %e, "job lease not renewed"),
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use optout_core::model::CaseId;
    use optout_core::ports::SystemClock;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Takes `run_for` per job and counts its runs.
    struct Slow {
        run_for: Duration,
        runs: AtomicU32,
    }

    #[async_trait]
    impl JobHandler for Slow {
        async fn handle(&self, _job: &EmbedJob) -> Result<(), JobError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.run_for).await;
            Ok(())
        }
    }

    fn queue() -> SqliteQueue {
        SqliteQueue::new(Db::in_memory().unwrap(), Arc::new(SystemClock))
    }

    fn job() -> EmbedJob {
        EmbedJob {
            case_id: CaseId::new(chrono::Utc::now()),
            generation: 1,
        }
    }

    #[tokio::test]
    async fn a_job_whose_runner_died_is_retried_once_its_lease_ends() {
        let q = queue();
        q.enqueue(&job()).await.unwrap();
        let lease = Duration::from_millis(300);
        // A runner takes it and dies (nothing renews or finishes it).
        assert!(q.lease(lease).await.unwrap().is_some());
        assert!(
            q.lease(lease).await.unwrap().is_none(),
            "invisible while leased"
        );
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        let (_, _, attempts) = q
            .lease(lease)
            .await
            .unwrap()
            .expect("retried after the lease");
        assert_eq!(attempts, 2);
        assert_eq!(
            WorkerConfig::default().lease,
            Duration::from_secs(60),
            "a crashed job is retried within a minute"
        );
    }

    #[tokio::test]
    async fn orphans_of_a_dead_process_are_ready_at_once() {
        let q = queue();
        q.enqueue(&job()).await.unwrap();
        q.enqueue(&job()).await.unwrap();
        assert!(q.lease(Duration::from_secs(60)).await.unwrap().is_some());
        assert_eq!(q.requeue_orphans().await.unwrap(), 1);
        let (_, _, a) = q.lease(Duration::from_secs(60)).await.unwrap().unwrap();
        let (_, _, b) = q.lease(Duration::from_secs(60)).await.unwrap().unwrap();
        let mut attempts = [a, b];
        attempts.sort();
        assert_eq!(attempts, [1, 2], "the crashed attempt stays counted");
    }

    #[tokio::test]
    async fn a_running_job_keeps_its_lease_however_long_it_takes() {
        let q = queue();
        q.enqueue(&job()).await.unwrap();
        let handler = Arc::new(Slow {
            run_for: Duration::from_millis(900),
            runs: AtomicU32::new(0),
        });
        let worker = Worker {
            queue: q.clone(),
            handler: handler.clone(),
            config: WorkerConfig {
                lease: Duration::from_millis(300),
                ..Default::default()
            },
        };
        let run = tokio::spawn(async move { worker.step().await.unwrap() });
        // Well past the lease, while the job still runs: nobody else gets it.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(q.lease(Duration::from_millis(300)).await.unwrap().is_none());
        assert!(matches!(run.await.unwrap(), Step::Done(_)));
        assert_eq!(handler.runs.load(Ordering::SeqCst), 1);
        let rows = q.jobs().await.unwrap();
        assert_eq!(rows[0].state, "done");
        assert_eq!(rows[0].attempts, 1);
    }
}
