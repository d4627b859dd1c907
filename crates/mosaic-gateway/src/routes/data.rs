//! `/api/admin/federation/data/{resource}`: the admin loads the rows peers read, for one
//! user and one resource, idempotent by row `id`.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

use super::check_text;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParam};
use crate::store::StoreError;
use crate::store::audit::{Actor, Event};
use crate::store::rows::{self, NewRow, parse_timestamp};
use mosaic_contract::federation::{
    FieldKind, IMPORT_MAX_ITEMS, ImportRequest, ImportResult, resource_fields,
};
use mosaic_contract::types::{AuditAction, ErrorBody, Resource};

/// A resource name from a path: one of the five.
pub fn parse_resource(name: &str) -> Option<Resource> {
    Resource::ALL.into_iter().find(|r| r.as_str() == name)
}

// The document shows this route as one operation per resource, each with its own row
// schema (`openapi::contract`, `imports`).
#[utoipa::path(
    post,
    path = "/api/admin/federation/data/{resource}",
    tag = "data",
    params(("resource" = String, Path, description = "tasks, notes, credentials, teams or users")),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "Every row stored; a row with a known id replaced", body = ImportResult),
        (status = 400, description = "Unknown resource, or a bad row; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn import(
    State(state): State<AppState>,
    PathParam(resource): PathParam,
    JsonBody(req): JsonBody<ImportRequest>,
) -> ApiResult<Json<ImportResult>> {
    let resource = parse_resource(&resource).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown resource {resource:?}: expected tasks, notes, credentials, teams or users"
        ))
    })?;
    check_text("user_id", &req.user_id)?;
    if req.items.len() > IMPORT_MAX_ITEMS {
        return Err(ApiError::invalid(format!(
            "items has {} rows; at most {IMPORT_MAX_ITEMS} per import",
            req.items.len()
        )));
    }
    let checked = req
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| check_row(resource, i, item))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, row) in checked.iter().enumerate() {
        if checked[..i].iter().any(|earlier| earlier.0 == row.0) {
            return Err(ApiError::invalid(format!(
                "items[{i}].id: {:?} appears twice in this import",
                row.0
            )));
        }
    }
    let user_id = req.user_id;
    let count = checked.len() as u64;
    let result = state
        .store
        .write(move |tx, now| {
            for (id, created_at, updated_at, fields) in &checked {
                rows::upsert(
                    tx,
                    resource,
                    &user_id,
                    &NewRow {
                        id,
                        created_at: *created_at,
                        updated_at: *updated_at,
                        fields: fields.clone(),
                    },
                    now,
                )
                .map_err(StoreError::from)?;
            }
            let event = Event::new(AuditAction::DataImported, Actor::Admin).detail(format!(
                "{count} rows of {} for user {user_id}",
                resource.as_str()
            ));
            let result = ImportResult {
                resource,
                user_id,
                imported: count,
            };
            Ok::<_, ApiError>((result, event))
        })
        .await?;
    Ok(Json(result))
}

/// (id, created_at, updated_at, the resource's own fields as JSON text) of `items[i]`; a
/// time left out is the write's own instant.
type CheckedRow = (String, Option<i64>, Option<i64>, String);

fn check_row(
    resource: Resource,
    i: usize,
    item: &Map<String, Value>,
) -> Result<CheckedRow, ApiError> {
    let field_error =
        |name: &str, rule: &str| ApiError::invalid(format!("items[{i}].{name}: {rule}"));
    let own = resource_fields(resource);
    for name in item.keys() {
        let known = matches!(name.as_str(), "id" | "created_at" | "updated_at")
            || own.iter().any(|(f, _)| f == name);
        if !known {
            let expected: Vec<&str> = own.iter().map(|(f, _)| *f).collect();
            return Err(field_error(
                name,
                &format!(
                    "unknown field for {}; expected id, created_at, updated_at, {}",
                    resource.as_str(),
                    expected.join(", ")
                ),
            ));
        }
    }
    let id = match item.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err(field_error("id", "must be a string")),
        None => return Err(field_error("id", "is required")),
    };
    check_text(&format!("items[{i}].id"), &id)?;
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        match item.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(t)) => parse_timestamp(t)
                .map(Some)
                .ok_or_else(|| field_error(name, "must be an RFC 3339 timestamp")),
            Some(_) => Err(field_error(name, "must be an RFC 3339 timestamp string")),
        }
    };
    let created_at = time("created_at")?;
    let updated_at = time("updated_at")?;
    let mut fields = Map::new();
    for (name, kind) in own {
        let value = item.get(*name);
        match (kind, value) {
            (FieldKind::Text, Some(Value::String(text))) => {
                // Multi-line text (a note's body) keeps its line feeds and tabs.
                if text
                    .chars()
                    .any(|c| mosaic_contract::text::is_unsafe_char(c) && !matches!(c, '\n' | '\t'))
                {
                    return Err(field_error(
                        name,
                        "must not contain control or bidirectional formatting characters \
                         (line feeds and tabs are allowed)",
                    ));
                }
            }
            (FieldKind::Text, Some(_)) => return Err(field_error(name, "must be a string")),
            (FieldKind::Text, None) => return Err(field_error(name, "is required")),
            (FieldKind::OptionalTime, _) => {
                time(name)?;
            }
        }
        fields.insert(name.to_string(), value.cloned().unwrap_or(Value::Null));
    }
    Ok((
        id,
        created_at,
        updated_at,
        Value::Object(fields).to_string(),
    ))
}
