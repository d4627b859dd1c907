//! The one interface the store's queries run through, whichever database holds the data:
//! a statement and its arguments as owned [`Value`]s in, a count or owned [`Row`]s out.
//! Each table module writes its SQL once, with numbered `?N` placeholders, in the
//! dialect both SQLite and PostgreSQL accept; a backend rewrites what it must (see
//! `postgres::dialect`).

use std::fmt;

/// One argument or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value the queries pass as an argument.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Integer(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// The arguments of a statement: `args![a, b]` is `&[a.to_value(), b.to_value()]`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$arg)),*][..]
    };
}
pub(crate) use args;

/// A column's value as a Rust type.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
    /// What the column should have held, for the error.
    const WANTED: &'static str;
}

impl FromValue for i64 {
    const WANTED: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for bool {
    const WANTED: &'static str = "a boolean";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Integer(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromValue for String {
    const WANTED: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const WANTED: &'static str = "bytes";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const WANTED: &'static str = T::WANTED;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row, its columns in the statement's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as `T`; a missing column or another type is [`DbError::Column`].
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, DbError> {
        let value = self.0.get(i).ok_or_else(|| DbError::Column {
            index: i,
            why: "no such column".into(),
        })?;
        T::from_value(value).ok_or_else(|| DbError::Column {
            index: i,
            why: format!("expected {}, found {value:?}", T::WANTED),
        })
    }
}

/// What can go wrong running a statement.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached (connection refused, lost, or none free in time).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A column's value is not what the query expected.
    #[error("column {index}: {why}")]
    Column { index: usize, why: String },
}

impl DbError {
    /// A violated UNIQUE or PRIMARY KEY constraint.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            DbError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    /// Whether the database could not be reached or dropped the connection: the request
    /// may succeed later, nothing is wrong with it (503 rather than 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Postgres(e) => {
                e.is_closed()
                    || e.code().is_none_or(|c| {
                        // Class 08: connection exception; 57P0x: the server is shutting
                        // down or starting.
                        c.code().starts_with("08") || c.code().starts_with("57P0")
                    })
            }
            _ => false,
        }
    }

    /// A serialization failure or deadlock: the transaction may be run again.
    pub fn is_retryable(&self) -> bool {
        use tokio_postgres::error::SqlState;
        matches!(self, DbError::Postgres(e)
            if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
    }

    /// The same error again, for each caller of a failed batch.
    pub fn copy(&self) -> DbError {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
                DbError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
            }
            DbError::Column { index, why } => DbError::Column {
                index: *index,
                why: why.clone(),
            },
            other if other.is_unavailable() => DbError::Unavailable(other.to_string()),
            other => DbError::Unavailable(format!("the batch failed: {other}")),
        }
    }
}

/// A connection (or the transaction open on it) that runs the store's statements.
pub trait Db {
    /// Runs a statement; the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError>;

    /// Runs a query; every row it returns.
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError>;

    /// The first row, if any.
    fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The one row a query always returns (an aggregate, `EXISTS`).
    fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, DbError> {
        self.query_opt(sql, args)?.ok_or_else(|| DbError::Column {
            index: 0,
            why: "the query returned no row".into(),
        })
    }
}

impl fmt::Debug for dyn Db + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Db")
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// SQLite: statements are prepared once per connection (`prepare_cached`).
impl Db for rusqlite::Connection {
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        let n = self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args))?;
        Ok(n as u64)
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Integer(v),
                    // No column of the schema is REAL.
                    ValueRef::Real(v) => Value::Integer(v as i64),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}
