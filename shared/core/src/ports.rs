//! The capabilities the use cases need, one small trait each. Every runtime provides adapters:
//! the embedded mode (SQLite, files, `.eml` outbox) and AWS (DynamoDB, S3, SQS, SESv2).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use optout_matcher::{FaceEmbedding, NormalizedUrl, PdqHash, Sha256};

use crate::model::{AuditEvent, Case, CaseId, CaseKind, CaseState, Country, EmbedJob};
use crate::verdict::Verdict;

/// An infrastructure failure. Client mistakes are never reported through this type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The service is down or throttling; the caller may retry later (HTTP 503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A conditional write lost: someone else changed the item first.
    #[error("conflicting write")]
    Conflict,
    /// Stored data could not be read back (a bug or manual tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// What [`CaseStore::insert_case`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The idempotency key or the photo was already used by this case: nothing was written.
    Duplicate(CaseId, Unique),
}

/// The uniqueness rule an insert ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    IdempotencyKey,
    Photo,
}

/// A new case with everything that must be written with it in one atomic step.
#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub case: &'a Case,
    pub audit: &'a AuditEvent,
    /// The client's idempotency key (API header or form token), if any.
    pub idempotency_key: Option<&'a str>,
    /// The first job of the case. Stores that hold the queue too (the embedded store) write it in the
    /// same transaction; the others leave it to [`JobQueue::enqueue`] (the case's `job_dispatched`
    /// flag tells a relay what is still to be sent).
    pub job: Option<&'a EmbedJob>,
}

/// Cases, their audit trail and the idempotency keys.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Writes a new case, its first audit event and its idempotency key atomically. A second
    /// insert with the same key, or naming the same photo, writes nothing and returns `Duplicate`.
    async fn insert_case(&self, new: NewCase<'_>) -> Result<InsertOutcome, StoreError>;

    async fn get_case(&self, id: CaseId) -> Result<Option<Case>, StoreError>;

    /// Replaces the case if its stored version is still `case.version - 1`, and appends `audit`,
    /// atomically. Returns [`StoreError::Conflict`] otherwise.
    async fn update_case(&self, case: &Case, audit: &AuditEvent) -> Result<(), StoreError>;

    async fn audit_trail(&self, id: CaseId) -> Result<Vec<AuditEvent>, StoreError>;

    /// Cases whose job was not handed to the queue, whose receipt was not sent or whose
    /// `pending` effects are not all done (for the relay).
    async fn undispatched(&self, limit: usize) -> Result<Vec<Case>, StoreError>;

    /// Cases matching `filter`, most urgent first (earliest `due_at`, then id), the page `page`
    /// asks for. `next` is set when more may follow.
    async fn list_cases(&self, filter: &CaseFilter, page: Paging) -> Result<CasePage, StoreError>;
}

/// Which cases [`CaseStore::list_cases`] returns. Every set condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Any of these states (empty: every state).
    pub states: Vec<CaseState>,
    pub kind: Option<CaseKind>,
    /// The requester's country as given at submission.
    pub country: Option<Country>,
    /// Only cases with an open complaint (`Some(true)`) or without one (`Some(false)`).
    pub complaint: Option<bool>,
    /// Only cases last changed strictly before this instant.
    pub updated_before: Option<DateTime<Utc>>,
}

/// The position of a case in the queue order (`due_at`, id); opaque to clients as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCursor {
    pub due_at: DateTime<Utc>,
    pub id: CaseId,
}

impl QueueCursor {
    pub fn of(case: &Case) -> Self {
        QueueCursor {
            due_at: case.due_at,
            id: case.id,
        }
    }
    /// `NANOS-ID` (what `?after=` carries): exact, so keyset paging neither skips nor repeats.
    pub fn encode(&self) -> String {
        match self.due_at.timestamp_nanos_opt() {
            Some(n) => format!("{n}-{}", self.id),
            None => format!("{}-{}", i64::MAX, self.id),
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        let (t, id) = s.split_once('-')?;
        if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(QueueCursor {
            due_at: DateTime::from_timestamp_nanos(t.parse().ok()?),
            id: CaseId::parse(id)?,
        })
    }
}

/// Which page [`CaseStore::list_cases`] returns: at most `limit` cases, starting after `after`
/// (keyset paging: the `next` of the page before), or from the first when it is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: usize,
    pub after: Option<QueueCursor>,
}

impl Paging {
    pub fn new(limit: usize, after: Option<QueueCursor>) -> Self {
        Paging { limit, after }
    }
}

/// One page of [`CaseStore::list_cases`].
#[derive(Debug, Clone)]
pub struct CasePage {
    pub cases: Vec<Case>,
    pub next: Option<QueueCursor>,
}

/// What an exclusion entry matches. Stored as its kind and the value's text: a face as a JSON
/// array, hashes as 64 lower-case hex digits, a URL in its normalised form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ExclusionValue {
    /// An L2-normalised face embedding.
    Face(FaceEmbedding),
    /// SHA-256 of an image's bytes.
    Sha256(Sha256),
    /// PDQ perceptual hash.
    Pdq(PdqHash),
    /// A normalised source URL.
    Url(NormalizedUrl),
}

impl ExclusionValue {
    pub fn kind(&self) -> &'static str {
        match self {
            ExclusionValue::Face(_) => "face",
            ExclusionValue::Sha256(_) => "sha256",
            ExclusionValue::Pdq(_) => "pdq",
            ExclusionValue::Url(_) => "url",
        }
    }

    /// The text stores keep beside [`kind`](Self::kind): a face as a JSON array, a hash as 64
    /// lower-case hex digits, a URL in its normalised form.
    pub fn stored_text(&self) -> Result<String, StoreError> {
        Ok(match self {
            ExclusionValue::Face(e) => serde_json::to_string(e)
                .map_err(|e| StoreError::Corrupt(format!("face not serialisable: {e}")))?,
            ExclusionValue::Sha256(h) => h.to_hex(),
            ExclusionValue::Pdq(h) => h.to_hex(),
            ExclusionValue::Url(u) => u.as_str().to_owned(),
        })
    }

    /// Reads what [`stored_text`](Self::stored_text) wrote; what does not parse is
    /// [`StoreError::Corrupt`].
    pub fn from_stored(kind: &str, text: &str) -> Result<Self, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{kind} value: {e}"));
        Ok(match kind {
            "face" => ExclusionValue::Face(serde_json::from_str(text).map_err(|e| corrupt(&e))?),
            "sha256" => ExclusionValue::Sha256(Sha256::from_hex(text).map_err(|e| corrupt(&e))?),
            "pdq" => ExclusionValue::Pdq(PdqHash::from_hex(text).map_err(|e| corrupt(&e))?),
            "url" => ExclusionValue::Url(text.parse().map_err(|e| corrupt(&e))?),
            k => return Err(StoreError::Corrupt(format!("exclusion kind {k:?}"))),
        })
    }
}

/// Whether an entry applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    Active,
    /// Never matches again.
    Withdrawn,
}

/// One entry of the exclusion table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExclusionEntry {
    pub id: u64,
    /// Its place in the change feed: strictly increasing over every addition and withdrawal
    /// (a withdrawal gives the entry a new, higher position).
    pub position: u64,
    pub case_id: CaseId,
    pub value: ExclusionValue,
    pub state: EntryState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Exclusion values of a case to add at `at`: what [`ExclusionStore::add_entries`] writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewEntries<'a> {
    pub case_id: CaseId,
    pub values: &'a [ExclusionValue],
    pub at: DateTime<Utc>,
}

impl<'a> NewEntries<'a> {
    pub fn new(case_id: CaseId, values: &'a [ExclusionValue], at: DateTime<Utc>) -> Self {
        NewEntries {
            case_id,
            values,
            at,
        }
    }
}

/// The exclusion table the indexer checks.
#[async_trait]
pub trait ExclusionStore: Send + Sync {
    /// Adds active entries of a case. Idempotent: a value the case already has as an active
    /// entry is not added again. Returns the case's active entries afterwards.
    async fn add_entries(&self, new: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError>;

    /// Every entry (active or withdrawn) of a case, by id.
    async fn case_entries(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError>;

    /// Entries whose position is greater than `after`, by position, at most `limit` (each in its
    /// current state: an incremental sync applies them in order).
    async fn changes(&self, after: u64, limit: usize) -> Result<Vec<ExclusionEntry>, StoreError>;

    /// Every active entry.
    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError>;

    /// Marks every active entry of a case withdrawn (each gets a new position). Returns how many.
    async fn withdraw_case(&self, case_id: CaseId, at: DateTime<Utc>) -> Result<usize, StoreError>;

    /// The highest position given so far (0 while the table is empty). Read before [`active`],
    /// it labels a snapshot: replaying the changes after it converges whatever happened between
    /// the two reads, because applying an entry's current state is idempotent.
    ///
    /// [`active`]: ExclusionStore::active
    async fn head(&self) -> Result<u64, StoreError>;
}

/// An indexer's API key as stored: an id (the public part of the key) and the SHA-256 of its
/// secret part, never the secret itself. Keys are `optk_<id>_<secret>`; the secret has 256 bits of
/// entropy, so a fast hash is enough and the comparison is constant-time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexerKey {
    pub id: String,
    /// Who holds it (an operator's label, e.g. the indexer cluster's name).
    pub name: String,
    /// Lower-case hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// Requests per minute this key may make (its token bucket refills at this rate).
    pub rate_per_minute: u32,
    pub created_at: DateTime<Utc>,
    /// Set when revoked: the key is refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where the indexer keys are looked up (a table in the embedded mode; an SSM parameter in AWS).
#[async_trait]
pub trait IndexerKeyStore: Send + Sync {
    /// The key with this id, revoked or not; `None` when there is none.
    async fn find_key(&self, id: &str) -> Result<Option<IndexerKey>, StoreError>;
}

/// Server-side revocation of reviewers' sessions. A session cookie is a signed token carrying
/// its issue time; signing out records a time per reviewer, and every session of that reviewer
/// issued at or before it is refused from then on (a copied cookie dies with the sign-out, on
/// every device). One small record per reviewer, whatever the number of sessions.
#[async_trait]
pub trait ReviewerSessions: Send + Sync {
    /// Ends every session of `reviewer` issued at or before `until` (millisecond precision). An
    /// earlier time than the one recorded changes nothing: a revocation is never undone.
    async fn revoke(
        &self,
        reviewer: &crate::model::ReviewerName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Until when `reviewer`'s sessions are revoked (`None`: never signed out).
    async fn revoked_until(
        &self,
        reviewer: &crate::model::ReviewerName,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Publishes exclusion snapshots for bulk download (an S3 object behind a presigned GET in AWS).
/// Without one, the app serves the snapshot in the response body.
#[async_trait]
pub trait SnapshotPublisher: Send + Sync {
    /// Stores `body` (the snapshot document at `position`) unless that position is already stored,
    /// and returns a URL where it can be fetched for a limited time.
    async fn publish(&self, position: u64, body: Vec<u8>) -> Result<String, StoreError>;
}

/// A stored matcher snapshot being read, its bytes in order as they arrive. Reads block: use it
/// off the async executor.
pub struct SnapshotStream {
    pub reader: Box<dyn std::io::Read + Send>,
    /// Its size in bytes, when known (bounds what its header may make a loader allocate).
    pub len: Option<u64>,
}

/// Where the compact binary state of the exclusion matcher (`optout_matcher::state`, written by
/// `exclusions::snapshot`) is kept, so that a cold start loads one object and catches up from
/// the change feed instead of reading the whole table (an S3 object in AWS).
#[async_trait]
pub trait MatcherSnapshots: Send + Sync {
    /// The position of the stored snapshot (a cheap metadata read), `None` when there is none.
    async fn position(&self) -> Result<Option<u64>, StoreError>;
    /// Opens the stored snapshot, `None` when there is none.
    async fn open(&self) -> Result<Option<SnapshotStream>, StoreError>;
    /// Replaces the stored snapshot with the file at `path`, which holds the state at `position`.
    async fn store(&self, path: &std::path::Path, position: u64) -> Result<(), StoreError>;
}

/// A form that uploads one photo straight into the photo store (an S3 presigned POST in AWS; a
/// signed form to the app itself in the embedded mode). It works from a plain HTML form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadForm {
    /// Where to POST `multipart/form-data`.
    pub url: String,
    /// Fields to send, in this order, before the file field.
    pub fields: BTreeMap<String, String>,
    /// The name of the file field (sent last).
    pub file_field: String,
    /// The key the photo will have in the store.
    pub key: String,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// Why a stored photo could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PhotoReadError {
    #[error("no such photo")]
    NotFound,
    #[error("photo larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A photo read back from the store, with the type the uploader declared.
#[derive(Debug, Clone)]
pub struct StoredPhoto {
    pub bytes: Vec<u8>,
    pub declared_type: Option<String>,
}

/// What an upload form is asked for: one photo under `key`, at most `max_bytes`, sent before
/// `expires_at`; `redirect` is where a browser goes after a successful upload (the store appends
/// `key=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadRequest<'a> {
    pub key: &'a str,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
    pub redirect: Option<&'a str>,
}

/// Private photo storage.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// A direct-upload form as `request` asks.
    async fn upload_form(&self, request: UploadRequest<'_>) -> Result<UploadForm, StoreError>;

    /// Reads a photo, refusing (without reading it all) one larger than `max_bytes`.
    async fn read(&self, key: &str, max_bytes: u64) -> Result<StoredPhoto, PhotoReadError>;

    /// Whether the photo `key` is stored, without reading it (a page that only links to the photo
    /// must not pull megabytes to learn that).
    async fn exists(&self, key: &str) -> Result<bool, StoreError>;

    /// A URL where a browser fetches the photo straight from the store for `ttl`, served as
    /// `content_type`, inline and never cached; `None` when this store has no such URL (then the
    /// app serves the bytes itself). It exists because an AWS Lambda response cannot carry a photo
    /// of up to 10 MB (its limit is 6 MB). The URL is a bearer credential: never log it. It is
    /// made without checking that the photo exists.
    async fn view_url(
        &self,
        key: &str,
        content_type: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError>;

    /// The origin (`scheme://host[:port]`) of the [`view_url`](PhotoStore::view_url)s, which the
    /// page showing the photo must allow in its Content-Security-Policy; `None` when there are none.
    async fn view_origin(&self) -> Result<Option<String>, StoreError>;

    /// Marks a photo as belonging to a case, so that the clean-up of unclaimed uploads spares it.
    async fn claim(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes a photo; deleting a missing photo is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// The queue of embedding jobs (at least once: handlers are idempotent).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues a job. Enqueuing a job with the same id again must be harmless.
    async fn enqueue(&self, job: &EmbedJob) -> Result<(), StoreError>;
}

/// An email ready to send: text and HTML parts of the same content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub lang: crate::Lang,
    /// What kind of message (`receipt`, `withdrawn`, ...), for metrics and the outbox file name.
    pub tag: String,
    /// Names this message among everything the desk sends (`<case>:<tag>[:<occurrence>]`): the
    /// [`MailLedger`] sends each key once, however often a relay, a retry or a race asks.
    pub key: String,
    /// The case the message is about; `None` for the desk's own messages (the reviewers' daily
    /// list of deadlines).
    pub case_id: Option<CaseId>,
}

impl Mail {
    /// What the message is about, for logs and file names: the case id, or `desk`.
    pub fn about(&self) -> String {
        self.case_id
            .map_or_else(|| "desk".to_owned(), |c| c.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
    #[error("message refused: {0}")]
    Refused(String),
}

/// Sends emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// A claim `holder` makes at `now` that lasts until `until` unless it is given back: what
/// [`MailLedger::claim`] asks for a message and [`Lease::acquire`] for a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold<'a> {
    pub holder: &'a str,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl<'a> Hold<'a> {
    pub fn new(holder: &'a str, now: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        Hold { holder, now, until }
    }
}

/// What [`MailLedger::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailClaim {
    /// The caller holds the claim until it ends: send, then [`MailLedger::mark_sent`] (or
    /// [`MailLedger::release`] when sending failed).
    Claimed,
    /// The message was sent already.
    Sent,
    /// Another sender holds a claim that has not ended.
    InFlight,
}

/// The record of every message sent, by [`Mail::key`]: a message is claimed before it is sent
/// and marked sent after, so races, retries and relays send it once. A sender that dies between
/// sending and marking leaves a claim that ends; the message is then sent again (the one window
/// where a duplicate is possible: mail services take no deduplication id).
#[async_trait]
pub trait MailLedger: Send + Sync {
    /// Claims `key` for `hold.holder` until `hold.until`, unless it was sent or another holder's
    /// claim has not ended by `hold.now`.
    async fn claim(&self, key: &str, hold: Hold<'_>) -> Result<MailClaim, StoreError>;

    /// Records that `holder` sent `key`: it is never claimed again.
    async fn mark_sent(&self, key: &str, holder: &str, at: DateTime<Utc>)
    -> Result<(), StoreError>;

    /// Gives back `holder`'s claim of a message it could not send (others may claim it at once).
    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError>;
}

/// A named, expiring lease: at most one holder at a time, so a periodic job runs once even when
/// its scheduler starts it twice (the housekeeper in AWS). A holder that dies loses the lease when
/// it expires.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Takes lease `name` for `hold.holder` until `hold.until` if it is free, expired by
    /// `hold.now` or already this holder's. Returns whether the holder has it now.
    async fn acquire(&self, name: &str, hold: Hold<'_>) -> Result<bool, StoreError>;

    /// Gives lease `name` back if `holder` has it (otherwise does nothing).
    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// The time. Tests inject a fixed or stepping clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A passing failure (a service down): try again later.
    #[error("retryable: {0}")]
    Retry(String),
    /// The job can never succeed (malformed, or its data is gone): park it with its reason.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Does the work of one job. Implementations are idempotent: a job may be delivered twice.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: &EmbedJob) -> Result<(), JobError>;
}

/// What a valid upload form allows: one photo under `key`, at most `max_bytes`, then a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTicket {
    pub key: String,
    pub max_bytes: u64,
    pub redirect: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadRefused {
    #[error("the upload form has expired")]
    Expired,
    #[error("the upload form is not valid")]
    Invalid,
}

/// The receiving end of upload forms that point at the app itself (the embedded mode; in AWS the
/// browser uploads straight to S3 and there is no sink).
#[async_trait]
pub trait UploadSink: Send + Sync {
    /// Checks the signed fields of an upload form.
    fn check(&self, fields: &BTreeMap<String, String>) -> Result<UploadTicket, UploadRefused>;
    /// Stores the photo of a checked form.
    async fn store(
        &self,
        ticket: &UploadTicket,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError>;
}

/// What the face pipeline found in one photo, as the desk needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoFindings {
    /// `ok`, or why the photo cannot be used.
    pub verdict: Verdict,
    /// The L2-normalised embedding of the chosen face, when the verdict is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<FaceEmbedding>,
    /// The embeddings of every face the photo shows, kept only for an image opt-out that asks
    /// for its faces to be excluded (never for a face opt-out: the other faces are bystanders').
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub face_embeddings: Vec<FaceEmbedding>,
    /// SHA-256 of the photo's bytes.
    pub sha256: Sha256,
    /// PDQ hash of the pixels and its quality (0..=100); `None` when unreadable (stored as `""`).
    #[serde(with = "hex_or_empty")]
    pub pdq: Option<PdqHash>,
    pub pdq_quality: u8,
    /// Everything else the pipeline reports (faces, boxes, landmarks, scores), for reviewers.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// An optional hash as stored: its hex digits, or `""` when there is none.
mod hex_or_empty {
    use optout_matcher::PdqHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<PdqHash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_str(&h.to_hex()),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PdqHash>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        PdqHash::from_hex(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The photo cannot be read as an image (the requester should send another).
    #[error("unreadable photo: {0}")]
    Unreadable(String),
    /// The pipeline itself failed (models, inference): retry later.
    #[error("face pipeline failed: {0}")]
    Failed(String),
}

/// Computes the embedding and hashes of a photo (CPU bound; callers run it off the async executor).
pub trait PhotoAnalyzer: Send + Sync {
    fn analyze(&self, bytes: &[u8]) -> Result<PhotoFindings, AnalyzerError>;
    /// Bytes [`Self::analyze`] holds at its peak to decode `bytes` (an estimate from the headers),
    /// for the decode gate: above [`crate::decode_gate::HEAVY_DECODE_BYTES`] the analysis runs
    /// alone. Analyzers that decode nothing large keep the default.
    fn decode_cost(&self, _bytes: &[u8]) -> u64 {
        0
    }
}

/// The biometric data of a case (embedding and hashes), kept apart from its personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Biometrics {
    pub case_id: CaseId,
    /// The photo generation they were computed from.
    pub generation: u32,
    pub findings: PhotoFindings,
    pub created_at: DateTime<Utc>,
}

/// Storage of biometric data.
#[async_trait]
pub trait BiometricStore: Send + Sync {
    /// Stores (or replaces) the biometrics of a case.
    async fn put_biometrics(&self, b: &Biometrics) -> Result<(), StoreError>;
    async fn get_biometrics(&self, case_id: CaseId) -> Result<Option<Biometrics>, StoreError>;
    /// Deletes them; deleting what is not there is not an error.
    async fn delete_biometrics(&self, case_id: CaseId) -> Result<(), StoreError>;
}

/// An image fetched from a public link (a link of a DSA notice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedImage {
    pub bytes: Vec<u8>,
    /// The `Content-Type` the server sent (an `image/*` type).
    pub content_type: String,
    /// Where the image was found in the end, after redirects.
    pub final_url: String,
}

/// Why a link's image could not be fetched. None of these fails a case: the link stays excluded
/// by its address and the reviewer is shown why its image could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The link, or a redirect, leads where the fetcher never goes (not http(s), a private,
    /// loopback or link-local address, too many redirects, credentials in the link).
    #[error("refused: {0}")]
    Refused(String),
    /// The server answered with something other than an image.
    #[error("not an image: {0}")]
    NotImage(String),
    /// The image is larger than the limit (in bytes).
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// The server took longer than the time limit.
    #[error("timed out")]
    Timeout,
    /// The server answered with an error status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The name did not resolve or the connection failed.
    #[error("network error: {0}")]
    Network(String),
}

/// Fetches the image behind a public link, safely: http(s) only, public addresses only (checked
/// for every address a name resolves to, again after each redirect), image content types only,
/// with size and time limits, no cookies and no credentials.
#[async_trait]
pub trait LinkFetcher: Send + Sync {
    async fn fetch(&self, url: &NormalizedUrl) -> Result<FetchedImage, FetchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Findings as the stores keep them (JSON): the same text as when the fields were strings.
    #[test]
    fn findings_keep_their_stored_json() {
        let sha = "ab".repeat(32);
        let pdq = "0f".repeat(32);
        let unreadable = format!(
            r#"{{"verdict":"unreadable","sha256":"{sha}","pdq":"","pdq_quality":0,"details":{{"error":"x"}}}}"#
        );
        let f: PhotoFindings = serde_json::from_str(&unreadable).unwrap();
        assert_eq!(f.verdict, Verdict::Unreadable);
        assert_eq!((f.pdq, f.embedding.as_ref()), (None, None));
        assert_eq!(f.sha256.to_hex(), sha);
        assert_eq!(serde_json::to_string(&f).unwrap(), unreadable);

        let mut v = vec![0f32; 128];
        v[0] = 1.0;
        let ok = PhotoFindings {
            verdict: Verdict::Ok,
            embedding: Some(FaceEmbedding::new(&v).unwrap()),
            face_embeddings: Vec::new(),
            sha256: sha.parse().unwrap(),
            pdq: Some(pdq.to_uppercase().parse().unwrap()),
            pdq_quality: 90,
            details: serde_json::Value::Null,
        };
        let json = serde_json::to_string(&ok).unwrap();
        assert!(
            json.starts_with(r#"{"verdict":"ok","embedding":[1.0,0.0,"#),
            "{json}"
        );
        assert!(
            json.ends_with(&format!(
                r#"],"sha256":"{sha}","pdq":"{pdq}","pdq_quality":90,"details":null}}"#
            )),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<PhotoFindings>(&json).unwrap(), ok);

        // What does not parse is refused (a store reports it as corrupt).
        for bad in [
            unreadable.replace("unreadable", "blurry"),
            unreadable.replace(&sha, "abc"),
            unreadable.replace(r#""pdq":"""#, r#""pdq":"zz""#),
        ] {
            assert!(
                serde_json::from_str::<PhotoFindings>(&bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn exclusion_values_as_stored() {
        let url: NormalizedUrl = "https://Example.com/a.jpg?utm_source=x".parse().unwrap();
        let mut v = vec![0f32; 128];
        v[5] = -1.0;
        for value in [
            ExclusionValue::Url(url),
            ExclusionValue::Sha256("AB".repeat(32).parse().unwrap()),
            ExclusionValue::Pdq("cd".repeat(32).parse().unwrap()),
            ExclusionValue::Face(FaceEmbedding::new(&v).unwrap()),
        ] {
            let text = value.stored_text().unwrap();
            assert_eq!(
                ExclusionValue::from_stored(value.kind(), &text).unwrap(),
                value
            );
            match &value {
                ExclusionValue::Url(_) => assert_eq!(text, "https://example.com/a.jpg"),
                ExclusionValue::Sha256(_) => assert_eq!(text, "ab".repeat(32)),
                ExclusionValue::Pdq(_) => assert_eq!(text, "cd".repeat(32)),
                ExclusionValue::Face(_) => assert!(text.starts_with("[0.0,0.0,0.0,0.0,0.0,-1.0,")),
            }
        }
        for (kind, text) in [
            ("url", "mailto:x@example.com"),
            ("sha256", "ab"),
            ("pdq", ""),
            ("face", "[0.5]"),
            ("face", "not json"),
            ("voice", "x"),
        ] {
            assert!(
                matches!(
                    ExclusionValue::from_stored(kind, text),
                    Err(StoreError::Corrupt(_))
                ),
                "{kind} {text:?}"
            );
        }
    }
}
