//! The gateway's own certificate authority on disk: made on first start, its
//! self-signed certificate in `DIR/ca.pem` and its key sealed at rest in
//! `DIR/ca-key.sealed`. Signing itself is `crypto::ca`.

use std::path::Path;

use time::Duration;

use super::data_dir::DataDir;
use crate::crypto::ca::{CaError, CertificateAuthority, ClientCert, ClientCertProfile, ServerCert};
use crate::crypto::seal::SealingSecret;
use crate::private_files::write_file as write_private_file;

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.sealed";
/// HKDF `info` of the key that seals the CA key: a label of its own, so a blob sealed
/// for a peer key can never be opened as the CA key or the other way round.
const CA_KEY_INFO: &[u8] = b"mosaic/gateway/ca-key/v1";
/// Associated data of the sealed CA key: there is one CA per data directory.
const CA_KEY_AAD: &[u8] = b"mosaic-gateway-ca";
const CA_VALIDITY: Duration = Duration::days(3650);

pub struct Ca {
    authority: CertificateAuthority,
}

impl Ca {
    /// Loads the CA from the data directory, making it on first start. Never replaces an
    /// existing CA: peers pin its fingerprint.
    pub fn load_or_create(dir: &DataDir, secret: &SealingSecret) -> Result<Ca, String> {
        let cert_path = dir.file(CA_CERT_FILE);
        let key_path = dir.file(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (false, false) => create(&cert_path, &key_path, secret)?,
            (true, true) => {}
            (cert, _) => {
                return Err(format!(
                    "{} exists but {} does not: restore the missing file from a backup \
                     (making a new CA would break every peer that pinned this one)",
                    if cert { &cert_path } else { &key_path }.display(),
                    if cert { &key_path } else { &cert_path }.display(),
                ));
            }
        }
        load(&cert_path, &key_path, secret)
    }

    pub fn cert_pem(&self) -> &str {
        self.authority.cert_pem()
    }

    /// `sha256:<hex>` of the CA certificate's DER, as `grant token` prints it.
    pub fn fingerprint(&self) -> &str {
        self.authority.fingerprint()
    }

    /// A TLS server certificate for `sans` (DNS names or IP addresses) with a new key.
    pub fn issue_server(&self, sans: &[String], validity: Duration) -> Result<ServerCert, CaError> {
        self.authority.issue_server(sans, validity)
    }

    /// Signs a client certificate for the key of `csr_pem` with the contract's profile:
    /// clientAuth, a random serial, `validity` from now, and the grant and subject user
    /// IDs as UTF8String extensions. A CSR that is not self-signed P-256 is
    /// `CaError::CsrRejected`.
    pub fn issue(
        &self,
        csr_pem: &str,
        grant_id: &str,
        subject_user_id: &str,
        validity: Duration,
    ) -> Result<ClientCert, CaError> {
        let profile = ClientCertProfile::new(grant_id, subject_user_id, validity);
        self.authority.issue(csr_pem, &profile)
    }
}

fn create(cert_path: &Path, key_path: &Path, secret: &SealingSecret) -> Result<(), String> {
    let tag: [u8; 4] = crate::crypto::random_bytes();
    let name = format!("Mosaic gateway federation CA {}", hex::encode(tag));
    let authority = CertificateAuthority::generate(&name, CA_VALIDITY)
        .map_err(|e| format!("cannot make the gateway's CA: {e}"))?;
    let sealed = secret.seal(CA_KEY_INFO, CA_KEY_AAD, authority.key_pkcs8_der());
    // Key first: a crash between the two writes leaves a key without a certificate,
    // which the next start reports instead of silently making a second CA.
    write_private_file(key_path, sealed.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    write_private_file(cert_path, authority.cert_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    Ok(())
}

fn load(cert_path: &Path, key_path: &Path, secret: &SealingSecret) -> Result<Ca, String> {
    let cert_pem = std::fs::read_to_string(cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
    let sealed = std::fs::read_to_string(key_path)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    let pkcs8 = secret
        .open(CA_KEY_INFO, CA_KEY_AAD, sealed.trim())
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let authority = CertificateAuthority::load(&cert_pem, &pkcs8).map_err(|e| {
        format!(
            "{} and {}: {e}; restore both from the same backup",
            cert_path.display(),
            key_path.display()
        )
    })?;
    Ok(Ca { authority })
}
