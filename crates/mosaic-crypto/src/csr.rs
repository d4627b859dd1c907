//! Certificate signing requests. Federation accepts exactly one kind: a PEM CSR for a
//! P-256 ECDSA key, signed with ecdsa-with-SHA256 by that same key. Only its public key
//! is used; everything else in the CSR (subject, extensions) is ignored on purpose, so a
//! request can never ask for more than the CA decides to sign.

use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256,
};
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::{FromDer, X509CertificationRequest};

/// The public key of a verified CSR, ready to be certified.
#[derive(Debug, Clone)]
pub struct CsrKey {
    /// SubjectPublicKeyInfo, DER.
    spki: Vec<u8>,
    /// The uncompressed SEC1 point (65 bytes).
    point: Vec<u8>,
}

impl CsrKey {
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
}

impl rcgen::PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// Checks `pem` and returns its key. The error names what is wrong, for a 400.
pub fn parse_p256_csr(pem: &str) -> Result<CsrKey, String> {
    // The PEM parser skips anything before `-----BEGIN`; a CSR is the block and nothing else.
    if !pem.trim_start().starts_with("-----BEGIN ") {
        return Err("csr_pem has text before its PEM block".into());
    }
    let (rest, block) =
        parse_x509_pem(pem.as_bytes()).map_err(|_| "csr_pem is not a PEM block".to_string())?;
    if block.label != "CERTIFICATE REQUEST" && block.label != "NEW CERTIFICATE REQUEST" {
        return Err(format!(
            "csr_pem is a PEM \"{}\", not a \"CERTIFICATE REQUEST\"",
            block.label
        ));
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err("csr_pem holds more than one PEM block".into());
    }
    let (rest, csr) = X509CertificationRequest::from_der(&block.contents)
        .map_err(|e| format!("csr_pem is not a PKCS#10 certificate request: {e}"))?;
    if !rest.is_empty() {
        return Err("csr_pem has bytes after the certificate request".into());
    }

    let spki = &csr.certification_request_info.subject_pki;
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(format!(
            "the CSR's key is not an elliptic-curve key (algorithm {}): a P-256 ECDSA key is required",
            spki.algorithm.algorithm
        ));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if curve.as_ref() != Some(&OID_EC_P256) {
        let found = curve.map_or_else(|| "none".to_string(), |c| c.to_id_string());
        return Err(format!(
            "the CSR's key is on curve {found}, not P-256 (1.2.840.10045.3.1.7)"
        ));
    }
    let point = &spki.subject_public_key.data;
    if point.len() != 65 || point[0] != 0x04 {
        return Err("the CSR's public key is not an uncompressed P-256 point".into());
    }
    if csr.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
        return Err(format!(
            "the CSR is signed with {}, not ecdsa-with-SHA256",
            csr.signature_algorithm.algorithm
        ));
    }
    csr.verify_signature().map_err(|_| {
        "the CSR's signature does not verify: it must be signed by the key it carries".to_string()
    })?;
    Ok(CsrKey {
        spki: spki.raw.to_vec(),
        point: point.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn csr_for(alg: &'static rcgen::SignatureAlgorithm) -> String {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    #[test]
    fn accepts_p256_and_keeps_its_key() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pem = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let csr = parse_p256_csr(&pem).unwrap();
        assert_eq!(csr.spki_der(), key.subject_public_key_info().as_slice());
    }

    #[test]
    fn refuses_p384() {
        let e = parse_p256_csr(&csr_for(&rcgen::PKCS_ECDSA_P384_SHA384)).unwrap_err();
        assert!(e.contains("not P-256"), "{e}");
    }

    #[test]
    fn refuses_a_tampered_signature() {
        let pem = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, block) = parse_x509_pem(pem.as_bytes()).unwrap();
        let mut der = block.contents.clone();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
        );
        let e = parse_p256_csr(&tampered).unwrap_err();
        assert!(e.contains("signature"), "{e}");
    }

    /// A P-256 CSR whose 65-byte point starts with `first` instead of 0x04 (0x06 and 0x07
    /// are the hybrid form: as long as an uncompressed point, but not one).
    fn csr_with_point_prefix(first: u8) -> String {
        let pem = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, block) = parse_x509_pem(pem.as_bytes()).unwrap();
        let mut der = block.contents.clone();
        // The subjectPublicKey BIT STRING: tag, length 66, no unused bits, then the point.
        let at = der
            .windows(4)
            .position(|w| w == [0x03, 0x42, 0x00, 0x04])
            .expect("an uncompressed point");
        der[at + 3] = first;
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
        )
    }

    #[test]
    fn takes_either_csr_label_and_refuses_any_other() {
        let pem = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        let der = parse_x509_pem(pem.as_bytes()).unwrap().1.contents;
        let as_block = |label: &str| {
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
            )
        };
        parse_p256_csr(&as_block("CERTIFICATE REQUEST")).unwrap();
        parse_p256_csr(&as_block("NEW CERTIFICATE REQUEST")).unwrap();
        for label in ["CERTIFICATE", "PRIVATE KEY"] {
            assert_eq!(
                parse_p256_csr(&as_block(label)).unwrap_err(),
                format!("csr_pem is a PEM \"{label}\", not a \"CERTIFICATE REQUEST\"")
            );
        }
        assert_eq!(
            parse_p256_csr(&format!("{pem}{pem}")).unwrap_err(),
            "csr_pem holds more than one PEM block"
        );
    }

    #[test]
    fn refuses_a_65_byte_point_that_is_not_uncompressed() {
        for first in [0x00, 0x02, 0x06, 0x07] {
            let e = parse_p256_csr(&csr_with_point_prefix(first)).unwrap_err();
            assert_eq!(
                e, "the CSR's public key is not an uncompressed P-256 point",
                "prefix {first:#04x}"
            );
        }
    }

    /// A P-384 key signed with ecdsa-with-SHA256 (made with `openssl req -new -newkey ec
    /// -pkeyopt ec_paramgen_curve:P-384 -sha256`): the signature algorithm alone looks
    /// like P-256's, only the key's curve parameter tells.
    pub const P384_KEY_SHA256_SIGNATURE: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBBzCBjgIBADAPMQ0wCwYDVQQDDARwMzg0MHYwEAYHKoZIzj0CAQYFK4EEACID
YgAE6D4mUXBb1AHze8duL3H8m9mmeF44z4zJeqUzG1PfpbP/ssZKAb13Bm6Sh0Bd
ukgERXvMVm0BpTYxZjad1OWI6qlNFonkvDhZkgu9h3dBmThsMKA3Jcoc0Zd/N7jX
u3oMoAAwCgYIKoZIzj0EAwIDaAAwZQIxALwdTtPXfZRD4R9C0flzzSmezcScp8LM
eEEh2fQyRK4YYAUhFVuXZhF8NvFZ1j6lTwIwLl0T2fCVVu00Jz5SWSzLEgCRo0Di
tXXk6F8o71XMZlUlCLF2z2ypsdoGCCxV8xE5
-----END CERTIFICATE REQUEST-----
";

    #[test]
    fn refuses_a_p384_key_behind_a_p256_signature_algorithm() {
        let e = parse_p256_csr(P384_KEY_SHA256_SIGNATURE).unwrap_err();
        assert!(e.contains("not P-256"), "{e}");
        assert!(crate::ca::csr_public_key(P384_KEY_SHA256_SIGNATURE).is_err());
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_p256_csr("hello").is_err());
        assert!(
            parse_p256_csr("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }

    #[test]
    fn refuses_text_before_the_pem_block() {
        let key = crate::keys::PeerKey::generate().unwrap();
        let csr = key.csr_pem("x").unwrap();
        assert!(parse_p256_csr(&format!("  \n{csr}")).is_ok());
        let e = parse_p256_csr(&format!("hello\n{csr}")).unwrap_err();
        assert!(e.contains("text before its PEM block"), "{e}");
    }
}
