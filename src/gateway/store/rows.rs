//! The `resource_rows` table: the data peers read, rows of the five resources, each owned
//! by one user and keyed by (resource, user, id). Fields are validated by the routes.

use super::db::{Db, DbError, Value, args};
use serde_json::Map;

use super::page::{KeysetQuery, PageRequest};
use super::{from_ms, to_ms};
use crate::api::types::{Page, Resource};

/// One row to insert or replace.
pub struct NewRow<'a> {
    pub id: &'a str,
    /// `None`: now for a new row, unchanged for a replaced one.
    pub created_at: Option<i64>,
    pub updated_at: i64,
    /// The resource's own fields, as a JSON object's text.
    pub fields: String,
}

/// Inserts a row, or replaces the one with the same (resource, user, id).
pub fn upsert(
    conn: &dyn Db,
    resource: Resource,
    user_id: &str,
    row: &NewRow<'_>,
    now: i64,
) -> Result<(), DbError> {
    // `CAST`: PostgreSQL infers no type for a parameter that only `COALESCE` sees.
    conn.execute(
        "INSERT INTO resource_rows (resource, user_id, id, created_at, updated_at, fields)
         VALUES (?1, ?2, ?3, COALESCE(CAST(?4 AS BIGINT), ?5), ?6, ?7)
         ON CONFLICT (resource, user_id, id) DO UPDATE SET
             created_at = COALESCE(CAST(?4 AS BIGINT), resource_rows.created_at),
             updated_at = excluded.updated_at,
             fields = excluded.fields",
        args![
            resource.as_str(),
            user_id,
            row.id,
            row.created_at,
            now,
            row.updated_at,
            row.fields
        ],
    )?;
    Ok(())
}

/// One page of `user_id`'s rows of `resource`, in (created_at, id) order, each as the
/// JSON object a peer receives: `id`, `created_at`, `updated_at` and the fields.
pub fn page(
    conn: &dyn Db,
    resource: Resource,
    user_id: &str,
    page: &PageRequest,
) -> Result<Page<serde_json::Value>, DbError> {
    let rows = page_query(resource, user_id, page).fetch(conn, page, |row| {
        let id: String = row.get(0)?;
        let created_at: i64 = row.get(1)?;
        let updated_at: i64 = row.get(2)?;
        let fields: String = row.get(3)?;
        Ok((id, created_at, updated_at, fields))
    })?;
    let keyed = rows
        .into_iter()
        .map(|(id, created_at, updated_at, fields)| {
            let mut object = Map::new();
            object.insert("id".into(), id.clone().into());
            object.insert("created_at".into(), timestamp(created_at).into());
            object.insert("updated_at".into(), timestamp(updated_at).into());
            if let Ok(serde_json::Value::Object(own)) = serde_json::from_str(&fields) {
                object.extend(own);
            }
            ((created_at, id), serde_json::Value::Object(object))
        })
        .collect();
    let page = page.finish(keyed, |(key, _)| key.clone());
    Ok(Page {
        items: page.items.into_iter().map(|(_, row)| row).collect(),
        next_cursor: page.next_cursor,
    })
}

/// The query of [`page`].
pub fn page_query(resource: Resource, user_id: &str, page: &PageRequest) -> KeysetQuery<'static> {
    KeysetQuery {
        select: "SELECT id, created_at, updated_at, fields FROM resource_rows",
        time_col: "created_at",
        id_col: "id",
        filters: vec![
            ("resource = ?", Value::Text(resource.as_str().to_string())),
            ("user_id = ?", Value::Text(user_id.to_string())),
        ],
        after: page
            .after
            .clone()
            .map(|(at, id)| (Value::Integer(at), Value::Text(id))),
    }
}

/// RFC 3339 with milliseconds, as every timestamp of the API.
pub fn timestamp(ms: i64) -> String {
    crate::gateway::rfc3339(from_ms(ms))
}

/// Milliseconds of an RFC 3339 timestamp.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    crate::api::timestamp::parse(text).ok().map(to_ms)
}
