//! Keyset pagination shared by every list: a page is the rows after a (time, id) key in
//! that order, and the cursor is that key, encoded so clients treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::db::{Db, DbError, Row, Value};

use super::StoreError;
use mosaic_contract::types::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Page};

/// A validated `?limit=&cursor=`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    /// The (time, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
}

impl PageRequest {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, StoreError> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(StoreError::InvalidPage(format!(
                "limit must be from 1 to {PAGE_LIMIT_MAX}, got {limit}"
            )));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// A page of `limit` rows (already checked by the caller) after `cursor`.
    pub fn with_limit(limit: u32, cursor: Option<&str>) -> Result<Self, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// How many rows to fetch: one more than a page, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit as i64 + 1
    }

    /// Cuts the fetched rows to a page and makes the cursor of the next one.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> (i64, String)) -> Page<T> {
        let next_cursor = if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            rows.last().map(|last| {
                let (at, id) = key(last);
                encode_cursor(at, &id)
            })
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// One page of `SELECT <columns> FROM <table>`, filtered by `filters` (each a condition
/// with one `?`, numbered when the statement is made, and its value) and ordered by `(<time_col>, <id_col>)`, starting after
/// `after` (the values of those two columns for the previous page's last row).
pub struct KeysetQuery<'a> {
    pub select: &'a str,
    pub time_col: &'a str,
    pub id_col: &'a str,
    pub filters: Vec<(&'static str, Value)>,
    pub after: Option<(Value, Value)>,
}

impl KeysetQuery<'_> {
    /// The statement and its arguments for a page of `limit` rows plus one (to learn
    /// whether another page follows).
    pub fn statement(self, page: &PageRequest) -> (String, Vec<Value>) {
        let (mut clauses, mut args) = (Vec::new(), Vec::new());
        for (clause, value) in self.filters {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        }
        if let Some((at, id)) = self.after {
            clauses.push(format!(
                "({}, {}) > (?{}, ?{})",
                self.time_col,
                self.id_col,
                args.len() + 1,
                args.len() + 2
            ));
            args.extend([at, id]);
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        args.push(Value::Integer(page.fetch()));
        let sql = format!(
            "{}{filter_sql} ORDER BY {}, {} LIMIT ?{}",
            self.select,
            self.time_col,
            self.id_col,
            args.len()
        );
        (sql, args)
    }

    pub fn fetch<T>(
        self,
        conn: &dyn Db,
        page: &PageRequest,
        map: impl FnMut(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let (sql, args) = self.statement(page);
        conn.query(&sql, &args)?.iter().map(map).collect()
    }
}

fn encode_cursor(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

/// What every undecodable cursor is called.
pub const BAD_CURSOR: &str = "cursor is not one this gateway handed out";

fn decode_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::InvalidPage(BAD_CURSOR.into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = encode_cursor(1_700_000_000_123, "a:b-c");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (1_700_000_000_123, "a:b-c".into())
        );
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(1001), None).is_err());
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 100);
        assert!(PageRequest::parse(None, Some("!!")).is_err());
    }
}
