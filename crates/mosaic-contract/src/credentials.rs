//! Named admin credentials: the roles, the bodies of `/api/admin/credentials` and of
//! `GET /api/admin/whoami`, and the shape of a secret (a fixed prefix secret scanners
//! can match, then 256 random bits in base64url).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What every credential's secret starts with.
pub const SECRET_PREFIX: &str = "mosaic_adm_";
/// The name of the break-glass credential (the `admin-token` file or `MOSAIC_ADMIN_TOKEN`).
pub const BOOTSTRAP_NAME: &str = "bootstrap";
/// Longest `expires_in`: ten years, in seconds.
pub const MAX_EXPIRES_IN: u32 = 10 * 366 * 24 * 3600;
/// Longest credential name.
pub const MAX_NAME_CHARS: usize = 64;

/// What a credential may do. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every read, no write.
    Viewer,
    /// Grants, tokens, revocations, data imports, peers and the audit log.
    Operator,
    /// Everything, including managing credentials.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role \"{s}\": use viewer, operator or admin"))
    }
}

/// A credential's name: 1 to 64 of ASCII letters, digits and `._-`, starting with a
/// letter or digit (`alice`, `ci-grants`). Shown in the audit log and the request log, so
/// kept plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !(1..=MAX_NAME_CHARS).contains(&name.len()) || !plain || !first_ok {
        return Err(format!(
            "name must be 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-', starting \
             with a letter or digit"
        ));
    }
    Ok(())
}

/// Body of `POST /api/admin/credentials`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCredentialRequest {
    /// Who or what holds it: `alice`, `ci-grants`. Unique among the gateway's credentials.
    pub name: String,
    pub role: Role,
    /// Seconds until it expires (1 to ten years); absent: it never expires.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_u32"
    )]
    pub expires_in: Option<u32>,
}

/// A named admin credential, without its secret (which only its creation answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Credential {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "crate::timestamp")]
    pub created_at: OffsetDateTime,
    /// The name of the credential that created it.
    pub created_by: String,
    #[serde(with = "crate::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Answer of `POST /api/admin/credentials`: the record and its secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedCredential {
    #[serde(flatten)]
    pub credential: Credential,
    /// `mosaic_adm_` and 43 base64url characters. The gateway keeps only its SHA-256.
    pub secret: String,
}

/// Answer of `GET /api/admin/whoami`: the credential the request was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    #[serde(with = "crate::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_spelled_once() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn names_are_plain() {
        for ok in ["alice", "ci-grants", "a.b_c", "7"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a b", "é", &"a".repeat(65), "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
