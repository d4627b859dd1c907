//! Health, the OpenAPI document, and the JSON answers for unknown routes and methods.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi;
use axum::http::StatusCode;
use mosaic_contract::types::{ErrorBody, Health, Readiness};

#[utoipa::path(
    get,
    path = "/api/health",
    tag = "system",
    responses((status = 200, description = "The gateway is ready", body = Health))
)]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ca_fingerprint: Some(state.ca.fingerprint().to_string()),
    })
}

/// How long readiness waits for the store before it says the store does not answer.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[utoipa::path(
    get,
    path = "/api/ready",
    tag = "system",
    responses(
        (status = 200, description = "The gateway can serve: its store answers and its CA is loaded", body = Readiness),
        (status = 503, description = "The gateway cannot serve now, and why (code `not_ready`)", body = ErrorBody),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    // The CA is loaded before the gateway serves at all; the store can go away (a
    // PostgreSQL server restarting, a full disk), so it is asked every time.
    let not_ready =
        |why: String| ApiError::coded(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Readiness {
            status: "ready".into(),
        })),
        Ok(Err(e)) => Err(not_ready(format!("the database does not answer: {e}"))),
        Err(_) => Err(not_ready(format!(
            "the database did not answer within {} s",
            READY_TIMEOUT.as_secs()
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "system",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], openapi::json())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; GET /api/openapi.json lists them all")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
