//! Who an admin request is: the bootstrap token (the break-glass credential, role
//! `admin`) or a named credential found by the hash of its secret, looked up in the store
//! on every request so that a revocation through any replica holds at the next request.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::store::credentials::{self, StoredCredential};
use crate::store::db::{Db, DbError};
use mosaic_contract::credentials::{BOOTSTRAP_NAME, Role, SECRET_PREFIX};

/// The credential a request was made with: put in the request's extensions by the
/// admin check, and in the answer's for the request's log line.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: Arc<str>,
    pub role: Role,
    pub expires_at: Option<OffsetDateTime>,
}

impl Caller {
    /// The bootstrap token's caller.
    pub fn bootstrap() -> Caller {
        Caller {
            name: Arc::from(BOOTSTRAP_NAME),
            role: Role::Admin,
            expires_at: None,
        }
    }
}

/// A new secret: the prefix and 256 random bits in base64url, with the SHA-256 that is
/// all the store keeps.
pub fn new_secret() -> (Zeroizing<String>, [u8; 32]) {
    let bytes = mosaic_crypto::random_secret::<32>();
    let secret = Zeroizing::new(format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let digest = hash(&secret);
    (secret, digest)
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// What a presented named secret turned out to be.
#[derive(Debug)]
pub enum Found {
    /// A credential that may be used now.
    Live(Caller),
    /// A revoked or expired credential, by name: refused like an unknown one, but audited.
    Dead(String),
    /// No such credential.
    Unknown,
}

/// Looks `presented` up by its hash at `now` (Unix ms). Secrets without the prefix are
/// not looked up: they cannot be a named credential's.
pub fn find(conn: &dyn Db, presented: &str, now: i64) -> Result<Found, DbError> {
    if !presented.starts_with(SECRET_PREFIX) {
        return Ok(Found::Unknown);
    }
    let digest = hash(presented);
    let Some(StoredCredential {
        credential,
        secret_hash,
    }) = credentials::find_by_hash(conn, &digest)?
    else {
        return Ok(Found::Unknown);
    };
    // The row was found by its hash; compared again in constant time before trusting it.
    if !bool::from(secret_hash.as_slice().ct_eq(&digest)) {
        return Ok(Found::Unknown);
    }
    if !credentials::is_live(&credential, now) {
        return Ok(Found::Dead(credential.name));
    }
    Ok(Found::Live(Caller {
        name: Arc::from(credential.name),
        role: credential.role,
        expires_at: credential.expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_has_the_prefix_and_256_bits() {
        let (a, hash_a) = new_secret();
        let (b, _) = new_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_ne!(*a, *b);
        assert_eq!(hash(&a), hash_a);
    }
}
