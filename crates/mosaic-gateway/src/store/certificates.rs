//! The `issued_certificates` table: every client certificate the CA signed, kept so that
//! an activated grant can always be traced to the exact certificate and the token or the
//! renewal it came from.

use super::db::{Db, DbError, args};

use mosaic_crypto::ca::ClientCert;

/// What a certificate was issued for.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// An enrollment that spent this token (by handle).
    Enrollment { token_handle: &'a str },
    /// A renewal authenticated by the certificate with this fingerprint.
    Renewal { renewed_from: &'a str },
}

pub fn insert(
    conn: &dyn Db,
    cert: &ClientCert,
    grant_id: &str,
    origin: Origin<'_>,
    issued_at: i64,
) -> Result<(), DbError> {
    let (token_handle, renewed_from) = match origin {
        Origin::Enrollment { token_handle } => (Some(token_handle), None),
        Origin::Renewal { renewed_from } => (None, Some(renewed_from)),
    };
    conn.execute(
        "INSERT INTO issued_certificates
             (serial, grant_id, token_handle, renewed_from, fingerprint, der, not_before,
              not_after, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            cert.serial,
            grant_id,
            token_handle,
            renewed_from,
            cert.fingerprint,
            cert.der,
            super::to_ms(cert.not_before),
            super::to_ms(cert.not_after),
            issued_at
        ],
    )?;
    Ok(())
}

/// An issued certificate by fingerprint (its UNIQUE index).
pub const DER_BY_FINGERPRINT: &str = "SELECT der FROM issued_certificates WHERE fingerprint = ?1";
/// The certificate a token was redeemed for (the UNIQUE index of `token_handle`).
pub const FOR_TOKEN: &str =
    "SELECT der, not_after FROM issued_certificates WHERE token_handle = ?1";

/// The DER of the issued certificate with `fingerprint`, if this CA issued it.
pub fn der(conn: &dyn Db, fingerprint: &str) -> Result<Option<Vec<u8>>, DbError> {
    conn.query_opt(DER_BY_FINGERPRINT, args![fingerprint])?
        .map(|r| r.get(0))
        .transpose()
}

/// The certificate a token was redeemed for: (DER, not_after in ms).
pub fn for_token(conn: &dyn Db, token_handle: &str) -> Result<Option<(Vec<u8>, i64)>, DbError> {
    conn.query_opt(FOR_TOKEN, args![token_handle])?
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .transpose()
}
