//! The contract's paths, named once: the client builds its URLs from them, the gateway
//! routes and logs by them, and `peer add` and the redaction find the token by them.

/// Prefix of the admin API (bearer admin token).
pub const ADMIN: &str = "/api/admin/federation";
/// [`ADMIN`] as path segments, to append to a gateway's base URL.
pub const ADMIN_SEGMENTS: [&str; 3] = ["api", "admin", "federation"];
/// Everything that needs an admin credential is below this prefix.
pub const ADMIN_ROOT: &str = "/api/admin";
/// Named admin credentials: `POST` creates, `GET` lists.
pub const CREDENTIALS: &str = "/api/admin/credentials";
/// One credential (`DELETE` revokes it), as the router spells it.
pub const CREDENTIAL_ROUTE: &str = "/api/admin/credentials/{id}";
/// [`CREDENTIALS`] as path segments.
pub const CREDENTIALS_SEGMENTS: [&str; 3] = ["api", "admin", "credentials"];
/// The credential a request is made with: `{name, role, expires_at}`.
pub const ADMIN_WHOAMI: &str = "/api/admin/whoami";
/// [`ADMIN_WHOAMI`] as path segments.
pub const ADMIN_WHOAMI_SEGMENTS: [&str; 3] = ["api", "admin", "whoami"];
/// Prefix of the public endpoints, keyed by a secret in the path.
pub const PUBLIC: &str = "/api/federation/";
/// What precedes the secret token in an enrollment URL.
pub const ENROLLMENT: &str = "/api/federation/enrollment/";
/// [`ENROLLMENT`] as path segments; the token is the segment after them.
pub const ENROLLMENT_SEGMENTS: [&str; 3] = ["api", "federation", "enrollment"];
/// The enrollment endpoint as the gateway's router spells it.
pub const ENROLLMENT_ROUTE: &str = "/api/federation/enrollment/{token}";
/// Prefix of the data plane on the granting gateway (mutual TLS; the client certificate
/// is the credential, nothing secret is in these paths).
pub const DATA_PLANE: &str = "/api/federation/v1/";
/// Who the presented certificate is to the granting gateway.
pub const WHOAMI: &str = "/api/federation/v1/whoami";
/// Renewal of the presented client certificate: `POST`, body `{csr_pem}`.
pub const RENEW: &str = "/api/federation/v1/renew";
/// Rows of one resource, as the router spells it.
pub const RESOURCES_ROUTE: &str = "/api/federation/v1/resources/{resource}";
/// [`DATA_PLANE`] as path segments.
pub const DATA_PLANE_SEGMENTS: [&str; 3] = ["api", "federation", "v1"];
/// Liveness.
pub const HEALTH: &str = "/api/health";
/// Readiness: 200 when the store answers, 503 otherwise.
pub const READY: &str = "/api/ready";
/// The gateway's OpenAPI document.
pub const OPENAPI: &str = "/api/openapi.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_agrees_with_the_others() {
        assert_eq!(ADMIN, format!("/{}", ADMIN_SEGMENTS.join("/")));
        assert_eq!(ENROLLMENT, format!("/{}/", ENROLLMENT_SEGMENTS.join("/")));
        assert!(ADMIN.starts_with(ADMIN_ROOT));
        assert_eq!(CREDENTIALS, format!("/{}", CREDENTIALS_SEGMENTS.join("/")));
        assert_eq!(CREDENTIAL_ROUTE, format!("{CREDENTIALS}/{{id}}"));
        assert_eq!(
            ADMIN_WHOAMI,
            format!("/{}", ADMIN_WHOAMI_SEGMENTS.join("/"))
        );
        assert!(CREDENTIALS.starts_with(ADMIN_ROOT) && ADMIN_WHOAMI.starts_with(ADMIN_ROOT));
        assert_eq!(ENROLLMENT_ROUTE, format!("{ENROLLMENT}{{token}}"));
        assert!(ENROLLMENT.starts_with(PUBLIC));
        assert_eq!(DATA_PLANE, format!("/{}/", DATA_PLANE_SEGMENTS.join("/")));
        assert_eq!(WHOAMI, format!("{DATA_PLANE}whoami"));
        assert_eq!(RENEW, format!("{DATA_PLANE}renew"));
        assert_eq!(
            RESOURCES_ROUTE,
            format!("{DATA_PLANE}resources/{{resource}}")
        );
    }
}
