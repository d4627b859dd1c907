//! `peer finish`: completes an enrollment `peer add` did not, from any crash point. A
//! certificate kept in the state directory goes to the local gateway; otherwise the
//! pending peer's sealed enrollment is opened and the granting gateway is asked again with
//! the same CSR, which gets the same certificate (idempotent redemption), checked as
//! `peer add` checks it before the peer becomes active.

use time::OffsetDateTime;

use super::pending::{KeptEnrollment, PendingCertificate};
use crate::api::client::Client;
use crate::api::types::{EnrollRequest, Peer, PeerStatus};
use crate::crypto::ca::csr_public_key;
use crate::crypto::seal;
use crate::crypto::verify::{self, Expected};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{self, OutputFormat};

pub async fn finish(
    client: &Client,
    format: OutputFormat,
    peer_id: &str,
    previous_secrets_file: Option<&std::path::Path>,
) -> Result<Peer> {
    client.require_admin_token()?;
    match PendingCertificate::load(peer_id) {
        Ok(kept) => return from_file(client, format, kept).await,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = super::sealing_secret(format)?;
    // A rotation in progress: the enrollment may still be under a previous secret.
    let previous = seal::previous_secrets(previous_secrets_file)
        .map_err(|e| Error::invalid_input(e.to_string()))?;
    let secret = secret.with_previous(previous);
    let kept = client.get_peer_enrollment(peer_id).await?;
    let enrollment = KeptEnrollment::open(&secret, peer_id, &kept.sealed_enrollment)?;
    drop(secret);
    let spki = csr_public_key(&kept.csr_pem)
        .map_err(|e| Error::internal(format!("the CSR peer {peer_id} keeps is unusable: {e}")))?;
    let remote = if enrollment.pinned {
        client.pin_ca(&enrollment.ca_fingerprint)?
    } else {
        client.clone()
    };
    client.check_url(&enrollment.enrollment_url)?;
    let progress = |line: &str| output::progress(format, line);
    progress(&format!(
        "asking the granting gateway again for the certificate of grant {} (same key)",
        enrollment.grant_id
    ));
    let issued = remote
        .enroll(
            &enrollment.enrollment_url,
            &EnrollRequest {
                csr_pem: kept.csr_pem.clone(),
            },
        )
        .await
        .map_err(|e| {
            let cause = e.message().to_string();
            e.with_message(format!(
                "{cause}; the granting gateway did not answer a certificate for peer {peer_id}'s key (the token was not spent by this key, or the grant is no longer active)"
            ))
            .with_hint(format!(
                "remove the pending peer with `mosaic federation peer remove {peer_id}` and ask the granting admin for a new token (`mosaic federation grant token <grant-id>`)"
            ))
        })?;
    if issued.grant_id != enrollment.grant_id
        || issued.subject_user_id != enrollment.subject_user_id
    {
        return Err(Error::verification(format!(
            "the answer is for grant {} / user {}, but the preview showed grant {} / user {}; peer {peer_id} stays pending",
            issued.grant_id,
            issued.subject_user_id,
            enrollment.grant_id,
            enrollment.subject_user_id
        )));
    }
    let checked = verify::verify_issued_cert(
        &issued.certificate_pem,
        &issued.ca_certificate_pem,
        &Expected {
            public_key_spki: &spki,
            grant_id: &issued.grant_id,
            subject_user_id: &issued.subject_user_id,
            ca_fingerprint: Some(&enrollment.ca_fingerprint),
        },
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| Error::verification(format!("{e}; peer {peer_id} stays pending")))?;
    progress(&format!(
        "verified: key, grant and user OIDs, CA chain, validity and clientAuth (certificate {})",
        checked.fingerprint
    ));
    let cert = PendingCertificate {
        peer_id: peer_id.to_string(),
        certificate_pem: issued.certificate_pem,
        ca_certificate_pem: issued.ca_certificate_pem,
        grant_id: issued.grant_id,
        subject_user_id: issued.subject_user_id,
    };
    let peer = activate(client, &cert, &checked.fingerprint).await?;
    progress(&format!("active: peer {} ({})", peer.id, peer.name));
    Ok(peer)
}

/// A certificate `peer add` kept in the state directory.
async fn from_file(
    client: &Client,
    format: OutputFormat,
    kept: PendingCertificate,
) -> Result<Peer> {
    let der = verify::single_pem_der(&kept.certificate_pem, "certificate")
        .map_err(|e| Error::invalid_input(format!("the kept certificate is damaged: {e}")))?;
    let fingerprint = crate::crypto::fingerprint(&der);
    let peer = activate(client, &kept, &fingerprint).await?;
    let _ = std::fs::remove_file(PendingCertificate::path(&kept.peer_id)?);
    output::progress(format, &format!("active: peer {} ({})", peer.id, peer.name));
    Ok(peer)
}

/// Hands the certificate to the local gateway. A peer already active with this very
/// certificate (an earlier answer was lost on the way back) is success, not a conflict.
async fn activate(client: &Client, cert: &PendingCertificate, fingerprint: &str) -> Result<Peer> {
    match cert.activate(client).await {
        Ok(peer) => Ok(peer),
        Err(e) if e.kind() == ErrorKind::Conflict => {
            let peers = client.list_all_peers().await?;
            match peers.into_iter().find(|p| p.id == cert.peer_id) {
                Some(p)
                    if p.status == PeerStatus::Active
                        && p.cert_fingerprint.as_deref() == Some(fingerprint) =>
                {
                    Ok(p)
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
