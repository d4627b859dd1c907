//! The gateway's one error type: each variant maps to an HTTP status and the contract's
//! `{"error": {"code", "message"}}` body. Internal errors are logged, never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::store::StoreError;
use super::store::db::DbError;
use mosaic_contract::types::{ErrorBody, ErrorDetail, codes};

/// The one message of every 410: unknown, used and expired tokens must look the same.
pub const TOKEN_INVALID_MESSAGE: &str = "enrollment token is unknown, already used or expired: \
     ask the granting gateway's admin for a new one (`mosaic federation grant token <grant-id>`)";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule; the message names what.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401: no admin bearer token, or not the right one.
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// 404: no such resource (or no such route).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 409: the resource's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// 410: the enrollment token is unknown, used or expired (deliberately not which).
    #[error("{TOKEN_INVALID_MESSAGE}")]
    TokenInvalid,
    /// 413: the request body is larger than the gateway accepts.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Any other status with its own machine code: the data plane's refusals (401
    /// `certificate_required`, 403 `unknown_certificate`, ...) and B's 502s.
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// 500: a fault of the gateway; logged, answered without detail.
    #[error("internal error: {0}")]
    Internal(String),
    /// 503: the database cannot be reached; logged, answered without detail.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

/// The files mutation testing examines (`.cargo/mutants.toml`) spell this out as
/// `Result<T, ApiError>`: cargo-mutants knows `Result` by name only, so through the alias
/// it replaced a function's body with constructors of a type `ApiResult` that cannot
/// compile, instead of the `Ok(..)` values that can and that the tests must refuse.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal(message.to_string())
    }

    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Coded {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Coded { status, .. } => *status,
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TokenInvalid => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Coded { code, .. } => code,
            ApiError::InvalidRequest(_) => codes::INVALID_REQUEST,
            ApiError::Unauthorized => codes::UNAUTHORIZED,
            ApiError::NotFound(_) => codes::NOT_FOUND,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => codes::CONFLICT,
            ApiError::TokenInvalid => codes::TOKEN_INVALID,
            ApiError::PayloadTooLarge(_) => codes::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => codes::INTERNAL,
            ApiError::Unavailable(_) => codes::UNAVAILABLE,
        }
    }
}

/// The store's errors as HTTP: a bad page is the caller's 400, the rest is ours.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidPage(message) => ApiError::InvalidRequest(message),
            other if other.is_unavailable() => ApiError::Unavailable(other.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        StoreError::Database(e).into()
    }
}

/// The error code of an answer, in its extensions: what the log and the metrics name a
/// refusal by.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                // The detail is for the operator's log only.
                tracing::error!("{detail}");
                "internal error; the gateway's log has the details".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::error!("{detail}");
                "the gateway's database is unavailable; retry shortly".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        // For the request's log line and metrics (refusals are counted by code).
        response.extensions_mut().insert(ErrorCode(self.code()));
        if matches!(self, ApiError::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mosaic-admin\""),
            );
        }
        response
    }
}
