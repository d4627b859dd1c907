//! The append-only `audit_log` table: who did what to which grant or peer, and when.

use super::db::{Db, DbError, Row, Value, args};

use super::StoreError;
use super::from_ms;
use super::page::{BAD_CURSOR, KeysetQuery, PageRequest};
use mosaic_contract::types::{AuditAction, AuditEntry, Page};

/// Who caused an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A caller of the admin API: recorded by the name of the credential the request was
    /// made with ([`Record::actor_name`]), `admin` if none is known.
    Admin,
    /// A caller of the public enrollment endpoint, holding (or claiming) a token.
    Enrollment,
    /// The gateway itself, e.g. expiring a grant.
    Gateway,
    /// An enrolled peer, by its client certificate (the federation routes).
    Peer,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Admin => "admin",
            Actor::Enrollment => "enrollment",
            Actor::Gateway => "gateway",
            Actor::Peer => "peer",
        }
    }
}

/// One event to record.
#[derive(Debug)]
pub struct Record<'a> {
    pub action: AuditAction,
    pub actor: Actor,
    pub grant_id: Option<&'a str>,
    pub peer_id: Option<&'a str>,
    /// Never a secret: no token, key or admin token ever goes here.
    pub detail: Option<&'a str>,
    /// The `X-Request-Id` of the request that wrote the row, if a request did.
    pub request_id: Option<&'a str>,
    /// For [`Actor::Admin`]: the name of the request's admin credential (never its secret).
    pub actor_name: Option<&'a str>,
}

impl Record<'_> {
    /// What the row's `actor` column says.
    pub fn actor(&self) -> &str {
        match (self.actor, self.actor_name) {
            (Actor::Admin, Some(name)) => name,
            (actor, _) => actor.as_str(),
        }
    }
}

/// An event to record, owned: what a write hands to [`super::Store::write`].
#[derive(Debug)]
pub struct Event {
    pub action: AuditAction,
    pub actor: Actor,
    pub grant_id: Option<String>,
    pub peer_id: Option<String>,
    /// Never a secret: no token, key or admin token ever goes here.
    pub detail: Option<String>,
}

impl Event {
    pub fn new(action: AuditAction, actor: Actor) -> Event {
        Event {
            action,
            actor,
            grant_id: None,
            peer_id: None,
            detail: None,
        }
    }

    pub fn grant(mut self, id: impl Into<String>) -> Event {
        self.grant_id = Some(id.into());
        self
    }

    pub fn peer(mut self, id: impl Into<String>) -> Event {
        self.peer_id = Some(id.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    pub fn record(&self) -> Record<'_> {
        Record {
            action: self.action,
            actor: self.actor,
            grant_id: self.grant_id.as_deref(),
            peer_id: self.peer_id.as_deref(),
            detail: self.detail.as_deref(),
            request_id: None,
            actor_name: None,
        }
    }
}

pub fn record(conn: &dyn Db, at: i64, r: &Record<'_>) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO audit_log (at, action, actor, grant_id, peer_id, detail, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            at,
            r.action.as_str(),
            r.actor(),
            r.grant_id,
            r.peer_id,
            r.detail,
            r.request_id
        ],
    )?;
    Ok(())
}

/// Filters of `GET /audit`.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub grant_id: Option<String>,
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    /// Unix milliseconds; entries at or after it.
    pub since: Option<i64>,
}

fn from_row(row: &Row) -> Result<AuditEntry, DbError> {
    let action: String = row.get(2)?;
    Ok(AuditEntry {
        id: row.get::<i64>(0)?.to_string(),
        at: from_ms(row.get(1)?),
        action: action
            .parse()
            .map_err(|why: String| DbError::Column { index: 2, why })?,
        actor: row.get(3)?,
        grant_id: row.get(4)?,
        peer_id: row.get(5)?,
        detail: row.get(6)?,
        request_id: row.get(7)?,
    })
}

pub const SELECT: &str =
    "SELECT id, at, action, actor, grant_id, peer_id, detail, request_id FROM audit_log";

pub fn list(
    conn: &dyn Db,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, StoreError> {
    let rows = list_query(filter, page)?.fetch(conn, page, from_row)?;
    Ok(page.finish(rows, |e| (super::to_ms(e.at), e.id.clone())))
}

/// The page query of [`list`].
pub fn list_query(
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<KeysetQuery<'static>, StoreError> {
    let mut filters = Vec::new();
    if let Some(grant) = &filter.grant_id {
        filters.push(("grant_id = ?", Value::Text(grant.clone())));
    }
    if let Some(action) = filter.action {
        filters.push(("action = ?", Value::Text(action.as_str().into())));
    }
    if let Some(actor) = &filter.actor {
        filters.push(("actor = ?", Value::Text(actor.clone())));
    }
    if let Some(since) = filter.since {
        filters.push(("at >= ?", Value::Integer(since)));
    }
    let after = match &page.after {
        Some((at, id)) => {
            let id: i64 = id
                .parse()
                .map_err(|_| StoreError::InvalidPage(BAD_CURSOR.into()))?;
            Some((Value::Integer(*at), Value::Integer(id)))
        }
        None => None,
    };
    Ok(KeysetQuery {
        select: SELECT,
        time_col: "at",
        id_col: "id",
        filters,
        after,
    })
}
