//! [`Fakes`]: one fake of every port, wired into a ready [`Desk`], [`EmbedJobs`] and
//! [`ExclusionService`].

use std::sync::Arc;

use super::analyzer::FakeAnalyzer;
use super::clock::FakeClock;
use super::fakes::*;
use crate::desk::{Desk, DeskError, Ports};
use crate::exclusions::{ExclusionService, IndexerPorts, MatchSettings};
use crate::model::EmbedJob;
use crate::ports::{Clock, JobError, JobHandler};
use crate::settings::Settings;
use crate::signing::KeyRing;
use crate::worker::EmbedJobs;

/// The public URL of the desk the fakes serve.
pub const PUBLIC_URL: &str = "https://desk.test";

/// Every fake, sharing one [`FakeClock`] and one [`KeyRing`]. Change [`Fakes::settings`] before
/// building a desk to run it with other settings; every desk, job handler and exclusion service
/// built from one `Fakes` works on the same data.
pub struct Fakes {
    pub clock: Arc<FakeClock>,
    pub keys: KeyRing,
    /// [`Settings::local`] of [`PUBLIC_URL`] until changed.
    pub settings: Settings,
    pub cases: Arc<FakeCaseStore>,
    pub photos: Arc<FakePhotoStore>,
    pub queue: Arc<FakeJobQueue>,
    pub mailer: Arc<FakeMailer>,
    pub mail_ledger: Arc<FakeMailLedger>,
    pub biometrics: Arc<FakeBiometricStore>,
    pub exclusions: Arc<FakeExclusionStore>,
    pub matcher_snapshots: Arc<FakeMatcherSnapshots>,
    pub analyzer: Arc<FakeAnalyzer>,
    pub links: Arc<FakeLinkFetcher>,
    pub indexer_keys: Arc<FakeIndexerKeys>,
    pub snapshot_publisher: Arc<FakeSnapshotPublisher>,
    pub lease: Arc<FakeLease>,
    pub sessions: Arc<FakeReviewerSessions>,
}

impl Default for Fakes {
    fn default() -> Self {
        Fakes::new()
    }
}

impl Fakes {
    /// Fresh, empty fakes; the clock stands at [`FakeClock::start`].
    pub fn new() -> Self {
        let clock = Arc::new(FakeClock::default());
        let keys = KeyRing::generate("test");
        let c: Arc<dyn Clock> = clock.clone();
        Fakes {
            photos: Arc::new(FakePhotoStore::new(keys.clone(), c, PUBLIC_URL)),
            clock,
            keys,
            settings: Settings::local(PUBLIC_URL),
            cases: Arc::default(),
            queue: Arc::default(),
            mailer: Arc::default(),
            mail_ledger: Arc::default(),
            biometrics: Arc::default(),
            exclusions: Arc::default(),
            matcher_snapshots: Arc::default(),
            analyzer: Arc::default(),
            links: Arc::default(),
            indexer_keys: Arc::default(),
            snapshot_publisher: Arc::new(FakeSnapshotPublisher::new("https://snapshots.desk.test")),
            lease: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// The desk's ports on the fakes.
    pub fn ports(&self) -> Ports {
        Ports {
            cases: self.cases.clone(),
            photos: self.photos.clone(),
            queue: self.queue.clone(),
            mailer: self.mailer.clone(),
            mail_ledger: self.mail_ledger.clone(),
            biometrics: self.biometrics.clone(),
            exclusions: self.exclusions.clone(),
            matcher_snapshots: Some(self.matcher_snapshots.clone()),
            clock: self.clock.clone(),
        }
    }

    /// A desk on the fakes with the current [`Fakes::settings`].
    pub fn desk(&self) -> Desk {
        Desk::new(self.ports(), self.keys.clone(), self.settings.clone())
    }

    /// The embedding job handler on a new [`Fakes::desk`], the fake analyzer and link fetcher.
    pub fn embed_jobs(&self) -> EmbedJobs {
        EmbedJobs {
            desk: self.desk(),
            analyzer: self.analyzer.clone(),
            fetcher: self.links.clone(),
        }
    }

    /// An exclusion service on the fake exclusion store (default match settings, no snapshot).
    pub fn exclusion_service(&self) -> ExclusionService {
        ExclusionService::new(self.exclusions.clone(), MatchSettings::default())
    }

    /// The indexer API's ports: a new [`Fakes::exclusion_service`], the fake keys and publisher.
    pub fn indexer_ports(&self) -> IndexerPorts {
        IndexerPorts {
            exclusions: Arc::new(self.exclusion_service()),
            keys: self.indexer_keys.clone(),
            snapshots: Some(self.snapshot_publisher.clone()),
        }
    }

    /// A photo uploaded as a browser would: an upload form from `desk`, then `bytes` stored under
    /// its key (declared as `content_type`). Returns the key.
    pub async fn upload_as(
        &self,
        desk: &Desk,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<String, DeskError> {
        let form = desk.new_upload(None).await?;
        self.photos.put(&form.key, bytes, content_type);
        Ok(form.key)
    }

    /// [`Fakes::upload_as`] a PNG.
    pub async fn upload(&self, desk: &Desk, bytes: Vec<u8>) -> Result<String, DeskError> {
        self.upload_as(desk, bytes, Some("image/png")).await
    }

    /// Runs every waiting job once through a new [`Fakes::embed_jobs`] (the worker), in order.
    pub async fn run_jobs(&self) -> Vec<(EmbedJob, Result<(), JobError>)> {
        let handler = self.embed_jobs();
        let mut out = Vec::new();
        for job in self.queue.take() {
            let r = handler.handle(&job).await;
            out.push((job, r));
        }
        out
    }
}
