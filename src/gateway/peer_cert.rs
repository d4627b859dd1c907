//! The checks the enrolling gateway makes before it stores a peer as active: the
//! certificate the granting gateway signed carries our key, chains to the CA certificate
//! it came with, is valid now, allows clientAuth, and names the expected grant and user.

use time::OffsetDateTime;
use x509_parser::asn1_rs::Oid;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::parse_x509_pem;
use x509_parser::time::ASN1Time;

use super::der::decode_utf8_string;
use crate::crypto::{fingerprint, oid};

/// What the checks established about a certificate.
#[derive(Debug, Clone)]
pub struct VerifiedCert {
    pub fingerprint: String,
    /// Lowercase hex of the serial number's bytes.
    pub serial: String,
    pub not_after: OffsetDateTime,
}

/// What the certificate must match.
pub struct Expected<'a> {
    /// SubjectPublicKeyInfo (DER) of the CSR the peer was created with.
    pub spki: &'a [u8],
    pub grant_id: &'a str,
    pub subject_user_id: &'a str,
}

/// Runs every check; the error names the check that failed.
pub fn verify_issued_cert(
    certificate_pem: &str,
    ca_certificate_pem: &str,
    expected: &Expected<'_>,
    now: OffsetDateTime,
) -> Result<VerifiedCert, String> {
    let cert_der = pem_der(certificate_pem, "certificate_pem")?;
    let ca_der = pem_der(ca_certificate_pem, "ca_certificate_pem")?;
    let cert = parse(&cert_der, "certificate_pem")?;
    let ca = parse(&ca_der, "ca_certificate_pem")?;

    if cert.public_key().raw != expected.spki {
        return Err(
            "public key check failed: the certificate does not carry the key of this peer's CSR"
                .into(),
        );
    }
    if !ca.is_ca() {
        return Err("chain check failed: ca_certificate_pem is not a CA certificate (basicConstraints cA is not set)".into());
    }
    if cert.issuer() != ca.subject() {
        return Err(
            "chain check failed: the certificate's issuer is not the CA certificate's subject"
                .into(),
        );
    }
    cert.verify_signature(Some(ca.public_key())).map_err(|_| {
        "chain check failed: the certificate's signature does not verify with the CA certificate's key".to_string()
    })?;
    let at = ASN1Time::from_timestamp(now.unix_timestamp())
        .map_err(|_| "validity check failed: the current time is not representable".to_string())?;
    for (what, c) in [("the certificate", &cert), ("the CA certificate", &ca)] {
        if !c.validity().is_valid_at(at) {
            return Err(format!(
                "validity check failed: {what} is valid from {} to {}, not now",
                c.validity().not_before,
                c.validity().not_after
            ));
        }
    }
    let client_auth = cert
        .extended_key_usage()
        .map_err(|e| format!("extended key usage check failed: {e}"))?
        .is_some_and(|eku| eku.value.client_auth);
    if !client_auth {
        return Err(
            "extended key usage check failed: the certificate does not allow clientAuth".into(),
        );
    }
    check_id_extension(&cert, oid::GRANT_ID, "grant_id", expected.grant_id)?;
    check_id_extension(
        &cert,
        oid::SUBJECT_USER_ID,
        "subject_user_id",
        expected.subject_user_id,
    )?;

    Ok(VerifiedCert {
        fingerprint: fingerprint(&cert_der),
        serial: hex::encode(cert.raw_serial()),
        not_after: OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|_| "validity check failed: notAfter is out of range".to_string())?,
    })
}

fn pem_der(pem: &str, field: &str) -> Result<Vec<u8>, String> {
    let (_, block) =
        parse_x509_pem(pem.as_bytes()).map_err(|_| format!("{field} is not a PEM block"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!(
            "{field} is a PEM \"{}\", not a \"CERTIFICATE\"",
            block.label
        ));
    }
    Ok(block.contents)
}

fn parse<'a>(der: &'a [u8], field: &str) -> Result<X509Certificate<'a>, String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(format!("{field} is not a DER X.509 certificate")),
    }
}

/// The extension `oid` is present exactly once, holds a DER UTF8String, and it equals
/// `expected`.
fn check_id_extension(
    cert: &X509Certificate<'_>,
    oid: &[u64],
    field: &str,
    expected: &str,
) -> Result<(), String> {
    let dotted = oid::dotted(oid);
    let wanted = Oid::from(oid).map_err(|_| format!("{field} check failed: bad OID {dotted}"))?;
    let mut found = cert.extensions().iter().filter(|e| e.oid == wanted);
    let ext = found
        .next()
        .ok_or_else(|| format!("{field} check failed: extension {dotted} is missing"))?;
    if found.next().is_some() {
        return Err(format!(
            "{field} check failed: extension {dotted} appears more than once"
        ));
    }
    let value = decode_utf8_string(ext.value).map_err(|e| {
        format!("{field} check failed: extension {dotted} is not a DER UTF8String ({e})")
    })?;
    if value != expected {
        return Err(format!(
            "{field} check failed: extension {dotted} holds \"{value}\", expected \"{expected}\""
        ));
    }
    Ok(())
}
