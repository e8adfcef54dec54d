//! The case store on SQLite. Personal data lives in its own table; a case, its audit event, its
//! idempotency key, its first job and the claim of its photo are written in one transaction.

use async_trait::async_trait;
use optout_core::model::{AuditEvent, Case, CaseId, Personal};
use optout_core::ports::{
    CaseFilter, CasePage, CaseStore, InsertOutcome, NewCase, Paging, QueueCursor, StoreError,
    Unique,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::{Db, unavailable};

/// The embedded [`CaseStore`].
#[derive(Clone)]
pub struct SqliteCaseStore {
    db: Db,
}

impl SqliteCaseStore {
    pub fn new(db: Db) -> Self {
        SqliteCaseStore { db }
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The case without its personal data, as stored in `cases.data`.
fn case_json(case: &Case) -> Result<String, StoreError> {
    let mut c = case.clone();
    c.personal = None;
    serde_json::to_string(&c).map_err(corrupt)
}

fn insert_audit(tx: &Transaction<'_>, a: &AuditEvent) -> Result<(), StoreError> {
    let data = serde_json::to_string(a).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO audit (case_id, at, data) VALUES (?1, ?2, ?3)",
        params![a.case_id.to_string(), a.at.to_rfc3339(), data],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn load(conn: &rusqlite::Connection, id: &str) -> Result<Option<Case>, StoreError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT c.data, p.data FROM cases c LEFT JOIN personal p ON p.case_id = c.id WHERE c.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    let Some((data, personal)) = row else {
        return Ok(None);
    };
    let mut case: Case = serde_json::from_str(&data).map_err(corrupt)?;
    case.personal = match personal {
        Some(p) => Some(serde_json::from_str::<Personal>(&p).map_err(corrupt)?),
        None => None,
    };
    Ok(Some(case))
}

#[async_trait]
impl CaseStore for SqliteCaseStore {
    async fn insert_case(&self, new: NewCase<'_>) -> Result<InsertOutcome, StoreError> {
        let case = new.case.clone();
        let audit = new.audit.clone();
        let key = new.idempotency_key.map(str::to_owned);
        let job = new.job.cloned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                if let Some(k) = &key {
                    let existing: Option<String> = tx
                        .query_row("SELECT case_id FROM idempotency WHERE key = ?1", [k], |r| r.get(0))
                        .optional()
                        .map_err(unavailable)?;
                    if let Some(id) = existing {
                        let id = CaseId::parse(&id).ok_or_else(|| StoreError::Corrupt("idempotency case id".into()))?;
                        return Ok(InsertOutcome::Duplicate(id, Unique::IdempotencyKey));
                    }
                }
                if let Some(p) = &case.photo {
                    let existing: Option<String> = tx
                        .query_row("SELECT id FROM cases WHERE photo_key = ?1", [&p.key], |r| r.get(0))
                        .optional()
                        .map_err(unavailable)?;
                    if let Some(id) = existing {
                        let id = CaseId::parse(&id).ok_or_else(|| StoreError::Corrupt("case id".into()))?;
                        return Ok(InsertOutcome::Duplicate(id, Unique::Photo));
                    }
                }
                tx.execute(
                    "INSERT INTO cases (id, kind, state, version, created_at, updated_at, due_at, country, undispatched, photo_key, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        case.id.to_string(),
                        case.kind.as_str(),
                        case.state.as_str(),
                        case.version as i64,
                        case.created_at.to_rfc3339(),
                        case.updated_at.to_rfc3339(),
                        case.due_at.to_rfc3339(),
                        case.personal.as_ref().map(|p| p.country.code().to_owned()),
                        case.has_outbox(),
                        case.photo.as_ref().map(|p| p.key.clone()),
                        case_json(&case)?,
                    ],
                )
                .map_err(unavailable)?;
                if let Some(p) = &case.personal {
                    tx.execute(
                        "INSERT INTO personal (case_id, data) VALUES (?1, ?2)",
                        params![case.id.to_string(), serde_json::to_string(p).map_err(corrupt)?],
                    )
                    .map_err(unavailable)?;
                }
                insert_audit(&tx, &audit)?;
                if let Some(k) = &key {
                    tx.execute("INSERT INTO idempotency (key, case_id) VALUES (?1, ?2)", params![k, case.id.to_string()])
                        .map_err(unavailable)?;
                }
                if let Some(job) = &job {
                    crate::queue::insert_job(&tx, job, case.created_at.timestamp_millis())?;
                }
                if let Some(p) = &case.photo {
                    tx.execute("UPDATE uploads SET claimed = 1 WHERE key = ?1", [&p.key]).map_err(unavailable)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(InsertOutcome::Inserted)
            })
            .await
    }

    async fn get_case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.db.call(move |conn| load(conn, &id.to_string())).await
    }

    async fn update_case(&self, case: &Case, audit: &AuditEvent) -> Result<(), StoreError> {
        let case = case.clone();
        let audit = audit.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let n = tx
                    .execute(
                        "UPDATE cases SET state = ?2, version = ?3, updated_at = ?4, due_at = ?5, undispatched = ?6,
                                photo_key = ?7, data = ?8
                         WHERE id = ?1 AND version = ?9",
                        params![
                            case.id.to_string(),
                            case.state.as_str(),
                            case.version as i64,
                            case.updated_at.to_rfc3339(),
                            case.due_at.to_rfc3339(),
                            case.has_outbox(),
                            case.photo.as_ref().map(|p| p.key.clone()),
                            case_json(&case)?,
                            case.version as i64 - 1,
                        ],
                    )
                    .map_err(unavailable)?;
                if n != 1 {
                    return Err(StoreError::Conflict);
                }
                match &case.personal {
                    Some(p) => tx
                        .execute(
                            "INSERT INTO personal (case_id, data) VALUES (?1, ?2)
                             ON CONFLICT(case_id) DO UPDATE SET data = excluded.data",
                            params![case.id.to_string(), serde_json::to_string(p).map_err(corrupt)?],
                        )
                        .map_err(unavailable)?,
                    None => tx.execute("DELETE FROM personal WHERE case_id = ?1", [case.id.to_string()]).map_err(unavailable)?,
                };
                insert_audit(&tx, &audit)?;
                tx.commit().map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn audit_trail(&self, id: CaseId) -> Result<Vec<AuditEvent>, StoreError> {
        self.db
            .call(move |conn| {
                let mut st = conn
                    .prepare("SELECT data FROM audit WHERE case_id = ?1 ORDER BY seq")
                    .map_err(unavailable)?;
                let rows = st
                    .query_map([id.to_string()], |r| r.get::<_, String>(0))
                    .map_err(unavailable)?;
                let mut out = Vec::new();
                for r in rows {
                    out.push(serde_json::from_str(&r.map_err(unavailable)?).map_err(corrupt)?);
                }
                Ok(out)
            })
            .await
    }

    async fn list_cases(&self, filter: &CaseFilter, page: Paging) -> Result<CasePage, StoreError> {
        let Paging { limit, after } = page;
        use rusqlite::types::Value;
        let mut sql = String::from("SELECT id FROM cases WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if !filter.states.is_empty() {
            sql.push_str(" AND state IN (");
            for (i, st) in filter.states.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                args.push(Value::Text(st.as_str().to_owned()));
            }
            sql.push(')');
        }
        if let Some(k) = filter.kind {
            sql.push_str(" AND kind = ?");
            args.push(Value::Text(k.as_str().to_owned()));
        }
        if let Some(c) = filter.country {
            sql.push_str(" AND country = ?");
            args.push(Value::Text(c.code().to_owned()));
        }
        match filter.complaint {
            Some(true) => sql.push_str(
                " AND json_extract(data, '$.complaint') IS NOT NULL AND json_extract(data, '$.complaint.resolved_at') IS NULL",
            ),
            Some(false) => sql.push_str(
                " AND (json_extract(data, '$.complaint') IS NULL OR json_extract(data, '$.complaint.resolved_at') IS NOT NULL)",
            ),
            None => {}
        }
        if let Some(t) = filter.updated_before {
            sql.push_str(" AND updated_at < ?");
            args.push(Value::Text(t.to_rfc3339()));
        }
        if let Some(c) = after {
            let due = c.due_at.to_rfc3339();
            sql.push_str(" AND (due_at > ? OR (due_at = ? AND id > ?))");
            args.push(Value::Text(due.clone()));
            args.push(Value::Text(due));
            args.push(Value::Text(c.id.to_string()));
        }
        sql.push_str(" ORDER BY due_at, id LIMIT ?");
        args.push(Value::Integer(limit as i64 + 1));
        self.db
            .call(move |conn| {
                let ids: Vec<String> = {
                    let mut st = conn.prepare(&sql).map_err(unavailable)?;
                    let rows = st
                        .query_map(rusqlite::params_from_iter(args), |r| r.get(0))
                        .map_err(unavailable)?;
                    rows.collect::<Result<_, _>>().map_err(unavailable)?
                };
                let more = ids.len() > limit;
                let mut cases = Vec::new();
                for id in ids.iter().take(limit) {
                    cases.extend(load(conn, id)?);
                }
                let next = if more {
                    cases.last().map(QueueCursor::of)
                } else {
                    None
                };
                Ok(CasePage { cases, next })
            })
            .await
    }

    async fn undispatched(&self, limit: usize) -> Result<Vec<Case>, StoreError> {
        self.db
            .call(move |conn| {
                let ids: Vec<String> = {
                    let mut st = conn
                        .prepare("SELECT id FROM cases WHERE undispatched = 1 ORDER BY id LIMIT ?1")
                        .map_err(unavailable)?;
                    let rows = st
                        .query_map([limit as i64], |r| r.get(0))
                        .map_err(unavailable)?;
                    rows.collect::<Result<_, _>>().map_err(unavailable)?
                };
                let mut out = Vec::new();
                for id in ids {
                    out.extend(load(conn, &id)?);
                }
                Ok(out)
            })
            .await
    }
}
