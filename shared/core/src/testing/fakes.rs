//! In-memory fakes of every port of [`crate::ports`], with the semantics their documentation gives
//! (and the real adapters of `optout-embedded` and `optout-aws` have). Each fake holds its data
//! behind a [`std::sync::Mutex`], lets a test read it back without going through the port, and
//! has a [`Failures`] (`failures` field) that makes its next calls fail as a service that is down.
//!
//! The stores know nothing of each other (as in AWS): [`FakeCaseStore`] does not write the first
//! job of a case, which the desk hands to the [`FakeJobQueue`] itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::failures::{Failures, lock};
use crate::model::{AuditEvent, Case, CaseId, CaseState, Country, EmbedJob, ReviewerName};
use crate::ports::*;
use crate::signing::KeyRing;
use crate::upload_policy;

// ---------------------------------------------------------------------------------------------
// Cases

/// Whether the relay still has something to do for a case: the same rule as the real stores
/// (`undispatched` in `optout-embedded`'s store, `is_pending` in `optout-aws`'s).
pub fn is_undispatched(c: &Case) -> bool {
    (!c.job_dispatched && c.state == CaseState::Received)
        || !c.receipt_sent
        || !c.pending.is_empty()
}

/// Whether `case` (whose requester gave `country` at submission) matches `f`.
fn matches_filter(case: &Case, country: Option<Country>, f: &CaseFilter) -> bool {
    (f.states.is_empty() || f.states.contains(&case.state))
        && f.kind.is_none_or(|k| k == case.kind)
        && f.country.is_none_or(|c| country == Some(c))
        && f.complaint
            .is_none_or(|open| case.open_complaint().is_some() == open)
        && f.updated_before.is_none_or(|t| case.updated_at < t)
}

/// A write another writer makes to a case just before the next [`CaseStore::update_case`] of it.
type Meanwhile = Box<dyn FnOnce(&mut Case) + Send>;

#[derive(Default)]
struct CaseTable {
    cases: BTreeMap<CaseId, Case>,
    /// The country given at submission (kept when the personal data is erased).
    countries: HashMap<CaseId, Country>,
    /// Every audit event, in the order written.
    audit: Vec<AuditEvent>,
    idempotency: HashMap<String, CaseId>,
    /// Every photo key a case named (at insertion or later).
    photo_keys: HashMap<String, CaseId>,
    /// The first jobs given with insertions (not queued: see the module documentation).
    first_jobs: Vec<EmbedJob>,
}

/// The fake [`CaseStore`]. Methods for [`FakeCaseStore::failures`]: `insert_case`, `get_case`,
/// `update_case`, `audit_trail`, `undispatched`, `list_cases`.
pub struct FakeCaseStore {
    table: Mutex<CaseTable>,
    meanwhile: Mutex<Vec<(CaseId, Meanwhile)>>,
    pub failures: Failures,
}

impl Default for FakeCaseStore {
    fn default() -> Self {
        FakeCaseStore {
            table: Mutex::new(CaseTable::default()),
            meanwhile: Mutex::new(Vec::new()),
            failures: Failures::new(&[
                "insert_case",
                "get_case",
                "update_case",
                "audit_trail",
                "undispatched",
                "list_cases",
            ]),
        }
    }
}

impl FakeCaseStore {
    /// The stored case `id`.
    pub fn case(&self, id: CaseId) -> Option<Case> {
        lock(&self.table).cases.get(&id).cloned()
    }

    /// Every stored case, by id.
    pub fn cases(&self) -> Vec<Case> {
        lock(&self.table).cases.values().cloned().collect()
    }

    /// The audit trail of case `id`, in the order written.
    pub fn audit(&self, id: CaseId) -> Vec<AuditEvent> {
        lock(&self.table)
            .audit
            .iter()
            .filter(|a| a.case_id == id)
            .cloned()
            .collect()
    }

    /// The actions of the audit trail of case `id`, in the order written.
    pub fn actions(&self, id: CaseId) -> Vec<String> {
        self.audit(id).into_iter().map(|a| a.action).collect()
    }

    /// The first jobs insertions carried (what a store holding the queue would have written).
    pub fn first_jobs(&self) -> Vec<EmbedJob> {
        lock(&self.table).first_jobs.clone()
    }

    /// Makes another writer change case `id` just before the next [`CaseStore::update_case`] of
    /// it: `change` is applied to the stored case, whose version goes up by one (an audit event
    /// `concurrent_write` is recorded), so that the update, based on the version before, loses.
    pub fn meanwhile(&self, id: CaseId, change: impl FnOnce(&mut Case) + Send + 'static) {
        lock(&self.meanwhile).push((id, Box::new(change)));
    }

    /// Runs the first change waiting for case `id`, if any.
    fn interleave(&self, id: CaseId, t: &mut CaseTable) {
        let change = {
            let mut waiting = lock(&self.meanwhile);
            waiting
                .iter()
                .position(|(c, _)| *c == id)
                .map(|i| waiting.remove(i).1)
        };
        let Some(change) = change else { return };
        let Some(stored) = t.cases.get_mut(&id) else {
            return;
        };
        change(stored);
        stored.version += 1;
        let event = AuditEvent {
            case_id: id,
            at: stored.updated_at,
            actor: crate::model::Actor::System,
            action: "concurrent_write".into(),
            state: stored.state,
            detail: None,
        };
        if let Some(p) = &stored.photo {
            t.photo_keys.entry(p.key.clone()).or_insert(id);
        }
        t.audit.push(event);
    }
}

#[async_trait]
impl CaseStore for FakeCaseStore {
    async fn insert_case(&self, new: NewCase<'_>) -> Result<InsertOutcome, StoreError> {
        self.failures.store("insert_case")?;
        let mut t = lock(&self.table);
        let case = new.case;
        if let Some(k) = new.idempotency_key
            && let Some(id) = t.idempotency.get(k)
        {
            return Ok(InsertOutcome::Duplicate(*id, Unique::IdempotencyKey));
        }
        if let Some(p) = &case.photo
            && let Some(id) = t.photo_keys.get(&p.key)
        {
            return Ok(InsertOutcome::Duplicate(*id, Unique::Photo));
        }
        if t.cases.contains_key(&case.id) {
            return Err(StoreError::Conflict);
        }
        t.cases.insert(case.id, case.clone());
        if let Some(p) = &case.personal {
            t.countries.insert(case.id, p.country);
        }
        t.audit.push(new.audit.clone());
        if let Some(k) = new.idempotency_key {
            t.idempotency.insert(k.to_owned(), case.id);
        }
        if let Some(p) = &case.photo {
            t.photo_keys.insert(p.key.clone(), case.id);
        }
        if let Some(j) = new.job {
            t.first_jobs.push(j.clone());
        }
        Ok(InsertOutcome::Inserted)
    }

    async fn get_case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.failures.store("get_case")?;
        Ok(self.case(id))
    }

    async fn update_case(&self, case: &Case, audit: &AuditEvent) -> Result<(), StoreError> {
        self.failures.store("update_case")?;
        let mut t = lock(&self.table);
        self.interleave(case.id, &mut t);
        let prev = case.version.checked_sub(1).ok_or(StoreError::Conflict)?;
        match t.cases.get(&case.id) {
            Some(stored) if stored.version == prev => {}
            _ => return Err(StoreError::Conflict),
        }
        t.cases.insert(case.id, case.clone());
        if let Some(p) = &case.photo {
            t.photo_keys.entry(p.key.clone()).or_insert(case.id);
        }
        t.audit.push(audit.clone());
        Ok(())
    }

    async fn audit_trail(&self, id: CaseId) -> Result<Vec<AuditEvent>, StoreError> {
        self.failures.store("audit_trail")?;
        Ok(self.audit(id))
    }

    async fn undispatched(&self, limit: usize) -> Result<Vec<Case>, StoreError> {
        self.failures.store("undispatched")?;
        Ok(lock(&self.table)
            .cases
            .values()
            .filter(|c| is_undispatched(c))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn list_cases(&self, filter: &CaseFilter, page: Paging) -> Result<CasePage, StoreError> {
        let Paging { limit, after } = page;
        self.failures.store("list_cases")?;
        let t = lock(&self.table);
        let mut found: Vec<&Case> = t
            .cases
            .values()
            .filter(|c| matches_filter(c, t.countries.get(&c.id).copied(), filter))
            .filter(|c| after.is_none_or(|a| (c.due_at, c.id) > (a.due_at, a.id)))
            .collect();
        found.sort_by_key(|c| (c.due_at, c.id));
        let more = found.len() > limit;
        let cases: Vec<Case> = found.into_iter().take(limit).cloned().collect();
        let next = if more {
            cases.last().map(QueueCursor::of)
        } else {
            None
        };
        Ok(CasePage { cases, next })
    }
}

// ---------------------------------------------------------------------------------------------
// Photos and uploads

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    /// The type the uploader declared.
    pub content_type: Option<String>,
    /// Whether a case claimed it (the clean-up of unclaimed uploads spares it).
    pub claimed: bool,
    pub stored_at: DateTime<Utc>,
}

/// The fake [`PhotoStore`] and [`UploadSink`]: upload forms signed like the embedded mode's
/// (fields `key` and `policy`, posted to `{public_url}/uploads`), photos in a map. Without
/// [`FakePhotoStore::serve_view_urls`] it has no view URLs (the app serves the bytes, as in the
/// embedded mode). Methods for [`FakePhotoStore::failures`]: `upload_form`, `read`, `exists`,
/// `view_url`, `view_origin`, `claim`, `delete`, `store`.
pub struct FakePhotoStore {
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    upload_url: String,
    objects: Mutex<HashMap<String, StoredObject>>,
    deleted: Mutex<Vec<String>>,
    view_origin: Mutex<Option<String>>,
    pub failures: Failures,
}

impl FakePhotoStore {
    /// A store whose forms are signed with `keys` and post to `{public_url}/uploads`.
    pub fn new(keys: KeyRing, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        FakePhotoStore {
            keys,
            clock,
            upload_url: format!("{}/uploads", public_url.trim_end_matches('/')),
            objects: Mutex::new(HashMap::new()),
            deleted: Mutex::new(Vec::new()),
            view_origin: Mutex::new(None),
            failures: Failures::new(&[
                "upload_form",
                "read",
                "exists",
                "view_url",
                "view_origin",
                "claim",
                "delete",
                "store",
            ]),
        }
    }

    /// Stores a photo under `key` as a browser's upload would (unclaimed), replacing any.
    pub fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) {
        let stored_at = self.clock.now();
        lock(&self.objects).insert(
            key.to_owned(),
            StoredObject {
                bytes,
                content_type: content_type.map(str::to_owned),
                claimed: false,
                stored_at,
            },
        );
    }

    /// The photo stored under `key`.
    pub fn object(&self, key: &str) -> Option<StoredObject> {
        lock(&self.objects).get(key).cloned()
    }

    /// Whether a photo is stored under `key`.
    pub fn contains(&self, key: &str) -> bool {
        lock(&self.objects).contains_key(key)
    }

    /// Every stored key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = lock(&self.objects).keys().cloned().collect();
        k.sort();
        k
    }

    /// Every key deleted, in order (deleting a missing photo is recorded too).
    pub fn deleted(&self) -> Vec<String> {
        lock(&self.deleted).clone()
    }

    /// From now on the store gives view URLs under `origin` (`scheme://host[:port]`), as S3 does.
    pub fn serve_view_urls(&self, origin: &str) {
        *lock(&self.view_origin) = Some(origin.trim_end_matches('/').to_owned());
    }
}

#[async_trait]
impl PhotoStore for FakePhotoStore {
    async fn upload_form(&self, request: UploadRequest<'_>) -> Result<UploadForm, StoreError> {
        self.failures.store("upload_form")?;
        Ok(upload_policy::form(&self.keys, &self.upload_url, &request))
    }

    async fn read(&self, key: &str, max_bytes: u64) -> Result<StoredPhoto, PhotoReadError> {
        self.failures.store("read")?;
        let objects = lock(&self.objects);
        let o = objects.get(key).ok_or(PhotoReadError::NotFound)?;
        if o.bytes.len() as u64 > max_bytes {
            return Err(PhotoReadError::TooLarge { max: max_bytes });
        }
        Ok(StoredPhoto {
            bytes: o.bytes.clone(),
            declared_type: o.content_type.clone(),
        })
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.failures.store("exists")?;
        Ok(self.contains(key))
    }

    async fn view_url(
        &self,
        key: &str,
        content_type: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        self.failures.store("view_url")?;
        Ok(lock(&self.view_origin).as_ref().map(|origin| {
            format!(
                "{origin}/{key}?response-content-type={}&expires-in={}",
                content_type.replace('/', "%2F"),
                ttl.as_secs()
            )
        }))
    }

    async fn view_origin(&self) -> Result<Option<String>, StoreError> {
        self.failures.store("view_origin")?;
        Ok(lock(&self.view_origin).clone())
    }

    async fn claim(&self, key: &str) -> Result<(), StoreError> {
        self.failures.store("claim")?;
        if let Some(o) = lock(&self.objects).get_mut(key) {
            o.claimed = true;
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.failures.store("delete")?;
        lock(&self.objects).remove(key);
        lock(&self.deleted).push(key.to_owned());
        Ok(())
    }
}

#[async_trait]
impl UploadSink for FakePhotoStore {
    fn check(&self, fields: &BTreeMap<String, String>) -> Result<UploadTicket, UploadRefused> {
        upload_policy::check(&self.keys, fields, self.clock.now())
    }

    async fn store(
        &self,
        ticket: &UploadTicket,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.failures.store("store")?;
        if bytes.len() as u64 > ticket.max_bytes {
            return Err(StoreError::Corrupt(
                "upload larger than its form allows".into(),
            ));
        }
        // A second upload to the same form replaces the first, unless a case already claimed it.
        if self.object(&ticket.key).is_some_and(|o| o.claimed) {
            return Err(StoreError::Conflict);
        }
        self.put(&ticket.key, bytes, content_type);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs

#[derive(Default)]
struct QueueState {
    /// Every accepted call, in order.
    enqueued: Vec<EmbedJob>,
    /// Jobs waiting for a worker.
    waiting: VecDeque<EmbedJob>,
    /// The ids of every job ever queued: a job is queued once (like the embedded queue).
    ids: HashSet<String>,
}

/// The fake [`JobQueue`]: records every job and keeps each job id once. Methods for
/// [`FakeJobQueue::failures`]: `enqueue`.
pub struct FakeJobQueue {
    state: Mutex<QueueState>,
    pub failures: Failures,
}

impl Default for FakeJobQueue {
    fn default() -> Self {
        FakeJobQueue {
            state: Mutex::new(QueueState::default()),
            failures: Failures::new(&["enqueue"]),
        }
    }
}

impl FakeJobQueue {
    /// Every accepted [`JobQueue::enqueue`] call, in order (a job enqueued twice shows twice).
    pub fn enqueued(&self) -> Vec<EmbedJob> {
        lock(&self.state).enqueued.clone()
    }

    /// The jobs waiting for a worker, oldest first.
    pub fn waiting(&self) -> Vec<EmbedJob> {
        lock(&self.state).waiting.iter().cloned().collect()
    }

    /// Takes the waiting jobs (a worker receiving them).
    pub fn take(&self) -> Vec<EmbedJob> {
        lock(&self.state).waiting.drain(..).collect()
    }

    /// Puts a job back in the queue (a redelivery).
    pub fn redeliver(&self, job: EmbedJob) {
        lock(&self.state).waiting.push_back(job);
    }
}

#[async_trait]
impl JobQueue for FakeJobQueue {
    async fn enqueue(&self, job: &EmbedJob) -> Result<(), StoreError> {
        self.failures.store("enqueue")?;
        let mut s = lock(&self.state);
        s.enqueued.push(job.clone());
        if s.ids.insert(job.id()) {
            s.waiting.push_back(job.clone());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Emails

/// The fake [`Mailer`]: records what it sends. Methods for [`FakeMailer::failures`]: `send`.
pub struct FakeMailer {
    sent: Mutex<Vec<Mail>>,
    pub failures: Failures,
}

impl Default for FakeMailer {
    fn default() -> Self {
        FakeMailer {
            sent: Mutex::new(Vec::new()),
            failures: Failures::new(&["send"]),
        }
    }
}

impl FakeMailer {
    /// Every email sent, in order.
    pub fn sent(&self) -> Vec<Mail> {
        lock(&self.sent).clone()
    }

    /// The tags of the emails sent, in order.
    pub fn tags(&self) -> Vec<String> {
        lock(&self.sent).iter().map(|m| m.tag.clone()).collect()
    }

    /// The emails sent with tag `tag`.
    pub fn with_tag(&self, tag: &str) -> Vec<Mail> {
        lock(&self.sent)
            .iter()
            .filter(|m| m.tag == tag)
            .cloned()
            .collect()
    }

    /// Forgets what was sent.
    pub fn clear(&self) {
        lock(&self.sent).clear();
    }
}

#[async_trait]
impl Mailer for FakeMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.failures.mail("send")?;
        lock(&self.sent).push(mail.clone());
        Ok(())
    }
}

/// One message of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub holder: String,
    pub until: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The fake [`MailLedger`]. A claim is taken when the key is new, or unsent with its claim ended
/// (`until <= now`); a sent key is never claimed again; only the holder releases an unsent claim;
/// marking sent records the message even if the claim ended meanwhile (it did go out), but never
/// over another holder's record of sending. Methods for [`FakeMailLedger::failures`]: `claim`,
/// `mark_sent`, `release`.
pub struct FakeMailLedger {
    entries: Mutex<HashMap<String, LedgerEntry>>,
    pub failures: Failures,
}

impl Default for FakeMailLedger {
    fn default() -> Self {
        FakeMailLedger {
            entries: Mutex::new(HashMap::new()),
            failures: Failures::new(&["claim", "mark_sent", "release"]),
        }
    }
}

impl FakeMailLedger {
    /// The record of message `key`.
    pub fn entry(&self, key: &str) -> Option<LedgerEntry> {
        lock(&self.entries).get(key).cloned()
    }

    /// The keys recorded as sent, sorted.
    pub fn sent_keys(&self) -> Vec<String> {
        let mut k: Vec<String> = lock(&self.entries)
            .iter()
            .filter(|(_, e)| e.sent_at.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        k.sort();
        k
    }
}

#[async_trait]
impl MailLedger for FakeMailLedger {
    async fn claim(&self, key: &str, hold: Hold<'_>) -> Result<MailClaim, StoreError> {
        self.failures.store("claim")?;
        let mut entries = lock(&self.entries);
        match entries.get(key) {
            Some(e) if e.sent_at.is_some() => return Ok(MailClaim::Sent),
            Some(e) if e.until > hold.now => return Ok(MailClaim::InFlight),
            _ => {}
        }
        entries.insert(
            key.to_owned(),
            LedgerEntry {
                holder: hold.holder.to_owned(),
                until: hold.until,
                sent_at: None,
            },
        );
        Ok(MailClaim::Claimed)
    }

    async fn mark_sent(
        &self,
        key: &str,
        holder: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.failures.store("mark_sent")?;
        let mut entries = lock(&self.entries);
        let e = entries
            .entry(key.to_owned())
            .or_insert_with(|| LedgerEntry {
                holder: holder.to_owned(),
                until: at,
                sent_at: None,
            });
        if e.holder == holder || e.sent_at.is_none() {
            e.holder = holder.to_owned();
            e.sent_at = Some(at);
        }
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.failures.store("release")?;
        let mut entries = lock(&self.entries);
        if entries
            .get(key)
            .is_some_and(|e| e.holder == holder && e.sent_at.is_none())
        {
            entries.remove(key);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Biometrics

/// The fake [`BiometricStore`]. Methods for [`FakeBiometricStore::failures`]: `put_biometrics`,
/// `get_biometrics`, `delete_biometrics`.
pub struct FakeBiometricStore {
    data: Mutex<HashMap<CaseId, Biometrics>>,
    pub failures: Failures,
}

impl Default for FakeBiometricStore {
    fn default() -> Self {
        FakeBiometricStore {
            data: Mutex::new(HashMap::new()),
            failures: Failures::new(&["put_biometrics", "get_biometrics", "delete_biometrics"]),
        }
    }
}

impl FakeBiometricStore {
    /// The biometrics of case `id`.
    pub fn get(&self, id: CaseId) -> Option<Biometrics> {
        lock(&self.data).get(&id).cloned()
    }

    /// How many cases have biometrics.
    pub fn len(&self) -> usize {
        lock(&self.data).len()
    }

    /// Whether no case has biometrics.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl BiometricStore for FakeBiometricStore {
    async fn put_biometrics(&self, b: &Biometrics) -> Result<(), StoreError> {
        self.failures.store("put_biometrics")?;
        lock(&self.data).insert(b.case_id, b.clone());
        Ok(())
    }

    async fn get_biometrics(&self, case_id: CaseId) -> Result<Option<Biometrics>, StoreError> {
        self.failures.store("get_biometrics")?;
        Ok(self.get(case_id))
    }

    async fn delete_biometrics(&self, case_id: CaseId) -> Result<(), StoreError> {
        self.failures.store("delete_biometrics")?;
        lock(&self.data).remove(&case_id);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Exclusions

#[derive(Default)]
struct ExclusionTable {
    /// By id.
    entries: BTreeMap<u64, ExclusionEntry>,
    /// The highest position given.
    head: u64,
    /// The highest id given.
    last_id: u64,
}

/// The fake [`ExclusionStore`]: every addition and withdrawal takes the next position (1, 2, ...),
/// ids count from 1. Methods for [`FakeExclusionStore::failures`]: `add_entries`, `case_entries`,
/// `changes`, `active`, `withdraw_case`, `head`.
pub struct FakeExclusionStore {
    table: Mutex<ExclusionTable>,
    pub failures: Failures,
}

impl Default for FakeExclusionStore {
    fn default() -> Self {
        FakeExclusionStore {
            table: Mutex::new(ExclusionTable::default()),
            failures: Failures::new(&[
                "add_entries",
                "case_entries",
                "changes",
                "active",
                "withdraw_case",
                "head",
            ]),
        }
    }
}

impl FakeExclusionStore {
    /// Every entry, by id.
    pub fn entries(&self) -> Vec<ExclusionEntry> {
        lock(&self.table).entries.values().cloned().collect()
    }

    /// The entries of case `id`, by id.
    pub fn of_case(&self, id: CaseId) -> Vec<ExclusionEntry> {
        lock(&self.table)
            .entries
            .values()
            .filter(|e| e.case_id == id)
            .cloned()
            .collect()
    }

    fn sorted_by_position(
        t: &ExclusionTable,
        keep: impl Fn(&ExclusionEntry) -> bool,
    ) -> Vec<ExclusionEntry> {
        let mut v: Vec<ExclusionEntry> = t.entries.values().filter(|e| keep(e)).cloned().collect();
        v.sort_by_key(|e| e.position);
        v
    }
}

#[async_trait]
impl ExclusionStore for FakeExclusionStore {
    async fn add_entries(&self, new: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.failures.store("add_entries")?;
        let NewEntries { case_id, at, .. } = new;
        let mut t = lock(&self.table);
        for v in new.values {
            let exists = t
                .entries
                .values()
                .any(|e| e.case_id == case_id && e.state == EntryState::Active && e.value == *v);
            if exists {
                continue;
            }
            t.head += 1;
            t.last_id += 1;
            let entry = ExclusionEntry {
                id: t.last_id,
                position: t.head,
                case_id,
                value: v.clone(),
                state: EntryState::Active,
                created_at: at,
                updated_at: at,
            };
            t.entries.insert(entry.id, entry);
        }
        Ok(t.entries
            .values()
            .filter(|e| e.case_id == case_id && e.state == EntryState::Active)
            .cloned()
            .collect())
    }

    async fn case_entries(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.failures.store("case_entries")?;
        Ok(self.of_case(case_id))
    }

    async fn changes(&self, after: u64, limit: usize) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.failures.store("changes")?;
        let t = lock(&self.table);
        let mut v = Self::sorted_by_position(&t, |e| e.position > after);
        v.truncate(limit);
        Ok(v)
    }

    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.failures.store("active")?;
        let t = lock(&self.table);
        Ok(Self::sorted_by_position(&t, |e| {
            e.state == EntryState::Active
        }))
    }

    async fn withdraw_case(&self, case_id: CaseId, at: DateTime<Utc>) -> Result<usize, StoreError> {
        self.failures.store("withdraw_case")?;
        let mut t = lock(&self.table);
        let ids: Vec<u64> = t
            .entries
            .values()
            .filter(|e| e.case_id == case_id && e.state == EntryState::Active)
            .map(|e| e.id)
            .collect();
        for id in &ids {
            t.head += 1;
            let position = t.head;
            if let Some(e) = t.entries.get_mut(id) {
                e.state = EntryState::Withdrawn;
                e.position = position;
                e.updated_at = at;
            }
        }
        Ok(ids.len())
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.failures.store("head")?;
        Ok(lock(&self.table).head)
    }
}

// ---------------------------------------------------------------------------------------------
// The indexer's keys, snapshots, leases and reviewers' sessions

/// The fake [`IndexerKeyStore`]. Methods for [`FakeIndexerKeys::failures`]: `find_key`.
pub struct FakeIndexerKeys {
    keys: Mutex<HashMap<String, IndexerKey>>,
    pub failures: Failures,
}

impl Default for FakeIndexerKeys {
    fn default() -> Self {
        FakeIndexerKeys {
            keys: Mutex::new(HashMap::new()),
            failures: Failures::new(&["find_key"]),
        }
    }
}

impl FakeIndexerKeys {
    /// Stores `key` (replacing one with the same id).
    pub fn add(&self, key: IndexerKey) {
        lock(&self.keys).insert(key.id.clone(), key);
    }

    /// Marks key `id` revoked at `at`; false when there is no such key.
    pub fn revoke(&self, id: &str, at: DateTime<Utc>) -> bool {
        match lock(&self.keys).get_mut(id) {
            Some(k) => {
                k.revoked_at = Some(at);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl IndexerKeyStore for FakeIndexerKeys {
    async fn find_key(&self, id: &str) -> Result<Option<IndexerKey>, StoreError> {
        self.failures.store("find_key")?;
        Ok(lock(&self.keys).get(id).cloned())
    }
}

/// The fake [`LinkFetcher`]: serves the images it was given by link, and answers any other link
/// with a network error. Counts its fetches.
#[derive(Default)]
pub struct FakeLinkFetcher {
    served: Mutex<HashMap<String, Result<FetchedImage, FetchError>>>,
    fetches: Mutex<usize>,
}

impl FakeLinkFetcher {
    /// Serves `bytes` as `content_type` at `url` (compared in its normalised form).
    pub fn serve(&self, url: &str, bytes: Vec<u8>, content_type: &str) {
        let image = FetchedImage {
            bytes,
            content_type: content_type.to_owned(),
            final_url: url.to_owned(),
        };
        lock(&self.served).insert(normalized(url), Ok(image));
    }

    /// Answers `error` for `url`.
    pub fn fail(&self, url: &str, error: FetchError) {
        lock(&self.served).insert(normalized(url), Err(error));
    }

    /// How many links were fetched.
    pub fn fetches(&self) -> usize {
        *lock(&self.fetches)
    }
}

fn normalized(url: &str) -> String {
    optout_matcher::normalize_url(url).map_or_else(|_| url.to_owned(), |u| u.to_string())
}

#[async_trait]
impl LinkFetcher for FakeLinkFetcher {
    async fn fetch(&self, url: &optout_matcher::NormalizedUrl) -> Result<FetchedImage, FetchError> {
        *lock(&self.fetches) += 1;
        lock(&self.served)
            .get(&url.to_string())
            .cloned()
            .unwrap_or_else(|| Err(FetchError::Network("no such host".into())))
    }
}

/// The fake [`SnapshotPublisher`]: keeps each position's first body and answers
/// `{base}/snapshots/{position}.json`. Methods for [`FakeSnapshotPublisher::failures`]: `publish`.
pub struct FakeSnapshotPublisher {
    base: String,
    stored: Mutex<BTreeMap<u64, Vec<u8>>>,
    pub failures: Failures,
}

impl FakeSnapshotPublisher {
    /// A publisher whose URLs start with `base`.
    pub fn new(base: &str) -> Self {
        FakeSnapshotPublisher {
            base: base.trim_end_matches('/').to_owned(),
            stored: Mutex::new(BTreeMap::new()),
            failures: Failures::new(&["publish"]),
        }
    }

    /// The body published at `position`.
    pub fn body(&self, position: u64) -> Option<Vec<u8>> {
        lock(&self.stored).get(&position).cloned()
    }

    /// The positions published, in order.
    pub fn positions(&self) -> Vec<u64> {
        lock(&self.stored).keys().copied().collect()
    }
}

#[async_trait]
impl SnapshotPublisher for FakeSnapshotPublisher {
    async fn publish(&self, position: u64, body: Vec<u8>) -> Result<String, StoreError> {
        self.failures.store("publish")?;
        lock(&self.stored).entry(position).or_insert(body);
        Ok(format!("{}/snapshots/{position}.json", self.base))
    }
}

/// The fake [`MatcherSnapshots`]: one stored snapshot (bytes and position). Methods for
/// [`FakeMatcherSnapshots::failures`]: `position`, `open`, `store`.
pub struct FakeMatcherSnapshots {
    stored: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    pub failures: Failures,
}

impl Default for FakeMatcherSnapshots {
    fn default() -> Self {
        FakeMatcherSnapshots {
            stored: Mutex::new(None),
            failures: Failures::new(&["position", "open", "store"]),
        }
    }
}

impl FakeMatcherSnapshots {
    /// The stored snapshot: its position and bytes.
    pub fn stored(&self) -> Option<(u64, Vec<u8>)> {
        lock(&self.stored)
            .as_ref()
            .map(|(p, b)| (*p, b.as_ref().clone()))
    }

    /// Replaces the stored snapshot (a damaged or foreign one, say).
    pub fn put(&self, position: u64, bytes: Vec<u8>) {
        *lock(&self.stored) = Some((position, Arc::new(bytes)));
    }
}

/// Reads shared bytes from the start.
struct SharedReader {
    bytes: Arc<Vec<u8>>,
    at: usize,
}

impl std::io::Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.bytes.get(self.at..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

#[async_trait]
impl MatcherSnapshots for FakeMatcherSnapshots {
    async fn position(&self) -> Result<Option<u64>, StoreError> {
        self.failures.store("position")?;
        Ok(lock(&self.stored).as_ref().map(|(p, _)| *p))
    }

    async fn open(&self) -> Result<Option<SnapshotStream>, StoreError> {
        self.failures.store("open")?;
        Ok(lock(&self.stored).as_ref().map(|(_, b)| SnapshotStream {
            len: Some(b.len() as u64),
            reader: Box::new(SharedReader {
                bytes: b.clone(),
                at: 0,
            }),
        }))
    }

    async fn store(&self, path: &Path, position: u64) -> Result<(), StoreError> {
        self.failures.store("store")?;
        let bytes = std::fs::read(path)
            .map_err(|e| StoreError::Unavailable(format!("reading the snapshot file: {e}")))?;
        self.put(position, bytes);
        Ok(())
    }
}

/// The fake [`Lease`]. Methods for [`FakeLease::failures`]: `acquire`, `release`.
pub struct FakeLease {
    held: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
    pub failures: Failures,
}

impl Default for FakeLease {
    fn default() -> Self {
        FakeLease {
            held: Mutex::new(HashMap::new()),
            failures: Failures::new(&["acquire", "release"]),
        }
    }
}

impl FakeLease {
    /// Who holds lease `name` and until when (an expired lease shows until it is taken again).
    pub fn holder(&self, name: &str) -> Option<(String, DateTime<Utc>)> {
        lock(&self.held).get(name).cloned()
    }
}

#[async_trait]
impl Lease for FakeLease {
    async fn acquire(&self, name: &str, hold: Hold<'_>) -> Result<bool, StoreError> {
        self.failures.store("acquire")?;
        let mut held = lock(&self.held);
        let free = match held.get(name) {
            None => true,
            Some((h, ends)) => *ends <= hold.now || h == hold.holder,
        };
        if free {
            held.insert(name.to_owned(), (hold.holder.to_owned(), hold.until));
        }
        Ok(free)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.failures.store("release")?;
        let mut held = lock(&self.held);
        if held.get(name).is_some_and(|(h, _)| h == holder) {
            held.remove(name);
        }
        Ok(())
    }
}

/// The fake [`ReviewerSessions`]: one time per reviewer, kept to the millisecond, that only moves
/// forward. Methods for [`FakeReviewerSessions::failures`]: `revoke`, `revoked_until`.
pub struct FakeReviewerSessions {
    revoked: Mutex<HashMap<ReviewerName, DateTime<Utc>>>,
    pub failures: Failures,
}

impl Default for FakeReviewerSessions {
    fn default() -> Self {
        FakeReviewerSessions {
            revoked: Mutex::new(HashMap::new()),
            failures: Failures::new(&["revoke", "revoked_until"]),
        }
    }
}

#[async_trait]
impl ReviewerSessions for FakeReviewerSessions {
    async fn revoke(
        &self,
        reviewer: &ReviewerName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.failures.store("revoke")?;
        let until = DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until);
        let mut revoked = lock(&self.revoked);
        let t = revoked.entry(reviewer.clone()).or_insert(until);
        *t = (*t).max(until);
        Ok(())
    }

    async fn revoked_until(
        &self,
        reviewer: &ReviewerName,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.failures.store("revoked_until")?;
        Ok(lock(&self.revoked).get(reviewer).copied())
    }
}

#[cfg(test)]
mod tests {
    //! The fakes' own contracts, where the use cases do not reach them all.

    use super::*;
    use crate::i18n::Lang;
    use crate::model::{Actor, CaseKind};
    use chrono::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap_or_default()
    }

    fn case(at: DateTime<Utc>, due_in_days: i64) -> Case {
        Case {
            id: CaseId::new(at),
            kind: CaseKind::DsaNotice,
            state: CaseState::AwaitingReview,
            lang: Lang::En,
            version: 1,
            created_at: at,
            updated_at: at,
            due_at: at + Duration::days(due_in_days),
            personal: None,
            photo: None,
            source_urls: Vec::new(),
            consent: false,
            good_faith: true,
            exclude_faces: false,
            link_checks: Vec::new(),
            job_dispatched: true,
            receipt_sent: true,
            quality_issue: None,
            decision: None,
            complaint: None,
            pending: Vec::new(),
        }
    }

    fn audit(c: &Case, action: &str) -> AuditEvent {
        AuditEvent {
            case_id: c.id,
            at: c.updated_at,
            actor: Actor::System,
            action: action.into(),
            state: c.state,
            detail: None,
        }
    }

    async fn insert(store: &FakeCaseStore, c: &Case, key: Option<&str>) -> InsertOutcome {
        let a = audit(c, "submitted");
        let new = NewCase {
            case: c,
            audit: &a,
            idempotency_key: key,
            job: None,
        };
        store.insert_case(new).await.expect("insert")
    }

    #[tokio::test]
    async fn cases_are_written_conditionally_and_listed_by_due_date_page_by_page() {
        let store = FakeCaseStore::default();
        let mut all = Vec::new();
        for i in 0..5 {
            let c = case(t(i), 10 - i);
            assert_eq!(insert(&store, &c, None).await, InsertOutcome::Inserted);
            all.push(c);
        }
        let again = case(t(9), 1);
        assert_eq!(
            insert(&store, &again, Some("key-0001")).await,
            InsertOutcome::Inserted
        );
        let other = case(t(10), 1);
        assert_eq!(
            insert(&store, &other, Some("key-0001")).await,
            InsertOutcome::Duplicate(again.id, Unique::IdempotencyKey)
        );
        assert!(store.case(other.id).is_none());

        let mut next = all[0].clone();
        next.version = 2;
        store
            .update_case(&next, &audit(&next, "x"))
            .await
            .expect("update");
        assert!(matches!(
            store.update_case(&next, &audit(&next, "y")).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.actions(next.id), ["submitted", "x"]);

        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let page = store
                .list_cases(&CaseFilter::default(), Paging::new(2, after))
                .await
                .expect("list");
            seen.extend(page.cases.iter().map(|c| c.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut want: Vec<&Case> = all.iter().chain([&again]).collect();
        want.sort_by_key(|c| (c.due_at, c.id));
        assert_eq!(seen, want.iter().map(|c| c.id).collect::<Vec<_>>());

        let mut pending = all[1].clone();
        pending.version = 2;
        pending.pending = vec![crate::model::Effect::DecisionMail];
        store
            .update_case(&pending, &audit(&pending, "decided"))
            .await
            .expect("update");
        let undispatched = store.undispatched(10).await.expect("undispatched");
        assert_eq!(
            undispatched.iter().map(|c| c.id).collect::<Vec<_>>(),
            [pending.id]
        );
    }

    #[tokio::test]
    async fn exclusion_positions_strictly_increase_over_additions_and_withdrawals() {
        let store = FakeExclusionStore::default();
        let (a, b) = (CaseId::new(t(0)), CaseId::new(t(1)));
        let url =
            |u: &str| ExclusionValue::Url(optout_matcher::normalize_url(u).expect("a valid link"));
        let added = store
            .add_entries(NewEntries::new(
                a,
                &[url("https://a.example/1"), url("https://a.example/2")],
                t(0),
            ))
            .await
            .expect("add");
        assert_eq!(added.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2]);
        let again = store
            .add_entries(NewEntries::new(a, &[url("https://a.example/1")], t(1)))
            .await
            .expect("add");
        assert_eq!(again.len(), 2, "idempotent");
        store
            .add_entries(NewEntries::new(b, &[url("https://b.example/1")], t(2)))
            .await
            .expect("add");
        assert_eq!(store.withdraw_case(a, t(3)).await.expect("withdraw"), 2);
        assert_eq!(store.head().await.expect("head"), 5);
        let feed = store.changes(0, 10).await.expect("changes");
        assert_eq!(
            feed.iter().map(|e| e.position).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(store.active().await.expect("active").len(), 1);
        let readded = store
            .add_entries(NewEntries::new(a, &[url("https://a.example/1")], t(4)))
            .await
            .expect("add");
        assert_eq!((readded[0].id, readded[0].position), (4, 6));
    }

    #[tokio::test]
    async fn the_mail_ledger_claims_sends_and_releases_as_documented() {
        let l = FakeMailLedger::default();
        let until = t(120);
        assert_eq!(
            l.claim("k", Hold::new("a", t(0), until)).await.ok(),
            Some(MailClaim::Claimed)
        );
        assert_eq!(
            l.claim("k", Hold::new("b", t(1), until)).await.ok(),
            Some(MailClaim::InFlight)
        );
        l.release("k", "b").await.expect("release");
        assert_eq!(
            l.claim("k", Hold::new("b", t(2), until)).await.ok(),
            Some(MailClaim::InFlight)
        );
        assert_eq!(
            l.claim("k", Hold::new("b", t(120), t(240))).await.ok(),
            Some(MailClaim::Claimed)
        );
        l.mark_sent("k", "a", t(121)).await.expect("mark");
        assert_eq!(
            l.claim("k", Hold::new("c", t(999), t(1999))).await.ok(),
            Some(MailClaim::Sent)
        );
        l.release("k", "a").await.expect("release");
        assert_eq!(
            l.claim("k", Hold::new("c", t(999), t(1999))).await.ok(),
            Some(MailClaim::Sent)
        );
        l.mark_sent("never-claimed", "z", t(5)).await.expect("mark");
        assert_eq!(l.sent_keys(), ["k", "never-claimed"]);
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_ends_or_is_given_back() {
        let lease = FakeLease::default();
        assert_eq!(
            lease.acquire("h", Hold::new("a", t(0), t(60))).await.ok(),
            Some(true)
        );
        assert_eq!(
            lease.acquire("h", Hold::new("b", t(1), t(61))).await.ok(),
            Some(false)
        );
        assert_eq!(
            lease.acquire("h", Hold::new("a", t(2), t(90))).await.ok(),
            Some(true)
        );
        lease.release("h", "b").await.expect("release");
        assert_eq!(lease.holder("h").map(|h| h.0), Some("a".to_owned()));
        assert_eq!(
            lease.acquire("h", Hold::new("b", t(90), t(150))).await.ok(),
            Some(true)
        );
        lease.release("h", "b").await.expect("release");
        assert_eq!(lease.holder("h"), None);
    }

    #[tokio::test]
    async fn a_revocation_is_kept_to_the_millisecond_and_never_moves_back() {
        let s = FakeReviewerSessions::default();
        let alice = ReviewerName::parse("alice").expect("name");
        assert_eq!(s.revoked_until(&alice).await.ok(), Some(None));
        let late = t(10) + Duration::nanoseconds(1_500_999);
        s.revoke(&alice, late).await.expect("revoke");
        s.revoke(&alice, t(5)).await.expect("revoke");
        let kept = t(10) + Duration::milliseconds(1);
        assert_eq!(s.revoked_until(&alice).await.ok(), Some(Some(kept)));
    }

    #[tokio::test]
    async fn snapshots_are_kept_by_position() {
        let p = FakeSnapshotPublisher::new("https://s.example/");
        let url = p.publish(7, b"first".to_vec()).await.expect("publish");
        assert_eq!(url, "https://s.example/snapshots/7.json");
        p.publish(7, b"second".to_vec()).await.expect("publish");
        assert_eq!(p.body(7), Some(b"first".to_vec()));

        let m = FakeMatcherSnapshots::default();
        assert_eq!(m.position().await.ok(), Some(None));
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), b"state").expect("write");
        m.store(file.path(), 3).await.expect("store");
        let mut read = Vec::new();
        let stream = m.open().await.ok().flatten().expect("stored");
        assert_eq!(stream.len, Some(5));
        std::io::Read::read_to_end(&mut { stream.reader }, &mut read).expect("read");
        assert_eq!(
            (m.position().await.ok(), read),
            (Some(Some(3)), b"state".to_vec())
        );
    }
}
