//! `peer add`'s sequence, one step per method of [`Enrollment`]: local checks (the state
//! directory included), preview and CA pin, key and CSR, the sealed key and the sealed
//! enrollment stored as a pending peer *before* the single-use token is spent, enrollment,
//! every certificate check, then activation: the certificate goes to the local gateway
//! first, to a local file only if that fails. From any crash point, `peer finish` can
//! complete the job.

use time::OffsetDateTime;

use super::pending::{KeptEnrollment, PendingCertificate};
use crate::api::client::Client;
use crate::api::paths::ENROLLMENT as ENROLLMENT_PATH;
use crate::api::types::{
    CreatePeerRequest, EnrollRequest, EnrollResponse, EnrollmentPreview, Peer,
};
use crate::cli::PeerAddArgs;
use crate::crypto::fingerprint;
use crate::crypto::keys::PeerKey;
use crate::crypto::seal::SealingSecret;
use crate::crypto::verify::{self, Expected, IssuedCert};
use crate::error::{Error, ErrorKind, Result, says};
use crate::output::{self, OutputFormat};

/// One enrollment of this gateway (B) with the remote one (A) behind an enrollment URL.
/// Built by [`Enrollment::new`] from what can be checked locally; [`Enrollment::run`]
/// takes the steps in the contract's order and reports each on standard error.
pub struct Enrollment<'a> {
    client: &'a Client,
    /// The client for the enrollment URL: with a pin, its TLS trusts exactly that CA.
    remote: Client,
    format: OutputFormat,
    args: &'a PeerAddArgs,
    /// The CA fingerprint the operator pinned, normalised.
    pin: Option<String>,
    /// The peer record's name.
    name: String,
    /// Scheme, host and port of the granting gateway.
    remote_url: String,
    /// Taken (and so wiped) as soon as the key is sealed.
    secret: Option<SealingSecret>,
}

/// What the preview showed: the grant, and the fingerprint of the CA that will sign.
struct Previewed {
    preview: EnrollmentPreview,
    ca_fingerprint: String,
}

/// The key made for this enrollment, and the pending peer that holds it sealed.
struct Pending {
    peer_id: String,
    key: PeerKey,
    csr_pem: String,
}

impl<'a> Enrollment<'a> {
    /// Everything that can be checked locally, before the first request: the URL, the
    /// pin's form, the sealing secret and the admin token.
    pub fn new(
        client: &'a Client,
        format: OutputFormat,
        args: &'a PeerAddArgs,
    ) -> Result<Enrollment<'a>> {
        let target = EnrollmentTarget::parse(&args.enrollment_url)?;
        client.check_url(&args.enrollment_url)?;
        refuse_self_enrollment(&args.enrollment_url, client.base_url())?;
        let pin = args
            .ca_fingerprint
            .as_deref()
            .map(parse_fingerprint)
            .transpose()?;
        let secret = super::sealing_secret(format)?;
        client.require_admin_token()?;
        PendingCertificate::check_dir()?;
        let remote = match &pin {
            Some(pin) => client.pin_ca(pin)?,
            None => client.clone(),
        };
        Ok(Enrollment {
            client,
            remote,
            format,
            args,
            pin,
            name: args.name.clone().unwrap_or(target.host),
            remote_url: target.remote_url,
            secret: Some(secret),
        })
    }

    /// Runs every step; the peer is active on the local gateway when this returns `Ok`.
    pub async fn run(mut self) -> Result<Peer> {
        // The local gateway's CA, asked while the preview is under way.
        let (previewed, local) = tokio::join!(self.preview(), self.client.health());
        let previewed = previewed?;
        refuse_own_ca(&previewed.ca_fingerprint, local?.ca_fingerprint.as_deref())?;
        let pending = self.store_key(&previewed).await?;
        let issued = self.spend_token(&pending).await?;
        let checked = self.check(&issued, &previewed, &pending)?;
        self.progress(&format!(
            "verified: key, grant and user OIDs, CA chain, validity and clientAuth (certificate {})",
            checked.fingerprint
        ));
        let peer = self.activate(&pending.peer_id, issued).await?;
        self.progress(&format!("active: peer {} ({})", peer.id, peer.name));
        Ok(peer)
    }

    /// 1. See what the token grants, and check the CA pin before sending a CSR.
    async fn preview(&self) -> Result<Previewed> {
        let preview = self
            .remote
            .preview_enrollment(&self.args.enrollment_url)
            .await?;
        let ca_fp = ca_fingerprint(&preview.ca_certificate_pem)?;
        if let Some(pin) = &self.pin
            && *pin != ca_fp
        {
            return Err(says::pin_mismatch(
                &crate::api::client::redact_url(&self.args.enrollment_url),
                pin,
                std::slice::from_ref(&ca_fp),
            ));
        }
        check_expectations(self.args, &preview.grant_id, &preview.subject_user_id).map_err(
            |e| Error::verification(format!("{e}; nothing was sent and the token is unspent")),
        )?;
        self.progress(&describe_preview(&preview, &ca_fp, self.pin.is_some()));
        Ok(Previewed {
            preview,
            ca_fingerprint: ca_fp,
        })
    }

    /// 2 and 3. Key and CSR, made here; the private key leaves this process only sealed,
    /// and is stored as a pending peer before the single-use token is spent.
    async fn store_key(&mut self, previewed: &Previewed) -> Result<Pending> {
        let key = PeerKey::generate().map_err(|e| Error::internal(e.to_string()))?;
        let peer_id = uuid::Uuid::new_v4().to_string();
        let csr_pem = key
            .csr_pem(&format!("mosaic peer {peer_id}"))
            .map_err(|e| Error::internal(e.to_string()))?;
        let secret = self
            .secret
            .take()
            .ok_or_else(|| Error::internal("the sealing secret was already used"))?;
        let sealed_private_key = secret.seal_peer_key(&peer_id, key.pkcs8_der());
        let sealed_enrollment = KeptEnrollment {
            enrollment_url: self.args.enrollment_url.clone(),
            ca_fingerprint: previewed.ca_fingerprint.clone(),
            pinned: self.pin.is_some(),
            grant_id: previewed.preview.grant_id.clone(),
            subject_user_id: previewed.preview.subject_user_id.clone(),
        }
        .seal(&secret, &peer_id)?;
        drop(secret);
        self.progress("key: generated a P-256 key and CSR, sealed the key");
        self.client
            .create_peer(&CreatePeerRequest {
                id: peer_id.clone(),
                name: self.name.clone(),
                remote_url: self.remote_url.clone(),
                csr_pem: csr_pem.clone(),
                sealed_private_key,
                sealed_enrollment: Some(sealed_enrollment),
            })
            .await?;
        self.progress(&format!(
            "stored: pending peer {peer_id} on the local gateway"
        ));
        Ok(Pending {
            peer_id,
            key,
            csr_pem,
        })
    }

    /// 4. Spend the token.
    async fn spend_token(&self, pending: &Pending) -> Result<EnrollResponse> {
        let request = EnrollRequest {
            csr_pem: pending.csr_pem.clone(),
        };
        match self
            .remote
            .enroll(&self.args.enrollment_url, &request)
            .await
        {
            Ok(issued) => {
                self.progress(&format!(
                    "enrolled: the granting gateway issued a certificate for grant {}",
                    issued.grant_id
                ));
                Ok(issued)
            }
            Err(e) => Err(self.enrollment_failed(&pending.peer_id, e).await),
        }
    }

    /// The enrollment POST failed. If the granting gateway refused it (a 4xx answer), no
    /// certificate was issued for our key, so the pending record is useless and is
    /// removed. After a transport fault nobody knows whether the token was spent: keep the
    /// record and say what to do.
    async fn enrollment_failed(&self, peer_id: &str, err: Error) -> Error {
        let refused = matches!(
            err.kind(),
            ErrorKind::InvalidInput
                | ErrorKind::NotFound
                | ErrorKind::Conflict
                | ErrorKind::TokenInvalid
                | ErrorKind::Unauthorized
        );
        if refused && self.client.delete_peer(peer_id).await.is_ok() {
            return err;
        }
        let cause = err.message().to_string();
        err.with_message(format!(
            "{cause}; the token may or may not have been spent, and peer {peer_id} stays pending"
        ))
        .with_hint(format!(
            "run `mosaic federation peer finish {peer_id}`, which asks the granting gateway again for the certificate (or `mosaic federation peer remove {peer_id}` to give up)"
        ))
    }

    /// 5. Every check of the contract, before anything is stored as active.
    fn check(
        &self,
        issued: &EnrollResponse,
        previewed: &Previewed,
        pending: &Pending,
    ) -> Result<IssuedCert> {
        check_issued(issued, previewed, &pending.key, self.args).map_err(|e| {
            Error::verification(format!(
                "{e}; the peer stays pending and unusable"
            ))
            .with_hint(format!(
                "remove it with `mosaic federation peer remove {}` and ask the granting admin to revoke grant {}",
                pending.peer_id, issued.grant_id
            ))
        })
    }

    /// 6. Activate: the certificate goes to the local gateway first. If it does not take
    ///    it, the certificate is kept in a local file; and if even that fails, the pending
    ///    peer still keeps what `peer finish` needs to ask the granting gateway again.
    async fn activate(&self, peer_id: &str, issued: EnrollResponse) -> Result<Peer> {
        let pending = PendingCertificate {
            peer_id: peer_id.to_string(),
            certificate_pem: issued.certificate_pem,
            ca_certificate_pem: issued.ca_certificate_pem,
            grant_id: issued.grant_id,
            subject_user_id: issued.subject_user_id,
        };
        let err = match pending.activate(self.client).await {
            Ok(peer) => return Ok(peer),
            Err(e) => e,
        };
        let cause = err.message().to_string();
        let kept = match pending.save() {
            Ok(path) => format!("it is kept in {}", path.display()),
            Err(e) => format!(
                "it could not be kept locally either ({}), but the pending peer keeps what is needed to ask the granting gateway for it again",
                e.message()
            ),
        };
        Err(err
            .with_message(format!(
                "the certificate was issued and verified but the local gateway did not store it ({cause}); {kept}"
            ))
            .with_hint(format!(
                "finish with `mosaic federation peer finish {peer_id}`"
            )))
    }

    fn progress(&self, line: &str) {
        output::progress(self.format, line);
    }
}

/// The issued certificate against the preview, the operator's expectations, our key and
/// the previewed (or pinned) CA.
fn check_issued(
    issued: &EnrollResponse,
    previewed: &Previewed,
    key: &PeerKey,
    args: &PeerAddArgs,
) -> std::result::Result<IssuedCert, String> {
    let preview = &previewed.preview;
    if issued.grant_id != preview.grant_id || issued.subject_user_id != preview.subject_user_id {
        return Err(format!(
            "the enrollment answer is for grant {} / user {}, but the preview showed grant {} / user {}",
            issued.grant_id, issued.subject_user_id, preview.grant_id, preview.subject_user_id
        ));
    }
    check_expectations(args, &issued.grant_id, &issued.subject_user_id)?;
    // The CA that signs must be the CA that was previewed (and matched the pin, if any).
    let expected = Expected {
        public_key_spki: key.spki_der(),
        grant_id: &issued.grant_id,
        subject_user_id: &issued.subject_user_id,
        ca_fingerprint: Some(&previewed.ca_fingerprint),
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
        .map_err(|e| Error::unreachable(format!("the granting gateway's preview is unusable: {e}")))
}

/// `sha256:` and 64 hex digits, normalised to lowercase.
fn parse_fingerprint(s: &str) -> Result<String> {
    let lower = s.trim().to_ascii_lowercase();
    match lower.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(lower),
        _ => Err(Error::invalid_input(format!(
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
        let bad = |why: &str| Error::invalid_input(format!("invalid enrollment URL: {why}"));
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

/// Refuses an enrollment URL served by the local gateway itself (the same scheme, port
/// and host, any loopback name counting as one host): enrolling a gateway with itself
/// would spend the token and activate the grant for nobody. Checked before any request.
fn refuse_self_enrollment(enrollment_url: &str, local: &url::Url) -> Result<()> {
    let Ok(remote) = url::Url::parse(enrollment_url.trim()) else {
        return Ok(());
    };
    let is_loopback = |u: &url::Url| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let same_host = remote.host() == local.host() || (is_loopback(&remote) && is_loopback(local));
    if remote.scheme() == local.scheme()
        && remote.port_or_known_default() == local.port_or_known_default()
        && same_host
    {
        return Err(Error::invalid_input(format!(
            "the enrollment URL is served by the local gateway ({}): run `peer add` with \
             --gateway (or MOSAIC_GATEWAY_URL) pointing at the enrolling gateway; nothing \
             was sent and the token is unspent",
            local.origin().ascii_serialization()
        )));
    }
    Ok(())
}

/// Refuses an enrollment URL whose gateway has the local gateway's own CA: the same
/// gateway under another name (a public address, a proxy), which `refuse_self_enrollment`
/// cannot see from the URL. Checked after the preview, before anything is stored or sent.
fn refuse_own_ca(remote_ca: &str, local_ca: Option<&str>) -> Result<()> {
    if local_ca == Some(remote_ca) {
        return Err(Error::invalid_input(format!(
            "the enrollment URL leads to a gateway with the local gateway's own CA \
             ({remote_ca}): it is this gateway under another name; run `peer add` with \
             --gateway (or MOSAIC_GATEWAY_URL) pointing at the enrolling gateway; nothing \
             was sent and the token is unspent"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod self_enrollment_tests {
    use super::refuse_self_enrollment;

    #[test]
    fn the_local_gateway_is_refused_under_any_loopback_name() {
        let local = url::Url::parse("http://127.0.0.1:14242").unwrap();
        for own in [
            "http://127.0.0.1:14242/api/federation/enrollment/t",
            "http://localhost:14242/api/federation/enrollment/t",
            "http://[::1]:14242/api/federation/enrollment/t",
        ] {
            assert!(refuse_self_enrollment(own, &local).is_err(), "{own}");
        }
        for other in [
            "http://127.0.0.1:14243/api/federation/enrollment/t",
            "https://127.0.0.1:14242/api/federation/enrollment/t",
            "http://a.example:14242/api/federation/enrollment/t",
        ] {
            assert!(refuse_self_enrollment(other, &local).is_ok(), "{other}");
        }
    }
}
