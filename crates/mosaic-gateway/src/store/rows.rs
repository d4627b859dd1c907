//! The `resource_rows` table: the data peers read, rows of the five resources, each owned
//! by one user and keyed by (resource, user, id). Fields are validated by the routes.

use super::db::{Db, DbError, Value, args};
use serde_json::Map;

use super::page::{KeysetQuery, PageRequest};
use super::{from_ms, to_ms};
use mosaic_contract::types::{Page, Resource};

/// One row to insert or replace.
pub struct NewRow<'a> {
    pub id: &'a str,
    /// `None`: now for a new row, unchanged for a replaced one.
    pub created_at: Option<i64>,
    /// `None`: now, the instant of the write (the same as a new row's `created_at`).
    pub updated_at: Option<i64>,
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
         VALUES (?1, ?2, ?3, COALESCE(CAST(?4 AS BIGINT), ?5), COALESCE(CAST(?6 AS BIGINT), ?5), ?7)
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
    crate::rfc3339(from_ms(ms))
}

/// Milliseconds of an RFC 3339 timestamp.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    mosaic_contract::timestamp::parse(text).ok().map(to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestGateway;

    fn stored(conn: &dyn Db) -> (serde_json::Value, serde_json::Value) {
        let page = page(
            conn,
            Resource::Tasks,
            "u",
            &PageRequest::parse(None, None).unwrap(),
        )
        .unwrap();
        let row = &page.items[0];
        (row["created_at"].clone(), row["updated_at"].clone())
    }

    #[test]
    fn times_left_out_are_both_the_writes_instant() {
        let gw = TestGateway::new();
        let conn = gw.conn();
        let row = |created_at, updated_at| NewRow {
            id: "t1",
            created_at,
            updated_at,
            fields: r#"{"title": "x"}"#.into(),
        };
        upsert(&conn, Resource::Tasks, "u", &row(None, None), 1_000).unwrap();
        let (created, updated) = stored(&conn);
        assert_eq!(created, "1970-01-01T00:00:01.000Z");
        assert_eq!(updated, created);
        // Replaced later without times: created_at stays, updated_at is the new write's.
        upsert(&conn, Resource::Tasks, "u", &row(None, None), 2_000).unwrap();
        assert_eq!(
            stored(&conn),
            (created.clone(), "1970-01-01T00:00:02.000Z".into())
        );
        // Given times are kept as given.
        upsert(
            &conn,
            Resource::Tasks,
            "u",
            &row(Some(500), Some(700)),
            3_000,
        )
        .unwrap();
        assert_eq!(
            stored(&conn),
            (
                "1970-01-01T00:00:00.500Z".into(),
                "1970-01-01T00:00:00.700Z".into()
            )
        );
    }
}
