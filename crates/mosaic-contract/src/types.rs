//! The wire types of the federation admin API, shared by the CLI's client and the
//! reference gateway so the two cannot drift apart. Field names are the contract's.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

pub use super::scope::{MAX_ROWS_RANGE, Resource, Scope, ScopeViolation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Pending,
    Active,
    Revoked,
    Expired,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Pending => "pending",
            GrantStatus::Active => "active",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Expired => "expired",
        }
    }
}

impl std::str::FromStr for GrantStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(GrantStatus::Pending),
            "active" => Ok(GrantStatus::Active),
            "revoked" => Ok(GrantStatus::Revoked),
            "expired" => Ok(GrantStatus::Expired),
            other => Err(format!(
                "unknown status \"{other}\" (expected pending, active, revoked or expired)"
            )),
        }
    }
}

/// Permission for one remote peer to read part of one user's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Grant {
    pub id: String,
    pub user_id: String,
    pub peer_id: String,
    pub scope: Scope,
    pub status: GrantStatus,
    #[serde(with = "crate::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::timestamp::option")]
    pub activated_at: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
    #[serde(with = "crate::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub peer_cert_fingerprint: Option<String>,
    /// When the current peer certificate expires (it is renewed before then).
    #[serde(default, with = "crate::timestamp::option")]
    pub peer_cert_not_after: Option<OffsetDateTime>,
    /// Every enrollment token ever issued for the grant, oldest first. Only
    /// `GET /api/admin/federation/grants/:id` fills it; lists leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<TokenRecord>>,
}

/// What became of one enrollment token, by its non-secret handle. The token itself is
/// never shown again after `grant token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenRecord {
    pub handle: String,
    #[serde(with = "crate::timestamp")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "crate::timestamp")]
    pub expires_at: OffsetDateTime,
    pub state: TokenState,
    #[serde(with = "crate::timestamp::option")]
    pub redeemed_at: Option<OffsetDateTime>,
    /// Fingerprint of the certificate issued when the token was redeemed.
    pub cert_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Not used yet and not expired.
    Unused,
    /// Spent by a successful enrollment.
    Redeemed,
    /// Its TTL passed before anyone used it.
    Expired,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Unused => "unused",
            TokenState::Redeemed => "redeemed",
            TokenState::Expired => "expired",
        }
    }
}

/// Body of `POST /api/admin/federation/grants`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGrantRequest {
    pub user_id: String,
    pub peer_id: String,
    pub scope: Scope,
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

impl CreateGrantRequest {
    /// Every rule on the fields of a new grant, in the order the gateway checks them;
    /// `grant create` (and its `--dry-run`) checks by the same code before any request.
    /// `expires_at` is checked against the gateway's clock when it stores the grant.
    pub fn validate(&self) -> Result<(), crate::text::FieldError> {
        use crate::text::{FieldError, check_text};
        check_text("user_id", &self.user_id)?;
        check_text("peer_id", &self.peer_id)?;
        self.scope.validate().map_err(|v| FieldError {
            field: format!("scope.{}", v.field),
            message: format!("scope.{v}"),
        })
    }
}

/// Body of `PATCH /api/admin/federation/grants/:id/revoke`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeGrantRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Longest revoke reason, in characters (as JSON Schema's `maxLength` counts them).
pub const MAX_REASON_CHARS: usize = 1024;

impl RevokeGrantRequest {
    /// The gateway's rule on a reason, which `grant revoke` checks by the same code before
    /// asking or sending anything.
    pub fn validate(&self) -> Result<(), crate::text::FieldError> {
        let Some(reason) = &self.reason else {
            return Ok(());
        };
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(crate::text::FieldError {
                field: "reason".into(),
                message: format!("reason is longer than {MAX_REASON_CHARS} characters"),
            });
        }
        crate::text::check_printable("reason", reason)
    }
}

/// Enrollment token TTL bounds, in seconds.
pub const TOKEN_TTL_DEFAULT: u32 = 900;
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u32> = 1..=900;

/// Body of `POST /api/admin/federation/grants/:id/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_u32"
    )]
    pub ttl_seconds: Option<u32>,
}

/// A single-use enrollment token: returned once, never listed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollmentToken {
    pub grant_id: String,
    pub token: String,
    pub enrollment_url: String,
    #[serde(with = "crate::timestamp")]
    pub expires_at: OffsetDateTime,
    pub ca_fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PeerStatus {
    Pending,
    Active,
    /// Active, but the granting gateway answered a read that the grant is revoked (an
    /// addition to the contract): the peer can never read again; a new grant is needed.
    GrantRevoked,
    /// Active, but the granting gateway answered a read that the grant has expired.
    GrantExpired,
}

impl PeerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Pending => "pending",
            PeerStatus::Active => "active",
            PeerStatus::GrantRevoked => "grant_revoked",
            PeerStatus::GrantExpired => "grant_expired",
        }
    }
}

/// A remote gateway as the enrolling gateway stores it. The sealed key is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Peer {
    pub id: String,
    pub name: String,
    pub remote_url: String,
    pub grant_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub status: PeerStatus,
    pub cert_fingerprint: Option<String>,
    pub cert_serial: Option<String>,
    #[serde(with = "crate::timestamp::option")]
    pub cert_not_after: Option<OffsetDateTime>,
    /// When this gateway renews the certificate (a share of its lifetime, plus jitter);
    /// null for a pending peer.
    #[serde(default, with = "crate::timestamp::option")]
    pub renewal_due_at: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::timestamp::option")]
    pub activated_at: Option<OffsetDateTime>,
}

/// Body of `POST /api/admin/federation/peers/keypair` (peer add, step 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePeerRequest {
    pub id: String,
    pub name: String,
    pub remote_url: String,
    pub csr_pem: String,
    /// `mosaic-sealed-v1:…`, see docs/sealing.md.
    pub sealed_private_key: String,
    /// What `peer finish` needs to ask the granting gateway again for the certificate
    /// (the enrollment URL and what the preview showed), sealed like the key with its own
    /// HKDF info (docs/sealing.md). Kept while the peer is pending, dropped on activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_enrollment: Option<String>,
}

/// Answer of `GET /api/admin/federation/peers/{id}/enrollment`: what a pending peer keeps
/// so that `peer finish` can ask the granting gateway again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PeerEnrollment {
    pub peer_id: String,
    /// The CSR the peer was created with: the same public key gets the same certificate.
    pub csr_pem: String,
    /// `mosaic-sealed-v1:…`, opened only by the CLI with `BETTER_AUTH_SECRET`.
    pub sealed_enrollment: String,
}

/// Body of `POST <enrollment-url>` (peer add, step 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub csr_pem: String,
}

/// Answer of `POST <enrollment-url>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollResponse {
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
    pub grant_id: String,
    pub subject_user_id: String,
    pub peer_id: String,
    #[serde(with = "crate::timestamp")]
    pub not_after: OffsetDateTime,
}

/// Answer of `GET <enrollment-url>`: what the token would grant, without spending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollmentPreview {
    pub grant_id: String,
    pub subject_user_id: String,
    pub peer_id: String,
    pub scope: Scope,
    #[serde(with = "crate::timestamp")]
    pub expires_at: OffsetDateTime,
    pub ca_certificate_pem: String,
}

/// Body of `PATCH /api/admin/federation/peers/:id/cert` (peer add, step 3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StoreCertRequest {
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
    pub grant_id: String,
    pub subject_user_id: String,
}

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum AuditAction {
    #[serde(rename = "grant.created")]
    GrantCreated,
    #[serde(rename = "token.issued")]
    TokenIssued,
    /// A peer enrolled; the detail holds the issued certificate's fingerprint.
    #[serde(rename = "grant.activated")]
    GrantActivated,
    /// The detail holds the revoke reason, if one was given.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    #[serde(rename = "grant.expired")]
    GrantExpired,
    /// The detail says why (never the token itself).
    #[serde(rename = "enrollment.refused")]
    EnrollmentRefused,
    /// A redeemed token presented again with a CSR for the key that redeemed it: the same
    /// certificate was answered again (idempotent redemption); the detail names it.
    #[serde(rename = "enrollment.repeated")]
    EnrollmentRepeated,
    #[serde(rename = "peer.added")]
    PeerAdded,
    #[serde(rename = "peer.activated")]
    PeerActivated,
    #[serde(rename = "peer.removed")]
    PeerRemoved,
    /// An enrolling gateway learned from a refused read that its grant at the granting
    /// gateway ended; the detail says `revoked` or `expired`.
    #[serde(rename = "peer.grant_ended")]
    PeerGrantEnded,
    /// A peer read through a grant; the detail names the resource and the row count.
    #[serde(rename = "federation.read")]
    FederationRead,
    /// A federation request refused; the detail says why, with the certificate's fingerprint.
    #[serde(rename = "federation.refused")]
    FederationRefused,
    /// An admin imported rows; the detail names the resource, the user and the count.
    #[serde(rename = "data.imported")]
    DataImported,
    /// A granting gateway renewed a peer's certificate; the detail holds the presented
    /// and the new certificate's fingerprints.
    #[serde(rename = "certificate.renewed")]
    CertificateRenewed,
    /// An enrolling gateway swapped a peer's key and certificate for renewed ones.
    #[serde(rename = "peer.renewed")]
    PeerRenewed,
    /// A named admin credential was created; the detail names it and its role.
    #[serde(rename = "credential.created")]
    CredentialCreated,
    /// A named admin credential was revoked; the detail names it.
    #[serde(rename = "credential.revoked")]
    CredentialRevoked,
    /// A revoked or expired credential was presented; the actor is its name.
    #[serde(rename = "credential.refused")]
    CredentialRefused,
}

impl AuditAction {
    pub const ALL: [AuditAction; 19] = [
        AuditAction::GrantCreated,
        AuditAction::TokenIssued,
        AuditAction::GrantActivated,
        AuditAction::GrantRevoked,
        AuditAction::GrantExpired,
        AuditAction::EnrollmentRefused,
        AuditAction::EnrollmentRepeated,
        AuditAction::PeerAdded,
        AuditAction::PeerActivated,
        AuditAction::PeerRemoved,
        AuditAction::PeerGrantEnded,
        AuditAction::FederationRead,
        AuditAction::FederationRefused,
        AuditAction::DataImported,
        AuditAction::CertificateRenewed,
        AuditAction::PeerRenewed,
        AuditAction::CredentialCreated,
        AuditAction::CredentialRevoked,
        AuditAction::CredentialRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::GrantCreated => "grant.created",
            AuditAction::TokenIssued => "token.issued",
            AuditAction::GrantActivated => "grant.activated",
            AuditAction::GrantRevoked => "grant.revoked",
            AuditAction::GrantExpired => "grant.expired",
            AuditAction::EnrollmentRefused => "enrollment.refused",
            AuditAction::EnrollmentRepeated => "enrollment.repeated",
            AuditAction::PeerAdded => "peer.added",
            AuditAction::PeerActivated => "peer.activated",
            AuditAction::PeerRemoved => "peer.removed",
            AuditAction::PeerGrantEnded => "peer.grant_ended",
            AuditAction::FederationRead => "federation.read",
            AuditAction::FederationRefused => "federation.refused",
            AuditAction::DataImported => "data.imported",
            AuditAction::CertificateRenewed => "certificate.renewed",
            AuditAction::PeerRenewed => "peer.renewed",
            AuditAction::CredentialCreated => "credential.created",
            AuditAction::CredentialRevoked => "credential.revoked",
            AuditAction::CredentialRefused => "credential.refused",
        }
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action \"{s}\""))
    }
}

/// One record of the gateway's audit log (`GET /api/admin/federation/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEntry {
    pub id: String,
    #[serde(with = "crate::timestamp")]
    pub at: OffsetDateTime,
    pub action: AuditAction,
    /// Who acted: the name of the admin credential a request of the admin API was made
    /// with (`bootstrap` for the admin token), `enrollment` (the public enrollment
    /// endpoint), `peer` or `gateway` (the gateway itself, e.g. expiring a grant).
    pub actor: String,
    pub grant_id: Option<String>,
    pub peer_id: Option<String>,
    /// The revoke reason, the certificate fingerprint, or why an enrollment was refused.
    pub detail: Option<String>,
    /// The `X-Request-Id` of the request that wrote this entry (also in the gateway's log
    /// line for that request); absent for what the gateway did by itself.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// One page of a list endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Page size bounds of every list endpoint.
pub const PAGE_LIMIT_DEFAULT: u32 = 100;
pub const PAGE_LIMIT_MAX: u32 = 1000;

/// `{"error": {"code": …, "message": …}}`, the body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// Machine codes of [`ErrorDetail::code`].
pub mod codes {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403: the admin credential is valid, but its role may not do this.
    pub const FORBIDDEN_ROLE: &str = "forbidden_role";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    pub const TOKEN_INVALID: &str = "token_invalid";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const INTERNAL: &str = "internal";
    /// 503: the gateway's database cannot be reached; retrying later may succeed.
    pub const UNAVAILABLE: &str = "unavailable";
}

/// `GET /api/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
    /// The fingerprint of the gateway's CA (`sha256:…`), as `grant token` prints it: lets
    /// `peer add` see that an enrollment URL leads back to the gateway it runs against.
    /// Absent from gateways that do not say.
    #[serde(default)]
    pub ca_fingerprint: Option<String>,
}

/// Answer of `GET /api/ready` when the gateway can serve: its store answers and its CA is
/// loaded. (Otherwise 503 in the error shape, code `not_ready`, saying why.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
}

/// Answer of `GET /api/admin/federation/status` (`mosaic status`): what an operator
/// watches on one gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GatewayStatus {
    pub version: String,
    /// `sha256:…` of the gateway's CA certificate.
    pub ca_fingerprint: String,
    #[serde(with = "crate::timestamp")]
    pub ca_not_after: OffsetDateTime,
    /// Grants of this gateway (granting side) by status.
    pub grants: GrantCounts,
    /// Peers this gateway enrolled with (enrolling side), most urgent first.
    pub peers: Vec<PeerHealth>,
}

/// Grants by status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GrantCounts {
    pub pending: u64,
    pub active: u64,
    pub revoked: u64,
    pub expired: u64,
}

/// One peer as `mosaic status` shows it: its certificate and its renewal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PeerHealth {
    pub id: String,
    pub name: String,
    pub status: PeerStatus,
    #[serde(with = "crate::timestamp::option")]
    pub cert_not_after: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp::option")]
    pub renewal_due_at: Option<OffsetDateTime>,
    /// Automatic renewals failed in a row since the last success.
    pub renewal_failures: u32,
}
