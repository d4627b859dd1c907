//! One log event per request — its request id, method, path (the enrollment token
//! redacted), route template, status, milliseconds and actor — and its count in the
//! metrics. Bodies, headers and query strings are never logged. The request id (a valid
//! incoming `X-Request-Id`, else a new one) is echoed in the answer and written into the
//! audit rows the request writes.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorCode;
use crate::log;
use crate::tls::ClientChain;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Logs and counts the request and marks the answer `Cache-Control: no-store`: answers
/// carry tokens, certificates and grant data that no cache should keep.
pub async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    // An unmatched path is not a label: it may be a mistyped enrollment URL.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let id: Arc<str> = match req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(given) if log::valid_request_id(given) => Arc::from(given),
        _ => Arc::from(log::new_request_id()),
    };
    let peer = req
        .extensions()
        .get::<ClientChain>()
        .and_then(ClientChain::leaf)
        .map(mosaic_crypto::fingerprint);
    let mut response = log::with_request_id(id.clone(), next.run(req)).await;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let took = started.elapsed();
    crate::metrics::get().request(&route, method.as_str(), status, code, took);
    let credential = response
        .extensions()
        .get::<crate::credentials::Caller>()
        .map(|c| c.name.clone());
    let actor = actor(credential.as_deref(), peer.as_deref());
    let ms = took.as_secs_f64() * 1000.0;
    tracing::info!(
        target: "request",
        request_id = &*id,
        method = method.as_str(),
        path = path.as_str(),
        route = route.as_str(),
        status,
        duration_ms = (ms * 10.0).round() / 10.0,
        actor,
        code,
        "{method} {path} {status} {ms:.1}ms"
    );
    response
}

/// Who made the request, as far as the gateway knows: the admin credential it was made
/// with, by name (the admin check let it in), the peer by its certificate's fingerprint
/// (mutual TLS), or nobody known.
fn actor(credential: Option<&str>, peer: Option<&str>) -> String {
    if let Some(name) = credential {
        name.to_string()
    } else if let Some(fingerprint) = peer {
        format!("peer {fingerprint}")
    } else {
        "anonymous".to_string()
    }
}

/// Everything below `/api/federation/` (not `/api/admin/`) is public and keyed by a
/// token in the path, so it is cut off; also for paths that match no route, which may
/// be a mistyped enrollment URL.
pub fn loggable_path(path: &str) -> String {
    use mosaic_contract::paths::{DATA_PLANE, ENROLLMENT, PUBLIC};
    // The data plane's paths hold no secret (the client certificate is the credential).
    if path.starts_with(DATA_PLANE) {
        path.to_string()
    } else if path.starts_with(ENROLLMENT) {
        format!("{ENROLLMENT}[REDACTED]")
    } else if path.starts_with(PUBLIC) {
        format!("{PUBLIC}[REDACTED]")
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokens_in_paths_are_redacted() {
        assert_eq!(
            loggable_path("/api/federation/enrollment/abcDEF123"),
            "/api/federation/enrollment/[REDACTED]"
        );
        assert_eq!(
            loggable_path("/api/federation/enrolment/abcDEF123"),
            "/api/federation/[REDACTED]"
        );
        assert_eq!(
            loggable_path("/api/federation/v1/resources/tasks"),
            "/api/federation/v1/resources/tasks"
        );
        assert_eq!(
            loggable_path("/api/admin/federation/grants/g1"),
            "/api/admin/federation/grants/g1"
        );
    }
}
