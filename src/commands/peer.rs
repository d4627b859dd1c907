//! `mosaic federation peer add|list|remove|finish`. `add` is the enrollment flow of the
//! contract: preview, local key and CSR, sealed key stored as a pending peer *before*
//! the single-use token is spent, enrollment, every certificate check, then activation.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::api::client::Client;
use crate::api::types::{
    CreatePeerRequest, EnrollRequest, EnrollResponse, EnrollmentPreview, Peer, StoreCertRequest,
};
use crate::cli::{OutputFormat, PeerAddArgs, PeerCommand, PeerIdArg};
use crate::crypto::fingerprint;
use crate::crypto::keys::PeerKey;
use crate::crypto::seal::SealingSecret;
use crate::crypto::verify::{self, Expected};
use crate::error::{Error, Result};
use crate::output::{self, Render};
use crate::private_files;

/// Path segment that precedes the token in an enrollment URL.
const ENROLLMENT_PATH: &str = "/api/federation/enrollment/";

pub async fn run(client: &Client, format: OutputFormat, cmd: PeerCommand) -> Result<()> {
    match cmd {
        PeerCommand::Add(args) => output::emit(format, &add(client, format, &args).await?),
        PeerCommand::List => output::emit(format, &list(client).await?),
        PeerCommand::Remove(PeerIdArg { id }) => output::emit(format, &remove(client, &id).await?),
        PeerCommand::Finish(PeerIdArg { id }) => output::emit(format, &finish(client, &id).await?),
    }
}

/// `peer add`: enroll this gateway (B) with the remote one (A) behind `enrollment_url`.
pub async fn add(client: &Client, format: OutputFormat, args: &PeerAddArgs) -> Result<Peer> {
    // Everything that can be checked locally is checked before the first request.
    let target = EnrollmentTarget::parse(&args.enrollment_url)?;
    client.check_url(&args.enrollment_url)?;
    let pin = args
        .ca_fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()?;
    let secret = SealingSecret::from_env().map_err(|e| Error::InvalidInput(e.to_string()))?;
    client.require_admin_token()?;
    let name = args.name.clone().unwrap_or_else(|| target.host.clone());

    // 1. Preview: see what the token grants, and check the CA pin before sending a CSR.
    let preview = client.preview_enrollment(&args.enrollment_url).await?;
    let ca_fp = ca_fingerprint(&preview.ca_certificate_pem)?;
    if let Some(pin) = &pin
        && *pin != ca_fp
    {
        return Err(Error::Verification(format!(
            "CA fingerprint mismatch: expected {pin}, the granting gateway presented {ca_fp}; nothing was sent and the token is unspent"
        )));
    }
    check_expectations(args, &preview.grant_id, &preview.subject_user_id).map_err(|e| {
        Error::Verification(format!("{e}; nothing was sent and the token is unspent"))
    })?;
    output::progress(format, &describe_preview(&preview, &ca_fp, pin.is_some()));

    // 2. Key and CSR, made here; the private key leaves this process only sealed.
    let key = PeerKey::generate().map_err(|e| Error::Internal(e.to_string()))?;
    let peer_id = uuid::Uuid::new_v4().to_string();
    let csr_pem = key
        .csr_pem(&format!("mosaic peer {peer_id}"))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let sealed_private_key = secret.seal_peer_key(&peer_id, key.pkcs8_der());
    drop(secret);
    output::progress(format, "key: generated a P-256 key and CSR, sealed the key");

    // 3. Store the sealed key as a pending peer before the single-use token is spent.
    client
        .create_peer(&CreatePeerRequest {
            id: peer_id.clone(),
            name,
            remote_url: target.remote_url.clone(),
            csr_pem: csr_pem.clone(),
            sealed_private_key,
        })
        .await?;
    output::progress(
        format,
        &format!("stored: pending peer {peer_id} on the local gateway"),
    );

    // 4. Spend the token.
    let issued = match client
        .enroll(&args.enrollment_url, &EnrollRequest { csr_pem })
        .await
    {
        Ok(issued) => issued,
        Err(e) => return Err(enrollment_failed(client, &peer_id, e).await),
    };
    output::progress(
        format,
        &format!(
            "enrolled: the granting gateway issued a certificate for grant {}",
            issued.grant_id
        ),
    );

    // 5. Every check of the contract, before anything is stored as active.
    let checked = check_issued(&issued, &preview, &key, pin.as_deref(), args).map_err(|e| {
        Error::Verification(format!(
            "{e}; the peer stays pending and unusable: remove it with `mosaic federation peer remove {peer_id}` and ask the granting admin to revoke grant {}",
            issued.grant_id
        ))
    })?;
    output::progress(
        format,
        &format!(
            "verified: key, grant and user OIDs, CA chain, validity and clientAuth (certificate {})",
            checked.fingerprint
        ),
    );

    // 6. Activate. The certificate is on disk until the local gateway has it, so a failure
    //    here loses nothing: `peer finish` completes the job.
    let pending = PendingCertificate {
        peer_id: peer_id.clone(),
        certificate_pem: issued.certificate_pem,
        ca_certificate_pem: issued.ca_certificate_pem,
        grant_id: issued.grant_id,
        subject_user_id: issued.subject_user_id,
    };
    let saved = pending.save()?;
    let peer = activate(client, &pending).await.map_err(|e| {
        let cause = e.message();
        e.with_message(format!(
            "the certificate was issued and verified but the local gateway did not store it ({cause}); it is kept in {}: finish with `mosaic federation peer finish {peer_id}`",
            saved.display()
        ))
    })?;
    let _ = std::fs::remove_file(&saved);
    output::progress(format, &format!("active: peer {} ({})", peer.id, peer.name));
    Ok(peer)
}

/// `peer finish`: store a certificate that `peer add` kept on disk because the local
/// gateway did not take it.
pub async fn finish(client: &Client, peer_id: &str) -> Result<Peer> {
    client.require_admin_token()?;
    let pending = PendingCertificate::load(peer_id)?;
    let peer = activate(client, &pending).await?;
    let _ = std::fs::remove_file(PendingCertificate::path(peer_id)?);
    Ok(peer)
}

pub async fn list(client: &Client) -> Result<Vec<Peer>> {
    client.list_all_peers().await
}

pub async fn remove(client: &Client, peer_id: &str) -> Result<Removed> {
    client.delete_peer(peer_id).await?;
    Ok(Removed {
        id: peer_id.to_string(),
        removed: true,
    })
}

/// What `peer remove` prints.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub id: String,
    pub removed: bool,
}

async fn activate(client: &Client, pending: &PendingCertificate) -> Result<Peer> {
    client
        .store_peer_cert(
            &pending.peer_id,
            &StoreCertRequest {
                certificate_pem: pending.certificate_pem.clone(),
                ca_certificate_pem: pending.ca_certificate_pem.clone(),
                grant_id: pending.grant_id.clone(),
                subject_user_id: pending.subject_user_id.clone(),
            },
        )
        .await
}

/// The enrollment POST failed. If the granting gateway refused it (a 4xx answer), no
/// certificate was issued for our key, so the pending record is useless and is removed.
/// After a transport fault nobody knows whether the token was spent: keep the record and
/// say what to do.
async fn enrollment_failed(client: &Client, peer_id: &str, err: Error) -> Error {
    let refused = matches!(
        err,
        Error::InvalidInput(_)
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::TokenInvalid(_)
            | Error::Unauthorized(_)
    );
    if refused && client.delete_peer(peer_id).await.is_ok() {
        return err;
    }
    let cause = err.message();
    err.with_message(format!(
        "{cause}; the pending peer {peer_id} holds an unused key: remove it with `mosaic federation peer remove {peer_id}`, and if the token may have been spent ask the granting admin to revoke the grant and issue a new one"
    ))
}

fn check_issued(
    issued: &EnrollResponse,
    preview: &EnrollmentPreview,
    key: &PeerKey,
    pin: Option<&str>,
    args: &PeerAddArgs,
) -> std::result::Result<verify::IssuedCert, String> {
    if issued.grant_id != preview.grant_id || issued.subject_user_id != preview.subject_user_id {
        return Err(format!(
            "the enrollment answer is for grant {} / user {}, but the preview showed grant {} / user {}",
            issued.grant_id, issued.subject_user_id, preview.grant_id, preview.subject_user_id
        ));
    }
    check_expectations(args, &issued.grant_id, &issued.subject_user_id)?;
    // The CA that signs must be the CA that was previewed (and pinned, if a pin was given).
    let previewed_ca = ca_fingerprint(&preview.ca_certificate_pem).map_err(|e| e.message())?;
    let expected = Expected {
        public_key_spki: key.spki_der(),
        grant_id: &issued.grant_id,
        subject_user_id: &issued.subject_user_id,
        ca_fingerprint: Some(pin.unwrap_or(&previewed_ca)),
    };
    verify::verify_issued_cert(
        &issued.certificate_pem,
        &issued.ca_certificate_pem,
        &expected,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| e.to_string())
}

fn check_expectations(
    args: &PeerAddArgs,
    grant_id: &str,
    user_id: &str,
) -> std::result::Result<(), String> {
    if let Some(want) = &args.expect_grant
        && want != grant_id
    {
        return Err(format!(
            "the token is for grant {grant_id}, not the expected {want} (--expect-grant)"
        ));
    }
    if let Some(want) = &args.expect_user
        && want != user_id
    {
        return Err(format!(
            "the token is for user {user_id}, not the expected {want} (--expect-user)"
        ));
    }
    Ok(())
}

fn describe_preview(p: &EnrollmentPreview, ca_fp: &str, pinned: bool) -> String {
    let resources: Vec<&str> = p.scope.resources.iter().map(|r| r.as_str()).collect();
    format!(
        "preview: grant {} lets peer {} read {} of user {} (max {} rows per query); token expires {}; CA {ca_fp}{}",
        p.grant_id,
        p.peer_id,
        resources.join(", "),
        p.subject_user_id,
        p.scope.max_rows_per_query,
        output::timestamp(p.expires_at),
        if pinned {
            " (matches --ca-fingerprint)"
        } else {
            " (not pinned: pass --ca-fingerprint to check it)"
        }
    )
}

fn ca_fingerprint(ca_pem: &str) -> Result<String> {
    verify::single_pem_der(ca_pem, "CA certificate")
        .map(|der| fingerprint(&der))
        .map_err(|e| Error::Unreachable(format!("the granting gateway's preview is unusable: {e}")))
}

/// `sha256:` and 64 hex digits, normalised to lowercase.
fn parse_fingerprint(s: &str) -> Result<String> {
    let lower = s.trim().to_ascii_lowercase();
    match lower.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(lower),
        _ => Err(Error::InvalidInput(format!(
            "--ca-fingerprint must be sha256: followed by 64 hex digits (as printed by `mosaic federation grant token`), got \"{s}\""
        ))),
    }
}

/// The parts of an enrollment URL `peer add` needs, checked before any request.
#[derive(Debug)]
struct EnrollmentTarget {
    host: String,
    /// Scheme, host and port of the granting gateway.
    remote_url: String,
}

impl EnrollmentTarget {
    fn parse(raw: &str) -> Result<EnrollmentTarget> {
        let bad = |why: &str| Error::InvalidInput(format!("invalid enrollment URL: {why}"));
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "the scheme must be https (or http to a loopback address)",
            ));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_string();
        let token = url
            .path()
            .find(ENROLLMENT_PATH)
            .map(|i| &url.path()[i + ENROLLMENT_PATH.len()..])
            .unwrap_or("");
        if token.is_empty() || token.contains('/') {
            return Err(bad(&format!(
                "expected …{ENROLLMENT_PATH}<token>, as printed by `mosaic federation grant token`"
            )));
        }
        let remote_url = url.origin().ascii_serialization();
        Ok(EnrollmentTarget { host, remote_url })
    }
}

/// A verified certificate the local gateway has not stored yet, kept in a 0600 file.
#[derive(Debug, Serialize, Deserialize)]
struct PendingCertificate {
    peer_id: String,
    certificate_pem: String,
    ca_certificate_pem: String,
    grant_id: String,
    subject_user_id: String,
}

impl PendingCertificate {
    fn dir() -> Result<PathBuf> {
        state_dir().map(|d| d.join("enrollments"))
    }

    fn path(peer_id: &str) -> Result<PathBuf> {
        if peer_id.is_empty()
            || !peer_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::InvalidInput(format!(
                "invalid peer ID \"{peer_id}\""
            )));
        }
        Ok(Self::dir()?.join(format!("{peer_id}.json")))
    }

    fn save(&self) -> Result<PathBuf> {
        let path = Self::path(&self.peer_id)?;
        let cant = |e: std::io::Error| {
            Error::Internal(format!(
                "cannot keep the issued certificate in {} ({e}); the local gateway was not changed",
                path.display()
            ))
        };
        private_files::create_dir(&Self::dir()?).map_err(cant)?;
        let json = serde_json::to_vec_pretty(self).expect("plain strings serialize");
        private_files::write_file(&path, &json).map_err(cant)?;
        Ok(path)
    }

    fn load(peer_id: &str) -> Result<PendingCertificate> {
        let path = Self::path(peer_id)?;
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(format!(
                "no kept certificate for peer {peer_id} in {}: nothing to finish",
                path.display()
            )),
            _ => Error::Internal(format!("cannot read {}: {e}", path.display())),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidInput(format!("{} is damaged: {e}", path.display())))
    }
}

/// Where `mosaic` keeps local state: `MOSAIC_STATE_DIR`, else the platform's state (or
/// local data) directory + `mosaic`.
pub fn state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MOSAIC_STATE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("mosaic"))
        .ok_or_else(|| {
            Error::Internal("no home directory to keep state in: set MOSAIC_STATE_DIR".into())
        })
}

impl Render for Peer {
    fn table(&self) -> String {
        let rows = [
            ("id", self.id.clone()),
            ("name", self.name.clone()),
            ("remote", self.remote_url.clone()),
            ("status", self.status.as_str().to_string()),
            ("grant", opt(&self.grant_id)),
            ("subject user", opt(&self.subject_user_id)),
            ("fingerprint", opt(&self.cert_fingerprint)),
            ("serial", opt(&self.cert_serial)),
            ("not after", output::timestamp_or_dash(self.cert_not_after)),
            ("created", output::timestamp(self.created_at)),
            ("activated", output::timestamp_or_dash(self.activated_at)),
        ];
        output::detail_table(&rows)
    }
}

impl Render for Vec<Peer> {
    fn table(&self) -> String {
        let header = [
            "ID",
            "NAME",
            "REMOTE",
            "STATUS",
            "FINGERPRINT",
            "NOT AFTER",
            "GRANT",
        ];
        let rows: Vec<Vec<String>> = self
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.name.clone(),
                    p.remote_url.clone(),
                    p.status.as_str().to_string(),
                    opt(&p.cert_fingerprint),
                    output::timestamp_or_dash(p.cert_not_after),
                    opt(&p.grant_id),
                ]
            })
            .collect();
        output::list_table(&header, rows)
    }
}

impl Render for Removed {
    fn table(&self) -> String {
        format!("removed peer {}\n", self.id)
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_urls_are_checked_locally() {
        let t = EnrollmentTarget::parse("https://a.example:8443/api/federation/enrollment/tok")
            .unwrap();
        assert_eq!(t.host, "a.example");
        assert_eq!(t.remote_url, "https://a.example:8443");
        for bad in [
            "a.example/api/federation/enrollment/tok",
            "ftp://a.example/api/federation/enrollment/tok",
            "https://a.example/api/federation/enrollment/",
            "https://a.example/other/tok",
        ] {
            assert!(EnrollmentTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_are_normalised_and_checked() {
        let hex = "AB".repeat(32);
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{hex}")).unwrap(),
            format!("sha256:{}", hex.to_lowercase())
        );
        assert!(parse_fingerprint("sha256:abc").is_err());
        assert!(parse_fingerprint(&format!("sha1:{hex}")).is_err());
    }
}
