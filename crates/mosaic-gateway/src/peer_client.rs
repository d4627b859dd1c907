//! B as the federation client: calls a peer's (A's) `/api/federation/v1/...` over mutual
//! TLS with the enrolled certificate and the unsealed key, trusting only the CA stored at
//! enrollment. One HTTP client per peer certificate is kept, so connections are reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::ApiError;
use super::store::peers::Credentials;
use mosaic_contract::federation::codes;
use mosaic_contract::types::{ErrorBody, PeerStatus};
use mosaic_crypto::pinned::tls_error_in;
use mosaic_crypto::seal::SealingSecret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer accepted from a peer (10,000 rows of a few hundred bytes fit).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The HTTP clients of the peers called so far, by peer ID, each tagged with the
/// certificate it was built for: a new certificate (or a removed peer) gets a new one.
/// The unsealed key lives only inside these clients' TLS configurations, in memory.
#[derive(Clone, Default)]
pub struct PeerClients {
    clients: Arc<Mutex<HashMap<String, (String, reqwest::Client)>>>,
}

impl PeerClients {
    /// Drops the client of a removed peer, and with it its key.
    pub fn forget(&self, peer_id: &str) {
        self.lock().remove(peer_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, reqwest::Client)>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `GET <remote_url><path>` as the peer `peer_id`; A's JSON answer, or the contract's
    /// error for what went wrong.
    pub async fn get(
        &self,
        secret: &SealingSecret,
        peer_id: &str,
        creds: Credentials,
        path_and_query: &str,
    ) -> Result<serde_json::Value, ApiError> {
        self.send(secret, peer_id, &creds, path_and_query, None)
            .await
    }

    /// `POST <remote_url><path>` with a JSON `body` as the peer `peer_id` (the renewal).
    pub async fn post(
        &self,
        secret: &SealingSecret,
        peer_id: &str,
        creds: &Credentials,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        self.send(secret, peer_id, creds, path, Some(body)).await
    }

    async fn send(
        &self,
        secret: &SealingSecret,
        peer_id: &str,
        creds: &Credentials,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ApiError> {
        if creds.status != PeerStatus::Active {
            return Err(ApiError::conflict(format!(
                "peer {peer_id} is pending: it has no certificate yet; finish its enrollment \
                 (`mosaic federation peer finish {peer_id}`) or remove it"
            )));
        }
        let url = format!("{}{path_and_query}", creds.remote_url.trim_end_matches('/'));
        if !url.starts_with("https://") {
            return Err(unreachable(format!(
                "peer {peer_id}'s remote URL {} is plain http: federation needs the \
                 granting gateway served over TLS",
                creds.remote_url
            )));
        }
        let client = self.client_for(secret, peer_id, creds)?;
        // One retry when the connection failed before an answer (a kept-alive connection
        // the peer closed as idle just as it was reused): both calls are idempotent, a
        // read, and a renewal with the same CSR key, which A answers with the same
        // certificate.
        let mut retried = false;
        let response = loop {
            let request = match body {
                Some(body) => client.post(&url).json(body),
                None => client.get(&url),
            };
            match request.send().await {
                Ok(response) => break response,
                Err(e) if !retried && !e.is_timeout() && tls_error_in(&e).is_none() => {
                    retried = true;
                }
                Err(e) => return Err(transport_error(&e)),
            }
        };
        let status = response.status();
        let body = read_capped(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| {
                unreachable(format!(
                    "the peer answered {status} with a body that is not JSON"
                ))
            });
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        match (status.as_u16(), detail) {
            (401 | 403, Some(e)) => Err(ApiError::coded(
                StatusCode::FORBIDDEN,
                codes::PEER_REFUSED,
                format!("the granting gateway refused: {}: {}", e.code, e.message),
            )),
            (400, Some(e)) => Err(ApiError::invalid(format!(
                "the granting gateway refused the request: {}",
                e.message
            ))),
            (code, _) => Err(unreachable(format!(
                "the granting gateway answered {code} unusably"
            ))),
        }
    }

    /// The client for this peer's current certificate, built on first use.
    fn client_for(
        &self,
        secret: &SealingSecret,
        peer_id: &str,
        creds: &Credentials,
    ) -> Result<reqwest::Client, ApiError> {
        let fingerprint = creds.cert_fingerprint.clone().unwrap_or_default();
        if let Some((fp, client)) = self.lock().get(peer_id)
            && *fp == fingerprint
        {
            return Ok(client.clone());
        }
        let client = build_client(secret, peer_id, creds)?;
        self.lock()
            .insert(peer_id.to_string(), (fingerprint, client.clone()));
        Ok(client)
    }
}

/// A client presenting the peer's certificate and key, trusting only its stored CA.
fn build_client(
    secret: &SealingSecret,
    peer_id: &str,
    creds: &Credentials,
) -> Result<reqwest::Client, ApiError> {
    let stored =
        |what: &str| ApiError::internal(format!("peer {peer_id}'s stored {what} is unusable"));
    let cert = CertificateDer::from_pem_slice(
        creds
            .certificate_pem
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(|_| stored("certificate"))?;
    let ca = CertificateDer::from_pem_slice(
        creds
            .ca_certificate_pem
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(|_| stored("CA certificate"))?;
    let pkcs8 = secret
        .open_peer_key(peer_id, &creds.sealed_private_key)
        .map_err(|_| {
            ApiError::internal(format!(
                "peer {peer_id}'s sealed key does not open with this gateway's BETTER_AUTH_SECRET"
            ))
        })?;
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(|_| stored("CA certificate"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ApiError::internal)?
        .with_root_certificates(roots)
        // The unsealed key stays in its wiping buffer until this call; rustls gets a
        // copy that its ring provider wipes once parsed (`tls::handed_to_rustls`). The
        // key ring parsed lives in this client's TLS configuration, unwiped, until the
        // client is dropped (`forget`, or a new certificate).
        .with_client_auth_cert(vec![cert], super::tls::handed_to_rustls(&pkcs8))
        .map_err(|_| stored("certificate and key pair"))?;
    drop(pkcs8);
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ApiError::internal)
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(unreachable(format!(
                "the granting gateway's answer is larger than {MAX_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreachable(message: String) -> ApiError {
    ApiError::coded(StatusCode::BAD_GATEWAY, codes::PEER_UNREACHABLE, message)
}

/// A's server certificate not under the stored CA is `peer_untrusted`; A refusing our
/// certificate in the handshake is `peer_refused`; anything else is `peer_unreachable`.
fn transport_error(err: &reqwest::Error) -> ApiError {
    match tls_error_in(err) {
        Some(rustls::Error::InvalidCertificate(why)) => ApiError::coded(
            StatusCode::BAD_GATEWAY,
            codes::PEER_UNTRUSTED,
            format!(
                "the granting gateway's server certificate is not trusted ({why:?}): it does \
                 not chain to the CA stored at enrollment"
            ),
        ),
        Some(rustls::Error::AlertReceived(alert)) => ApiError::coded(
            StatusCode::FORBIDDEN,
            codes::PEER_REFUSED,
            format!(
                "the granting gateway refused the client certificate in the TLS handshake ({alert:?})"
            ),
        ),
        _ => {
            let what = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "cannot connect"
            } else {
                "connection failed"
            };
            unreachable(format!("the granting gateway {what}: {}", chain_text(err)))
        }
    }
}

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = e.source();
    }
    text
}
