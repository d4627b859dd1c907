//! One standard-error line per request — method, path, status, milliseconds — with the
//! enrollment token in paths redacted. Bodies, headers and query strings are never logged.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::middleware::Next;
use axum::response::Response;

/// Logs the request and marks the answer `Cache-Control: no-store`: answers carry
/// tokens, certificates and grant data that no cache should keep.
pub async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    eprintln!(
        "mosaic gateway: {method} {path} {} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
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
