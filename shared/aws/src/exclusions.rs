//! The DynamoDB [`ExclusionStore`]: the exclusion table the indexer syncs from.
//!
//! One table (`ExclusionsTable` in `infra/template.yaml`, keys `pk`, `sk`) holds four kinds of item:
//! - the **head** (`pk = sk = HEAD`): `position`, the highest change position given so far;
//! - the **entries** of a case (`pk = CASE#<case>`, `sk = ENTRY#<id, 20 digits>`): the entry in its
//!   current state (`id`, `position`, `case_id`, `kind`, `value`, `state`, `created_at`,
//!   `updated_at`; a face as a JSON array). An entry's id is its position at creation;
//! - the **value guards** of a case (`pk = CASE#<case>`, `sk = VALUE#<sha256 of kind and value>`):
//!   `active_entry` names the case's active entry with that value, absent when there is none;
//! - the **change feed**, keyed by position in the base table (`pk = FEED#<position / 1024>`,
//!   `sk = <position, 20 digits>`): at each position either the entry that holds it, in its current
//!   state, or a *move marker* (`moved_to`) where an entry stood before it was withdrawn.
//!
//! Every addition and withdrawal is one `TransactWriteItems`: the head moves from the value read
//! (`N`) to `N + k`, conditionally, with the `k` entries and the feed items at `N+1 ..= N+k`. So
//! positions are strictly increasing and every position up to the head has a feed item (the feed
//! is dense: a withdrawal leaves a move marker instead of deleting). Writers that lose the race on
//! the head read again and retry, with jittered backoff, a bounded number of times.
//!
//! [`ExclusionStore::changes`] reads the feed with strongly consistent queries of the base table
//! (a GSI is eventually consistent) and returns only the contiguous run of positions after
//! `after`: it stops at the first missing position. A reader can therefore never get position
//! `N+1` while `N` is not visible yet (DynamoDB's queries are read-committed per item, not
//! serialisable with a transaction that is being applied), which would make an indexer that syncs
//! from `after = N+1` miss `N` forever.
//!
//! Idempotency of [`ExclusionStore::add_entries`]: the writer adds only the values the case has no
//! active entry for, as read after the head; the transaction is conditional on that head, and
//! each new entry's value guard must not name an active entry, so even a stale read cannot
//! duplicate an active (case, value).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, SecondsFormat, Utc};
use optout_core::model::CaseId;
use optout_core::ports::{
    EntryState, ExclusionEntry, ExclusionStore, ExclusionValue, NewEntries, StoreError,
};
use sha2::{Digest, Sha256};

use crate::attr::{n, s};
use crate::error::{describe, unavailable};

type Item = HashMap<String, AttributeValue>;

const HEAD: &str = "HEAD";
const ENTRY_PREFIX: &str = "ENTRY#";
const VALUE_PREFIX: &str = "VALUE#";
/// Positions per feed partition.
const FEED_BUCKET: u64 = 1024;
/// DynamoDB's limit of actions in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Actions per added value: the entry, its value guard, its feed item.
const ADD_ITEMS: usize = 3;
/// Actions per withdrawn entry: the entry, its value guard, the move marker, the new feed item.
const WITHDRAW_ITEMS: usize = 4;
/// Attempts of one transaction against concurrent writers before giving up (Unavailable).
const MAX_ATTEMPTS: u32 = 60;
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_CAP: Duration = Duration::from_millis(250);
/// Items read per feed query page.
const FEED_PAGE: i32 = 500;

/// The exclusion table in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoExclusions {
    client: Client,
    table: String,
}

fn ts(t: DateTime<Utc>) -> String {
    // Full precision: an entry reads back exactly as written.
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("exclusion table: {what}"))
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    // Only a missing required field fails, which would be a bug here.
    r.map_err(|e| StoreError::Unavailable(format!("request not built: {e}")))
}

fn case_pk(case: CaseId) -> String {
    format!("CASE#{case}")
}

fn entry_sk(id: u64) -> String {
    format!("{ENTRY_PREFIX}{id:020}")
}

fn feed_pk(position: u64) -> String {
    format!("FEED#{}", position / FEED_BUCKET)
}

fn feed_sk(position: u64) -> String {
    format!("{position:020}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The guard of one (kind, value) of a case: a hash, so that long URLs and faces make short keys.
fn value_sk(kind: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    format!("{VALUE_PREFIX}{}", hex::encode(h.finalize()))
}

fn state_str(s: EntryState) -> &'static str {
    match s {
        EntryState::Active => "active",
        EntryState::Withdrawn => "withdrawn",
    }
}

/// The attributes of an entry (without the key).
fn entry_attrs(e: &ExclusionEntry) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        ("id".to_owned(), n(e.id)),
        ("position".to_owned(), n(e.position)),
        ("case_id".to_owned(), s(e.case_id.to_string())),
        ("kind".to_owned(), s(e.value.kind())),
        ("value".to_owned(), s(e.value.stored_text()?)),
        ("state".to_owned(), s(state_str(e.state))),
        ("created_at".to_owned(), s(ts(e.created_at))),
        ("updated_at".to_owned(), s(ts(e.updated_at))),
    ]))
}

fn get_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(format!("item without {k}")))
}

fn get_n(item: &Item, k: &str) -> Result<u64, StoreError> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(format!("item without a numeric {k}")))
}

fn parse_entry(item: &Item) -> Result<ExclusionEntry, StoreError> {
    let time = |k: &str| {
        DateTime::parse_from_rfc3339(get_s(item, k)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(format!("{k}: {e}")))
    };
    Ok(ExclusionEntry {
        id: get_n(item, "id")?,
        position: get_n(item, "position")?,
        case_id: CaseId::parse(get_s(item, "case_id")?).ok_or_else(|| corrupt("case id"))?,
        value: ExclusionValue::from_stored(get_s(item, "kind")?, get_s(item, "value")?)?,
        state: match get_s(item, "state")? {
            "active" => EntryState::Active,
            "withdrawn" => EntryState::Withdrawn,
            other => return Err(corrupt(format!("entry state {other:?}"))),
        },
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

/// The position of a feed item (its sort key).
fn feed_position(item: &Item) -> Result<u64, StoreError> {
    get_s(item, "sk")?
        .parse()
        .map_err(|_| corrupt("feed item with a malformed position"))
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    Ok(TransactWriteItem::builder().put(built(p.build())?).build())
}

/// A random delay in `[0, min(cap, base * 2^attempt)]` (full jitter), so that writers racing for
/// the head spread out instead of colliding again.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let r = RandomState::new().hash_one(attempt);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(r % nanos.max(1))
}

/// Why a transaction did not commit.
enum Lost {
    /// Another writer came first (the head moved, or what was read is stale) or the table
    /// throttled: read again and retry.
    Race,
}

impl DynamoExclusions {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoExclusions {
            client,
            table: table.to_owned(),
        }
    }

    async fn read_head(&self) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(HEAD.into(), HEAD.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        match out.item() {
            None => Ok(0),
            Some(i) => get_n(i, "position"),
        }
    }

    /// Every item of a partition (whose sort key starts with `prefix`, when given), by sort key,
    /// strongly consistent.
    async fn query_all(&self, pk: String, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            q = match prefix {
                Some(p) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(p)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(|e| unavailable("Query", e))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }

    async fn entries_of(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.query_all(case_pk(case_id), Some(ENTRY_PREFIX))
            .await?
            .iter()
            .map(parse_entry)
            .collect()
    }

    /// The head update of a transaction: from `head` (as read) to `new_head`.
    fn head_update(&self, head: u64, new_head: u64) -> Result<TransactWriteItem, StoreError> {
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(HEAD.into(), HEAD.into())))
            .update_expression("SET #p = :new")
            .expression_attribute_names("#p", "position")
            .expression_attribute_values(":new", n(new_head));
        u = if head == 0 {
            u.condition_expression("attribute_not_exists(#p)")
        } else {
            u.condition_expression("#p = :head")
                .expression_attribute_values(":head", n(head))
        };
        Ok(TransactWriteItem::builder()
            .update(built(u.build())?)
            .build())
    }

    /// Commits one transaction. A cancellation because of a lost race (a condition on what was
    /// read, a concurrent transaction, throttling) is [`Lost::Race`]; anything else is an error.
    async fn commit(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Lost>, StoreError> {
        debug_assert!(items.len() <= MAX_TRANSACTION_ITEMS);
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(Ok(())),
            Err(e) => e,
        };
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                let retryable = c.cancellation_reasons().iter().all(|r| {
                    matches!(
                        r.code(),
                        None | Some(
                            "None"
                                | "ConditionalCheckFailed"
                                | "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                });
                if retryable {
                    Ok(Err(Lost::Race))
                } else {
                    let msg = describe("TransactWriteItems", &err);
                    tracing::warn!(error = %msg, "exclusion table write refused");
                    Err(StoreError::Unavailable(msg))
                }
            }
            _ => Err(unavailable("TransactWriteItems", err)),
        }
    }

    /// Runs `step` (read, then one transaction) until it reports that nothing is left to do,
    /// retrying lost races with backoff. `step` returns `None` when done, or the transaction and
    /// the number of entries it writes.
    async fn run<F, Fut>(&self, what: &str, mut step: F) -> Result<usize, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
                Output = Result<Option<(Vec<TransactWriteItem>, usize)>, StoreError>,
            >,
    {
        let mut written = 0;
        let mut lost = 0u32;
        while let Some((items, count)) = step().await? {
            match self.commit(items).await? {
                Ok(()) => {
                    written += count;
                    lost = 0;
                }
                Err(Lost::Race) => {
                    lost += 1;
                    if lost >= MAX_ATTEMPTS {
                        tracing::warn!(
                            op = what,
                            attempts = lost,
                            "exclusion table kept conflicting"
                        );
                        return Err(StoreError::Unavailable(format!(
                            "{what}: kept conflicting with other writers"
                        )));
                    }
                    tokio::time::sleep(backoff(lost)).await;
                }
            }
        }
        Ok(written)
    }

    /// The next transaction of an addition: at most one chunk of the values the case has no
    /// active entry for, or `None` when it has them all.
    async fn add_step(
        &self,
        case_id: CaseId,
        wanted: &[((&'static str, String), &ExclusionValue)],
        at: DateTime<Utc>,
    ) -> Result<Option<(Vec<TransactWriteItem>, usize)>, StoreError> {
        // The head first: if the transaction commits, nothing was written since, so the entries
        // read after it are current.
        let head = self.read_head().await?;
        let entries = self.entries_of(case_id).await?;
        let mut have: HashSet<(&'static str, String)> = HashSet::new();
        for e in entries.iter().filter(|e| e.state == EntryState::Active) {
            have.insert((e.value.kind(), e.value.stored_text()?));
        }
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(key, _)| !have.contains(key))
            .take((MAX_TRANSACTION_ITEMS - 1) / ADD_ITEMS)
            .collect();
        if missing.is_empty() {
            return Ok(None);
        }
        let count = missing.len();
        let mut items = vec![self.head_update(head, head + count as u64)?];
        for (i, ((kind, text), value)) in missing.into_iter().enumerate() {
            let position = head + 1 + i as u64;
            let entry = ExclusionEntry {
                id: position,
                position,
                case_id,
                value: (*value).clone(),
                state: EntryState::Active,
                created_at: at,
                updated_at: at,
            };
            let attrs = entry_attrs(&entry)?;
            let mut item = key(case_pk(case_id), entry_sk(entry.id));
            item.extend(attrs.clone());
            items.push(put(&self.table, item, Some("attribute_not_exists(pk)"))?);
            let mut guard = key(case_pk(case_id), value_sk(kind, text));
            guard.insert("active_entry".into(), n(entry.id));
            items.push(put(
                &self.table,
                guard,
                Some("attribute_not_exists(active_entry)"),
            )?);
            let mut feed = key(feed_pk(position), feed_sk(position));
            feed.extend(attrs);
            items.push(put(&self.table, feed, Some("attribute_not_exists(pk)"))?);
        }
        Ok(Some((items, count)))
    }

    /// The next transaction of a withdrawal: at most one chunk of the case's active entries, each
    /// moved to a new position, or `None` when none is left.
    async fn withdraw_step(
        &self,
        case_id: CaseId,
        at: DateTime<Utc>,
    ) -> Result<Option<(Vec<TransactWriteItem>, usize)>, StoreError> {
        let head = self.read_head().await?;
        let active: Vec<ExclusionEntry> = self
            .entries_of(case_id)
            .await?
            .into_iter()
            .filter(|e| e.state == EntryState::Active)
            .take((MAX_TRANSACTION_ITEMS - 1) / WITHDRAW_ITEMS)
            .collect();
        if active.is_empty() {
            return Ok(None);
        }
        let count = active.len();
        let mut items = vec![self.head_update(head, head + count as u64)?];
        for (i, old) in active.into_iter().enumerate() {
            let position = head + 1 + i as u64;
            let old_position = old.position;
            let entry = ExclusionEntry {
                position,
                state: EntryState::Withdrawn,
                updated_at: at,
                ..old
            };
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(case_pk(case_id), entry_sk(entry.id))))
                .update_expression("SET #st = :w, #p = :new, updated_at = :at")
                .condition_expression("#st = :a AND #p = :old")
                .expression_attribute_names("#st", "state")
                .expression_attribute_names("#p", "position")
                .expression_attribute_values(":w", s(state_str(EntryState::Withdrawn)))
                .expression_attribute_values(":a", s(state_str(EntryState::Active)))
                .expression_attribute_values(":new", n(position))
                .expression_attribute_values(":old", n(old_position))
                .expression_attribute_values(":at", s(ts(at)));
            items.push(
                TransactWriteItem::builder()
                    .update(built(update.build())?)
                    .build(),
            );
            let text = entry.value.stored_text()?;
            let guard = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    case_pk(case_id),
                    value_sk(entry.value.kind(), &text),
                )))
                .update_expression("REMOVE active_entry")
                .condition_expression("active_entry = :id")
                .expression_attribute_values(":id", n(entry.id));
            items.push(
                TransactWriteItem::builder()
                    .update(built(guard.build())?)
                    .build(),
            );
            // The old position keeps an item (the feed stays dense): a move marker.
            let mut marker = key(feed_pk(old_position), feed_sk(old_position));
            marker.insert("moved_to".into(), n(position));
            items.push(put(&self.table, marker, Some("attribute_exists(pk)"))?);
            let mut feed = key(feed_pk(position), feed_sk(position));
            feed.extend(entry_attrs(&entry)?);
            items.push(put(&self.table, feed, Some("attribute_not_exists(pk)"))?);
        }
        Ok(Some((items, count)))
    }
}

/// Bulk seeding for benchmarks (feature `test-support`): feed items written straight with
/// `BatchWriteItem`, many requests in flight, instead of one transaction per case.
#[cfg(feature = "test-support")]
impl DynamoExclusions {
    /// Writes the feed items of `entries` (each at its own position, in its current state) and
    /// moves the head to `head`. Only what the readers use (`changes`, `active`, `head`) is
    /// written: no entry items or value guards, so `add_entries` and `withdraw_case` know
    /// nothing of these entries. The positions must be unused.
    pub async fn seed_feed(
        &self,
        entries: &[ExclusionEntry],
        head: u64,
        in_flight: usize,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut requests = Vec::with_capacity(entries.len());
        for e in entries {
            let mut item = key(feed_pk(e.position), feed_sk(e.position));
            item.extend(entry_attrs(e)?);
            requests.push(
                WriteRequest::builder()
                    .put_request(built(PutRequest::builder().set_item(Some(item)).build())?)
                    .build(),
            );
        }
        let batches: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
        let mut pending = batches.into_iter();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.len() < in_flight.max(1) {
                let Some(batch) = pending.next() else { break };
                let (client, table) = (self.client.clone(), self.table.clone());
                tasks.spawn(async move {
                    let mut batch = batch;
                    for attempt in 0..100u32 {
                        let out = client
                            .batch_write_item()
                            .request_items(&table, batch)
                            .send()
                            .await
                            .map_err(|e| unavailable("BatchWriteItem", e))?;
                        match out.unprocessed_items().and_then(|u| u.get(&table)) {
                            Some(rest) if !rest.is_empty() => {
                                batch = rest.clone();
                                tokio::time::sleep(backoff(attempt.min(6))).await;
                            }
                            _ => return Ok(()),
                        }
                    }
                    Err(StoreError::Unavailable(
                        "BatchWriteItem: kept unprocessed".into(),
                    ))
                });
            }
            match tasks.join_next().await {
                Some(r) => r.map_err(|e| StoreError::Unavailable(format!("seed task: {e}")))??,
                None => break,
            }
        }
        let mut head_item = key(HEAD.into(), HEAD.into());
        head_item.insert("position".into(), n(head));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(head_item))
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        Ok(())
    }
}

#[async_trait]
impl ExclusionStore for DynamoExclusions {
    async fn add_entries(&self, new: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError> {
        let case_id = new.case_id;
        // (kind, stored text) with the value, each value once, in the order given.
        let mut wanted: Vec<((&'static str, String), &ExclusionValue)> = Vec::new();
        let mut seen = HashSet::new();
        for v in new.values {
            let key = (v.kind(), v.stored_text()?);
            if seen.insert(key.clone()) {
                wanted.push((key, v));
            }
        }
        let added = self
            .run("add exclusion entries", || {
                self.add_step(case_id, &wanted, new.at)
            })
            .await?;
        if added > 0 {
            tracing::info!(case = %case_id, added, "exclusion entries added");
        }
        let mut active: Vec<ExclusionEntry> = self
            .entries_of(case_id)
            .await?
            .into_iter()
            .filter(|e| e.state == EntryState::Active)
            .collect();
        active.sort_by_key(|e| e.id);
        Ok(active)
    }

    async fn case_entries(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        let mut entries = self.entries_of(case_id).await?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn changes(&self, after: u64, limit: usize) -> Result<Vec<ExclusionEntry>, StoreError> {
        let mut out = Vec::new();
        // The next position expected: the run stops at the first one not (yet) visible.
        let Some(mut expect) = after.checked_add(1) else {
            return Ok(out);
        };
        if limit == 0 {
            return Ok(out);
        }
        loop {
            let bucket = expect / FEED_BUCKET;
            let out_page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk >= :from")
                .expression_attribute_values(":pk", s(feed_pk(expect)))
                .expression_attribute_values(":from", s(feed_sk(expect)))
                .consistent_read(true)
                .limit(FEED_PAGE)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            let items = out_page.items();
            if items.is_empty() {
                return Ok(out);
            }
            for item in items {
                if feed_position(item)? != expect {
                    // A gap: what follows is not visible yet (or the table ends here).
                    return Ok(out);
                }
                expect += 1;
                if item.contains_key("moved_to") {
                    continue;
                }
                out.push(parse_entry(item)?);
                if out.len() == limit {
                    return Ok(out);
                }
            }
            let more_here = out_page.last_evaluated_key().is_some_and(|k| !k.is_empty());
            // Go on in this bucket (another page) or, at its end, in the next one.
            if !more_here && expect / FEED_BUCKET == bucket {
                return Ok(out);
            }
        }
    }

    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError> {
        let head = self.read_head().await?;
        let mut active = Vec::new();
        for bucket in 0..=head / FEED_BUCKET {
            for item in self.query_all(format!("FEED#{bucket}"), None).await? {
                if item.contains_key("moved_to") {
                    continue;
                }
                let e = parse_entry(&item)?;
                if e.state == EntryState::Active {
                    active.push(e);
                }
            }
        }
        Ok(active)
    }

    async fn withdraw_case(&self, case_id: CaseId, at: DateTime<Utc>) -> Result<usize, StoreError> {
        let withdrawn = self
            .run("withdraw exclusion entries", || {
                self.withdraw_step(case_id, at)
            })
            .await?;
        if withdrawn > 0 {
            tracing::info!(case = %case_id, withdrawn, "exclusion entries withdrawn");
        }
        Ok(withdrawn)
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.read_head().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_number() {
        assert!(feed_sk(9) < feed_sk(10));
        assert!(entry_sk(999) < entry_sk(1000));
        assert_eq!(feed_pk(1023), "FEED#0");
        assert_eq!(feed_pk(1024), "FEED#1");
        assert_eq!(feed_sk(u64::MAX).len(), 20);
    }

    #[test]
    fn values_round_trip_and_guards_differ_by_kind() {
        let mut v = vec![0.0f32; 128];
        (v[0], v[1], v[2]) = (0.1, -0.25, 1.0 / 3.0);
        let face = ExclusionValue::Face(optout_matcher::FaceEmbedding::normalized(&v).unwrap());
        let text = face.stored_text().unwrap();
        assert_eq!(ExclusionValue::from_stored("face", &text).unwrap(), face);
        assert_ne!(value_sk("sha256", "ab"), value_sk("pdq", "ab"));
        assert!(ExclusionValue::from_stored("voice", "x").is_err());
    }

    #[test]
    fn backoff_is_bounded() {
        for a in 0..100 {
            assert!(backoff(a) <= BACKOFF_CAP);
        }
    }

    #[test]
    fn transactions_fit_the_limit() {
        // The head update plus whole chunks: as many as fit, never more.
        for per_entry in [ADD_ITEMS, WITHDRAW_ITEMS] {
            let chunk = (MAX_TRANSACTION_ITEMS - 1) / per_entry;
            let items = 1 + chunk * per_entry;
            assert!(items <= MAX_TRANSACTION_ITEMS);
            assert!(items + per_entry > MAX_TRANSACTION_ITEMS);
        }
    }
}
