//! The HTTP surface: one module per resource, each handler a thin layer over the store.
//! `router` puts them together with the admin check, the body limit and the access log.

pub mod audit;
pub mod credentials;
pub mod data;
pub mod enrollment;
pub mod federation;
pub mod grants;
pub mod peer_reads;
pub mod peers;
pub mod renew;
pub mod status;
pub mod system;
pub mod tokens;

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use tower::ServiceBuilder;

use super::error::ApiError;
use super::{AppState, BODY_LIMIT, access_log, admin};
use mosaic_contract::paths;

/// The whole API. `request_timeout` bounds each request from the end of its headers to
/// its answer (body read included): past it, 408.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let admin_routes = Router::new()
        .route("/grants", post(grants::create).get(grants::list))
        .route("/grants/{id}", get(grants::show))
        .route("/grants/{id}/revoke", patch(grants::revoke))
        .route("/grants/{id}/tokens", post(tokens::create))
        .route("/peers", get(peers::list))
        .route("/peers/keypair", post(peers::create))
        .route("/peers/{id}/cert", patch(peers::store_cert))
        .route("/peers/{id}", delete(peers::remove))
        .route("/peers/{id}/renew", post(peers::renew))
        .route("/peers/{id}/enrollment", get(peers::enrollment))
        .route("/peers/{id}/whoami", get(peer_reads::whoami))
        .route(
            "/peers/{id}/resources/{resource}",
            get(peer_reads::resources),
        )
        .route("/data/{resource}", post(data::import))
        .route("/audit", get(audit::list))
        .route("/status", get(status::status))
        .route_layer(from_fn(refuse_unexpected_query))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        // A layer (not a route layer): unknown admin paths need the token too.
        .layer(from_fn_with_state(state.clone(), admin::require_admin));

    // Below `/api/admin` but not `/federation`: the same admin check, a route layer
    // (the paths around them are not the admin API's).
    let credential_routes = Router::new()
        .route(
            paths::CREDENTIALS,
            post(credentials::create).get(credentials::list),
        )
        .route(paths::CREDENTIAL_ROUTE, delete(credentials::revoke))
        .route(paths::ADMIN_WHOAMI, get(credentials::whoami))
        .route_layer(from_fn(refuse_unexpected_query))
        .route_layer(from_fn_with_state(state.clone(), admin::require_admin));

    Router::new()
        .route(paths::HEALTH, get(system::health))
        .route(paths::READY, get(system::ready))
        .route(paths::OPENAPI, get(system::openapi_json))
        .route(
            paths::ENROLLMENT_ROUTE,
            get(enrollment::preview)
                .post(enrollment::enroll)
                .layer(from_fn_with_state(
                    state.clone(),
                    super::rate_limit::limit_enrollment,
                )),
        )
        .route(paths::WHOAMI, get(federation::whoami))
        .route(paths::RENEW, post(renew::renew))
        .route(paths::RESOURCES_ROUTE, get(federation::resources))
        .route_layer(from_fn(refuse_unexpected_query))
        .nest(paths::ADMIN, admin_routes)
        .merge(credential_routes)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(refuse_declared_large_body))
        .layer(from_fn(refuse_oversized_head))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(request_timed_out))
                .timeout(request_timeout),
        )
        .layer(from_fn(access_log::log_request))
        .with_state(state)
}

/// Unknown query parameters are 400 on every route: the list and data-plane reads check
/// theirs (`QueryParams`); every other route takes none, so any parameter there is a
/// typo that must not pass silently (`tokens?ttl_seconds=5` is not a 5 s token).
async fn refuse_unexpected_query(matched: MatchedPath, req: Request, next: Next) -> Response {
    let takes_query = req.method() == Method::GET
        && [
            format!("{}/grants", paths::ADMIN),
            format!("{}/peers", paths::ADMIN),
            format!("{}/audit", paths::ADMIN),
            format!("{}/peers/{{id}}/resources/{{resource}}", paths::ADMIN),
            paths::RESOURCES_ROUTE.to_string(),
        ]
        .iter()
        .any(|p| p == matched.as_str());
    match req.uri().query() {
        Some(query) if !query.is_empty() && !takes_query => {
            let name = query.split(['&', '=']).next().unwrap_or_default();
            let name: String = name.chars().take(64).collect();
            ApiError::invalid(format!(
                "unknown query parameter `{name}`: this endpoint takes no query parameters"
            ))
            .into_response()
        }
        _ => next.run(req).await,
    }
}

/// 413 from the `Content-Length` header alone, before any of the body is read: the
/// client is spared sending it, and `Expect: 100-continue` gets no `100 Continue`
/// (hyper sends it only once the body is read).
async fn refuse_declared_large_body(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::PayloadTooLarge(BODY_LIMIT).into_response();
    }
    next.run(req).await
}

/// Longest request target (path and query) answered, in bytes; past it, 414.
pub const MAX_TARGET: usize = 8 * 1024;
/// Most header fields in a request; past it, 431.
pub const MAX_HEADERS: usize = 100;
/// Largest header section (names, values and 4 bytes a field), in bytes; past it, 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 414 and 431 in the error shape. hyper answers these itself, with an empty body, only
/// past its own much larger limits (`server::serve`), where the request never reaches
/// this layer; docs/gateway.md lists those answers.
async fn refuse_oversized_head(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_TARGET {
        return ApiError::coded(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request's path and query are longer than {MAX_TARGET} bytes"),
        )
        .into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::coded(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has more than {MAX_HEADERS} header fields or more than \
                 {MAX_HEADER_BYTES} bytes of them"
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// The answer when `--request-timeout` passed before the answer was ready.
async fn request_timed_out(_: tower::BoxError) -> ApiError {
    ApiError::coded(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request took longer than the gateway's request timeout (--request-timeout)",
    )
}

/// An opaque ID or name chosen by the client: the contract's rule, shared with the CLI
/// (`mosaic_contract::text::check_text`).
pub fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    mosaic_contract::text::check_text(field, value).map_err(|e| ApiError::invalid(e.message))
}

/// A PEM text (CSR, certificate) or a sealed key: no control characters but the line
/// breaks and tabs PEM allows, and no bidirectional formatting characters.
pub fn check_pem_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value
        .chars()
        .any(|c| mosaic_contract::text::is_unsafe_char(c) && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::invalid(format!(
            "{field} must not contain control characters other than line breaks, or \
             bidirectional formatting characters"
        )));
    }
    Ok(())
}

/// Text the gateway stores and shows again: no control or bidi characters (shared with
/// the CLI: `mosaic_contract::text::check_printable`).
pub fn check_printable(field: &str, value: &str) -> Result<(), ApiError> {
    mosaic_contract::text::check_printable(field, value).map_err(|e| ApiError::invalid(e.message))
}
