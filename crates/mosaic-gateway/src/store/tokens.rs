//! The `enrollment_tokens` table. A token is kept only as its SHA-256; its handle is a
//! separate random name for the token history, safe to show.

use super::db::{Db, DbError, Row, args};

use super::{from_ms, from_ms_opt};
use mosaic_contract::types::{TokenRecord, TokenState};

/// A stored token, found by the hash of the secret that was presented.
#[derive(Debug)]
pub struct StoredToken {
    pub handle: String,
    pub grant_id: String,
    pub token_hash: Vec<u8>,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
}

pub fn insert(
    conn: &dyn Db,
    handle: &str,
    grant_id: &str,
    token_hash: &[u8; 32],
    issued_at: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO enrollment_tokens (handle, grant_id, token_hash, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        args![handle, grant_id, &token_hash[..], issued_at, expires_at],
    )?;
    Ok(())
}

/// A token by its hash (the UNIQUE index of `token_hash`).
pub const FIND_BY_HASH: &str = "SELECT handle, grant_id, token_hash, expires_at, redeemed_at
     FROM enrollment_tokens WHERE token_hash = ?1";

/// A grant's tokens, oldest first (`tokens_by_grant`).
pub const HISTORY: &str = "SELECT handle, issued_at, expires_at, redeemed_at, cert_fingerprint
     FROM enrollment_tokens WHERE grant_id = ?1 ORDER BY issued_at, handle";

/// Spends a token (by its primary key) unless it already was.
pub const REDEEM: &str = "UPDATE enrollment_tokens SET redeemed_at = ?2, cert_fingerprint = ?3
     WHERE handle = ?1 AND redeemed_at IS NULL";

/// Looks a token up by its hash (a unique index). The caller still compares the stored
/// hash in constant time before trusting the row.
pub fn find_by_hash(conn: &dyn Db, token_hash: &[u8; 32]) -> Result<Option<StoredToken>, DbError> {
    conn.query_opt(FIND_BY_HASH, args![&token_hash[..]])?
        .map(|r| {
            Ok(StoredToken {
                handle: r.get(0)?,
                grant_id: r.get(1)?,
                token_hash: r.get(2)?,
                expires_at: r.get(3)?,
                redeemed_at: r.get(4)?,
            })
        })
        .transpose()
}

/// Marks the token spent by the certificate with `fingerprint`. Returns false if it
/// already was.
pub fn redeem(conn: &dyn Db, handle: &str, now: i64, fingerprint: &str) -> Result<bool, DbError> {
    let n = conn.execute(REDEEM, args![handle, now, fingerprint])?;
    Ok(n == 1)
}

/// Every token of a grant, oldest first, with what became of it as of `now`.
pub fn history(conn: &dyn Db, grant_id: &str, now: i64) -> Result<Vec<TokenRecord>, DbError> {
    conn.query(HISTORY, args![grant_id])?
        .iter()
        .map(|r: &Row| {
            let expires_at: i64 = r.get(2)?;
            let redeemed_at: Option<i64> = r.get(3)?;
            let state = match redeemed_at {
                Some(_) => TokenState::Redeemed,
                None if expires_at <= now => TokenState::Expired,
                None => TokenState::Unused,
            };
            Ok(TokenRecord {
                handle: r.get(0)?,
                issued_at: from_ms(r.get(1)?),
                expires_at: from_ms(expires_at),
                state,
                redeemed_at: from_ms_opt(redeemed_at),
                cert_fingerprint: r.get(4)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
