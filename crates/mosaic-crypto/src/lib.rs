//! Everything `mosaic` does with keys and certificates: P-256 keys and CSRs, the custom
//! OIDs, checks of an issued certificate, fingerprints, TLS pinned to one CA, and sealing
//! secrets at rest. It depends on no other crate of the workspace.

pub mod ca;
pub mod csr;
pub mod keys;
pub mod oid;
pub mod pinned;
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

/// The PEM text of a certificate's DER (64-character lines, LF endings).
pub fn certificate_pem(der: &[u8]) -> String {
    use p256::pkcs8::der::pem::{LineEnding, encode_string};
    // Encoding only fails for a label that is not PEM-safe; "CERTIFICATE" is.
    encode_string("CERTIFICATE", LineEnding::LF, der).expect("a valid PEM label")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two draws of 32 bytes from a working source are equal, or constant, with
    /// probability 2^-256: a source that is not drawn from fails here.
    #[test]
    fn random_bytes_and_secrets_are_fresh_each_time() {
        let (a, b) = (random_bytes::<32>(), random_bytes::<32>());
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != a[0]), "{a:?}");
        let (c, d) = (random_secret::<32>(), random_secret::<32>());
        assert_ne!(*c, *d);
        assert!(c.iter().any(|&x| x != c[0]), "{:?}", *c);
        assert_ne!(*c, a);
    }

    /// The PEM text reads back to the same DER through an independent parser, with the
    /// label and 64-character lines that every TLS stack accepts.
    #[test]
    fn certificate_pem_wraps_the_der_it_was_given() {
        let der: Vec<u8> = (0..=255u8).cycle().take(100).collect();
        let pem = certificate_pem(&der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
        assert!(pem.lines().all(|line| line.len() <= 64), "{pem}");
        let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        assert_eq!(parsed.label, "CERTIFICATE");
        assert_eq!(parsed.contents, der);
    }

    #[test]
    fn fingerprint_is_sha256_hex_with_its_prefix() {
        assert_eq!(
            fingerprint(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
