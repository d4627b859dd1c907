//! For the gateway's unit tests: a gateway's whole state (a temp-dir SQLite store, its own
//! CA, an admin token) without a listener, and the grants and client certificates the
//! security checks are called with, in-process, in milliseconds.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rusqlite::Connection;
use time::OffsetDateTime;

use super::admin::AdminToken;
use super::ca::Ca;
use super::data_dir::DataDir;
use super::store::{self, Store};
use super::{AppState, peer_client, rate_limit, renewal};
use mosaic_contract::types::{Grant, GrantStatus, Resource, Scope};
use mosaic_crypto::ca::ClientCert;
use mosaic_crypto::keys::PeerKey;
use mosaic_crypto::seal::SealingSecret;

/// The admin token of every test gateway.
pub const ADMIN_TOKEN: &str = "unit-test-admin-token";
/// Validity of the client certificates a test gateway issues.
pub const CERT_VALIDITY: time::Duration = time::Duration::hours(1);

pub struct TestGateway {
    pub state: AppState,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    pub fn new() -> TestGateway {
        Self::with_rate_limit(None)
    }

    /// With `--rate-limit N` (`None`: off).
    pub fn with_rate_limit(per_minute: Option<u32>) -> TestGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(Some(dir.path().join("data"))).expect("data dir");
        let db = data.file(store::DB_FILE);
        let state = AppState {
            store: Store::open(&db).expect("store"),
            ca: shared_ca(),
            admin: Arc::new(AdminToken::from_secret(ADMIN_TOKEN)),
            no_bootstrap: false,
            public_url: "https://a.test".into(),
            cert_validity: CERT_VALIDITY,
            secret: Arc::new(secret()),
            peer_clients: peer_client::PeerClients::default(),
            renewal: renewal::RenewalPolicy {
                percent: renewal::DEFAULT_PERCENT,
                automatic: false,
                timeout: renewal::DEFAULT_TIMEOUT,
            },
            rate_limits: per_minute
                .and_then(NonZeroU32::new)
                .map(|n| Arc::new(rate_limit::RateLimits::per_minute(n))),
            refusals: Arc::default(),
        };
        TestGateway {
            state,
            db,
            _dir: dir,
        }
    }

    /// A connection of its own to the gateway's database (the store's schema, foreign
    /// keys enforced), for the checks that take one.
    pub fn conn(&self) -> Connection {
        let conn = Connection::open(&self.db).expect("open the database");
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .expect("configure the database");
        conn
    }

    /// A client certificate for a new key, signed by this gateway's CA with the grant
    /// profile (the grant and subject user IDs as its OID extensions).
    pub fn client_cert(&self, grant_id: &str, user_id: &str) -> (ClientCert, PeerKey) {
        let key = PeerKey::generate().expect("key");
        let csr = key.csr_pem("peer").expect("CSR");
        let cert = self
            .state
            .ca
            .issue(&csr, grant_id, user_id, CERT_VALIDITY)
            .expect("issue");
        (cert, key)
    }

    /// `SELECT action, grant_id, detail FROM audit_log`, oldest first.
    pub fn audit(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.conn()
            .prepare("SELECT action, grant_id, detail FROM audit_log ORDER BY id")
            .expect("audit query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("audit rows")
            .collect::<rusqlite::Result<_>>()
            .expect("audit rows")
    }
}

fn secret() -> SealingSecret {
    SealingSecret::new(vec![7; 32]).expect("sealing secret")
}

/// One CA, made on first use, for every test gateway: making it is most of the cost of
/// a gateway's state, and no test depends on having a CA of its own.
fn shared_ca() -> Arc<Ca> {
    static CA: OnceLock<Arc<Ca>> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(Some(dir.path().join("ca"))).expect("data dir");
        Arc::new(Ca::load_or_create(&data, &secret(), true).expect("CA"))
    })
    .clone()
}

/// Unix milliseconds of `t`, as the store keeps times.
pub fn ms(t: OffsetDateTime) -> i64 {
    store::to_ms(t)
}

/// A grant of `user-1`'s tasks and notes to `peer-1`, created an hour ago, in `status`
/// (an active grant holds the certificate `fingerprint`; a revoked one has its time).
/// Its scope also lists credentials, but excludes them.
pub fn grant(id: &str, status: GrantStatus, fingerprint: Option<&str>) -> Grant {
    let now = OffsetDateTime::now_utc()
        .replace_millisecond(0)
        .expect("ms");
    let created = now - time::Duration::hours(1);
    Grant {
        id: id.into(),
        user_id: "user-1".into(),
        peer_id: "peer-1".into(),
        scope: Scope {
            resources: vec![Resource::Tasks, Resource::Notes, Resource::Credentials],
            excluded_resources: vec![Resource::Credentials],
            max_rows_per_query: 50,
        },
        status,
        created_at: created,
        activated_at: (status == GrantStatus::Active).then_some(now),
        revoked_at: (status == GrantStatus::Revoked).then_some(now),
        revoked_reason: None,
        expires_at: None,
        peer_cert_fingerprint: fingerprint.map(str::to_string),
        peer_cert_not_after: None,
        tokens: None,
    }
}
