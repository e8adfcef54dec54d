//! The exclusion table on SQLite. Every addition and withdrawal takes the next change position
//! (one writer connection: positions are strictly increasing), so indexers sync incrementally.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::model::CaseId;
use optout_core::ports::{
    EntryState, ExclusionEntry, ExclusionStore, ExclusionValue, NewEntries, StoreError,
};
use rusqlite::{Connection, Row, params};

use crate::db::{Db, unavailable};

/// The embedded [`ExclusionStore`].
#[derive(Clone)]
pub struct SqliteExclusions {
    db: Db,
}

impl SqliteExclusions {
    pub fn new(db: Db) -> Self {
        SqliteExclusions { db }
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("exclusion entry: {what}"))
}

const COLUMNS: &str = "id, position, case_id, kind, value, state, created_at, updated_at";

type RawRow = (i64, i64, String, String, String, String, String, String);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    RawRow::try_from(r)
}

fn entry(r: RawRow) -> Result<ExclusionEntry, StoreError> {
    let (id, position, case_id, kind, value, state, created, updated) = r;
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(corrupt)
    };
    Ok(ExclusionEntry {
        id: id as u64,
        position: position as u64,
        case_id: CaseId::parse(&case_id).ok_or_else(|| corrupt("case id"))?,
        value: ExclusionValue::from_stored(&kind, &value)?,
        state: match state.as_str() {
            "active" => EntryState::Active,
            "withdrawn" => EntryState::Withdrawn,
            s => return Err(corrupt(format!("state {s:?}"))),
        },
        created_at: time(&created)?,
        updated_at: time(&updated)?,
    })
}

fn query(
    conn: &Connection,
    where_: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<ExclusionEntry>, StoreError> {
    let mut st = conn
        .prepare(&format!("SELECT {COLUMNS} FROM exclusions WHERE {where_}"))
        .map_err(unavailable)?;
    let rows = st.query_map(args, raw).map_err(unavailable)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(entry(r.map_err(unavailable)?)?);
    }
    Ok(out)
}

fn next_position(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM exclusions",
        [],
        |r| r.get(0),
    )
    .map_err(unavailable)
}

#[async_trait]
impl ExclusionStore for SqliteExclusions {
    async fn add_entries(&self, new: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError> {
        let rows = new
            .values
            .iter()
            .map(|v| Ok((v.kind(), v.stored_text()?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (id, at) = (new.case_id.to_string(), new.at.to_rfc3339());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                for (kind, value) in &rows {
                    let exists: bool = tx
                        .query_row(
                            "SELECT EXISTS(SELECT 1 FROM exclusions WHERE case_id = ?1 AND kind = ?2 AND value = ?3 AND state = 'active')",
                            params![id, kind, value],
                            |r| r.get(0),
                        )
                        .map_err(unavailable)?;
                    if exists {
                        continue;
                    }
                    let pos = next_position(&tx)?;
                    tx.execute(
                        "INSERT INTO exclusions (position, case_id, kind, value, state, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)",
                        params![pos, id, kind, value, at],
                    )
                    .map_err(unavailable)?;
                }
                let out = query(&tx, "case_id = ?1 AND state = 'active' ORDER BY id", [&id])?;
                tx.commit().map_err(unavailable)?;
                Ok(out)
            })
            .await
    }

    async fn case_entries(&self, case_id: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.db
            .call(move |conn| query(conn, "case_id = ?1 ORDER BY id", [case_id.to_string()]))
            .await
    }

    async fn changes(&self, after: u64, limit: usize) -> Result<Vec<ExclusionEntry>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| {
                query(
                    conn,
                    "position > ?1 ORDER BY position LIMIT ?2",
                    params![after, limit],
                )
            })
            .await
    }

    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError> {
        self.db
            .call(move |conn| query(conn, "state = 'active' ORDER BY position", []))
            .await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let next = self.db.call(|conn| next_position(conn)).await?;
        Ok(u64::try_from(next - 1).unwrap_or(0))
    }

    async fn withdraw_case(&self, case_id: CaseId, at: DateTime<Utc>) -> Result<usize, StoreError> {
        let (id, at) = (case_id.to_string(), at.to_rfc3339());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let ids: Vec<i64> = {
                    let mut st = tx
                        .prepare("SELECT id FROM exclusions WHERE case_id = ?1 AND state = 'active' ORDER BY id")
                        .map_err(unavailable)?;
                    let rows = st.query_map([&id], |r| r.get(0)).map_err(unavailable)?;
                    rows.collect::<Result<_, _>>().map_err(unavailable)?
                };
                for eid in &ids {
                    let pos = next_position(&tx)?;
                    tx.execute(
                        "UPDATE exclusions SET state = 'withdrawn', position = ?2, updated_at = ?3 WHERE id = ?1",
                        params![eid, pos, at],
                    )
                    .map_err(unavailable)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(ids.len())
            })
            .await
    }
}
