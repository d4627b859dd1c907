//! The `admin_credentials` table: named admin credentials, each kept as the SHA-256 of
//! its secret, with its role, expiry and revocation. Read on every admin request.

use super::db::{Db, DbError, Row, args};

use super::{from_ms, from_ms_opt};
use mosaic_contract::credentials::Credential;

/// A stored credential with the hash of its secret (never leaves the gateway).
#[derive(Debug)]
pub struct StoredCredential {
    pub credential: Credential,
    pub secret_hash: Vec<u8>,
}

const COLUMNS: &str = "id, name, role, created_at, created_by, expires_at, revoked_at, secret_hash";

pub fn insert(conn: &dyn Db, c: &Credential, secret_hash: &[u8; 32]) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO admin_credentials
             (id, name, role, secret_hash, created_at, created_by, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            c.id,
            c.name,
            c.role.as_str(),
            &secret_hash[..],
            super::to_ms(c.created_at),
            c.created_by,
            c.expires_at.map(super::to_ms)
        ],
    )?;
    Ok(())
}

fn from_row(row: &Row) -> Result<StoredCredential, DbError> {
    let role: String = row.get(2)?;
    Ok(StoredCredential {
        credential: Credential {
            id: row.get(0)?,
            name: row.get(1)?,
            role: role
                .parse()
                .map_err(|why: String| DbError::Column { index: 2, why })?,
            created_at: from_ms(row.get(3)?),
            created_by: row.get(4)?,
            expires_at: from_ms_opt(row.get(5)?),
            revoked_at: from_ms_opt(row.get(6)?),
        },
        secret_hash: row.get(7)?,
    })
}

/// A credential by the hash of the presented secret (the UNIQUE index of `secret_hash`).
/// The caller compares the stored hash in constant time before trusting the row.
pub fn find_by_hash(
    conn: &dyn Db,
    secret_hash: &[u8; 32],
) -> Result<Option<StoredCredential>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM admin_credentials WHERE secret_hash = ?1"),
        args![&secret_hash[..]],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

pub fn find(conn: &dyn Db, id: &str) -> Result<Option<Credential>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM admin_credentials WHERE id = ?1"),
        args![id],
    )?
    .map(|r| from_row(&r).map(|s| s.credential))
    .transpose()
}

/// Every credential, oldest first. A gateway has a handful (one per operator or job).
pub fn list(conn: &dyn Db) -> Result<Vec<Credential>, DbError> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM admin_credentials ORDER BY created_at, id"),
        &[],
    )?
    .iter()
    .map(|r| from_row(r).map(|s| s.credential))
    .collect()
}

/// Revokes a credential unless it already was; whether this call revoked it.
pub fn revoke(conn: &dyn Db, id: &str, at: i64) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE admin_credentials SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        args![id, at],
    )? == 1)
}

/// Whether some credential of role `admin` is live at `now` (neither revoked nor
/// expired): with `--no-bootstrap-token`, the bootstrap token is refused while one is, so
/// that the gateway always has an admin.
pub fn any_live_admin(conn: &dyn Db, now: i64) -> Result<bool, DbError> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM admin_credentials
                        WHERE role = 'admin' AND revoked_at IS NULL
                          AND (expires_at IS NULL OR expires_at > ?1))",
        args![now],
    )?
    .get::<bool>(0)
}

/// Whether a credential may be used at `now`.
pub fn is_live(c: &Credential, now: i64) -> bool {
    c.revoked_at.is_none() && c.expires_at.is_none_or(|t| super::to_ms(t) > now)
}
