//! Trust exactly one CA, named by its fingerprint (`peer add --ca-fingerprint`): the
//! server must send that CA certificate in its chain, and the chain must verify with it
//! as the only root. Nothing of the system's roots or `--cacert` applies.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::fingerprint;

/// The server's chain does not hold the pinned CA: the pin, and the fingerprints of the
/// certificates the server sent after its own (the CA it presented).
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate chain does not include the CA {pinned}")]
pub struct PinNotInChain {
    pub pinned: String,
    pub presented: Vec<String>,
}

/// The CAs a server presented instead of the pinned one, if that is why `why` failed.
pub fn presented_cas(why: &CertificateError) -> Option<&[String]> {
    match why {
        CertificateError::Other(OtherError(e)) => e
            .downcast_ref::<PinNotInChain>()
            .map(|p| p.presented.as_slice()),
        _ => None,
    }
}

/// A certificate error in words (rustls writes several as Rust debug text).
pub fn describe_certificate_error(why: &CertificateError) -> String {
    match why {
        CertificateError::UnknownIssuer => {
            "issued by a CA that is not trusted here (UnknownIssuer)".into()
        }
        CertificateError::BadSignature => "its signature does not verify".into(),
        CertificateError::Expired => "expired".into(),
        CertificateError::NotValidYet => "not valid yet".into(),
        CertificateError::NotValidForName => "not valid for this host name".into(),
        CertificateError::Revoked => "revoked".into(),
        CertificateError::BadEncoding => "malformed".into(),
        CertificateError::Other(OtherError(e)) => e.to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug)]
pub struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl PinnedCa {
    pub fn new(fingerprint: &str) -> Self {
        PinnedCa {
            fingerprint: fingerprint.to_string(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(self) -> rustls::ClientConfig {
        let provider = self.provider.clone();
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self))
            .with_no_client_auth()
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    PinNotInChain {
                        pinned: self.fingerprint.clone(),
                        presented: intermediates.iter().map(|c| fingerprint(c)).collect(),
                    },
                ))))
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls error somewhere in `err`'s sources. `io::Error` hides its inner error from
/// `source()`, so it is looked into too.
pub fn tls_error_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| tls_error_in(inner))
        {
            return Some(inner);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertificateAuthority;
    use rustls::pki_types::pem::PemObject;

    fn ca(name: &str) -> (CertificateAuthority, CertificateDer<'static>) {
        let ca = CertificateAuthority::generate(name, time::Duration::days(1)).unwrap();
        let der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        (ca, der)
    }

    fn leaf(ca: &CertificateAuthority) -> CertificateDer<'static> {
        let cert = ca
            .issue_server(&["127.0.0.1".to_string()], time::Duration::days(1))
            .unwrap();
        CertificateDer::from(cert.der)
    }

    #[test]
    fn only_a_chain_ending_at_the_pinned_ca_is_trusted() {
        let (a, a_der) = ca("A");
        let (b, b_der) = ca("B");
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let now = UnixTime::now();
        let pinned = PinnedCa::new(a.fingerprint());
        let verify = |leaf: &CertificateDer<'_>, chain: &[CertificateDer<'_>], name| {
            pinned.verify_server_cert(leaf, chain, name, &[], now)
        };
        let a_leaf = leaf(&a);
        assert!(verify(&a_leaf, std::slice::from_ref(&a_der), &name).is_ok());
        // The pinned CA must be in the chain; another CA's chain fails.
        assert!(matches!(
            verify(&a_leaf, &[], &name),
            Err(rustls::Error::InvalidCertificate(_))
        ));
        assert!(verify(&leaf(&b), &[b_der], &name).is_err());
        // Sending the pinned CA does not make another CA's leaf trusted.
        assert!(verify(&leaf(&b), std::slice::from_ref(&a_der), &name).is_err());
        // The name still has to match.
        let elsewhere = ServerName::try_from("gw.example").unwrap();
        assert!(verify(&a_leaf, &[a_der], &elsewhere).is_err());
    }

    /// The schemes offered in the handshake are the provider's, among them the one every
    /// certificate of a gateway's CA is signed with: none offered, no server can answer.
    #[test]
    fn the_handshake_offers_the_providers_signature_schemes() {
        let schemes = PinnedCa::new("sha256:00").supported_verify_schemes();
        assert!(
            schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256),
            "{schemes:?}"
        );
        assert_eq!(
            schemes,
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        );
    }

    /// A chain without the pinned CA is refused with what was pinned and what the server
    /// presented, and that reads as words, not debug text; other errors present no CA.
    #[test]
    fn a_chain_of_another_ca_names_the_pin_and_the_presented_ca_in_words() {
        let (a, _) = ca("A");
        let (b, b_der) = ca("B");
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let refused = PinnedCa::new(a.fingerprint())
            .verify_server_cert(&leaf(&b), &[b_der], &name, &[], UnixTime::now())
            .unwrap_err();
        let rustls::Error::InvalidCertificate(why) = refused else {
            panic!("{refused:?}");
        };
        assert_eq!(
            presented_cas(&why),
            Some(&[b.fingerprint().to_string()][..])
        );
        let words = describe_certificate_error(&why);
        assert_eq!(
            words,
            format!(
                "the server's certificate chain does not include the CA {}",
                a.fingerprint()
            )
        );
        assert_eq!(presented_cas(&CertificateError::UnknownIssuer), None);
        let other = CertificateError::Other(OtherError(Arc::new(std::io::Error::other("x"))));
        assert_eq!(presented_cas(&other), None);
        assert_eq!(describe_certificate_error(&other), "x");
        assert_eq!(
            describe_certificate_error(&CertificateError::UnknownIssuer),
            "issued by a CA that is not trusted here (UnknownIssuer)"
        );
        assert_eq!(
            describe_certificate_error(&CertificateError::Expired),
            "expired"
        );
    }

    #[test]
    fn the_rustls_error_is_found_behind_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        assert!(matches!(
            tls_error_in(&io),
            Some(rustls::Error::InvalidCertificate(_))
        ));
        assert!(tls_error_in(&std::io::Error::other("plain")).is_none());
    }
}
