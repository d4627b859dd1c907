//! HTTPS for the gateway (`--tls`): the server certificate (issued by the gateway's own
//! CA, or loaded from files), optional client certificates verified against that CA, and
//! the chain each request carries (the accept loop is `server`).

use std::sync::{Arc, Mutex, PoisonError};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use super::ca::Ca;

/// Validity of a server certificate the gateway issues itself; it is renewed once two
/// thirds of it have passed.
const SERVER_CERT_VALIDITY: time::Duration = time::Duration::days(30);
const SERVER_CERT_RENEW_BEFORE: time::Duration = time::Duration::days(10);

/// The client certificate chain the TLS layer verified against the gateway's CA (leaf
/// first, DER), put into the extensions of every request of that connection. Absent when
/// the client presented none (or over plain HTTP).
#[derive(Clone, Debug)]
pub struct ClientChain(pub Arc<Vec<Vec<u8>>>);

impl ClientChain {
    pub fn leaf(&self) -> Option<&[u8]> {
        self.0.first().map(Vec::as_slice)
    }
}

/// Where the server certificate comes from.
pub enum ServerIdentity {
    /// Issued by the gateway's own CA for these SANs, renewed before it expires.
    Issued { sans: Vec<String> },
    /// `--tls-cert` (a PEM chain, leaf first) and `--tls-key` (a PEM private key).
    Files {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1, client certificates
/// requested, optional, and when presented verified against the gateway's own CA (which
/// includes clientAuth); the handshake fails for any other.
pub fn server_config(
    ca: Arc<Ca>,
    identity: ServerIdentity,
) -> Result<rustls::ServerConfig, String> {
    let provider = provider();
    let ca_der = ca_der(&ca)?;
    let mut roots = RootCertStore::empty();
    roots
        .add(ca_der.clone())
        .map_err(|e| format!("the gateway's CA certificate is not usable as a TLS root: {e}"))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("cannot build the client certificate verifier: {e}"))?;
    let resolver: Arc<dyn ResolvesServerCert> = match identity {
        ServerIdentity::Issued { sans } => {
            Arc::new(IssuedCert::new(ca, ca_der, sans, provider.clone())?)
        }
        ServerIdentity::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!(
                    "--tls-cert {}: no certificate in it",
                    cert.display()
                ));
            }
            // Peers trust this gateway's own CA only (the pin of `peer add`, and the CA B
            // stores at enrollment): a chain ending elsewhere serves admins, not peers.
            if chain.last() != Some(&ca_der) {
                eprintln!(
                    "mosaic gateway: warning: the chain in --tls-cert {} does not end at this \
                     gateway's CA ({}): `peer add --ca-fingerprint` and enrolled peers will \
                     refuse it; issue the server certificate from this CA and append ca.pem",
                    cert.display(),
                    ca.fingerprint()
                );
            }
            let key_der = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
            let certified = CertifiedKey::from_der(chain, key_der, &provider).map_err(|e| {
                format!(
                    "--tls-cert {} and --tls-key {}: {e}",
                    cert.display(),
                    key.display()
                )
            })?;
            Arc::new(rustls::sign::SingleCertAndKey::from(certified))
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn ca_der(ca: &Ca) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(ca.cert_pem().as_bytes())
        .map_err(|e| format!("the gateway's CA certificate: {e}"))
}

/// The server certificate the gateway issues itself, sent with the CA certificate after
/// it so that a client knowing only the CA fingerprint can check the whole chain.
struct IssuedCert {
    ca: Arc<Ca>,
    ca_der: CertificateDer<'static>,
    sans: Vec<String>,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Arc<CertifiedKey>, OffsetDateTime)>,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("sans", &self.sans)
            .finish_non_exhaustive()
    }
}

impl IssuedCert {
    fn new(
        ca: Arc<Ca>,
        ca_der: CertificateDer<'static>,
        sans: Vec<String>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let first = issue(&ca, &ca_der, &sans, &provider)?;
        Ok(IssuedCert {
            ca,
            ca_der,
            sans,
            provider,
            current: Mutex::new(first),
        })
    }
}

/// A new server key and certificate; returns it with the time from which to renew it.
fn issue(
    ca: &Ca,
    ca_der: &CertificateDer<'static>,
    sans: &[String],
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, OffsetDateTime), String> {
    let issued = ca
        .issue_server(sans, SERVER_CERT_VALIDITY)
        .map_err(|e| format!("cannot issue the gateway's TLS certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_pkcs8_der.to_vec()));
    let certified = CertifiedKey::from_der(
        vec![CertificateDer::from(issued.der), ca_der.clone()],
        key,
        provider,
    )
    .map_err(|e| format!("the gateway's TLS certificate: {e}"))?;
    Ok((
        Arc::new(certified),
        issued.not_after - SERVER_CERT_RENEW_BEFORE,
    ))
}

impl IssuedCert {
    /// The certificate to present now: the current one, or a fresh one once it is due
    /// for renewal.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if OffsetDateTime::now_utc() >= current.1 {
            match issue(&self.ca, &self.ca_der, &self.sans, &self.provider) {
                Ok(fresh) => *current = fresh,
                // The old certificate is still valid for a third of its life: keep it.
                Err(e) => eprintln!("mosaic gateway: renewing the TLS certificate failed: {e}"),
            }
        }
        current.0.clone()
    }
}

impl ResolvesServerCert for IssuedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_dir::DataDir;
    use mosaic_crypto::seal::SealingSecret;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    fn gateway_ca(tmp: &tempfile::TempDir) -> Arc<Ca> {
        let dir = DataDir::open(Some(tmp.path().join("data"))).unwrap();
        let secret = SealingSecret::new(vec![b's'; 32]).unwrap();
        Arc::new(Ca::load_or_create(&dir, &secret, true).unwrap())
    }

    #[test]
    fn the_issued_certificate_names_its_hosts_chains_to_the_ca_and_is_renewed_when_due() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = gateway_ca(&tmp);
        let ca_der = ca_der(&ca).unwrap();
        let sans = vec!["127.0.0.1".to_string(), "gw-a.example".to_string()];
        let issued = IssuedCert::new(ca.clone(), ca_der.clone(), sans, provider()).unwrap();
        let first = issued.current();
        assert_eq!(first.cert.len(), 2, "leaf and CA");
        assert_eq!(first.cert[1], ca_der, "the CA is sent in the chain");

        let mut roots = RootCertStore::empty();
        roots.add(ca_der).unwrap();
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        let verify = |key: &CertifiedKey, name: &'static str| {
            verifier.verify_server_cert(
                &key.cert[0],
                &key.cert[1..],
                &ServerName::try_from(name).unwrap(),
                &[],
                UnixTime::now(),
            )
        };
        assert!(verify(&first, "127.0.0.1").is_ok());
        assert!(verify(&first, "gw-a.example").is_ok());
        assert!(verify(&first, "elsewhere.example").is_err());

        // Not yet due: the same certificate. Due: a new one, as valid.
        assert!(Arc::ptr_eq(&first, &issued.current()));
        issued.current.lock().unwrap().1 = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let renewed = issued.current();
        assert_ne!(renewed.cert[0], first.cert[0]);
        assert!(verify(&renewed, "127.0.0.1").is_ok());
    }
}
