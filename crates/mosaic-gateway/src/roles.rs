//! Which role each admin operation needs, decided once: a table from the router's route
//! template and method to the least role allowed. A route missing from it is refused for
//! every role, and a test walks the router so that no admin route can be added without
//! an entry.

use axum::http::Method;

use mosaic_contract::credentials::Role;

/// Every admin operation: method, route template (as the router matches it), least role.
pub const ADMIN_OPERATIONS: &[(&str, &str, Role)] = &[
    // Reads: every role.
    ("GET", "/api/admin/federation/grants", Role::Viewer),
    ("GET", "/api/admin/federation/grants/{id}", Role::Viewer),
    ("GET", "/api/admin/federation/peers", Role::Viewer),
    (
        "GET",
        "/api/admin/federation/peers/{id}/enrollment",
        Role::Viewer,
    ),
    (
        "GET",
        "/api/admin/federation/peers/{id}/whoami",
        Role::Viewer,
    ),
    (
        "GET",
        "/api/admin/federation/peers/{id}/resources/{resource}",
        Role::Viewer,
    ),
    ("GET", "/api/admin/federation/audit", Role::Viewer),
    ("GET", "/api/admin/federation/status", Role::Viewer),
    ("GET", "/api/admin/whoami", Role::Viewer),
    ("GET", "/api/admin/credentials", Role::Viewer),
    // The day-to-day writes: operators and admins.
    ("POST", "/api/admin/federation/grants", Role::Operator),
    (
        "PATCH",
        "/api/admin/federation/grants/{id}/revoke",
        Role::Operator,
    ),
    (
        "POST",
        "/api/admin/federation/grants/{id}/tokens",
        Role::Operator,
    ),
    (
        "POST",
        "/api/admin/federation/peers/keypair",
        Role::Operator,
    ),
    (
        "PATCH",
        "/api/admin/federation/peers/{id}/cert",
        Role::Operator,
    ),
    ("DELETE", "/api/admin/federation/peers/{id}", Role::Operator),
    (
        "POST",
        "/api/admin/federation/peers/{id}/renew",
        Role::Operator,
    ),
    (
        "POST",
        "/api/admin/federation/data/{resource}",
        Role::Operator,
    ),
    // Who may administer the gateway: admins only.
    ("POST", "/api/admin/credentials", Role::Admin),
    ("DELETE", "/api/admin/credentials/{id}", Role::Admin),
];

/// The least role `method` on `route` (a route template) needs; `None`: no decision, so
/// nobody may.
pub fn required(method: &Method, route: &str) -> Option<Role> {
    // The router answers `HEAD` with the `GET` handler.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ADMIN_OPERATIONS
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, role)| *role)
}

/// Whether a credential of role `held` may call `method` on `route`: `Err` names the
/// role that would be needed (`None`: no role may). A method the table has no entry for
/// on a route it knows goes on to the router, whose answer is 405: the route serves no
/// such method (a new one would need an entry, or the document's test fails).
pub fn allow(held: Role, method: &Method, route: &str) -> Result<(), Option<Role>> {
    let known_route = ADMIN_OPERATIONS.iter().any(|(_, r, _)| *r == route);
    match required(method, route) {
        Some(needed) if held >= needed => Ok(()),
        None if known_route => Ok(()),
        needed => Err(needed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: (&str, &str) = ("GET", "/api/admin/federation/grants");
    const WRITE: (&str, &str) = ("POST", "/api/admin/federation/grants");
    const MANAGE: (&str, &str) = ("POST", "/api/admin/credentials");

    fn may(role: Role, (method, route): (&str, &str)) -> bool {
        allow(role, &method.parse().unwrap(), route).is_ok()
    }

    #[test]
    fn roles_each_a_read_a_write_and_credential_management() {
        assert!(may(Role::Viewer, READ));
        assert!(!may(Role::Viewer, WRITE));
        assert!(!may(Role::Viewer, MANAGE));
        assert!(may(Role::Operator, READ));
        assert!(may(Role::Operator, WRITE));
        assert!(!may(Role::Operator, MANAGE));
        assert!(may(Role::Admin, READ));
        assert!(may(Role::Admin, WRITE));
        assert!(may(Role::Admin, MANAGE));
    }

    #[test]
    fn a_refusal_names_the_role_needed_and_an_unknown_route_is_nobodys() {
        let post = Method::POST;
        assert_eq!(
            allow(Role::Viewer, &post, "/api/admin/federation/grants"),
            Err(Some(Role::Operator))
        );
        assert_eq!(
            allow(Role::Operator, &post, "/api/admin/credentials"),
            Err(Some(Role::Admin))
        );
        assert_eq!(
            required(&Method::DELETE, "/api/admin/credentials/{id}"),
            Some(Role::Admin)
        );
        // Same path, other method; same method, other path: no decision. A method of no
        // operation on a known route is the router's 405 to give.
        assert_eq!(required(&Method::PUT, "/api/admin/federation/grants"), None);
        assert_eq!(
            allow(Role::Viewer, &Method::TRACE, "/api/admin/federation/grants"),
            Ok(())
        );
        assert_eq!(required(&post, "/api/admin/federation/grant"), None);
        // HEAD is GET's.
        assert_eq!(
            required(&Method::HEAD, "/api/admin/credentials"),
            Some(Role::Viewer)
        );
        assert_eq!(
            allow(Role::Viewer, &Method::HEAD, "/api/admin/federation/status"),
            Ok(())
        );
        for role in Role::ALL {
            assert_eq!(allow(role, &post, "/api/admin/unknown"), Err(None));
        }
    }

    #[test]
    fn every_read_is_a_viewers_and_every_write_needs_more() {
        for (method, route, role) in ADMIN_OPERATIONS {
            assert_eq!(*method == "GET", *role == Role::Viewer, "{method} {route}");
        }
    }
}

#[cfg(test)]
mod document {
    use super::*;

    /// Every admin operation of the OpenAPI document (the router's routes, as annotated)
    /// has a decision, and every decision is an operation of the document.
    #[test]
    fn every_admin_operation_of_the_document_has_a_role() {
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::json()).unwrap();
        let mut seen = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with(mosaic_contract::paths::ADMIN_ROOT) {
                continue;
            }
            // The document spells the import route once per resource.
            let route = match path.strip_prefix("/api/admin/federation/data/") {
                Some(_) => "/api/admin/federation/data/{resource}",
                None => path.as_str(),
            };
            for method in item.as_object().unwrap().keys() {
                let method: Method = method.to_uppercase().parse().unwrap();
                assert!(
                    required(&method, route).is_some(),
                    "no role decided for {method} {route}"
                );
                seen.push((method.to_string(), route.to_string()));
            }
        }
        for (method, route, _) in ADMIN_OPERATIONS {
            assert!(
                seen.iter().any(|(m, r)| m == method && r == route),
                "{method} {route} is no operation of the document"
            );
        }
    }
}
