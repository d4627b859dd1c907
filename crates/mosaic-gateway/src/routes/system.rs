//! Health, the OpenAPI document, and the JSON answers for unknown routes and methods.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi;
use mosaic_contract::types::Health;

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
