//! The reference gateway (`mosaic gateway serve`): the admin API, the public enrollment
//! endpoint, an embedded SQLite store (or PostgreSQL shared by replicas) and its own CA.
//! This file owns start-up and shutdown.

mod access_log;
mod admin;
mod ca;
mod credentials;
mod data_dir;
mod error;
mod extract;
pub mod log;
pub mod metrics;
pub mod openapi;
mod peer_client;
mod rate_limit;
mod refusals;
pub mod renewal;
pub mod reseal;
mod roles;
mod routes;
pub mod server;
mod store;
#[cfg(test)]
mod testkit;
pub mod tls;

pub use store::postgres::PgOptions;

use std::sync::Arc;

use time::OffsetDateTime;

use admin::{AdminToken, AdminTokenSource};
use ca::Ca;
use data_dir::DataDir;
use mosaic_crypto::seal::SealingSecret;
use store::Store;

/// Largest request body accepted; beyond it, 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How the gateway runs, as its operator gave it (`mosaic gateway serve`'s flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Directory for the database, the CA and the admin token; `None`: the default.
    pub data_dir: Option<std::path::PathBuf>,
    /// Base URL of enrollment URLs handed out; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// Validity of issued client certificates, in days: 1 to 365 (the flag's range),
    /// since client certificates are meant to be short-lived.
    pub cert_validity_days: u32,
    /// Validity of issued client certificates as a duration (30 s to 365 days: the flag's
    /// range), instead of `cert_validity_days`: short-lived certificates for tests and
    /// demos of renewal.
    pub cert_validity: Option<std::time::Duration>,
    /// Renew peers' certificates once this percent (50 to 90: the flag's range) of their
    /// lifetime has passed; `None`: no automatic renewal.
    pub auto_renew: Option<u8>,
    /// Longest wait for the granting gateway's answer to one renewal; a renewal's claim on
    /// its peer lasts twice this.
    pub renewal_timeout: std::time::Duration,
    /// Serve HTTPS with a certificate from the gateway's own CA.
    pub tls: bool,
    /// Serve HTTPS with this PEM chain and key instead (both or neither).
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// Timeouts and the connection cap.
    pub limits: server::Limits,
    /// `--rate-limit`: requests a minute per client address on the enrollment routes and
    /// failed admin authentications; `None`: off.
    pub rate_limit: Option<std::num::NonZeroU32>,
    /// `--database-url` and its companions: PostgreSQL shared by replicas instead of
    /// SQLite in the data directory.
    pub database: Option<PgOptions>,
    /// `--admin-token-file`: the admin token every replica is given.
    pub admin_token_file: Option<std::path::PathBuf>,
    /// `--previous-secrets-file`: secrets that only open (with `MOSAIC_PREVIOUS_SECRETS`).
    pub previous_secrets_file: Option<std::path::PathBuf>,
    /// `--no-bootstrap-token`: refuse the admin token while a named admin credential is
    /// live.
    pub no_bootstrap_token: bool,
    /// `--metrics-listen`: where `/metrics` is served (a listener of its own); `None`: off.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--log-format`: plain lines or one JSON object a line.
    pub log_format: log::LogFormat,
}

/// Why the gateway did not start (bad configuration or environment: nothing was
/// served), or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the gateway: {0}")]
    Start(String),
    #[error("the gateway stopped: {0}")]
    Stopped(String),
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    ca: Arc<Ca>,
    admin: Arc<AdminToken>,
    /// `--no-bootstrap-token`.
    no_bootstrap: bool,
    /// Base of the enrollment URLs handed out, without a trailing slash.
    public_url: Arc<str>,
    cert_validity: time::Duration,
    /// `BETTER_AUTH_SECRET`: opens the CA key at start-up and the peers' sealed keys.
    secret: Arc<SealingSecret>,
    /// B's HTTP clients for its peers, one per peer certificate (connection reuse).
    peer_clients: peer_client::PeerClients,
    /// When B's peers' certificates are due for renewal, and whether B renews them itself.
    renewal: renewal::RenewalPolicy,
    /// Per-address rate limits; `None` with `--rate-limit off`.
    rate_limits: Option<Arc<rate_limit::RateLimits>>,
    /// Refused enrollments not yet written to the audit log (repeats collapsed).
    refusals: Arc<refusals::RefusalLog>,
}

pub async fn serve(args: Config) -> Result<(), ServeError> {
    let startup = ServeError::Start;
    log::init(args.log_format);
    // Everything that can be wrong with the configuration is checked before anything is
    // written to disk.
    let secret = SealingSecret::from_env().map_err(|e| startup(e.to_string()))?;
    if let Some(warning) = std::env::var_os(mosaic_crypto::seal::SECRET_FILE_ENV)
        .and_then(|path| mosaic_crypto::seal::secret_file_warning(path.as_ref()))
    {
        tracing::warn!("warning: {warning}");
    }
    let secret = with_previous_secrets(secret, args.previous_secrets_file.as_deref());
    let secret = Arc::new(secret.map_err(startup)?);
    let cert_validity = match args.cert_validity {
        Some(d) => time::Duration::seconds(d.as_secs() as i64),
        None => time::Duration::days(args.cert_validity_days.into()),
    };
    let public_url = args
        .public_url
        .as_deref()
        .map(parse_public_url)
        .transpose()
        .map_err(startup)?;
    check_readable_tls_files(&args).map_err(startup)?;
    let env_admin_token = AdminToken::from_env(std::env::var_os(mosaic_contract::env::ADMIN_TOKEN))
        .map_err(startup)?;
    // The socket next: a typo in --listen or a busy port must leave no data directory,
    // CA, database or admin token behind.
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| startup(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| startup(format!("cannot read the bound address: {e}")))?;
    if public_url.is_none() {
        refuse_unspecified_address(addr).map_err(startup)?;
    }
    let metrics_listener = match args.metrics_listen {
        Some(at) => Some(metrics::bind(at).await.map_err(startup)?),
        None => None,
    };

    let (store, ca, admin, where_notes) = match &args.database {
        None => {
            let dir = DataDir::open(args.data_dir.clone()).map_err(startup)?;
            ca::check_key_opens(&dir, &secret).map_err(startup)?;
            let (admin, admin_source) =
                AdminToken::resolve(env_admin_token, &dir).map_err(startup)?;
            let store = Store::open(&dir.file(store::DB_FILE)).map_err(startup)?;
            let never_served = store.is_empty().await.map_err(startup)?;
            let ca = Ca::load_or_create(&dir, &secret, never_served).map_err(startup)?;
            let notes = [
                format!("data directory: {}", dir.path().display()),
                format!("admin token: {}", admin_note(Some(&dir), admin_source)),
            ];
            (store, ca, admin, notes)
        }
        Some(options) => {
            let (admin, admin_source) =
                AdminToken::resolve_shared(env_admin_token, args.admin_token_file.as_deref())
                    .map_err(startup)?;
            let sealing = secret.clone();
            let (store, ca) =
                Store::open_postgres(options, move |db| Ca::load_or_create_shared(db, &sealing))
                    .await
                    .map_err(startup)?;
            let notes = [
                format!("database: {}", store::postgres::describe(&options.url)),
                format!("admin token: {}", admin_note(None, admin_source)),
            ];
            (store, ca, admin, notes)
        }
    };

    let use_tls = args.tls || args.tls_cert.is_some();
    let scheme = if use_tls { "https" } else { "http" };
    let public_url = public_url.unwrap_or_else(|| format!("{scheme}://{addr}"));
    let ca = Arc::new(ca);
    let tls = use_tls
        .then(|| tls_config(&args, &ca, &public_url, addr))
        .transpose()
        .map_err(startup)?;
    // Installed before the "listening" line, so a signal sent right after it is caught.
    let shutdown = shutdown_signal().map_err(|e| startup(format!("cannot handle signals: {e}")))?;

    let state = AppState {
        store,
        ca,
        admin: Arc::new(admin),
        no_bootstrap: args.no_bootstrap_token,
        public_url: public_url.clone().into(),
        cert_validity,
        secret,
        peer_clients: peer_client::PeerClients::default(),
        renewal: renewal::RenewalPolicy {
            percent: args.auto_renew.unwrap_or(renewal::DEFAULT_PERCENT),
            automatic: args.auto_renew.is_some(),
            timeout: args.renewal_timeout,
        },
        rate_limits: args
            .rate_limit
            .map(|n| Arc::new(rate_limit::RateLimits::per_minute(n))),
        refusals: Arc::default(),
    };
    let [where_line, admin_line] = where_notes;
    let mut banner = vec![
        where_line,
        admin_line,
        format!("CA fingerprint: {}", state.ca.fingerprint()),
        format!("enrollment URLs under: {public_url}"),
        format!("renews its peers' certificates: {}", state.renewal),
    ];
    if let Some(listener) = metrics_listener {
        if let Ok(at) = listener.local_addr() {
            banner.push(format!("metrics on http://{at}/metrics"));
        }
        tokio::spawn(metrics::serve(listener, state.clone()));
    }
    // Scripts wait for this last line; it comes only once the socket is bound.
    banner.push(format!("listening on {scheme}://{addr}"));
    print_banner(&banner);

    if state.renewal.automatic {
        // Dropped with the runtime when `serve` returns; a renewal cut off midway leaves
        // the current pair in place (nothing is stored before the final commit).
        tokio::spawn(renewal::run_scheduler(state.clone()));
    }
    let closer = tokio::spawn(refusals::run_closer(
        state.refusals.clone(),
        state.store.clone(),
    ));
    let (refused, store) = (state.refusals.clone(), state.store.clone());
    let app = routes::router(state, args.limits.request_timeout);
    server::serve(listener, tls, app, args.limits, shutdown).await;
    closer.abort();
    if let Err(e) = refusals::write(&store, refused.flush()).await {
        tracing::error!("writing collapsed refusals to the audit log: {e}");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The sealing secret with the previous secrets given (`MOSAIC_PREVIOUS_SECRETS`, then
/// `--previous-secrets-file`), which only open.
pub fn with_previous_secrets(
    secret: SealingSecret,
    file: Option<&std::path::Path>,
) -> Result<SealingSecret, String> {
    let previous = mosaic_crypto::seal::previous_secrets(file).map_err(|e| e.to_string())?;
    Ok(secret.with_previous(previous))
}

/// `--tls-cert` and `--tls-key` must at least open, before the data directory is touched
/// (their contents are checked once the CA they are served with is loaded).
fn check_readable_tls_files(args: &Config) -> Result<(), String> {
    for (flag, path) in [("--tls-cert", &args.tls_cert), ("--tls-key", &args.tls_key)] {
        if let Some(path) = path {
            std::fs::File::open(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Without `--public-url`, enrollment URLs are built from the bound address; for
/// `0.0.0.0` or `[::]` they would name an address no peer can reach (and `peer add`
/// refuses), so the gateway does not start that way.
fn refuse_unspecified_address(addr: std::net::SocketAddr) -> Result<(), String> {
    if addr.ip().is_unspecified() {
        return Err(format!(
            "--listen {addr} is an unspecified address: the enrollment URLs handed out would \
             point at {addr}, which no peer can reach; pass --public-url with the URL peers \
             reach this gateway by (e.g. --public-url https://gw-a.example:{})",
            addr.port()
        ));
    }
    Ok(())
}

/// The HTTPS server's configuration: the operator's certificate and key, or one the
/// gateway's own CA issues for the public URL's host and the listen address.
fn tls_config(
    args: &Config,
    ca: &Arc<Ca>,
    public_url: &str,
    addr: std::net::SocketAddr,
) -> Result<rustls::ServerConfig, String> {
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => tls::ServerIdentity::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => tls::ServerIdentity::Issued {
            sans: server_names(public_url, addr),
        },
    };
    tls::server_config(ca.clone(), identity)
}

/// Where the admin token came from, for the start-up lines (never the token).
fn admin_note(dir: Option<&DataDir>, source: AdminTokenSource) -> String {
    let file = || {
        dir.map(|d| d.file(admin::ADMIN_TOKEN_FILE).display().to_string())
            .unwrap_or_default()
    };
    match source {
        AdminTokenSource::Env => format!("from {}", mosaic_contract::env::ADMIN_TOKEN),
        AdminTokenSource::File { generated: true } => format!("generated into {}", file()),
        AdminTokenSource::File { generated: false } => format!("from {}", file()),
        AdminTokenSource::Given(path) => format!("from {}", path.display()),
    }
}

/// The start-up lines on standard output (the log's `startup` target): each after
/// `mosaic gateway `, or one JSON object each.
fn print_banner(lines: &[String]) {
    for line in lines {
        tracing::info!(target: log::STARTUP, "{line}");
    }
}

/// SANs of the certificate the gateway issues itself: the host of the public URL and the
/// listen address (unless it is a wildcard address).
fn server_names(public_url: &str, listen: std::net::SocketAddr) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(host) = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
    {
        names.push(host);
    }
    let ip = listen.ip().to_string();
    if !listen.ip().is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    if names.is_empty() {
        names.push("localhost".to_string());
    }
    names
}

/// `--public-url`: http(s), no query or fragment; kept without a trailing slash.
fn parse_public_url(raw: &str) -> Result<String, String> {
    // Checked on the raw text: the URL parser drops tabs and newlines silently.
    if raw.chars().any(mosaic_contract::text::is_unsafe_char) {
        return Err(format!(
            "--public-url {raw:?} must not contain control or bidirectional formatting characters"
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("--public-url {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "--public-url {raw:?} must be an http:// or https:// URL"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "--public-url must not carry a user name or password: it is handed out in every enrollment URL"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--public-url {raw:?} must not have a query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Registers for SIGINT and SIGTERM now; the returned future resolves on either, and
/// in-flight requests then finish before `serve` returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

/// RFC 3339 text of a timestamp, for audit details: as in JSON, to the millisecond.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    mosaic_contract::timestamp::format(t)
}
