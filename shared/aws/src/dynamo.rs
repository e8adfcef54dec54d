//! The DynamoDB [`CaseStore`].
//!
//! Two tables (both in `infra/template.yaml`):
//! - the **cases table** (`pk`, `sk`) holds, per case, the case item (`pk = CASE#<id>`, `sk = CASE`:
//!   the case without personal data as JSON in `doc`, `version` for conditional writes, and the
//!   index attributes `case_state` + `due_at` of the review-queue GSI `by_state_due`, `pending` +
//!   `created_at` of the sparse GSI `undispatched`), its audit events (`sk = AUDIT#<time>#<ulid>`),
//!   and the uniqueness items of idempotency keys (`pk = IDEM#<sha256 of the key>`) and photo keys
//!   (`pk = PHOTO#<key>`), each naming its case;
//! - the **personal table** (`case_id`) holds the personal data of a case as JSON in `doc`, with the
//!   TTL attribute `expires_at`: DynamoDB erases it at the end of the retention period.
//!
//! Every write of a case is a transaction conditional on the version read; an insert is one
//! transaction of the case, its personal data, its first audit event and its uniqueness items,
//! each `attribute_not_exists`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Get, Put, ReturnValuesOnConditionCheckFailure,
    TransactGetItem, TransactWriteItem,
};
use chrono::{DateTime, SecondsFormat, Utc};
use optout_core::model::{AuditEvent, Case, CaseId, CaseState, Personal};
use optout_core::ports::{
    BiometricStore, Biometrics, CaseFilter, CasePage, CaseStore, InsertOutcome, NewCase, Paging,
    QueueCursor, StoreError, Unique,
};
use sha2::{Digest, Sha256};

use crate::attr::{n, s};
use crate::error::{describe, unavailable};

type Item = HashMap<String, AttributeValue>;

/// The review-queue index: cases of one state by due date.
pub const REVIEW_INDEX: &str = "by_state_due";
/// The sparse index of cases with something still to dispatch.
pub const UNDISPATCHED_INDEX: &str = "undispatched";

const CASE_SK: &str = "CASE";
const AUDIT_PREFIX: &str = "AUDIT#";

/// Cases, audit trail, idempotency and photo keys in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoCaseStore {
    client: Client,
    cases_table: String,
    personal_table: String,
    retention: chrono::Duration,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn case_pk(id: CaseId) -> String {
    format!("CASE#{id}")
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn idempotency_pk(k: &str) -> String {
    format!("IDEM#{}", hex::encode(Sha256::digest(k.as_bytes())))
}

fn photo_pk(k: &str) -> String {
    format!("PHOTO#{k}")
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    // Only a missing required field fails, which would be a bug here.
    r.map_err(|e| StoreError::Unavailable(format!("request not built: {e}")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

impl DynamoCaseStore {
    /// `retention`: how long personal data is kept after the later of the last change and the due date.
    pub fn new(
        client: Client,
        cases_table: &str,
        personal_table: &str,
        retention: chrono::Duration,
    ) -> Self {
        DynamoCaseStore {
            client,
            cases_table: cases_table.to_owned(),
            personal_table: personal_table.to_owned(),
            retention,
        }
    }

    /// The case item (everything but personal data).
    fn case_item(&self, case: &Case) -> Result<Item, StoreError> {
        let mut public = case.clone();
        public.personal = None;
        let doc = serde_json::to_string(&public)
            .map_err(|e| StoreError::Corrupt(format!("case not serialisable: {e}")))?;
        let mut item = key(case_pk(case.id), CASE_SK);
        item.insert("doc".into(), s(doc));
        item.insert("version".into(), n(case.version));
        item.insert("case_state".into(), s(case.state.as_str()));
        item.insert("due_at".into(), s(ts(case.due_at)));
        item.insert("created_at".into(), s(ts(case.created_at)));
        item.insert("kind".into(), s(case.kind.as_str()));
        if case.has_outbox() {
            item.insert("pending".into(), s("1"));
        }
        Ok(item)
    }

    /// The personal item, expiring `retention` after the later of the last change and the due date.
    fn personal_item(&self, case: &Case, personal: &Personal) -> Result<Item, StoreError> {
        let doc = serde_json::to_string(personal)
            .map_err(|e| StoreError::Corrupt(format!("personal data not serialisable: {e}")))?;
        let expires = case.updated_at.max(case.due_at) + self.retention;
        Ok(HashMap::from([
            ("case_id".to_owned(), s(case.id.to_string())),
            ("doc".to_owned(), s(doc)),
            ("expires_at".to_owned(), n(expires.timestamp())),
        ]))
    }

    fn audit_item(audit: &AuditEvent) -> Result<Item, StoreError> {
        let doc = serde_json::to_string(audit)
            .map_err(|e| StoreError::Corrupt(format!("audit not serialisable: {e}")))?;
        let sk = format!("{AUDIT_PREFIX}{}#{}", ts(audit.at), ulid::Ulid::new());
        let mut item = key(case_pk(audit.case_id), &sk);
        item.insert("doc".into(), s(doc));
        Ok(item)
    }

    fn put_new(
        &self,
        table: &str,
        item: Item,
        key_attr: &str,
        return_old: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", key_attr);
        if return_old {
            put = put.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            );
        }
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    fn personal_write(&self, case: &Case) -> Result<TransactWriteItem, StoreError> {
        Ok(match &case.personal {
            Some(p) => TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(&self.personal_table)
                        .set_item(Some(self.personal_item(case, p)?))
                        .build(),
                )?)
                .build(),
            None => TransactWriteItem::builder()
                .delete(built(
                    Delete::builder()
                        .table_name(&self.personal_table)
                        .key("case_id", s(case.id.to_string()))
                        .build(),
                )?)
                .build(),
        })
    }

    /// Reads the case a uniqueness item (idempotency key or photo key) points to.
    async fn owner_of(&self, pk: String, sk: &str) -> Result<Option<CaseId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.cases_table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| get_s(i, "case_id"))
            .and_then(CaseId::parse))
    }

    fn parse_case(case_item: &Item, personal_item: Option<&Item>) -> Result<Case, StoreError> {
        let doc = get_s(case_item, "doc").ok_or_else(|| corrupt("case item without doc"))?;
        let mut case: Case =
            serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("case doc: {e}")))?;
        let version: u64 = case_item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt("case item without version"))?;
        if version != case.version {
            return Err(corrupt("case version attribute and doc disagree"));
        }
        if let Some(p) = personal_item.and_then(|i| get_s(i, "doc")) {
            case.personal = Some(
                serde_json::from_str(p)
                    .map_err(|e| StoreError::Corrupt(format!("personal doc: {e}")))?,
            );
        }
        Ok(case)
    }

    /// Ids of the cases in `state`, the earliest due first (the review queue).
    pub async fn by_state(
        &self,
        state: CaseState,
        limit: usize,
    ) -> Result<Vec<CaseId>, StoreError> {
        self.index_ids(REVIEW_INDEX, "case_state", state.as_str(), limit)
            .await
    }

    /// Every (sort key, case id) of one partition of an index.
    async fn index_entries(
        &self,
        index: &str,
        attr: &str,
        value: &str,
    ) -> Result<Vec<(String, CaseId)>, StoreError> {
        self.index_query(index, attr, value, usize::MAX).await
    }

    /// The first `limit` case ids of one partition of an index.
    async fn index_ids(
        &self,
        index: &str,
        attr: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<CaseId>, StoreError> {
        let entries = self.index_query(index, attr, value, limit).await?;
        Ok(entries.into_iter().map(|(_, id)| id).collect())
    }

    /// (`due_at`, case id) of one partition of an index, at most `limit`, page by page.
    async fn index_query(
        &self,
        index: &str,
        attr: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<(String, CaseId)>, StoreError> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        while entries.len() < limit {
            let page = i32::try_from(limit - entries.len())
                .unwrap_or(i32::MAX)
                .min(1000);
            let out = self
                .client
                .query()
                .table_name(&self.cases_table)
                .index_name(index)
                .key_condition_expression("#a = :v")
                .expression_attribute_names("#a", attr)
                .expression_attribute_values(":v", s(value))
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for item in out.items() {
                let id = get_s(item, "pk")
                    .and_then(|pk| pk.strip_prefix("CASE#"))
                    .and_then(CaseId::parse)
                    .ok_or_else(|| corrupt("index entry without a case id"))?;
                entries.push((get_s(item, "due_at").unwrap_or_default().to_owned(), id));
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        entries.truncate(limit);
        Ok(entries)
    }
}

fn matches_filter(case: &Case, f: &CaseFilter) -> bool {
    (f.states.is_empty() || f.states.contains(&case.state))
        && f.kind.is_none_or(|k| k == case.kind)
        && f.country
            .is_none_or(|c| case.personal.as_ref().is_some_and(|p| p.country == c))
        && f.complaint
            .is_none_or(|open| case.complaint.is_some() == open)
        && f.updated_before.is_none_or(|t| case.updated_at < t)
}

/// The code of the cancellation reason at `i`, if the transaction was cancelled.
fn reason_code(reasons: &[CancellationReason], i: usize) -> Option<&str> {
    reasons
        .get(i)
        .and_then(|r| r.code())
        .filter(|c| *c != "None")
}

#[async_trait]
impl CaseStore for DynamoCaseStore {
    async fn insert_case(&self, new: NewCase<'_>) -> Result<InsertOutcome, StoreError> {
        let case = new.case;
        let mut items =
            vec![self.put_new(&self.cases_table, self.case_item(case)?, "pk", false)?];
        if let Some(p) = &case.personal {
            items.push(self.put_new(
                &self.personal_table,
                self.personal_item(case, p)?,
                "case_id",
                false,
            )?);
        }
        items.push(self.put_new(&self.cases_table, Self::audit_item(new.audit)?, "pk", false)?);
        // The uniqueness items, each naming the case; their positions in the transaction.
        let mut unique: Vec<(usize, String, &str, Unique)> = Vec::new();
        if let Some(k) = new.idempotency_key {
            let pk = idempotency_pk(k);
            let mut item = key(pk.clone(), "IDEM");
            item.insert("case_id".into(), s(case.id.to_string()));
            unique.push((items.len(), pk, "IDEM", Unique::IdempotencyKey));
            items.push(self.put_new(&self.cases_table, item, "pk", true)?);
        }
        if let Some(photo) = &case.photo {
            let pk = photo_pk(&photo.key);
            let mut item = key(pk.clone(), "PHOTO");
            item.insert("case_id".into(), s(case.id.to_string()));
            unique.push((items.len(), pk, "PHOTO", Unique::Photo));
            items.push(self.put_new(&self.cases_table, item, "pk", true)?);
        }

        // Two racing inserts of the same key can cancel each other (TransactionConflict): try again.
        for attempt in 0..4u32 {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(InsertOutcome::Inserted),
                Err(e) => e,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons().to_vec()
                }
                _ => return Err(unavailable("TransactWriteItems", err)),
            };
            for (i, pk, sk, rule) in &unique {
                if reason_code(&reasons, *i) == Some("ConditionalCheckFailed") {
                    let owner = reasons[*i]
                        .item()
                        .and_then(|it| get_s(it, "case_id"))
                        .and_then(CaseId::parse);
                    let owner = match owner {
                        Some(id) => Some(id),
                        None => self.owner_of(pk.clone(), sk).await?,
                    };
                    return owner
                        .map(|id| InsertOutcome::Duplicate(id, *rule))
                        .ok_or_else(|| corrupt("uniqueness item without a case id"));
                }
            }
            if reason_code(&reasons, 0) == Some("ConditionalCheckFailed") {
                return Err(StoreError::Conflict);
            }
            if reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"))
                && attempt < 3
            {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                continue;
            }
            return Err(StoreError::Unavailable(describe(
                "TransactWriteItems",
                &err,
            )));
        }
        Err(StoreError::Unavailable(
            "TransactWriteItems: kept conflicting".into(),
        ))
    }

    async fn get_case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        let gets = vec![
            TransactGetItem::builder()
                .get(built(
                    Get::builder()
                        .table_name(&self.cases_table)
                        .set_key(Some(key(case_pk(id), CASE_SK)))
                        .build(),
                )?)
                .build(),
            TransactGetItem::builder()
                .get(built(
                    Get::builder()
                        .table_name(&self.personal_table)
                        .key("case_id", s(id.to_string()))
                        .build(),
                )?)
                .build(),
        ];
        let out = self
            .client
            .transact_get_items()
            .set_transact_items(Some(gets))
            .send()
            .await
            .map_err(|e| unavailable("TransactGetItems", e))?;
        let responses = out.responses();
        let Some(case_item) = responses.first().and_then(|r| r.item()) else {
            return Ok(None);
        };
        Self::parse_case(case_item, responses.get(1).and_then(|r| r.item())).map(Some)
    }

    async fn update_case(&self, case: &Case, audit: &AuditEvent) -> Result<(), StoreError> {
        let prev = case.version.checked_sub(1).ok_or(StoreError::Conflict)?;
        let put = Put::builder()
            .table_name(&self.cases_table)
            .set_item(Some(self.case_item(case)?))
            .condition_expression("#v = :prev")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":prev", n(prev))
            .build();
        let items = vec![
            TransactWriteItem::builder().put(built(put)?).build(),
            self.put_new(&self.cases_table, Self::audit_item(audit)?, "pk", false)?,
            self.personal_write(case)?,
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    if matches!(
                        reason_code(reasons, 0),
                        Some("ConditionalCheckFailed" | "TransactionConflict")
                    ) || reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        Err(StoreError::Conflict)
                    } else {
                        Err(StoreError::Unavailable(describe(
                            "TransactWriteItems",
                            &err,
                        )))
                    }
                }
                _ => Err(unavailable("TransactWriteItems", err)),
            },
        }
    }

    async fn audit_trail(&self, id: CaseId) -> Result<Vec<AuditEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.cases_table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(case_pk(id)))
                .expression_attribute_values(":p", s(AUDIT_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for item in out.items() {
                let doc = get_s(item, "doc").ok_or_else(|| corrupt("audit item without doc"))?;
                events.push(
                    serde_json::from_str(doc)
                        .map_err(|e| StoreError::Corrupt(format!("audit doc: {e}")))?,
                );
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn list_cases(&self, filter: &CaseFilter, page: Paging) -> Result<CasePage, StoreError> {
        let Paging { limit, after } = page;
        // The review-queue index gives (state, due date, id) of every case; the other conditions
        // are checked on the cases themselves. Fine for a review desk's volumes.
        let states: Vec<CaseState> = if filter.states.is_empty() {
            CaseState::ALL.to_vec()
        } else {
            filter.states.clone()
        };
        let mut keys: Vec<(String, CaseId)> = Vec::new();
        for st in states {
            keys.extend(
                self.index_entries(REVIEW_INDEX, "case_state", st.as_str())
                    .await?,
            );
        }
        keys.sort();
        let mut cases = Vec::new();
        let mut next = None;
        for (_, id) in keys {
            let Some(case) = self.get_case(id).await? else {
                continue;
            };
            if after.is_some_and(|a| (case.due_at, case.id) <= (a.due_at, a.id))
                || !matches_filter(&case, filter)
            {
                continue;
            }
            if cases.len() == limit {
                next = cases.last().map(QueueCursor::of);
                break;
            }
            cases.push(case);
        }
        Ok(CasePage { cases, next })
    }

    async fn undispatched(&self, limit: usize) -> Result<Vec<Case>, StoreError> {
        let ids = self
            .index_ids(UNDISPATCHED_INDEX, "pending", "1", limit)
            .await?;
        let mut cases = Vec::with_capacity(ids.len());
        for id in ids {
            // The index is eventually consistent: re-check on the item itself.
            if let Some(case) = self.get_case(id).await?
                && case.has_outbox()
            {
                cases.push(case);
            }
        }
        Ok(cases)
    }
}

/// Biometric data (embedding, hashes, findings) in its own table, apart from personal data.
#[derive(Debug, Clone)]
pub struct DynamoBiometricStore {
    client: Client,
    table: String,
}

impl DynamoBiometricStore {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoBiometricStore {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl BiometricStore for DynamoBiometricStore {
    async fn put_biometrics(&self, b: &Biometrics) -> Result<(), StoreError> {
        let doc = serde_json::to_string(b)
            .map_err(|e| StoreError::Corrupt(format!("biometrics not serialisable: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("case_id", s(b.case_id.to_string()))
            .item("doc", s(doc))
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        Ok(())
    }

    async fn get_biometrics(&self, case_id: CaseId) -> Result<Option<Biometrics>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("case_id", s(case_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        match out.item().and_then(|i| get_s(i, "doc")) {
            None => Ok(None),
            Some(doc) => serde_json::from_str(doc)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("biometrics doc: {e}"))),
        }
    }

    async fn delete_biometrics(&self, case_id: CaseId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("case_id", s(case_id.to_string()))
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", e))?;
        Ok(())
    }
}
