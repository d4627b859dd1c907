//! Everything `mosaic` does with keys and certificates: P-256 keys and CSRs, the custom
//! OIDs, checks of an issued certificate, fingerprints, and sealing secrets at rest.

pub mod ca;
pub mod csr;
pub mod keys;
pub mod oid;
pub mod seal;
pub mod verify;

use sha2::{Digest, Sha256};

/// `sha256:` + lowercase hex SHA-256 of a certificate's DER: the one fingerprint format
/// used for CA and peer certificates alike.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// The PEM text of a certificate's DER (64-character lines, LF endings).
pub fn certificate_pem(der: &[u8]) -> String {
    use p256::pkcs8::der::pem::{LineEnding, encode_string};
    // Encoding only fails for a label that is not PEM-safe; "CERTIFICATE" is.
    encode_string("CERTIFICATE", LineEnding::LF, der).expect("a valid PEM label")
}
