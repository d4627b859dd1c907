//! A peer's client key: a fresh P-256 key made locally, its PKCS#8 and SPKI encodings
//! (each computed once), and the CSR that carries its public key to the remote CA.

use p256::SecretKey;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot encode the P-256 key: {0}")]
    Encode(String),
    #[error("the private key is not a P-256 PKCS#8 key")]
    NotP256,
    #[error("cannot build the certificate signing request: {0}")]
    Csr(String),
}

/// A P-256 private key with its encodings. The PKCS#8 bytes are wiped on drop, and
/// `Debug` shows only the public half.
pub struct PeerKey {
    pkcs8_der: Zeroizing<Vec<u8>>,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerKey")
            .field("spki_der", &hex::encode(&self.spki_der))
            .finish_non_exhaustive()
    }
}

impl PeerKey {
    /// Makes a new key from the operating system's random source.
    pub fn generate() -> Result<PeerKey, KeyError> {
        Self::from_secret(&SecretKey::generate())
    }

    /// Loads a PKCS#8 DER P-256 key (e.g. one just unsealed).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PeerKey, KeyError> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(|_| KeyError::NotP256)?;
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &SecretKey) -> Result<PeerKey, KeyError> {
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let spki = secret
            .public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(PeerKey {
            pkcs8_der: Zeroizing::new(pkcs8.as_bytes().to_vec()),
            spki_der: spki.as_bytes().to_vec(),
        })
    }

    /// The private key as PKCS#8 DER: the plaintext that gets sealed.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// The public key as SubjectPublicKeyInfo DER: what the issued certificate must carry.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// A PEM CSR, self-signed with this key, with `common_name` as its subject CN. It
    /// carries no extensions: the CA adds the grant's OIDs, not the requester.
    pub fn csr_pem(&self, common_name: &str) -> Result<String, KeyError> {
        // rcgen copies the PKCS#8 bytes into the `KeyPair`; `Zeroizing` wipes that copy
        // when the CSR is made (rcgen's `zeroize` feature). The key as ring parsed it,
        // inside the same `KeyPair`, is freed without being wiped: ring has no zeroization.
        let key_pair = Zeroizing::new(
            KeyPair::from_pkcs8_der_and_sign_algo(
                &self.pkcs8_der.as_slice().into(),
                &PKCS_ECDSA_P256_SHA256,
            )
            .map_err(|e| KeyError::Csr(e.to_string()))?,
        );
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params
            .serialize_request(&*key_pair)
            .and_then(|csr| csr.pem())
            .map_err(|e| KeyError::Csr(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_carries_the_key_and_verifies() {
        let key = PeerKey::generate().unwrap();
        let pem = key.csr_pem("gw-b.example").unwrap();
        use rcgen::PublicKeyData;
        // Parsing verifies the CSR's self-signature.
        let params = rcgen::CertificateSigningRequestParams::from_pem(&pem).unwrap();
        assert_eq!(
            params.public_key.subject_public_key_info(),
            key.spki_der(),
            "the CSR's public key is the generated one"
        );
    }

    #[test]
    fn pkcs8_round_trips() {
        let key = PeerKey::generate().unwrap();
        let again = PeerKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
        assert_eq!(key.spki_der(), again.spki_der());
        assert!(PeerKey::from_pkcs8_der(b"not a key").is_err());
    }

    /// What `Zeroizing<KeyPair>` relies on: rcgen's `zeroize` feature wipes the PKCS#8
    /// copy a `KeyPair` keeps (the `Vec`'s bytes are zeroed, then it is emptied).
    #[test]
    fn an_rcgen_key_pair_s_copy_of_the_key_is_wiped_by_zeroize() {
        use zeroize::Zeroize;
        let key = PeerKey::generate().unwrap();
        let mut pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_ECDSA_P256_SHA256)
                .unwrap();
        assert_eq!(pair.serialized_der(), key.pkcs8_der());
        pair.zeroize();
        assert!(pair.serialized_der().is_empty());
        // The PKCS#8 bytes of a `PeerKey` are in a wiping type.
        let _: &Zeroizing<Vec<u8>> = &key.pkcs8_der;
    }

    #[test]
    fn debug_shows_no_private_bytes() {
        let key = PeerKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(key.pkcs8_der())));
        assert_eq!(
            shown,
            format!(
                "PeerKey {{ spki_der: \"{}\", .. }}",
                hex::encode(key.spki_der())
            )
        );
    }
}
