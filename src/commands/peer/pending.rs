//! Certificates `peer add` has issued and verified but the local gateway has not stored
//! yet: one owner-only JSON file per peer in the state directory, so that a failed
//! activation loses nothing and `peer finish` can complete it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::client::Client;
use crate::api::env;
use crate::api::types::{Peer, StoreCertRequest};
use crate::error::{Error, Result};
use crate::private_files;

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

    pub(super) fn save(&self) -> Result<PathBuf> {
        let path = Self::path(&self.peer_id)?;
        let cant = |e: std::io::Error| {
            Error::internal(format!(
                "cannot keep the issued certificate in {} ({e}); the local gateway was not changed",
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
