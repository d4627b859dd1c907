//! What lets `peer finish` complete an enrollment from any crash point: the enrollment a
//! pending peer keeps sealed on the local gateway ([`KeptEnrollment`]), so that the
//! granting gateway can be asked again for the certificate of a spent token; and, as a
//! fallback when the local gateway did not take a verified certificate, one owner-only
//! JSON file per peer in the state directory ([`PendingCertificate`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::client::Client;
use crate::api::env;
use crate::api::types::{Peer, StoreCertRequest};
use crate::crypto::seal::SealingSecret;
use crate::error::{Error, Result};
use mosaic_private_files as private_files;

/// What a pending peer keeps, sealed with `BETTER_AUTH_SECRET` and bound to its ID, so
/// that `peer finish` can ask the granting gateway again: the same CSR (kept by the
/// gateway) gets the same certificate (idempotent redemption), checked as `peer add`
/// checks it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeptEnrollment {
    pub enrollment_url: String,
    /// The CA the preview showed (and the pin matched, if there was one).
    pub ca_fingerprint: String,
    /// Whether the operator pinned that CA for TLS too (`--ca-fingerprint`).
    pub pinned: bool,
    pub grant_id: String,
    pub subject_user_id: String,
}

impl KeptEnrollment {
    pub(super) fn seal(&self, secret: &SealingSecret, peer_id: &str) -> Result<String> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::internal(format!("cannot encode the enrollment: {e}")))?;
        Ok(secret.seal_enrollment(peer_id, &json))
    }

    pub(super) fn open(secret: &SealingSecret, peer_id: &str, sealed: &str) -> Result<Self> {
        let json = secret.open_enrollment(peer_id, sealed).map_err(|e| {
            Error::invalid_input(format!(
                "the enrollment peer {peer_id} keeps does not open with this BETTER_AUTH_SECRET ({e}): use the secret of the gateway it is stored on"
            ))
        })?;
        serde_json::from_slice(&json).map_err(|e| {
            Error::internal(format!(
                "the enrollment peer {peer_id} keeps is damaged: {e}"
            ))
        })
    }
}

/// A verified certificate the local gateway has not stored yet, kept in a 0600 file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PendingCertificate {
    pub peer_id: String,
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
    pub grant_id: String,
    pub subject_user_id: String,
}

impl PendingCertificate {
    fn dir() -> Result<PathBuf> {
        state_dir().map(|d| d.join("enrollments"))
    }

    pub(super) fn path(peer_id: &str) -> Result<PathBuf> {
        if peer_id.is_empty()
            || !peer_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::invalid_input(format!(
                "invalid peer ID \"{peer_id}\""
            )));
        }
        Ok(Self::dir()?.join(format!("{peer_id}.json")))
    }

    /// Fails unless the state directory can take a file now: checked before the token is
    /// spent, so that a certificate the local gateway does not take has somewhere to go.
    pub(super) fn check_dir() -> Result<()> {
        let dir = Self::dir()?;
        remove_stale_probes(&dir);
        let probe = dir.join(format!(".probe-{}", uuid::Uuid::new_v4()));
        let result = private_files::create_dir(&dir)
            .and_then(|()| private_files::write_file(&probe, &[0u8; 4096]));
        let _ = std::fs::remove_file(&probe);
        result.map_err(|e| {
            Error::invalid_input(format!(
                "cannot write to the state directory {} ({e}); it keeps an issued certificate the local gateway does not take: fix it or set {}. Nothing was sent and the token is unspent",
                dir.display(),
                env::STATE_DIR
            ))
        })
    }

    pub(super) fn save(&self) -> Result<PathBuf> {
        let path = Self::path(&self.peer_id)?;
        let cant = |e: std::io::Error| {
            Error::internal(format!(
                "cannot keep the issued certificate in {} ({e})",
                path.display()
            ))
        };
        private_files::create_dir(&Self::dir()?).map_err(cant)?;
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::internal(format!("cannot encode the issued certificate: {e}")))?;
        private_files::write_file(&path, &json).map_err(cant)?;
        Ok(path)
    }

    /// Hands the certificate to the local gateway, which activates the peer.
    pub(super) async fn activate(&self, client: &Client) -> Result<Peer> {
        client
            .store_peer_cert(
                &self.peer_id,
                &StoreCertRequest {
                    certificate_pem: self.certificate_pem.clone(),
                    ca_certificate_pem: self.ca_certificate_pem.clone(),
                    grant_id: self.grant_id.clone(),
                    subject_user_id: self.subject_user_id.clone(),
                },
            )
            .await
    }

    pub(super) fn load(peer_id: &str) -> Result<PendingCertificate> {
        let path = Self::path(peer_id)?;
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found(format!(
                "no kept certificate for peer {peer_id} in {}: nothing to finish",
                path.display()
            )),
            _ => Error::internal(format!("cannot read {}: {e}", path.display())),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid_input(format!("{} is damaged: {e}", path.display())))
    }
}

/// Probes left by a `peer add` killed while checking the directory: gone a minute later.
fn remove_stale_probes(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        if old && entry.file_name().to_string_lossy().starts_with(".probe-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where `mosaic` keeps local state: `MOSAIC_STATE_DIR`, else the platform's state (or
/// local data) directory + `mosaic`.
pub fn state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(env::STATE_DIR) {
        return Ok(PathBuf::from(dir));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("mosaic"))
        .ok_or_else(|| Error::internal("no home directory to keep state in: set MOSAIC_STATE_DIR"))
}
