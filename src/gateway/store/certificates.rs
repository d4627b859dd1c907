//! The `issued_certificates` table: every client certificate the CA signed, kept so that
//! an activated grant can always be traced to the exact certificate and token.

use rusqlite::{Connection, OptionalExtension, params};

use crate::crypto::ca::ClientCert;

pub fn insert(
    conn: &Connection,
    cert: &ClientCert,
    grant_id: &str,
    token_handle: &str,
    issued_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO issued_certificates
             (serial, grant_id, token_handle, fingerprint, der, not_before, not_after, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            cert.serial,
            grant_id,
            token_handle,
            cert.fingerprint,
            cert.der,
            super::to_ms(cert.not_before),
            super::to_ms(cert.not_after),
            issued_at
        ],
    )?;
    Ok(())
}

/// The certificate a token was redeemed for: (DER, not_after in ms).
pub fn for_token(
    conn: &Connection,
    token_handle: &str,
) -> rusqlite::Result<Option<(Vec<u8>, i64)>> {
    conn.query_row(
        "SELECT der, not_after FROM issued_certificates WHERE token_handle = ?1",
        [token_handle],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}
