//! Checks of a certificate a remote CA issued for one of our keys, before anything is
//! stored as active: the key is ours, the grant OIDs say what was granted, it chains to
//! the (optionally pinned) CA, it is valid now, and it is a client certificate.

use time::OffsetDateTime;
use x509_parser::asn1_rs::{self, Utf8String};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;

use super::{fingerprint, oid};

/// What the certificate must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// SubjectPublicKeyInfo DER of the key we generated.
    pub public_key_spki: &'a [u8],
    pub grant_id: &'a str,
    pub subject_user_id: &'a str,
    /// `sha256:HEX` pin of the CA certificate, if the operator gave one.
    pub ca_fingerprint: Option<&'a str>,
}

/// Facts of a certificate that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub fingerprint: String,
    /// Lowercase hex of the serial number's bytes.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub ca_fingerprint: String,
}

/// Which check failed. Each message names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the {what} is not a single PEM certificate: {why}")]
    Pem { what: &'static str, why: String },
    #[error("CA fingerprint mismatch: expected {expected}, the gateway presented {actual}")]
    CaFingerprint { expected: String, actual: String },
    #[error("the CA certificate is not a certificate authority (no basicConstraints CA:TRUE)")]
    NotACa,
    #[error("the certificate's public key is not the key generated for this enrollment")]
    PublicKeyMismatch,
    #[error("the certificate lacks the {name} extension ({oid})")]
    ExtensionMissing { name: &'static str, oid: String },
    #[error("the certificate carries the {name} extension ({oid}) more than once")]
    ExtensionDuplicated { name: &'static str, oid: String },
    #[error("the {name} extension ({oid}) is not a single ASN.1 UTF8String")]
    ExtensionMalformed { name: &'static str, oid: String },
    #[error("the certificate's {name} ({oid}) is \"{actual}\", expected \"{expected}\"")]
    ExtensionMismatch {
        name: &'static str,
        oid: String,
        expected: String,
        actual: String,
    },
    #[error("the certificate is not signed by the CA certificate")]
    NotSignedByCa,
    #[error("the certificate is not valid now: valid from {not_before} until {not_after}")]
    OutsideValidity {
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
    #[error("the CA certificate is not valid now")]
    CaOutsideValidity,
    #[error("the certificate does not allow client authentication (extended key usage clientAuth)")]
    NoClientAuth,
}

/// Runs every check of the contract ("What `peer add` checks") on `cert_pem` issued by
/// `ca_pem`, at time `now`. The gateway's `PATCH …/cert` runs the same checks.
pub fn verify_issued_cert(
    cert_pem: &str,
    ca_pem: &str,
    expected: &Expected<'_>,
    now: OffsetDateTime,
) -> Result<IssuedCert, VerifyError> {
    let cert_der = single_pem_der(cert_pem, "issued certificate")?;
    let ca_der = single_pem_der(ca_pem, "CA certificate")?;
    let ca_fingerprint = fingerprint(&ca_der);
    if let Some(pin) = expected.ca_fingerprint
        && !pin.eq_ignore_ascii_case(&ca_fingerprint)
    {
        return Err(VerifyError::CaFingerprint {
            expected: pin.to_string(),
            actual: ca_fingerprint,
        });
    }
    let cert = parse_der(&cert_der, "issued certificate")?;
    let ca = parse_der(&ca_der, "CA certificate")?;

    if cert.public_key().raw != expected.public_key_spki {
        return Err(VerifyError::PublicKeyMismatch);
    }
    let grant = utf8_extension(&cert, oid::GRANT_ID, "grant ID")?;
    if grant != expected.grant_id {
        return Err(mismatch(
            oid::GRANT_ID,
            "grant ID",
            expected.grant_id,
            grant,
        ));
    }
    let user = utf8_extension(&cert, oid::SUBJECT_USER_ID, "subject user ID")?;
    if user != expected.subject_user_id {
        return Err(mismatch(
            oid::SUBJECT_USER_ID,
            "subject user ID",
            expected.subject_user_id,
            user,
        ));
    }

    if !ca.is_ca() {
        return Err(VerifyError::NotACa);
    }
    if cert.issuer().as_raw() != ca.subject().as_raw()
        || cert.verify_signature(Some(ca.public_key())).is_err()
    {
        return Err(VerifyError::NotSignedByCa);
    }
    let at = x509_parser::time::ASN1Time::new(now);
    if !ca.validity().is_valid_at(at) {
        return Err(VerifyError::CaOutsideValidity);
    }
    let validity = cert.validity();
    let (not_before, not_after) = (
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    );
    if !validity.is_valid_at(at) {
        return Err(VerifyError::OutsideValidity {
            not_before,
            not_after,
        });
    }
    let client_auth = matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth);
    if !client_auth {
        return Err(VerifyError::NoClientAuth);
    }
    Ok(IssuedCert {
        fingerprint: fingerprint(&cert_der),
        serial: hex::encode(cert.raw_serial()),
        not_before,
        not_after,
        ca_fingerprint,
    })
}

fn mismatch(oid: &[u64], name: &'static str, expected: &str, actual: String) -> VerifyError {
    VerifyError::ExtensionMismatch {
        name,
        oid: oid::dotted(oid),
        expected: expected.to_string(),
        actual,
    }
}

/// The DER of the one certificate in `pem`; anything else in it is an error.
pub fn single_pem_der(pem: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    let bad = |why: &str| VerifyError::Pem {
        what,
        why: why.to_string(),
    };
    let (rest, block) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| bad("no PEM block"))?;
    if block.label != "CERTIFICATE" {
        return Err(bad(&format!("a {} block, not CERTIFICATE", block.label)));
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("more than one PEM block"));
    }
    Ok(block.contents)
}

fn parse_der<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>, VerifyError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(VerifyError::Pem {
            what,
            why: "trailing bytes after the certificate".into(),
        }),
        Err(e) => Err(VerifyError::Pem {
            what,
            why: format!("not an X.509 certificate ({e})"),
        }),
    }
}

/// The value of the custom extension `oid`, which must occur exactly once and hold one
/// DER UTF8String.
pub fn utf8_extension(
    cert: &X509Certificate<'_>,
    oid: &[u64],
    name: &'static str,
) -> Result<String, VerifyError> {
    let dotted = oid::dotted(oid);
    let wanted = Oid::from(oid).expect("a constant OID");
    let mut found = cert.extensions().iter().filter(|e| e.oid == wanted);
    let ext = found.next().ok_or_else(|| VerifyError::ExtensionMissing {
        name,
        oid: dotted.clone(),
    })?;
    if found.next().is_some() {
        return Err(VerifyError::ExtensionDuplicated { name, oid: dotted });
    }
    match <Utf8String as asn1_rs::FromDer<'_>>::from_der(ext.value) {
        Ok(([], s)) => Ok(s.string()),
        _ => Err(VerifyError::ExtensionMalformed { name, oid: dotted }),
    }
}

/// What a client certificate claims: the grant ID and subject user ID of its two custom
/// extensions (each exactly once), and the end of its validity. Its signature and chain
/// are the TLS layer's business; this only reads what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantIdentity {
    pub fingerprint: String,
    pub grant_id: String,
    pub subject_user_id: String,
    pub not_after: OffsetDateTime,
}

pub fn grant_identity(der: &[u8]) -> Result<GrantIdentity, VerifyError> {
    let cert = parse_der(der, "client certificate")?;
    Ok(GrantIdentity {
        fingerprint: fingerprint(der),
        grant_id: utf8_extension(&cert, oid::GRANT_ID, "grant ID")?,
        subject_user_id: utf8_extension(&cert, oid::SUBJECT_USER_ID, "subject user ID")?,
        not_after: cert.validity().not_after.to_datetime(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CertificateAuthority, ClientCertProfile, grant_extension};
    use crate::keys::PeerKey;
    use rcgen::ExtendedKeyUsagePurpose;
    use time::Duration;

    const GRANT: &str = "grant-1";
    const USER: &str = "user-1";

    struct Case {
        ca: CertificateAuthority,
        key: PeerKey,
    }

    impl Case {
        fn new() -> Case {
            Case {
                ca: CertificateAuthority::generate("test CA", Duration::days(30)).unwrap(),
                key: PeerKey::generate().unwrap(),
            }
        }
        fn issue(&self, edit: impl FnOnce(&mut ClientCertProfile)) -> String {
            let mut profile = ClientCertProfile::new(GRANT, USER, Duration::days(7));
            edit(&mut profile);
            let csr = self.key.csr_pem("peer").unwrap();
            self.ca.issue(&csr, &profile).unwrap().pem
        }
        fn check(&self, cert: &str, pin: Option<&str>) -> Result<IssuedCert, VerifyError> {
            let expected = Expected {
                public_key_spki: self.key.spki_der(),
                grant_id: GRANT,
                subject_user_id: USER,
                ca_fingerprint: pin,
            };
            verify_issued_cert(
                cert,
                self.ca.cert_pem(),
                &expected,
                OffsetDateTime::now_utc(),
            )
        }
    }

    #[test]
    fn honest_certificate_passes_with_and_without_pin() {
        let c = Case::new();
        let cert = c.issue(|_| {});
        let issued = c.check(&cert, None).unwrap();
        assert_eq!(issued.ca_fingerprint, c.ca.fingerprint());
        assert_eq!(issued.serial.len(), 32);
        assert!(issued.not_after > OffsetDateTime::now_utc() + Duration::days(6));
        let pin =
            c.ca.fingerprint()
                .to_uppercase()
                .replace("SHA256", "sha256");
        c.check(&cert, Some(&pin)).unwrap();
    }

    #[test]
    fn each_broken_certificate_fails_its_own_check() {
        let c = Case::new();
        let other_ca = CertificateAuthority::generate("other CA", Duration::days(30)).unwrap();
        let other_key = PeerKey::generate().unwrap();
        let profile = ClientCertProfile::new(GRANT, USER, Duration::days(7));
        let by_other_ca = other_ca
            .issue(&c.key.csr_pem("p").unwrap(), &profile)
            .unwrap()
            .pem;
        let other_key_cert =
            c.ca.issue(&other_key.csr_pem("p").unwrap(), &profile)
                .unwrap()
                .pem;
        type Broken = (&'static str, String, fn(&VerifyError) -> bool);
        let cases: Vec<Broken> = vec![
            (
                "wrong grant OID",
                c.issue(|p| p.custom_extensions[0] = grant_extension(oid::GRANT_ID, "grant-2")),
                |e| {
                    matches!(
                        e,
                        VerifyError::ExtensionMismatch {
                            name: "grant ID",
                            ..
                        }
                    )
                },
            ),
            (
                "wrong user OID",
                c.issue(|p| {
                    p.custom_extensions[1] = grant_extension(oid::SUBJECT_USER_ID, "user-2")
                }),
                |e| {
                    matches!(
                        e,
                        VerifyError::ExtensionMismatch {
                            name: "subject user ID",
                            ..
                        }
                    )
                },
            ),
            (
                "missing OID",
                c.issue(|p| {
                    p.custom_extensions.remove(1);
                }),
                |e| matches!(e, VerifyError::ExtensionMissing { .. }),
            ),
            (
                "duplicated OID",
                c.issue(|p| {
                    p.custom_extensions
                        .push(grant_extension(oid::GRANT_ID, GRANT))
                }),
                |e| matches!(e, VerifyError::ExtensionDuplicated { .. }),
            ),
            (
                "OID not a UTF8String",
                c.issue(|p| {
                    p.custom_extensions[0] =
                        rcgen::CustomExtension::from_oid_content(oid::GRANT_ID, vec![2, 1, 5])
                }),
                |e| matches!(e, VerifyError::ExtensionMalformed { .. }),
            ),
            ("another public key", other_key_cert, |e| {
                matches!(e, VerifyError::PublicKeyMismatch)
            }),
            ("another CA", by_other_ca, |e| {
                matches!(e, VerifyError::NotSignedByCa)
            }),
            (
                "expired",
                c.issue(|p| {
                    p.not_before = OffsetDateTime::now_utc() - Duration::days(10);
                    p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
                }),
                |e| matches!(e, VerifyError::OutsideValidity { .. }),
            ),
            (
                "no clientAuth",
                c.issue(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]),
                |e| matches!(e, VerifyError::NoClientAuth),
            ),
        ];
        for (name, cert, want) in cases {
            let err = c.check(&cert, None).expect_err(name);
            assert!(want(&err), "{name}: got {err:?}");
        }
        let err = c
            .check(&c.issue(|_| {}), Some(other_ca.fingerprint()))
            .unwrap_err();
        assert!(matches!(err, VerifyError::CaFingerprint { .. }), "{err:?}");
    }

    #[test]
    fn the_ca_must_be_a_ca() {
        let c = Case::new();
        let cert = c.issue(|_| {});
        // A leaf presented as the CA fails, even though it parses.
        let expected = Expected {
            public_key_spki: c.key.spki_der(),
            grant_id: GRANT,
            subject_user_id: USER,
            ca_fingerprint: None,
        };
        let err = verify_issued_cert(&cert, &cert, &expected, OffsetDateTime::now_utc());
        assert_eq!(err.unwrap_err(), VerifyError::NotACa);
    }

    #[test]
    fn pem_must_hold_exactly_one_certificate() {
        let c = Case::new();
        let cert = c.issue(|_| {});
        let two = format!("{cert}{cert}");
        assert!(matches!(c.check(&two, None), Err(VerifyError::Pem { .. })));
        assert!(matches!(
            c.check("garbage", None),
            Err(VerifyError::Pem { .. })
        ));
    }

    #[test]
    fn grant_identity_reads_what_the_certificate_claims() {
        let c = Case::new();
        let pem = c.issue(|_| {});
        let der = single_pem_der(&pem, "certificate").unwrap();
        let issued = c.check(&pem, None).unwrap();
        assert_eq!(
            grant_identity(&der).unwrap(),
            GrantIdentity {
                fingerprint: issued.fingerprint,
                grant_id: GRANT.into(),
                subject_user_id: USER.into(),
                not_after: issued.not_after,
            }
        );
        let without_user = c.issue(|p| {
            p.custom_extensions.remove(1);
        });
        let der = single_pem_der(&without_user, "certificate").unwrap();
        assert!(matches!(
            grant_identity(&der),
            Err(VerifyError::ExtensionMissing {
                name: "subject user ID",
                ..
            })
        ));
        assert!(matches!(
            grant_identity(b"not a certificate"),
            Err(VerifyError::Pem { .. })
        ));
    }

    #[test]
    fn a_certificate_naming_the_ca_but_signed_by_another_key_is_refused() {
        let c = Case::new();
        // Same name as the real CA, another key: only the signature tells them apart.
        let impostor = CertificateAuthority::generate("test CA", Duration::days(30)).unwrap();
        let profile = ClientCertProfile::new(GRANT, USER, Duration::days(7));
        let forged = impostor
            .issue(&c.key.csr_pem("peer").unwrap(), &profile)
            .unwrap()
            .pem;
        let forged_der = single_pem_der(&forged, "forged").unwrap();
        let ca_der = single_pem_der(c.ca.cert_pem(), "CA").unwrap();
        let (forged_cert, ca) = (
            parse_der(&forged_der, "forged").unwrap(),
            parse_der(&ca_der, "CA").unwrap(),
        );
        assert_eq!(forged_cert.issuer().as_raw(), ca.subject().as_raw());
        let err = c.check(&forged, None).unwrap_err();
        assert_eq!(err, VerifyError::NotSignedByCa);
        assert_eq!(
            err.to_string(),
            "the certificate is not signed by the CA certificate"
        );
    }

    #[test]
    fn a_ca_that_is_not_valid_now_is_refused() {
        let c = Case::new();
        let cert = c.issue(|_| {});
        let expected = Expected {
            public_key_spki: c.key.spki_der(),
            grant_id: GRANT,
            subject_user_id: USER,
            ca_fingerprint: None,
        };
        // At +40 days neither the CA (30 days) nor the certificate (7 days) is valid: the
        // CA is checked first. At +8 days only the certificate has run out.
        let later = OffsetDateTime::now_utc() + Duration::days(40);
        let err = verify_issued_cert(&cert, c.ca.cert_pem(), &expected, later).unwrap_err();
        assert_eq!(err, VerifyError::CaOutsideValidity);
        let soon = OffsetDateTime::now_utc() + Duration::days(8);
        let err = verify_issued_cert(&cert, c.ca.cert_pem(), &expected, soon).unwrap_err();
        assert!(
            matches!(err, VerifyError::OutsideValidity { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn error_messages_name_the_extension_and_its_oid() {
        let c = Case::new();
        let cert = c.issue(|p| {
            p.custom_extensions[1] = grant_extension(oid::SUBJECT_USER_ID, "user-2");
        });
        assert_eq!(
            c.check(&cert, None).unwrap_err().to_string(),
            "the certificate's subject user ID (1.3.6.1.4.1.32473.1.2) is \"user-2\", expected \"user-1\""
        );
    }
}
