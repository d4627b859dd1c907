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
use zeroize::Zeroizing;

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
                tracing::warn!(
                    "warning: the chain in --tls-cert {} does not end at this \
                     gateway's CA ({}): `peer add --ca-fingerprint` and enrolled peers will \
                     refuse it; issue the server certificate from this CA and append ca.pem",
                    cert.display(),
                    ca.fingerprint()
                );
            }
            // Read into a wiping buffer rather than through a `BufReader` whose buffer
            // would keep the PEM. rustls-pki-types' PEM decoder keeps the base64 text in a
            // buffer of its own that it frees without wiping (docs/gateway.md, "Key
            // material in memory"); the DER it returns goes to rustls, whose ring provider
            // wipes it once parsed.
            let pem = std::fs::read(&key)
                .map(Zeroizing::new)
                .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
            drop(pem);
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
    let certified = CertifiedKey::from_der(
        vec![CertificateDer::from(issued.der), ca_der.clone()],
        handed_to_rustls(&issued.key_pkcs8_der),
        provider,
    )
    .map_err(|e| format!("the gateway's TLS certificate: {e}"))?;
    Ok((
        Arc::new(certified),
        issued.not_after - SERVER_CERT_RENEW_BEFORE,
    ))
}

/// A PKCS#8 key for rustls, which takes it by value: a copy of the wiping buffer that
/// rustls owns from here. `CertifiedKey::from_der` (and `with_client_auth_cert`) hand it
/// at once to the ring provider's `load_private_key`, which holds it in a `Zeroizing`
/// while ring parses it, so that copy is wiped too; the key ring parsed from it lives in
/// the TLS configuration until that is dropped, and is not wiped (ring has no
/// zeroization). Build it only as the argument of that call, so that no early return can
/// drop it unwiped.
pub fn handed_to_rustls(pkcs8: &Zeroizing<Vec<u8>>) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()))
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
                Err(e) => tracing::warn!("renewing the TLS certificate failed: {e}"),
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

    /// The server key stays in wiping buffers up to rustls: the issued key's PKCS#8 and
    /// the `--tls-key` file's bytes are `Zeroizing`, and what rustls gets is a plain copy
    /// of the same key (which its ring provider wipes once parsed).
    #[test]
    fn the_server_key_is_in_wiping_buffers_up_to_rustls() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = gateway_ca(&tmp);
        let issued = ca
            .issue_server(&["127.0.0.1".to_string()], time::Duration::days(1))
            .unwrap();
        let wiping: &Zeroizing<Vec<u8>> = &issued.key_pkcs8_der;
        let handed = handed_to_rustls(wiping);
        assert_eq!(handed.secret_der(), wiping.as_slice());
        // From files (`--tls-cert`, `--tls-key`): the key is read into a wiping buffer
        // and still makes a working configuration.
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine;
            let text = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN {label}-----\n{text}\n-----END {label}-----\n")
        };
        let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
        let chain = pem("CERTIFICATE", &issued.der) + ca.cert_pem();
        std::fs::write(&cert, chain).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", wiping)).unwrap();
        assert!(server_config(ca.clone(), ServerIdentity::Files { cert, key }).is_ok());
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
