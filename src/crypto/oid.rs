//! The custom certificate extensions that bind a federation client certificate to its
//! grant. Each is a non-critical extension whose value is one ASN.1 UTF8String.
//!
//! The arc 1.3.6.1.4.1.32473 is the enterprise number reserved for documentation
//! (RFC 5612); a deployment with its own registered arc changes these two constants only.

/// Extension holding the grant ID.
pub const GRANT_ID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];
/// Extension holding the subject user ID.
pub const SUBJECT_USER_ID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 2];

/// Dotted form of an OID, e.g. `1.3.6.1.4.1.32473.1.1`.
pub fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}
