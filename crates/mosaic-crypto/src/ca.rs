//! A P-256 certificate authority that signs federation client certificates: the CSR's key,
//! clientAuth, a random serial, a short validity, and the grant's two OID extensions.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::csr::parse_p256_csr;
use super::oid::utf8_string_der;
use super::{fingerprint, oid};

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Not a self-signed P-256 ECDSA CSR; the text says what is wrong with it.
    #[error("{0}")]
    CsrRejected(String),
    #[error("the CA certificate or key cannot be loaded: {0}")]
    Load(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// What goes into one client certificate besides the CSR's key. [`ClientCertProfile::new`]
/// is the contract's profile; the fields are public so a deployment (or a test playing a
/// hostile CA) can change one thing.
#[derive(Debug, Clone)]
pub struct ClientCertProfile {
    /// The CA names the subject: nothing of the requester's CSR but its key is used.
    pub subject: DistinguishedName,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    pub custom_extensions: Vec<CustomExtension>,
}

impl ClientCertProfile {
    /// clientAuth, valid from a minute ago (clock skew) for `validity`, and the two grant
    /// extensions as non-critical UTF8Strings.
    pub fn new(grant_id: &str, subject_user_id: &str, validity: Duration) -> Self {
        let now = OffsetDateTime::now_utc();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, grant_id);
        ClientCertProfile {
            subject,
            not_before: now - Duration::minutes(1),
            not_after: now + validity,
            extended_key_usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
            custom_extensions: vec![
                grant_extension(oid::GRANT_ID, grant_id),
                grant_extension(oid::SUBJECT_USER_ID, subject_user_id),
            ],
        }
    }
}

/// A non-critical extension whose value is one DER UTF8String.
pub fn grant_extension(oid: &[u64], value: &str) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, utf8_string_der(value));
    ext.set_criticality(false);
    ext
}

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub pem: String,
    pub der: Vec<u8>,
    pub fingerprint: String,
    /// Lowercase hex of the serial number's bytes.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// The CA's signing key for rcgen: its `KeyPair` in a [`Zeroizing`], so that the PKCS#8
/// copy rcgen keeps inside it is wiped when the CA is dropped (rcgen's `zeroize`
/// feature). The key as ring parsed it, in the same `KeyPair`, is not wiped: ring has no
/// zeroization (docs/gateway.md, "Key material in memory").
struct CaKey(Zeroizing<KeyPair>);

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}

pub struct CertificateAuthority {
    issuer: Issuer<'static, CaKey>,
    cert_pem: String,
    fingerprint: String,
    key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed P-256 CA named `common_name`, valid for `validity`.
    pub fn generate(common_name: &str, validity: Duration) -> Result<Self, CaError> {
        let key = Zeroizing::new(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map_err(|e| CaError::Sign(e.to_string()))?,
        );
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + validity;
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&*key)
            .map_err(|e| CaError::Sign(e.to_string()))?;
        let key_pkcs8 = Zeroizing::new(key.serialize_der());
        Ok(CertificateAuthority {
            fingerprint: fingerprint(cert.der()),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, CaKey(key)),
            key_pkcs8,
        })
    }

    /// A CA from its certificate PEM and PKCS#8 DER key (as unsealed from disk); the
    /// key must be the certificate's.
    pub fn load(cert_pem: &str, key_pkcs8_der: &[u8]) -> Result<Self, CaError> {
        let key = Zeroizing::new(
            KeyPair::from_pkcs8_der_and_sign_algo(&key_pkcs8_der.into(), &PKCS_ECDSA_P256_SHA256)
                .map_err(|e| CaError::Load(e.to_string()))?,
        );
        let der = super::verify::single_pem_der(cert_pem, "CA certificate")
            .map_err(|e| CaError::Load(e.to_string()))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| CaError::Load(e.to_string()))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CaError::Load(
                "the key is not the CA certificate's key".to_string(),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&der.as_slice().into(), CaKey(key))
            .map_err(|e| CaError::Load(e.to_string()))?;
        Ok(CertificateAuthority {
            fingerprint: fingerprint(&der),
            cert_pem: cert_pem.to_string(),
            issuer,
            key_pkcs8: Zeroizing::new(key_pkcs8_der.to_vec()),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// `sha256:HEX` of the CA certificate's DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA key as PKCS#8 DER, to be sealed at rest.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// Signs a client certificate for the key in `csr_pem`, which must be a valid
    /// self-signed P-256 CSR. Only its key is used; the rest comes from `profile`.
    pub fn issue(&self, csr_pem: &str, profile: &ClientCertProfile) -> Result<ClientCert, CaError> {
        let key = parse_p256_csr(csr_pem).map_err(CaError::CsrRejected)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = profile.subject.clone();
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = profile.not_before;
        params.not_after = profile.not_after;
        params.extended_key_usages = profile.extended_key_usages.clone();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.custom_extensions = profile.custom_extensions.clone();
        params.use_authority_key_identifier_extension = true;
        let serial = random_serial();
        let serial_hex = hex::encode(serial.as_ref());
        params.serial_number = Some(serial);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| CaError::Sign(e.to_string()))?;
        Ok(ClientCert {
            fingerprint: fingerprint(cert.der()),
            pem: cert.pem(),
            der: cert.der().to_vec(),
            serial: serial_hex,
            // As encoded: certificate times have whole seconds.
            not_before: truncate_to_seconds(profile.not_before),
            not_after: truncate_to_seconds(profile.not_after),
        })
    }
}

/// A TLS server certificate the CA issued, with its freshly made key.
pub struct ServerCert {
    pub der: Vec<u8>,
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCert")
            .field("fingerprint", &fingerprint(&self.der))
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A serverAuth certificate for a new P-256 key, naming `sans` (DNS names or IP
    /// addresses), valid from a minute ago for `validity`.
    pub fn issue_server(&self, sans: &[String], validity: Duration) -> Result<ServerCert, CaError> {
        let key = Zeroizing::new(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map_err(|e| CaError::Sign(e.to_string()))?,
        );
        let mut params = CertificateParams::new(sans.to_vec())
            .map_err(|e| CaError::Sign(format!("subject alternative names: {e}")))?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            sans.first().map(String::as_str).unwrap_or("mosaic gateway"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + validity;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let cert = params
            .signed_by(&*key, &self.issuer)
            .map_err(|e| CaError::Sign(e.to_string()))?;
        Ok(ServerCert {
            der: cert.der().to_vec(),
            key_pkcs8_der: Zeroizing::new(key.serialize_der()),
            not_after: truncate_to_seconds(params.not_after),
        })
    }
}

fn truncate_to_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// 16 random bytes with the top bit clear, so the DER INTEGER stays positive and its
/// encoding is exactly these bytes.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = super::random_bytes();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from(bytes.to_vec())
}

/// The public key (SPKI DER) a CSR carries, after verifying its self-signature.
pub fn csr_public_key(csr_pem: &str) -> Result<Vec<u8>, CaError> {
    parse_p256_csr(csr_pem)
        .map(|key| key.spki_der().to_vec())
        .map_err(CaError::CsrRejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PeerKey;
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn ca() -> CertificateAuthority {
        CertificateAuthority::generate("test CA", Duration::days(30)).unwrap()
    }

    /// The CA's signing key is a `Zeroizing<KeyPair>` (its PKCS#8 copy wiped on drop),
    /// and through the wrapper it is the CA certificate's key, signing as P-256 ECDSA.
    #[test]
    fn the_ca_key_is_held_in_a_wiping_type_and_is_the_certificate_s_key() {
        use rcgen::{PublicKeyData, SigningKey};
        for ca in [ca(), {
            let first = ca();
            CertificateAuthority::load(first.cert_pem(), first.key_pkcs8_der()).unwrap()
        }] {
            let key: &CaKey = ca.issuer.key();
            let _: &Zeroizing<KeyPair> = &key.0;
            let der = crate::verify::single_pem_der(ca.cert_pem(), "CA").unwrap();
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            assert_eq!(
                key.der_bytes(),
                cert.public_key().subject_public_key.data.as_ref()
            );
            assert!(std::ptr::eq(key.algorithm(), &PKCS_ECDSA_P256_SHA256));
            // A signature by the wrapper verifies under the certificate's key.
            let signature = key.sign(b"message").unwrap();
            use p256::ecdsa::signature::Verifier;
            let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.der_bytes()).unwrap();
            let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
            assert!(public.verify(b"message", &signature).is_ok());
            assert!(public.verify(b"other", &signature).is_err());
        }
        let _: &Zeroizing<Vec<u8>> = &ca().key_pkcs8;
    }

    #[test]
    fn debug_shows_the_fingerprint_and_nothing_else() {
        let ca = ca();
        assert_eq!(
            format!("{ca:?}"),
            format!(
                "CertificateAuthority {{ fingerprint: {:?}, .. }}",
                ca.fingerprint()
            )
        );
    }

    /// Serials are 16 bytes, the first in 0x01..=0x7f: a positive DER INTEGER whose
    /// encoding is exactly these bytes, whatever the random draw.
    #[test]
    fn serials_are_positive_16_bytes_and_the_certificates_own() {
        let ca = ca();
        let csr = PeerKey::generate().unwrap().csr_pem("peer").unwrap();
        let profile = ClientCertProfile::new("grant-1", "user-1", Duration::days(7));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64 {
            let cert = ca.issue(&csr, &profile).unwrap();
            let bytes = hex::decode(&cert.serial).unwrap();
            assert_eq!(bytes.len(), 16, "{}", cert.serial);
            assert!((0x01..=0x7f).contains(&bytes[0]), "{}", cert.serial);
            let (_, parsed) = X509Certificate::from_der(&cert.der).unwrap();
            assert_eq!(parsed.raw_serial(), bytes.as_slice());
            assert!(seen.insert(bytes), "a serial repeated");
        }
        let firsts: std::collections::HashSet<u8> = seen.iter().map(|s| s[0]).collect();
        assert!(firsts.len() > 8, "the first byte is random too: {firsts:?}");
    }

    #[test]
    fn an_issued_certificate_reports_its_own_facts() {
        let ca = ca();
        let key = PeerKey::generate().unwrap();
        let profile = ClientCertProfile::new("grant-1", "user-1", Duration::days(7));
        let cert = ca.issue(&key.csr_pem("peer").unwrap(), &profile).unwrap();
        let der = crate::verify::single_pem_der(&cert.pem, "certificate").unwrap();
        assert_eq!(der, cert.der);
        assert_eq!(cert.fingerprint, fingerprint(&der));
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(parsed.public_key().raw, key.spki_der());
        let validity = parsed.validity();
        assert_eq!(cert.not_before, validity.not_before.to_datetime());
        assert_eq!(cert.not_after, validity.not_after.to_datetime());
        assert_eq!(cert.not_before.nanosecond(), 0);
        let now = OffsetDateTime::now_utc();
        assert!(cert.not_before < now && now - cert.not_before <= Duration::minutes(2));
    }

    #[test]
    fn the_ca_is_valid_from_a_minute_ago() {
        let ca = ca();
        let der = crate::verify::single_pem_der(ca.cert_pem(), "CA").unwrap();
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        let now = OffsetDateTime::now_utc();
        let validity = parsed.validity();
        assert!(validity.not_before.to_datetime() < now);
        assert!(validity.not_after.to_datetime() > now + Duration::days(29));
        assert!(parsed.is_ca());
        assert_eq!(ca.fingerprint(), fingerprint(&der));
    }

    #[test]
    fn load_round_trips_and_refuses_another_key() {
        let ca = ca();
        let again = CertificateAuthority::load(ca.cert_pem(), ca.key_pkcs8_der()).unwrap();
        assert_eq!(again.fingerprint(), ca.fingerprint());
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert_eq!(again.key_pkcs8_der(), ca.key_pkcs8_der());
        // The loaded CA signs with the same key: its certificates verify against the CA.
        let key = PeerKey::generate().unwrap();
        let profile = ClientCertProfile::new("grant-1", "user-1", Duration::days(7));
        let cert = again.issue(&key.csr_pem("p").unwrap(), &profile).unwrap();
        let expected = crate::verify::Expected {
            public_key_spki: key.spki_der(),
            grant_id: "grant-1",
            subject_user_id: "user-1",
            ca_fingerprint: Some(ca.fingerprint()),
        };
        crate::verify::verify_issued_cert(
            &cert.pem,
            ca.cert_pem(),
            &expected,
            OffsetDateTime::now_utc(),
        )
        .unwrap();

        let other = self::ca();
        let err = CertificateAuthority::load(ca.cert_pem(), other.key_pkcs8_der()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CA certificate or key cannot be loaded: the key is not the CA certificate's key"
        );
    }

    #[test]
    fn a_server_certificate_names_its_hosts_and_is_valid_from_a_minute_ago() {
        let ca = ca();
        let sans = vec!["gw-a.example".to_string(), "127.0.0.1".to_string()];
        let server = ca.issue_server(&sans, Duration::days(30)).unwrap();
        let (_, cert) = X509Certificate::from_der(&server.der).unwrap();
        let now = OffsetDateTime::now_utc();
        let validity = cert.validity();
        let not_before = validity.not_before.to_datetime();
        assert!(not_before < now && now - not_before <= Duration::minutes(2));
        assert_eq!(validity.not_after.to_datetime(), server.not_after);
        assert!(server.not_after > now + Duration::days(29));
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let names = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(names.value.general_names.len(), 2);
        let ca_der = crate::verify::single_pem_der(ca.cert_pem(), "CA").unwrap();
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        let key = PeerKey::from_pkcs8_der(&server.key_pkcs8_der).unwrap();
        assert_eq!(
            cert.public_key().raw,
            key.spki_der(),
            "the key is the certificate's"
        );
        assert_eq!(
            format!("{server:?}"),
            format!(
                "ServerCert {{ fingerprint: {:?}, not_after: {:?}, .. }}",
                fingerprint(&server.der),
                server.not_after
            )
        );
    }

    #[test]
    fn csr_public_key_is_the_requesters_key() {
        let key = PeerKey::generate().unwrap();
        let spki = csr_public_key(&key.csr_pem("p").unwrap()).unwrap();
        assert_eq!(spki, key.spki_der());
    }
}
