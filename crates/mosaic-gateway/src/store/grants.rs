//! The `grants` table: create, read, list, and the state changes (activate, revoke,
//! expire). Callers hold the transaction; status rules live in the routes.

use super::db::{Db, DbError, Row, Value, args};

use super::page::{KeysetQuery, PageRequest};
use super::{audit, from_ms, from_ms_opt, to_ms};
use mosaic_contract::types::{AuditAction, Grant, GrantStatus, Page};

macro_rules! columns {
    () => {
        "id, user_id, peer_id, scope, status, created_at, activated_at, revoked_at, \
         revoked_reason, expires_at, peer_cert_fingerprint, peer_cert_not_after"
    };
}
const COLUMNS: &str = columns!();
/// Every grant, for the list's page query.
pub const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM grants");

/// A grant by its ID (the primary key).
pub const BY_ID: &str = concat!("SELECT ", columns!(), " FROM grants WHERE id = ?1");
/// A grant by its current certificate (`grants_by_cert`).
pub const BY_CERT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM grants WHERE peer_cert_fingerprint = ?1"
);
/// A grant by its previous certificate (`grants_by_previous_cert`).
pub const BY_PREVIOUS_CERT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM grants WHERE previous_cert_fingerprint = ?1"
);

fn from_row(row: &Row) -> Result<Grant, DbError> {
    let conversion = |index: usize, why: String| DbError::Column { index, why };
    let scope: String = row.get(3)?;
    let status: String = row.get(4)?;
    Ok(Grant {
        id: row.get(0)?,
        user_id: row.get(1)?,
        peer_id: row.get(2)?,
        scope: serde_json::from_str(&scope).map_err(|e| conversion(3, e.to_string()))?,
        status: status.parse().map_err(|e| conversion(4, e))?,
        created_at: from_ms(row.get(5)?),
        activated_at: from_ms_opt(row.get(6)?),
        revoked_at: from_ms_opt(row.get(7)?),
        revoked_reason: row.get(8)?,
        expires_at: from_ms_opt(row.get(9)?),
        peer_cert_fingerprint: row.get(10)?,
        peer_cert_not_after: from_ms_opt(row.get(11)?),
        tokens: None,
    })
}

pub fn insert(conn: &dyn Db, grant: &Grant) -> Result<(), DbError> {
    let scope = serde_json::to_string(&grant.scope).map_err(|e| DbError::Column {
        index: 3,
        why: e.to_string(),
    })?;
    conn.execute(
        &format!(
            "INSERT INTO grants ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        args![
            grant.id,
            grant.user_id,
            grant.peer_id,
            scope,
            grant.status.as_str(),
            to_ms(grant.created_at),
            grant.activated_at.map(to_ms),
            grant.revoked_at.map(to_ms),
            grant.revoked_reason,
            grant.expires_at.map(to_ms),
            grant.peer_cert_fingerprint,
            grant.peer_cert_not_after.map(to_ms),
        ],
    )?;
    Ok(())
}

pub fn get(conn: &dyn Db, id: &str) -> Result<Option<Grant>, DbError> {
    conn.query_opt(BY_ID, args![id])?
        .map(|r| from_row(&r))
        .transpose()
}

/// Which of a grant's certificates was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// The one issued last.
    Current,
    /// The one the current one renewed, still accepted until the current one is first
    /// presented (or it expires).
    Previous,
}

/// The grant whose current or previous peer certificate has `fingerprint`, if any.
pub fn by_cert_fingerprint(
    conn: &dyn Db,
    fingerprint: &str,
) -> Result<Option<(Grant, CertRole)>, DbError> {
    let current = conn
        .query_opt(BY_CERT, args![fingerprint])?
        .map(|r| from_row(&r))
        .transpose()?;
    if let Some(grant) = current {
        return Ok(Some((grant, CertRole::Current)));
    }
    let previous = conn
        .query_opt(BY_PREVIOUS_CERT, args![fingerprint])?
        .map(|r| from_row(&r))
        .transpose()?;
    Ok(previous.map(|g| (g, CertRole::Previous)))
}

/// The current certificate was presented: the previous one is no longer accepted.
pub fn retire_previous_cert(conn: &dyn Db, id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE grants SET previous_cert_fingerprint = NULL
         WHERE id = ?1 AND previous_cert_fingerprint IS NOT NULL",
        args![id],
    )?;
    Ok(())
}

/// Records a renewal: `fingerprint` becomes the current certificate and `previous` the
/// one still accepted until it is first presented. Returns false unless the grant is
/// active.
pub fn renew_cert(
    conn: &dyn Db,
    id: &str,
    fingerprint: &str,
    not_after: i64,
    previous: &str,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE grants SET peer_cert_fingerprint = ?2, peer_cert_not_after = ?3,
                           previous_cert_fingerprint = ?4
         WHERE id = ?1 AND status = 'active'",
        args![id, fingerprint, not_after, previous],
    )?;
    Ok(n == 1)
}

/// Filters of `GET /grants`.
#[derive(Debug, Default)]
pub struct GrantFilter {
    pub peer_id: Option<String>,
    pub status: Option<GrantStatus>,
}

pub fn list(
    conn: &dyn Db,
    filter: &GrantFilter,
    page: &PageRequest,
) -> Result<Page<Grant>, DbError> {
    let rows = list_query(filter, page).fetch(conn, page, from_row)?;
    Ok(page.finish(rows, |g| (to_ms(g.created_at), g.id.clone())))
}

/// The page query of [`list`].
pub fn list_query(filter: &GrantFilter, page: &PageRequest) -> KeysetQuery<'static> {
    let mut filters = Vec::new();
    if let Some(peer) = &filter.peer_id {
        filters.push(("peer_id = ?", Value::Text(peer.clone())));
    }
    if let Some(status) = filter.status {
        filters.push(("status = ?", Value::Text(status.as_str().into())));
    }
    KeysetQuery {
        select: SELECT_ALL,
        time_col: "created_at",
        id_col: "id",
        filters,
        after: page
            .after
            .clone()
            .map(|(at, id)| (Value::Integer(at), Value::Text(id))),
    }
}

/// Every pending or active grant past its `expires_at`. The partial index holds only
/// pending and active grants with an expiry, so this visits the due grants and nothing
/// else; it is named because SQLite's planner, left alone, prefers `grants_by_status`
/// and walks every pending and active grant (the index must exist, or the statement
/// fails to prepare rather than scan).
pub const EXPIRE_DUE: &str = "UPDATE grants INDEXED BY grants_expiring SET status = 'expired'
     WHERE expires_at IS NOT NULL AND expires_at <= ?1
       AND status IN ('pending', 'active')
     RETURNING id";

/// Whether [`EXPIRE_DUE`] would change anything at `?1`: a read-only probe of the same
/// index.
pub const ANY_DUE: &str = "SELECT EXISTS (SELECT 1 FROM grants INDEXED BY grants_expiring
     WHERE expires_at IS NOT NULL AND expires_at <= ?1
       AND status IN ('pending', 'active'))";

/// Whether some pending or active grant is past its `expires_at` at `now`.
pub fn any_due(conn: &dyn Db, now: i64) -> Result<bool, DbError> {
    conn.query_one(ANY_DUE, args![now])?.get(0)
}

/// Moves every pending or active grant whose `expires_at` has passed to `expired`, with
/// one audit record each. Runs at the start of every transaction that reads or changes
/// grants, so an expired grant never reads or acts as anything else. How many it expired.
pub fn expire_due(conn: &dyn Db, now: i64) -> Result<usize, DbError> {
    let expired: Vec<String> = conn
        .query(EXPIRE_DUE, args![now])?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    for id in &expired {
        audit::record(
            conn,
            now,
            &audit::Record {
                action: AuditAction::GrantExpired,
                actor: audit::Actor::Gateway,
                grant_id: Some(id),
                peer_id: None,
                detail: Some("expires_at passed"),
                request_id: None,
                actor_name: None,
            },
        )?;
    }
    Ok(expired.len())
}

/// pending → active, by the primary key.
pub const ACTIVATE: &str = "UPDATE grants SET status = 'active', activated_at = ?2,
                           peer_cert_fingerprint = ?3, peer_cert_not_after = ?4
     WHERE id = ?1 AND status = 'pending'";

/// pending → active, with the fingerprint of the certificate that activated it. Returns
/// false if the grant was not pending.
pub fn activate(
    conn: &dyn Db,
    id: &str,
    now: i64,
    fingerprint: &str,
    not_after: i64,
) -> Result<bool, DbError> {
    let n = conn.execute(ACTIVATE, args![id, now, fingerprint, not_after])?;
    Ok(n == 1)
}

/// pending or active → revoked. Returns false if the grant was in neither state.
pub fn revoke(conn: &dyn Db, id: &str, now: i64, reason: Option<&str>) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE grants SET status = 'revoked', revoked_at = ?2, revoked_reason = ?3
         WHERE id = ?1 AND status IN ('pending', 'active')",
        args![id, now, reason],
    )?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests;
