//! The gateway's own certificate authority on disk: made on first start, its
//! self-signed certificate in `DIR/ca.pem` and its key sealed at rest in
//! `DIR/ca-key.sealed`, which appear together or not at all. Signing itself is
//! `crypto::ca`.
//!
//! A first start writes both files into `DIR/ca.new/` (each synced), renames that to
//! `DIR/ca.ready/` (the pair is complete), then moves each file into place. A start finds
//! the state any crash left: `ca.new/` is a pair never used, removed and made again;
//! `ca.ready/` is finished.

use std::path::Path;

use time::{Duration, OffsetDateTime};

use super::data_dir::DataDir;
use super::store::db::{Db, Value};
use mosaic_crypto::ca::{CaError, CertificateAuthority, ClientCert, ClientCertProfile, ServerCert};
use mosaic_crypto::seal::{SealError, SealingSecret};
use mosaic_private_files::write_file as write_private_file;

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.sealed";
/// HKDF `info` of the key that seals the CA key: a label of its own, so a blob sealed
/// for a peer key can never be opened as the CA key or the other way round.
pub(crate) const CA_KEY_INFO: &[u8] = b"mosaic/gateway/ca-key/v1";
/// Associated data of the sealed CA key: there is one CA per data directory.
pub(crate) const CA_KEY_AAD: &[u8] = b"mosaic-gateway-ca";
const CA_VALIDITY: Duration = Duration::days(3650);
/// Where a new CA's pair is written.
const CA_STAGING_DIR: &str = "ca.new";
/// The complete pair, being moved into place.
const CA_READY_DIR: &str = "ca.ready";

pub struct Ca {
    authority: CertificateAuthority,
}

impl Ca {
    /// Loads the CA from the data directory, making it on first start, and finishing or
    /// redoing a first start a crash interrupted. Never replaces a CA that may have been
    /// seen: peers pin its fingerprint. `never_served` says the gateway's database holds
    /// no record at all, so nobody can have seen a CA of this directory.
    pub fn load_or_create(
        dir: &DataDir,
        secret: &SealingSecret,
        never_served: bool,
    ) -> Result<Ca, String> {
        let cert_path = dir.file(CA_CERT_FILE);
        let key_path = dir.file(CA_KEY_FILE);
        let staging = dir.file(CA_STAGING_DIR);
        if staging.exists() {
            // A pair never moved into place, perhaps half written: nothing used it.
            std::fs::remove_dir_all(&staging)
                .map_err(|e| format!("cannot remove {}: {e}", staging.display()))?;
        }
        finish_ready(dir.path())?;
        match (cert_path.exists(), key_path.exists()) {
            (false, false) => create(dir.path(), secret)?,
            (true, true) => {}
            // Only a first start by an older mosaic leaves the key alone (it wrote the
            // key first); with an empty database nobody saw that CA.
            (false, true) if never_served => {
                tracing::warn!(
                    "{} was left without {} by an interrupted first start, \
                     and this gateway has never served a request: making its CA again",
                    key_path.display(),
                    cert_path.display()
                );
                std::fs::remove_file(&key_path)
                    .map_err(|e| format!("cannot remove {}: {e}", key_path.display()))?;
                create(dir.path(), secret)?;
            }
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

    /// The CA shared by the replicas of one PostgreSQL database: its row of
    /// `gateway_ca`, made by the first replica to start. Called under the store's
    /// start-up lock, so two replicas starting at once never make two CAs.
    pub fn load_or_create_shared(db: &dyn Db, secret: &SealingSecret) -> Result<Ca, String> {
        let fail = |e| format!("the CA in the database: {e}");
        let found = db
            .query_opt(
                "SELECT cert_pem, sealed_key FROM gateway_ca WHERE id = 1",
                &[],
            )
            .map_err(fail)?;
        if let Some(row) = found {
            let cert_pem: String = row.get(0).map_err(fail)?;
            let sealed: String = row.get(1).map_err(fail)?;
            return open(&cert_pem, &sealed, secret, "the CA in the database");
        }
        let (authority, sealed) = generate(secret)?;
        db.execute(
            "INSERT INTO gateway_ca (id, cert_pem, sealed_key, created_at) VALUES (1, ?1, ?2, ?3)",
            &[
                Value::Text(authority.cert_pem().to_string()),
                Value::Text(sealed),
                Value::Integer(super::store::now_ms()),
            ],
        )
        .map_err(fail)?;
        Ok(Ca { authority })
    }

    pub fn cert_pem(&self) -> &str {
        self.authority.cert_pem()
    }

    /// `sha256:<hex>` of the CA certificate's DER, as `grant token` prints it.
    pub fn fingerprint(&self) -> &str {
        self.authority.fingerprint()
    }

    /// When the CA certificate expires (read from it each time: for a scrape or a status
    /// answer, not for a hot path).
    pub fn not_after(&self) -> OffsetDateTime {
        let pem = self.authority.cert_pem().as_bytes();
        x509_parser::pem::parse_x509_pem(pem)
            .ok()
            .and_then(|(_, pem)| {
                let cert = pem.parse_x509().ok()?;
                OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
            })
            // The CA certificate was parsed when it was loaded; it cannot fail here.
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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

/// Makes a CA and puts its pair in place: both files written and synced in the staging
/// directory, the directory renamed to say the pair is complete, then each file moved.
fn create(dir: &Path, secret: &SealingSecret) -> Result<(), String> {
    let (authority, sealed) = generate(secret)?;
    let staging = dir.join(CA_STAGING_DIR);
    let io = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    mosaic_private_files::create_dir(&staging).map_err(|e| io(&staging, e))?;
    for (name, bytes) in [
        (CA_KEY_FILE, sealed.as_bytes()),
        (CA_CERT_FILE, authority.cert_pem().as_bytes()),
    ] {
        let path = staging.join(name);
        write_private_file(&path, bytes).map_err(|e| io(&path, e))?;
    }
    let ready = dir.join(CA_READY_DIR);
    std::fs::rename(&staging, &ready).map_err(|e| io(&ready, e))?;
    sync_dir(dir).map_err(|e| io(dir, e))?;
    finish_ready(dir)
}

/// Moves a complete pair from `ca.ready/` into place, whichever of its files a crash
/// left there.
fn finish_ready(dir: &Path) -> Result<(), String> {
    let ready = dir.join(CA_READY_DIR);
    if !ready.exists() {
        return Ok(());
    }
    for name in [CA_KEY_FILE, CA_CERT_FILE] {
        let (from, to) = (ready.join(name), dir.join(name));
        if !from.exists() {
            continue;
        }
        if to.exists() {
            return Err(format!(
                "both {} and {} exist: a CA was made while another was in place; keep the \
                 one peers pinned and remove the other",
                from.display(),
                to.display()
            ));
        }
        std::fs::rename(&from, &to)
            .map_err(|e| format!("cannot move {} into place: {e}", from.display()))?;
    }
    sync_dir(dir).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    std::fs::remove_dir(&ready).map_err(|e| format!("cannot remove {}: {e}", ready.display()))
}

/// A new CA and its key sealed under `secret`.
fn generate(secret: &SealingSecret) -> Result<(CertificateAuthority, String), String> {
    let tag: [u8; 4] = mosaic_crypto::random_bytes();
    let name = format!("Mosaic gateway federation CA {}", hex::encode(tag));
    let authority = CertificateAuthority::generate(&name, CA_VALIDITY)
        .map_err(|e| format!("cannot make the gateway's CA: {e}"))?;
    let sealed = secret.seal(CA_KEY_INFO, CA_KEY_AAD, authority.key_pkcs8_der());
    Ok((authority, sealed))
}

/// The CA from its certificate and sealed key; `what` names where they were read.
fn open(cert_pem: &str, sealed: &str, secret: &SealingSecret, what: &str) -> Result<Ca, String> {
    let pkcs8 = secret
        .open(CA_KEY_INFO, CA_KEY_AAD, sealed.trim())
        .map_err(|e| key_error(what, &e, secret))?;
    let authority = CertificateAuthority::load(cert_pem, &pkcs8)
        .map_err(|e| format!("{what}: {e}; restore both from the same backup"))?;
    Ok(Ca { authority })
}

/// Before anything is written at start-up: the sealed CA key of the data directory, if
/// there is one, opens with one of the secrets given.
pub fn check_key_opens(dir: &DataDir, secret: &SealingSecret) -> Result<(), String> {
    let path = dir.file(CA_KEY_FILE);
    let Ok(sealed) = std::fs::read_to_string(&path) else {
        // None yet (a first start), or unreadable: load_or_create says which.
        return Ok(());
    };
    secret
        .open(CA_KEY_INFO, CA_KEY_AAD, sealed.trim())
        .map(drop)
        .map_err(|e| key_error(&path.display().to_string(), &e, secret))
}

/// Why the sealed CA key in `what` did not open, in one line: the record, that no secret
/// given opens it, and what to do.
pub(crate) fn key_error(what: &str, e: &SealError, secret: &SealingSecret) -> String {
    if *e != SealError::Unsealable {
        return format!("{what}: {e}; restore the CA key from a backup");
    }
    let given = match secret.previous_count() {
        0 => String::new(),
        n => format!(" or any of the {n} previous secrets given"),
    };
    format!(
        "{what}: the CA key does not open with this sealing secret{given}: start the gateway \
         with the secret its data was created with (BETTER_AUTH_SECRET, or the file \
         BETTER_AUTH_SECRET_FILE names), or during a rotation give that one as a previous \
         secret ({} or --previous-secrets-file); nothing was changed (if that is the secret \
         given, the file is damaged: restore it from a backup)",
        mosaic_crypto::seal::PREVIOUS_SECRETS_ENV
    )
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn load(cert_path: &Path, key_path: &Path, secret: &SealingSecret) -> Result<Ca, String> {
    let cert_pem = std::fs::read_to_string(cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
    let sealed = std::fs::read_to_string(key_path)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    let pkcs8 = secret
        .open(CA_KEY_INFO, CA_KEY_AAD, sealed.trim())
        .map_err(|e| key_error(&key_path.display().to_string(), &e, secret))?;
    let authority = CertificateAuthority::load(&cert_pem, &pkcs8).map_err(|e| {
        format!(
            "{} and {}: {e}; restore both from the same backup",
            cert_path.display(),
            key_path.display()
        )
    })?;
    Ok(Ca { authority })
}
