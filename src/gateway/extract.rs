//! Request extractors whose failures answer in the contract's JSON error shape (axum's
//! own answer with plain text): a JSON body, an optional JSON body, a query string, and
//! a path parameter.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::BODY_LIMIT;
use super::error::ApiError;

/// A required JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out entirely (then `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

/// A query string; unknown parameters are refused if `T` denies unknown fields.
pub struct QueryParams<T>(pub T);

/// The one parameter of a path such as `/grants/{id}`, percent-decoded.
pub struct PathParam(pub String);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match read_json(req, state).await? {
            Some(value) => Ok(JsonBody(value)),
            None => Err(ApiError::invalid(
                "the request needs a JSON body (Content-Type: application/json)",
            )),
        }
    }
}

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(OptionalJsonBody(
            read_json(req, state).await?.unwrap_or_default(),
        ))
    }
}

/// The body parsed as JSON, or `None` if there is none.
async fn read_json<S, T>(req: Request, state: &S) -> Result<Option<T>, ApiError>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.len() > 5 && mime.to_ascii_lowercase().ends_with("+json"))
        });
    let body = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(BODY_LIMIT)
        } else {
            ApiError::invalid(format!("cannot read the request body: {e}"))
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // Requiring the JSON media type also keeps browsers from sending these requests
    // cross-site without a CORS preflight.
    if is_json != Some(true) {
        return Err(ApiError::invalid(
            "the request body must be sent with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        match (e.classify(), field_at(&body, e.line(), e.column())) {
            (serde_json::error::Category::Data, Some(field)) => {
                ApiError::invalid(format!("request body: field `{field}`: {e}"))
            }
            _ => ApiError::invalid(format!("request body: {e}")),
        }
    })
}

/// The object key whose value ends at `line`:`column` of `body`, if it can be told:
/// serde names unknown and missing fields itself, but not the field of a value that
/// failed to parse (say, a malformed `expires_at`).
fn field_at(body: &[u8], line: usize, column: usize) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let prefix = text.get(..(line_start + column).min(text.len()))?;
    // Walk back over `"key" :` pairs until one is followed by a value, not by `{`.
    let mut rest = prefix;
    while let Some(colon) = rest.rfind(':') {
        let before = rest[..colon].trim_end();
        if let Some(key_end) = before.strip_suffix('"')
            && let Some(start) = key_end.rfind('"')
        {
            let key = &key_end[start + 1..];
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Some(key.to_string());
            }
        }
        rest = &rest[..colon];
    }
    None
}

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| QueryParams(v))
            .map_err(|e| ApiError::invalid(format!("query string: {}", e.body_text())))
    }
}

impl<S> FromRequestParts<S> for PathParam
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathParam(v))
            .map_err(|e| ApiError::invalid(format!("path: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::field_at;

    #[test]
    fn names_the_field_of_a_bad_value() {
        let body = br#"{"user_id":"u","expires_at":"tomorrow"}"#;
        assert_eq!(field_at(body, 1, 38).as_deref(), Some("expires_at"));
        let body = b"{\n  \"scope\": {\n    \"max_rows_per_query\": -1\n  }\n}";
        assert_eq!(field_at(body, 3, 28).as_deref(), Some("max_rows_per_query"));
        assert_eq!(field_at(b"[1,2]", 1, 3), None);
    }
}
