//! HTTPS requests straight to a gateway served with `--tls`: trusting only a given CA,
//! with or without a client certificate, as a peer (or an attacker) would make them.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// A client certificate and its private key, both PEM.
pub struct Identity<'a> {
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// One HTTPS request; `Err` holds the transport failure (a refused handshake, say).
pub fn https(
    method: &str,
    url: &str,
    ca_pem: &str,
    identity: Option<Identity<'_>>,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(
        CertificateDer::pem_slice_iter(ca_pem.as_bytes()).map(|c| c.expect("CA PEM")),
    );
    assert!(added > 0, "no CA certificate in the PEM");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).expect("cert PEM")],
                PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).expect("key PEM"),
            )
            .expect("cert and key match"),
        None => builder.with_no_client_auth(),
    };
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let resp = req.send().await.map_err(|e| error_chain(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| error_chain(&e))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
