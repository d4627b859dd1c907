//! The gateway's own certificate authority: a P-256 key made on first start, its
//! self-signed certificate in `DIR/ca.pem`, and the key sealed at rest in
//! `DIR/ca-key.sealed`. It signs the client certificates handed out at enrollment.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::pem::parse_x509_pem;
use zeroize::Zeroizing;

use super::csr::CsrKey;
use super::data_dir::{DataDir, write_private_file};
use super::der::encode_utf8_string;
use crate::crypto::seal::SealingSecret;
use crate::crypto::{fingerprint, oid};

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.sealed";
/// HKDF `info` of the key that seals the CA key: a label of its own, so a blob sealed
/// for a peer key can never be opened as the CA key or the other way round.
const CA_KEY_INFO: &[u8] = b"mosaic/gateway/ca-key/v1";
/// Associated data of the sealed CA key: there is one CA per data directory.
const CA_KEY_AAD: &[u8] = b"mosaic-gateway-ca";
const CA_VALIDITY: Duration = Duration::days(3650);
/// Client certificates start this much in the past, so a peer whose clock runs a little
/// behind does not see a certificate that is not valid yet.
const CLOCK_SKEW: Duration = Duration::minutes(5);

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    fingerprint: String,
}

/// A client certificate the CA signed.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub pem: String,
    pub der: Vec<u8>,
    pub fingerprint: String,
    /// Lowercase hex of the serial number's bytes.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Ca {
    /// Loads the CA from the data directory, making it on first start. Never replaces an
    /// existing CA: peers pin its fingerprint.
    pub fn load_or_create(dir: &DataDir, secret: &SealingSecret) -> Result<Ca, String> {
        let cert_path = dir.file(CA_CERT_FILE);
        let key_path = dir.file(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (false, false) => create(&cert_path, &key_path, secret)?,
            (true, true) => {}
            (cert, _) => {
                return Err(format!(
                    "{} exists but {} does not: restore the missing file from a backup \
                     (making a new CA would break every peer that pinned this one)",
                    if cert { &cert_path } else { &key_path }.display(),
                    if cert { &key_path } else { &cert_path }.display(),
                ));
            }
        }
        load(&cert_path, &key_path, secret)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// `sha256:<hex>` of the CA certificate's DER, as `grant token` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Signs a client certificate for `key`: clientAuth, a random serial, valid for
    /// `validity` from now, and the grant and subject user IDs as UTF8String extensions.
    pub fn issue(
        &self,
        key: &CsrKey,
        grant_id: &str,
        subject_user_id: &str,
        validity: Duration,
    ) -> Result<IssuedCert, rcgen::Error> {
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc());
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, grant_id);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(oid::GRANT_ID, encode_utf8_string(grant_id)),
            CustomExtension::from_oid_content(
                oid::SUBJECT_USER_ID,
                encode_utf8_string(subject_user_id),
            ),
        ];
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + validity;
        let cert = params.signed_by(key, &self.issuer)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            fingerprint: fingerprint(cert.der()),
            serial: hex::encode(serial),
            not_before: params.not_before,
            not_after: params.not_after,
        })
    }
}

/// 16 random bytes, top bit clear (a positive INTEGER) and second bit set (no leading
/// zero byte to trim): 126 bits of randomness, within RFC 5280's 20 octets.
fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).expect("the OS random source failed");
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

fn create(cert_path: &Path, key_path: &Path, secret: &SealingSecret) -> Result<(), String> {
    let fail = |e: rcgen::Error| format!("cannot make the gateway's CA: {e}");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).expect("the OS random source failed");
    dn.push(
        DnType::CommonName,
        format!("Mosaic gateway federation CA {}", hex::encode(tag)),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + CA_VALIDITY;
    let cert = params.self_signed(&key).map_err(fail)?;

    let pkcs8 = Zeroizing::new(key.serialize_der());
    let sealed = secret.seal(CA_KEY_INFO, CA_KEY_AAD, &pkcs8);
    // Key first: a crash between the two writes leaves a key without a certificate,
    // which the next start reports instead of silently making a second CA.
    write_private_file(key_path, sealed.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    write_private_file(cert_path, cert.pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    Ok(())
}

fn load(cert_path: &Path, key_path: &Path, secret: &SealingSecret) -> Result<Ca, String> {
    let cert_pem = std::fs::read_to_string(cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
    let sealed = std::fs::read_to_string(key_path)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    let bad_cert = || format!("{} is not a PEM certificate", cert_path.display());
    let (_, block) = parse_x509_pem(cert_pem.as_bytes()).map_err(|_| bad_cert())?;
    let cert = block.parse_x509().map_err(|_| bad_cert())?;

    let pkcs8 = secret
        .open(CA_KEY_INFO, CA_KEY_AAD, sealed.trim())
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let key = KeyPair::try_from(&pkcs8[..])
        .map_err(|e| format!("{} holds no usable key: {e}", key_path.display()))?;
    if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Err(format!("{} is not a P-256 key", key_path.display()));
    }
    if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
        return Err(format!(
            "{} and {} do not belong together: restore both from the same backup",
            cert_path.display(),
            key_path.display()
        ));
    }
    let der = rustls::pki_types::CertificateDer::from(block.contents.as_slice());
    let issuer =
        Issuer::from_ca_cert_der(&der, key).map_err(|e| format!("{}: {e}", cert_path.display()))?;
    Ok(Ca {
        issuer,
        fingerprint: fingerprint(&block.contents),
        cert_pem,
    })
}
