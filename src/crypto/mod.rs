//! Everything `mosaic` does with keys and certificates: P-256 keys and CSRs, the custom
//! OIDs, checks of an issued certificate, fingerprints, and sealing secrets at rest.

pub mod ca;
pub mod csr;
pub mod keys;
pub mod oid;
pub mod seal;
pub mod verify;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// `N` bytes from the operating system's random source, the one source of every key,
/// token, salt, nonce and serial. If the system cannot produce randomness, nothing safe
/// can be made, so this panics rather than go on.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// [`random_bytes`] for a secret: made in place and wiped when dropped.
pub fn random_secret<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    fill_random(bytes.as_mut());
    bytes
}

fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// `sha256:` + lowercase hex SHA-256 of a certificate's DER: the one fingerprint format
/// used for CA and peer certificates alike.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}
