//! The embedded runtime: the HTTP app, the job worker, the relay and the sweeper on the embedded
//! store, all in one process, everything under one data directory.

use anyhow::Context;
use optout_core::EmbedJobs;
use optout_core::exclusions::{ExclusionService, IndexerPorts};
use optout_core::ports::{Clock, JobHandler, LinkFetcher, PhotoAnalyzer, SystemClock};
use optout_core::{Desk, Ports};
use optout_embedded::{
    Db, FilePhotoStore, OutboxMailer, SqliteBiometrics, SqliteCaseStore, SqliteExclusions,
    SqliteIndexerKeys, SqliteMailLedger, SqliteQueue, Worker, WorkerConfig,
};
use optout_web::{AppState, IndexerApi};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{EmbeddedConfig, ServeArgs};

/// Everything the embedded mode runs on.
#[derive(Clone)]
pub struct System {
    pub desk: Desk,
    pub queue: SqliteQueue,
    pub photos: FilePhotoStore,
    pub db: Db,
    pub data_dir: PathBuf,
    /// The indexer API (its in-memory exclusion index and rate limits live as long as the system).
    pub indexer: Arc<IndexerApi>,
    pub indexer_keys: SqliteIndexerKeys,
    /// Fetches the images behind the links of DSA notices (public addresses only).
    pub fetcher: Arc<dyn LinkFetcher>,
}

impl System {
    /// Opens (creating if needed) the data directory and wires the ports.
    pub fn open(config: &EmbeddedConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let dir = &config.data;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let settings = config.desk.settings.clone();
        let public_url = settings.public_url.as_str();
        let keys = config.keys()?;
        let db = Db::open(&dir.join("optout.sqlite3")).context("opening the database")?;
        let photos = FilePhotoStore::new(
            &dir.join("photos"),
            db.clone(),
            keys.clone(),
            clock.clone(),
            public_url,
        )
        .context("opening the photo directory")?;
        let mailer = OutboxMailer::new(&dir.join("outbox"), &config.desk.mail_from, clock.clone())
            .context("outbox")?;
        let queue = SqliteQueue::new(db.clone(), clock.clone());
        let exclusions = Arc::new(SqliteExclusions::new(db.clone()));
        let indexer_keys = SqliteIndexerKeys::new(db.clone(), clock.clone());
        let indexer = Arc::new(IndexerApi::new(IndexerPorts {
            exclusions: Arc::new(ExclusionService::new(
                exclusions.clone(),
                config.desk.matching,
            )),
            keys: Arc::new(indexer_keys.clone()),
            snapshots: None,
        }));
        let fetcher = optout_fetch::Fetcher::from_env().context("the link fetcher")?;
        let ports = Ports {
            cases: Arc::new(SqliteCaseStore::new(db.clone())),
            photos: Arc::new(photos.clone()),
            queue: Arc::new(queue.clone()),
            mailer: Arc::new(mailer),
            mail_ledger: Arc::new(SqliteMailLedger::new(db.clone())),
            biometrics: Arc::new(SqliteBiometrics::new(db.clone())),
            exclusions,
            matcher_snapshots: None,
            clock,
        };
        Ok(System {
            desk: Desk::new(ports, keys, settings),
            queue,
            photos,
            db,
            data_dir: dir.clone(),
            indexer,
            indexer_keys,
            fetcher: Arc::new(fetcher),
        })
    }

    pub fn app(&self) -> axum::Router {
        optout_web::router(AppState {
            desk: self.desk.clone(),
            uploads: Some(Arc::new(self.photos.clone())),
            indexer: self.indexer.clone(),
            sessions: Arc::new(optout_embedded::SqliteReviewerSessions::new(
                self.db.clone(),
            )),
        })
    }

    /// The embedding job handler on this system's stores, with `analyzer` as the face pipeline.
    pub fn embed_jobs(&self, analyzer: Arc<dyn PhotoAnalyzer>) -> Arc<dyn JobHandler> {
        Arc::new(EmbedJobs {
            desk: self.desk.clone(),
            analyzer,
            fetcher: self.fetcher.clone(),
        })
    }

    pub fn biometrics(&self) -> SqliteBiometrics {
        SqliteBiometrics::new(self.db.clone())
    }

    pub fn outbox(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

/// Runs the app on `listener` with the background tasks until `shutdown` turns true.
pub async fn run(
    system: System,
    listener: TcpListener,
    analyzer: Option<Arc<dyn PhotoAnalyzer>>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // The submission checks decode photos too, with or without a face pipeline.
    return_memory_promptly();
    let mut tasks = Vec::new();
    if let Some(analyzer) = analyzer {
        let handler = system.embed_jobs(analyzer);
        let worker = Worker {
            queue: system.queue.clone(),
            handler,
            config: WorkerConfig::default(),
        };
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    } else {
        tracing::warn!("no face pipeline: embedding jobs stay queued");
    }
    tasks.push(tokio::spawn(housekeeping(system.clone(), shutdown.clone())));
    let app = system.app();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
        .context("HTTP server")?;
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Every half minute: finish interrupted dispatches and decision effects, delete abandoned
/// uploads and erase personal data whose retention period ended.
async fn housekeeping(system: System, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = system.desk.housekeep(100).await {
            tracing::error!(error = %e, "housekeeping failed");
        }
        if let Err(e) = system
            .photos
            .sweep_unclaimed(chrono::Duration::days(1))
            .await
        {
            tracing::error!(error = %e, "sweep of unclaimed uploads failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Takes the data directory's lock (`optout.lock`), held until the returned file is dropped: one
/// server per data directory, so its job worker and relay are the only ones on its database.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", path_str(dir)))?;
    let path = dir.join("optout.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path_str(&path)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another optout serve is using the data directory {}; stop it first or choose another --data",
            path_str(dir)
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path_str(&path)))
        }
    }
}

/// `optout serve`: checks the whole configuration before it binds, loads the face models
/// (`analyzer`, given the sources to find them) and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    args: ServeArgs,
    analyzer: impl FnOnce(&crate::config::Sources) -> anyhow::Result<Option<Arc<dyn PhotoAnalyzer>>>,
) -> anyhow::Result<()> {
    let sources = args.sources()?;
    let listen = sources.listen()?;
    // Every setting is checked before anything is bound or loaded (a typo stops start-up at once).
    sources.resolve(listen)?;
    let analyzer = analyzer(&sources)?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let config = sources.resolve(listener.local_addr()?)?;
    let _lock = lock_data_dir(&config.data)?;
    let system = System::open(&config, Arc::new(SystemClock))?;
    // This process alone runs jobs on this data: jobs left running were a dead process's.
    match system.queue.requeue_orphans().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "jobs interrupted by a previous run are retried"),
        Err(e) => {
            tracing::error!(error = %e, "interrupted jobs not requeued; they run when their lease ends")
        }
    }
    let public_url = config.desk.settings.public_url.clone();
    tracing::info!(url = %public_url, data = %path_str(&config.data), "optout is running: open {public_url}/");
    println!(
        "optout is running at {public_url}/  (data in {}, emails in {})",
        path_str(&config.data),
        path_str(&system.outbox())
    );
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    run(system, listener, analyzer, rx).await
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` of mimalloc.h's v2 list, between the
/// two neighbours the bindings name; the assertion fails the build if the list changes).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_eager_commit_delay + 1;
const _: () = assert!(libmimalloc_sys::mi_option_use_numa_nodes == MI_OPTION_PURGE_DELAY + 1);

/// Makes every thread give freed memory back to the system at once.
///
/// mimalloc keeps what a thread freed for that thread's next allocations and purges it only when
/// that thread allocates again. The photos are decoded and analysed on the blocking pool's
/// threads, so eight large photos analysed one after another on eight threads each left their
/// peak behind: eight 49-megapixel JPEGs took the server to 550 MB, and it stayed at 500 MB
/// after; with immediate purging the peak is under 200 MB (`examples/hostile_images_bench.rs`).
/// The cost is a few more page faults per photo, against analyses of hundreds of milliseconds.
fn return_memory_promptly() {
    // SAFETY: setting an option is allowed at any time; mimalloc reads this one on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}
