//! The PostgreSQL store, shared by any number of gateway replicas: a pool of connections
//! (deadpool), the schema migrated by one replica under an advisory lock, and the same
//! table modules' statements as SQLite, rewritten for PostgreSQL ([`dialect`]).
//!
//! The routes' closures are synchronous, as for SQLite: each runs on a blocking thread
//! with a pooled connection, whose statements it drives to completion one at a time.
//! Guarantees hold across replicas because the database holds them: a token is spent and
//! a grant activated by a conditional `UPDATE … WHERE` that the row lock serializes, so
//! of two racers on any replicas exactly one changes the row.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use rustls::pki_types::pem::PemObject;
use tokio::runtime::Handle;
use tokio_postgres::types::{ToSql, Type};

use super::db::{Db, DbError, Row, Value};
use super::{StoreError, grants, now_ms};

/// How the gateway reaches PostgreSQL (`gateway serve --database-url` and its companions).
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db?sslmode=…`, or the key=value form.
    pub url: String,
    /// Connections in the pool of this process.
    pub pool_size: usize,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    /// PEM roots that the server's certificate must chain to, for TLS to the database.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Where `url` points, for the start-up lines: hosts, port and database, never the
/// password.
pub fn describe(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "PostgreSQL".into();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "PostgreSQL at {}:{port}/{} as {}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)")
    )
}

/// The key of the advisory lock under which one replica migrates and makes the CA.
const STARTUP_LOCK: i64 = 0x6d6f_7361_6963_0001;

/// The pool, shared by all requests.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects, migrates under the start-up lock, and runs `init` (the CA's creation)
    /// while still holding it, so that of replicas starting at once exactly one migrates
    /// and makes the CA, and the others find both done.
    pub async fn open<T: Send + 'static>(
        options: &PgOptions,
        init: impl FnOnce(&dyn Db) -> Result<T, String> + Send + 'static,
    ) -> Result<(PgStore, T), String> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| format!("--database-url: {e}"))?;
        let timeout_ms = options.statement_timeout.as_millis();
        let extra = format!("-c statement_timeout={timeout_ms}");
        let merged = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {extra}"),
            _ => extra,
        };
        config.options(&merged);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let mode = ssl_mode(
            config.get_ssl_mode(),
            sslmode_given(&options.url),
            options.ca_file.is_some(),
        )?;
        config.ssl_mode(mode);
        let manager = match tls(mode, options.ca_file.as_deref())? {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(10)),
                create: Some(Duration::from_secs(5)),
                recycle: Some(Duration::from_secs(5)),
            })
            .build()
            .map_err(|e| format!("cannot build the database pool: {e}"))?;
        let store = PgStore { pool };
        let value = store
            .with_client(move |db| {
                db.batch(
                    "SELECT pg_advisory_lock(?1)",
                    &[Value::Integer(STARTUP_LOCK)],
                )?;
                let result = migrate(db).and_then(|()| init(db));
                let unlock = db.batch(
                    "SELECT pg_advisory_unlock(?1)",
                    &[Value::Integer(STARTUP_LOCK)],
                );
                let value = result?;
                unlock?;
                Ok::<_, String>(value)
            })
            .await
            .map_err(|e: String| {
                // TLS is required (a CA file): say what the server must do, whether it
                // declined TLS or presented a certificate these roots do not verify.
                let hint = if mode == tokio_postgres::config::SslMode::Require && e.contains("TLS")
                {
                    " (TLS is required: the server must accept TLS, with a certificate \
                     that chains to --database-ca-file)"
                } else {
                    ""
                };
                format!("the database: {e}{hint}")
            })?;
        Ok((store, value))
    }

    /// Runs `f` on a blocking thread with a connection of the pool.
    async fn with_client<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&PgConn) -> Result<T, E> + Send + 'static,
    {
        let client = self.pool.get().await.map_err(|e| {
            E::from(StoreError::Database(DbError::Unavailable(format!(
                "no database connection: {e}"
            ))))
        })?;
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || {
            let conn = PgConn {
                client: &client,
                handle,
            };
            f(&conn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs `f` inside a transaction that `BEGIN`s with `begin`; commits if `f`
    /// succeeds, rolls back otherwise (also when `f` panics).
    async fn transaction<T, E, F>(&self, begin: &'static str, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, E> + Send + 'static,
    {
        self.with_client(move |conn| {
            conn.batch(begin, &[]).map_err(StoreError::from)?;
            let open = Open(conn);
            let value = f(conn)?;
            std::mem::forget(open);
            let committing = std::time::Instant::now();
            conn.batch("COMMIT", &[]).map_err(StoreError::from)?;
            crate::metrics::get().commit(1, committing.elapsed());
            Ok(value)
        })
        .await
    }

    /// See [`super::Store::write`]: the expiry sweep, `f`, `f`'s audit event, then the
    /// commit; an error from `f` rolls everything back.
    pub async fn write<T, E, F>(
        &self,
        request_id: Option<String>,
        actor: Option<String>,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<(T, super::audit::Event), E> + Send + 'static,
    {
        let (value, expired): (T, usize) = self
            .transaction("BEGIN", move |db| {
                let now = now_ms();
                let expired = grants::expire_due(db, now).map_err(StoreError::from)?;
                let (value, event) = f(db, now)?;
                let record = super::audit::Record {
                    request_id: request_id.as_deref(),
                    actor_name: actor.as_deref(),
                    ..event.record()
                };
                super::audit::record(db, now, &record).map_err(StoreError::from)?;
                Ok::<_, E>((value, expired))
            })
            .await?;
        super::writer::expired_log(expired);
        Ok(value)
    }

    /// See [`super::Store::update`].
    pub async fn update<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<T, E> + Send + 'static,
    {
        self.transaction("BEGIN", move |db| f(db, now_ms())).await
    }

    /// See [`super::Store::read`]: one snapshot in which no grant is past its expiry
    /// (grants due at "now" are swept, and their expiry recorded, in a transaction of
    /// their own first).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<T, E> + Send + 'static,
    {
        const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        self.with_client(move |conn| {
            let now = now_ms();
            conn.batch(SNAPSHOT, &[]).map_err(StoreError::from)?;
            let open = Open(conn);
            if grants::any_due(conn, now).map_err(StoreError::from)? {
                // Sweep in a transaction of its own, then read in a new snapshot.
                conn.batch("ROLLBACK; BEGIN", &[])
                    .map_err(StoreError::from)?;
                let expired = grants::expire_due(conn, now).map_err(StoreError::from)?;
                conn.batch("COMMIT", &[]).map_err(StoreError::from)?;
                super::writer::expired_log(expired);
                conn.batch(SNAPSHOT, &[]).map_err(StoreError::from)?;
            }
            let value = f(conn, now)?;
            std::mem::forget(open);
            conn.batch("COMMIT", &[]).map_err(StoreError::from)?;
            Ok(value)
        })
        .await
    }

    /// See [`super::Store::run`].
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, E> + Send + 'static,
    {
        self.with_client(move |conn| f(conn)).await
    }
}

/// Rolls back the transaction of a connection going back to the pool when `f` failed or
/// panicked.
struct Open<'a>(&'a PgConn<'a>);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let _ = self.0.batch("ROLLBACK", &[]);
    }
}

/// The `sslmode` to connect with. With `--database-ca-file`, TLS is required: an absent
/// `sslmode` (tokio-postgres' default, `prefer`) becomes `require`, and `prefer` or
/// `disable` written in the URL is refused, because `prefer` falls back to plain text
/// when the server (or anyone on the path) answers the SSLRequest with `N`, and the
/// gateway never talks to the database unverified once told which roots to verify.
/// Without a CA file the URL's mode stands ([`tls`] refuses `require` without roots).
fn ssl_mode(
    parsed: tokio_postgres::config::SslMode,
    given: bool,
    ca_file: bool,
) -> Result<tokio_postgres::config::SslMode, String> {
    use tokio_postgres::config::SslMode;
    if !ca_file {
        return Ok(parsed);
    }
    match parsed {
        SslMode::Prefer if !given => Ok(SslMode::Require),
        SslMode::Require => Ok(SslMode::Require),
        other => {
            let name = if other == SslMode::Disable {
                "disable"
            } else {
                "prefer"
            };
            Err(format!(
                "--database-url has sslmode={name}, which may talk to the database in plain \
                 text although --database-ca-file is given: use sslmode=require, or leave \
                 sslmode out"
            ))
        }
    }
}

/// Whether `url` sets `sslmode` itself (tokio-postgres' `Config` cannot tell an absent
/// `sslmode` from `prefer`): the URL is parsed twice by tokio-postgres itself, with
/// `sslmode=disable` and with `sslmode=require` put before its own parameters; the URL's
/// own `sslmode`, if any, comes later and wins, so both parse to the same mode exactly
/// when it has one (however it is spelled or encoded).
fn sslmode_given(url: &str) -> bool {
    let with = |mode: &str| -> Option<tokio_postgres::config::SslMode> {
        let url = with_leading_sslmode(url, mode);
        Some(url.parse::<tokio_postgres::Config>().ok()?.get_ssl_mode())
    };
    match (with("disable"), with("require")) {
        (Some(a), Some(b)) => a == b,
        // Unparsable either way: the caller reports the URL's own parse error.
        _ => false,
    }
}

/// `url` with `sslmode=<mode>` as its first parameter: after the `?` that starts a URL's
/// query (found as tokio-postgres finds it: the first `?` after the first `@`), or in
/// front of the key=value form.
fn with_leading_sslmode(url: &str, mode: &str) -> String {
    let rest = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|p| url.strip_prefix(p).map(|r| url.len() - r.len()));
    let Some(start) = rest else {
        return format!("sslmode={mode} {url}");
    };
    let after_credentials = url[start..].find('@').map_or(start, |at| start + at + 1);
    match url[after_credentials..].find('?') {
        Some(q) => {
            let q = after_credentials + q + 1;
            format!("{}sslmode={mode}&{}", &url[..q], &url[q..])
        }
        None => format!("{url}?sslmode={mode}"),
    }
}

/// TLS to PostgreSQL: with `--database-ca-file`, rustls verifying the server against
/// those roots (and [`ssl_mode`] has made the mode `require`); without, no TLS, so
/// `sslmode=require` is refused at start rather than connecting unverified.
fn tls(
    mode: tokio_postgres::config::SslMode,
    ca_file: Option<&std::path::Path>,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, String> {
    use tokio_postgres::config::SslMode;
    let Some(path) = ca_file else {
        if matches!(mode, SslMode::Require) {
            return Err(
                "sslmode=require needs --database-ca-file: the PEM roots the database \
                 server's certificate must chain to"
                    .into(),
            );
        }
        return Ok(None);
    };
    if !matches!(mode, SslMode::Require) {
        return Err(
            "--database-ca-file needs sslmode=require (or no sslmode) in \
                    --database-url"
                .into(),
        );
    }
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS to the database: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// A pooled connection on a blocking thread: each statement is driven to completion on
/// the runtime that owns the connection.
pub(super) struct PgConn<'a> {
    client: &'a deadpool_postgres::Client,
    handle: Handle,
}

impl PgConn<'_> {
    /// A statement whose rows, if any, do not matter (`BEGIN`, advisory locks).
    fn batch(&self, sql: &str, args: &[Value]) -> Result<(), DbError> {
        if args.is_empty() {
            return Ok(self.handle.block_on(self.client.batch_execute(sql))?);
        }
        self.execute(sql, args).map(drop)
    }

    fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        let sql = dialect(sql);
        Ok(self.handle.block_on(self.client.prepare_cached(&sql))?)
    }
}

impl Db for PgConn<'_> {
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        let stmt = self.prepare(sql)?;
        let params = bind(&stmt, args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        Ok(self.handle.block_on(self.client.execute(&stmt, &refs))?)
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        let stmt = self.prepare(sql)?;
        let params = bind(&stmt, args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = self.handle.block_on(self.client.query(&stmt, &refs))?;
        rows.iter().map(row).collect()
    }
}

impl From<DbError> for String {
    fn from(e: DbError) -> String {
        e.to_string()
    }
}

/// The store's statements are written for SQLite with numbered `?N` placeholders;
/// PostgreSQL numbers them `$N`, and has no `INDEXED BY` (its planner picks the partial
/// index by itself).
pub fn dialect(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(['?', 'I']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(tail) = rest.strip_prefix('?')
            && tail.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("INDEXED BY ") {
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            rest = tail[end..].trim_start_matches(' ');
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

/// Each argument as the Rust type of the parameter PostgreSQL inferred for it.
fn bind(
    stmt: &tokio_postgres::Statement,
    args: &[Value],
) -> Result<Vec<Box<dyn ToSql + Sync>>, DbError> {
    let types = stmt.params();
    if types.len() != args.len() {
        return Err(DbError::Column {
            index: args.len(),
            why: format!(
                "the statement takes {} arguments, {} given",
                types.len(),
                args.len()
            ),
        });
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(index, (ty, value))| {
            let wrong = || DbError::Column {
                index,
                why: format!("argument {value:?} does not fit a parameter of type {ty}"),
            };
            let param: Box<dyn ToSql + Sync> = match (value, ty) {
                (Value::Null, &Type::INT8) => Box::new(None::<i64>),
                (Value::Null, &Type::INT4) => Box::new(None::<i32>),
                (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
                (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
                (Value::Null, _) => Box::new(None::<String>),
                (Value::Integer(i), &Type::INT8) => Box::new(*i),
                (Value::Integer(i), &Type::INT4) => {
                    Box::new(i32::try_from(*i).map_err(|_| wrong())?)
                }
                (Value::Integer(i), &Type::INT2) => {
                    Box::new(i16::try_from(*i).map_err(|_| wrong())?)
                }
                (Value::Integer(i), &Type::BOOL) => Box::new(*i != 0),
                (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME) => {
                    Box::new(s.clone())
                }
                (Value::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
                _ => return Err(wrong()),
            };
            Ok(param)
        })
        .collect()
}

/// A result row as owned values.
fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            ref other => {
                return Err(DbError::Column {
                    index: i,
                    why: format!("unsupported column type {other}"),
                });
            }
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// The schema, as an append-only list of migrations (the same tables, columns and
/// indexes as SQLite's, in PostgreSQL's types). `schema_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's migrations 1 to 5 make, plus the CA (a replica-shared row).
    r#"
    CREATE TABLE grants (
        id                        TEXT COLLATE "C" PRIMARY KEY,
        user_id                   TEXT NOT NULL,
        peer_id                   TEXT COLLATE "C" NOT NULL,
        scope                     TEXT NOT NULL,
        status                    TEXT NOT NULL
                                  CHECK (status IN ('pending', 'active', 'revoked', 'expired')),
        created_at                BIGINT NOT NULL,
        activated_at              BIGINT,
        revoked_at                BIGINT,
        revoked_reason            TEXT,
        expires_at                BIGINT,
        peer_cert_fingerprint     TEXT,
        peer_cert_not_after       BIGINT,
        previous_cert_fingerprint TEXT,
        CHECK (status <> 'active'
               OR (activated_at IS NOT NULL AND peer_cert_fingerprint IS NOT NULL)),
        CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
    );
    CREATE INDEX grants_by_created ON grants (created_at, id);
    CREATE INDEX grants_by_peer ON grants (peer_id, created_at, id);
    CREATE INDEX grants_by_status ON grants (status, created_at, id);
    CREATE INDEX grants_by_peer_status ON grants (peer_id, status, created_at, id);
    CREATE INDEX grants_expiring ON grants (expires_at)
        WHERE expires_at IS NOT NULL AND status IN ('pending', 'active');
    CREATE INDEX grants_by_cert ON grants (peer_cert_fingerprint)
        WHERE peer_cert_fingerprint IS NOT NULL;
    CREATE INDEX grants_by_previous_cert ON grants (previous_cert_fingerprint)
        WHERE previous_cert_fingerprint IS NOT NULL;

    CREATE TABLE enrollment_tokens (
        handle           TEXT COLLATE "C" PRIMARY KEY,
        grant_id         TEXT NOT NULL REFERENCES grants (id),
        token_hash       BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
        issued_at        BIGINT NOT NULL,
        expires_at       BIGINT NOT NULL,
        redeemed_at      BIGINT,
        cert_fingerprint TEXT,
        CHECK ((redeemed_at IS NULL) = (cert_fingerprint IS NULL))
    );
    CREATE INDEX tokens_by_grant ON enrollment_tokens (grant_id, issued_at, handle);

    CREATE TABLE issued_certificates (
        serial       TEXT PRIMARY KEY,
        grant_id     TEXT NOT NULL REFERENCES grants (id),
        token_handle TEXT UNIQUE REFERENCES enrollment_tokens (handle),
        renewed_from TEXT,
        fingerprint  TEXT NOT NULL UNIQUE,
        der          BYTEA NOT NULL,
        not_before   BIGINT NOT NULL,
        not_after    BIGINT NOT NULL,
        issued_at    BIGINT NOT NULL,
        CHECK ((token_handle IS NULL) <> (renewed_from IS NULL))
    );

    CREATE TABLE peers (
        id                  TEXT COLLATE "C" PRIMARY KEY,
        name                TEXT NOT NULL,
        remote_url          TEXT NOT NULL,
        csr_pem             TEXT NOT NULL,
        public_key          BYTEA NOT NULL,
        sealed_private_key  TEXT NOT NULL,
        status              TEXT NOT NULL CHECK (status IN ('pending', 'active')),
        grant_id            TEXT,
        subject_user_id     TEXT,
        certificate_pem     TEXT,
        ca_certificate_pem  TEXT,
        cert_fingerprint    TEXT,
        cert_serial         TEXT,
        cert_not_after      BIGINT,
        created_at          BIGINT NOT NULL,
        activated_at        BIGINT,
        sealed_enrollment   TEXT,
        renew_after         BIGINT,
        CHECK (status <> 'active'
               OR (certificate_pem IS NOT NULL AND ca_certificate_pem IS NOT NULL
                   AND cert_fingerprint IS NOT NULL AND activated_at IS NOT NULL))
    );
    CREATE INDEX peers_by_created ON peers (created_at, id);
    CREATE INDEX peers_renewal_due ON peers (renew_after, id)
        WHERE status = 'active' AND renew_after IS NOT NULL;

    CREATE TABLE audit_log (
        id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at       BIGINT NOT NULL,
        action   TEXT NOT NULL,
        actor    TEXT NOT NULL,
        grant_id TEXT,
        peer_id  TEXT,
        detail   TEXT
    );
    CREATE INDEX audit_by_at ON audit_log (at, id);
    CREATE INDEX audit_by_grant ON audit_log (grant_id, at, id);
    CREATE INDEX audit_by_action ON audit_log (action, at, id);
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

    CREATE TABLE resource_rows (
        resource   TEXT NOT NULL
                   CHECK (resource IN ('tasks', 'notes', 'credentials', 'teams', 'users')),
        user_id    TEXT NOT NULL,
        id         TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        fields     TEXT NOT NULL,
        PRIMARY KEY (resource, user_id, id)
    );
    CREATE INDEX resource_rows_by_owner ON resource_rows (resource, user_id, created_at, id);

    -- The gateway's CA, one row shared by every replica: made by the first to start.
    CREATE TABLE gateway_ca (
        id         SMALLINT PRIMARY KEY CHECK (id = 1),
        cert_pem   TEXT NOT NULL,
        sealed_key TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    "#,
    // 2: SQLite's 6: the claim to renew a peer (who holds it, until when) and the
    // automatic renewals failed in a row (the backoff).
    r#"
    ALTER TABLE peers ADD COLUMN renewal_claimed_by TEXT;
    ALTER TABLE peers ADD COLUMN renewal_claimed_until BIGINT;
    ALTER TABLE peers ADD COLUMN renewal_failures BIGINT NOT NULL DEFAULT 0;
    "#,
    // 3: SQLite's 7: the request id of each audit row, and the grants per status kept by
    // triggers (a scrape reads four rows). An insert or a status change locks its status's
    // row until commit, so grant writes of one status queue there across replicas.
    r#"
    ALTER TABLE audit_log ADD COLUMN request_id TEXT;
    CREATE TABLE grant_status_counts (
        status TEXT PRIMARY KEY,
        n      BIGINT NOT NULL
    );
    INSERT INTO grant_status_counts (status, n)
    SELECT s, (SELECT count(*) FROM grants g WHERE g.status = s)
    FROM unnest(ARRAY['pending', 'active', 'revoked', 'expired']) AS s;
    CREATE FUNCTION grants_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE grant_status_counts SET n = n - 1 WHERE status = OLD.status;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                UPDATE grant_status_counts SET n = n + 1 WHERE status = NEW.status;
            END IF;
            RETURN NULL;
        END $$;
    CREATE TRIGGER grants_count_insert_delete AFTER INSERT OR DELETE ON grants
        FOR EACH ROW EXECUTE FUNCTION grants_count();
    CREATE TRIGGER grants_count_update AFTER UPDATE OF status ON grants
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION grants_count();
    "#,
    // 4: SQLite's 8: what the granting gateway said of an active peer's grant.
    r#"
    ALTER TABLE peers ADD COLUMN grant_ended TEXT;
    "#,
    // 5: SQLite's 9: named admin credentials, and the audit log by actor.
    r#"
    CREATE TABLE admin_credentials (
        id          TEXT COLLATE "C" PRIMARY KEY,
        name        TEXT COLLATE "C" NOT NULL UNIQUE,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        secret_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
        created_at  BIGINT NOT NULL,
        created_by  TEXT NOT NULL,
        expires_at  BIGINT,
        revoked_at  BIGINT
    );
    CREATE INDEX admin_credentials_by_created ON admin_credentials (created_at, id);
    CREATE INDEX audit_by_actor ON audit_log (actor, at, id);
    "#,
];

/// Brings the schema to the newest version, each migration in its own transaction with
/// its row in `schema_migrations`; refuses a database from a newer `mosaic`. Called
/// under the start-up lock.
fn migrate(db: &PgConn<'_>) -> Result<(), String> {
    let fail = |e: DbError| format!("database migration failed: {e}");
    db.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
        &[],
    )
    .map_err(fail)?;
    let current: i64 = db
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
            &[],
        )
        .and_then(|r| r.get(0))
        .map_err(fail)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(format!(
            "the database has schema version {current}, newer than this mosaic knows ({known}): \
             run a newer mosaic, or point --database-url elsewhere"
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let run = || -> Result<(), DbError> {
            db.batch("BEGIN", &[])?;
            db.handle.block_on(db.client.batch_execute(sql))?;
            db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (CAST(?1 AS INTEGER), ?2)",
                &[Value::Integer(version), Value::Integer(now_ms())],
            )?;
            db.batch("COMMIT", &[])
        };
        if let Err(e) = run() {
            let _ = db.batch("ROLLBACK", &[]);
            return Err(fail(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{dialect, ssl_mode, sslmode_given, with_leading_sslmode};
    use tokio_postgres::config::SslMode;

    #[test]
    fn an_sslmode_is_found_only_where_tokio_postgres_reads_one() {
        for url in [
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?application_name=x&sslmode=disable",
            "postgresql://u:p%3Fw@h:5/db?%73slmode=require",
            "postgres://h?sslmode=prefer",
            "host=h sslmode=prefer",
            "host=h sslmode = 'require' dbname=d",
        ] {
            assert!(sslmode_given(url), "{url}");
        }
        for url in [
            "postgres://u@h/db",
            "postgres://u@h/db?application_name=sslmode",
            "postgres://u:pw?sslmode=disable@h/db",
            "postgres://u@h/db?",
            "host=h dbname=d",
            "host=h application_name='sslmode=disable'",
            "not a url ?",
        ] {
            assert!(!sslmode_given(url), "{url}");
        }
        assert_eq!(
            with_leading_sslmode("postgres://u:a?b@h/d?x=1", "require"),
            "postgres://u:a?b@h/d?sslmode=require&x=1"
        );
        assert_eq!(
            with_leading_sslmode("postgres://h/d", "disable"),
            "postgres://h/d?sslmode=disable"
        );
        assert_eq!(
            with_leading_sslmode("host=h", "disable"),
            "sslmode=disable host=h"
        );
    }

    #[test]
    fn a_ca_file_requires_tls_and_refuses_a_mode_that_would_fall_back_to_plain_text() {
        // Absent (parsed as prefer) becomes require; require stays.
        assert_eq!(
            ssl_mode(SslMode::Prefer, false, true).unwrap(),
            SslMode::Require
        );
        assert_eq!(
            ssl_mode(SslMode::Require, true, true).unwrap(),
            SslMode::Require
        );
        for (mode, name) in [(SslMode::Prefer, "prefer"), (SslMode::Disable, "disable")] {
            let e = ssl_mode(mode, true, true).unwrap_err();
            assert!(e.contains(&format!("sslmode={name}")), "{e}");
            assert!(e.contains("use sslmode=require"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // Without a CA file the URL's mode stands.
        for mode in [SslMode::Prefer, SslMode::Disable, SslMode::Require] {
            for given in [false, true] {
                assert_eq!(ssl_mode(mode, given, false).unwrap(), mode);
            }
        }
    }

    #[test]
    fn statements_are_rewritten_for_postgres() {
        assert_eq!(
            dialect("UPDATE grants INDEXED BY grants_expiring SET a = ?1 WHERE b <= ?12"),
            "UPDATE grants SET a = $1 WHERE b <= $12"
        );
        assert_eq!(dialect("SELECT 'Ä?' , ?3"), "SELECT 'Ä?' , $3");
        assert_eq!(
            dialect("INSERT INTO t VALUES (?1)"),
            "INSERT INTO t VALUES ($1)"
        );
    }
}
