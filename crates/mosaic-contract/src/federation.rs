//! The wire types of the federation data plane (the grant in use): A's mutual-TLS routes,
//! the admin import of rows, and B's relay of them. Shared by the CLI and the gateway.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use super::types::{GrantStatus, Resource, Scope};

/// Machine codes of the data plane's error answers.
pub mod codes {
    /// 401 on A: no client certificate was presented (or it expired).
    pub const CERTIFICATE_REQUIRED: &str = "certificate_required";
    /// 403 on A: no grant holds this certificate with these OIDs.
    pub const UNKNOWN_CERTIFICATE: &str = "unknown_certificate";
    /// 403 on A: the presented certificate has expired, so it cannot renew itself; a new
    /// grant and enrollment token are needed.
    pub const CERTIFICATE_EXPIRED: &str = "certificate_expired";
    /// 403 on A: the grant is revoked or expired.
    pub const GRANT_INACTIVE: &str = "grant_inactive";
    /// 403 on A: the resource is not granted, or is excluded.
    pub const OUT_OF_SCOPE: &str = "out_of_scope";
    /// 502 on B: A could not be reached or answered unusably.
    pub const PEER_UNREACHABLE: &str = "peer_unreachable";
    /// 502 on B: A's server certificate is not under the CA stored at enrollment.
    pub const PEER_UNTRUSTED: &str = "peer_untrusted";
    /// 403 on B: A refused; the message carries A's code and message.
    pub const PEER_REFUSED: &str = "peer_refused";
    /// 409 on B: another renewal of this peer (automatic, or another `peer renew`, on this
    /// gateway or another replica of it) holds the peer's renewal claim.
    pub const RENEWAL_IN_PROGRESS: &str = "renewal_in_progress";
}

/// `GET /api/federation/v1/whoami` on A, relayed by B's
/// `GET /api/admin/federation/peers/{id}/whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WhoAmI {
    pub grant_id: String,
    pub subject_user_id: String,
    pub peer_id: String,
    pub scope: Scope,
    pub status: GrantStatus,
    pub cert_fingerprint: String,
    #[serde(with = "crate::timestamp")]
    pub cert_not_after: OffsetDateTime,
}

/// Body of `POST /api/federation/v1/renew` on A: a CSR for a new P-256 key, checked as
/// at enrollment. The answer has the enrollment's shape ([`EnrollResponse`]).
///
/// [`EnrollResponse`]: super::types::EnrollResponse
pub type RenewRequest = super::types::EnrollRequest;

/// Query of `GET .../resources/{resource}` on A and on B.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RowsQuery {
    /// Page size, 1 to the grant's `max_rows_per_query` (its default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Body of `POST /api/admin/federation/data/{resource}`: rows of one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub user_id: String,
    /// Each an object with `id`, the resource's own fields and optionally `created_at`
    /// and `updated_at` (RFC 3339; set by the gateway when absent).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Answer of the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportResult {
    pub resource: Resource,
    pub user_id: String,
    pub imported: u64,
}

/// Most rows one import accepts.
pub const IMPORT_MAX_ITEMS: usize = 1000;

/// Whether a field of a row is required text, or an optional timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    OptionalTime,
}

/// The resource's own fields (besides `id`, `created_at`, `updated_at`).
pub fn resource_fields(resource: Resource) -> &'static [(&'static str, FieldKind)] {
    use FieldKind::*;
    match resource {
        Resource::Tasks => &[("title", Text), ("status", Text), ("due_at", OptionalTime)],
        Resource::Notes => &[("title", Text), ("body", Text)],
        Resource::Credentials => &[("name", Text), ("kind", Text)],
        Resource::Teams => &[("name", Text)],
        Resource::Users => &[("email", Text), ("name", Text)],
    }
}
