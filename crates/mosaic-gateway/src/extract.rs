//! Request extractors whose failures answer in the contract's JSON error shape (axum's
//! own answer with plain text): a JSON body, an optional JSON body, a query string, and
//! a path parameter.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
    T: DeserializeOwned + Serialize,
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
    T: DeserializeOwned + Serialize + Default,
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
    T: DeserializeOwned + Serialize,
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
    // No body at all is an absent body; anything else (whitespace too) must be JSON.
    if body.is_empty() {
        return Ok(None);
    }
    // Requiring the JSON media type also keeps browsers from sending these requests
    // cross-site without a CORS preflight.
    if is_json != Some(true) {
        return Err(ApiError::invalid(
            "the request body must be sent with Content-Type: application/json",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // The path names the field or element whose value was refused
        // (`scope.resources[0]`); for an unknown or missing field it is the object that
        // holds it, and serde's own message names the field.
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "" | "." => ApiError::invalid(format!("request body: {inner}")),
            p => ApiError::invalid(format!("request body: `{p}`: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    // serde fills a struct from a JSON array too (`["u-1", "gw-b", {...}]`); the contract
    // says object, so the body's shape is checked against what it was read into.
    let sent: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    let read = serde_json::to_value(&value).map_err(ApiError::internal)?;
    objects_where_objects(&sent, &read, &mut String::new())?;
    Ok(Some(value))
}

/// Refuses an array (or anything else) wherever `read`, the body as the gateway
/// understood it, has an object; `path` names the place (`scope`, `items[2]`).
fn objects_where_objects(sent: &Value, read: &Value, path: &mut String) -> Result<(), ApiError> {
    match (sent, read) {
        (Value::Object(sent), Value::Object(read)) => {
            for (key, read) in read {
                if let Some(sent) = sent.get(key) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    objects_where_objects(sent, read, path)?;
                    path.truncate(len);
                }
            }
            Ok(())
        }
        (Value::Array(sent), Value::Array(read)) => {
            for (i, (sent, read)) in sent.iter().zip(read).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                objects_where_objects(sent, read, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (sent, Value::Object(_)) if !sent.is_object() => {
            Err(ApiError::invalid(if path.is_empty() {
                "request body: must be a JSON object".to_string()
            } else {
                format!("request body: `{path}` must be a JSON object")
            }))
        }
        _ => Ok(()),
    }
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

/// Characters of an ID that appears in a path (grant and peer IDs): unreserved URL
/// characters only, so that every client can address it as it stands.
pub const ID_CHARS: &str =
    "1 to 128 characters of A-Z, a-z, 0-9, '-', '_', '.', '~', and not \".\" or \"..\"";

/// Whether `id` can be a grant or peer ID (the OpenAPI pattern `^[A-Za-z0-9._~-]{1,128}$`,
/// less `.` and `..`, which a client that normalises paths could not address).
pub fn is_path_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        && !matches!(id, "." | "..")
}

fn check_path_id(id: &str) -> Result<(), ApiError> {
    if is_path_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("path: `id` must be {ID_CHARS}")))
    }
}

/// The `{id}` of a grant or peer path, checked against [`is_path_id`].
pub struct PathId(pub String);

impl<S> FromRequestParts<S> for PathId
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParam(id) = PathParam::from_request_parts(parts, state).await?;
        check_path_id(&id)?;
        Ok(PathId(id))
    }
}

/// The two parameters of a path such as `/peers/{id}/resources/{resource}`; the first is
/// an ID, checked against [`is_path_id`].
pub struct PathPair(pub String, pub String);

impl<S> FromRequestParts<S> for PathPair
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((id, second)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("path: {}", e.body_text())))?;
        check_path_id(&id)?;
        Ok(PathPair(id, second))
    }
}
