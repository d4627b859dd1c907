//! The OpenAPI 3.1 document of the gateway, generated from the handlers' annotations and
//! the shared wire types. `docs/openapi.json` is a checked-in copy that a test keeps equal.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{
    audit, credentials, data, enrollment, federation, grants, peer_reads, peers, renew, status,
    system, tokens,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mosaic gateway federation API",
        description = "The admin API of a Mosaic gateway (grants, enrollment tokens, peers, \
                       audit log; bearer admin token) and its public enrollment endpoint \
                       (the enrollment token in the path is the credential). Errors are \
                       `{\"error\": {\"code\", \"message\"}}`; lists are paged with `limit` \
                       and `cursor`."
    ),
    paths(
        system::health,
        system::ready,
        system::openapi_json,
        grants::create,
        grants::list,
        grants::show,
        grants::revoke,
        tokens::create,
        enrollment::preview,
        enrollment::enroll,
        peers::create,
        peers::list,
        peers::store_cert,
        peers::remove,
        peers::renew,
        peers::enrollment,
        peer_reads::whoami,
        peer_reads::resources,
        data::import,
        federation::whoami,
        federation::resources,
        renew::renew,
        audit::list,
        status::status,
        credentials::create,
        credentials::list,
        credentials::revoke,
        credentials::whoami,
    ),
    modifiers(&AdminToken),
    tags(
        (name = "grants", description = "Grants and their enrollment tokens (granting gateway)"),
        (name = "enrollment", description = "Public enrollment with a single-use token (granting gateway)"),
        (name = "peers", description = "Remote gateways this gateway enrolled with (enrolling gateway)"),
        (name = "data", description = "Rows of the five resources that peers read (granting gateway)"),
        (name = "federation", description = "What an enrolled peer reads over mutual TLS; the client certificate is the credential (granting gateway)"),
        (name = "audit", description = "The audit log"),
        (name = "credentials", description = "Named admin credentials, each with a role, and who the caller is"),
        (name = "system", description = "Health, readiness, the gateway's status and this document"),
    )
)]
struct ApiDoc;

/// Declares the `admin_token` bearer scheme the admin paths refer to.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin credential: the bootstrap token (MOSAIC_ADMIN_TOKEN, or DIR/admin-token made on first start; role admin) or a named credential's secret (mosaic_adm_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_certificate",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate issued by this gateway's CA at enrollment".to_string(),
                ),
                deprecated: None,
                extensions: None,
            },
        );
    }
}

/// The document as pretty-printed JSON, built once: what the handlers' annotations
/// say, completed by [`contract::apply`] with what the gateway enforces.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        contract::apply(&mut doc);
        let mut text = serde_json::to_string_pretty(&doc).expect("the document serialises");
        text.push('\n');
        text
    })
}

mod contract;
