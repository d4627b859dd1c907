//! The typed HTTP client for `/api/admin/federation` and the public enrollment endpoint.
//! `endpoints` and `federation` hold one method per endpoint, `transport` every rule
//! about sending and reading, `status` the mapping of faults and error statuses to the
//! CLI's errors (TLS pinned to a CA fingerprint is `mosaic_crypto::pinned`), `credentials` the admin token,
//! `redact` what may be shown of a URL. Nothing here prints, except the `-v` request
//! log, which is a diagnostic on standard error.

mod auth;
mod credentials;
mod endpoints;
mod federation;
mod proxy;
mod redact;
mod status;
mod transport;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use credentials::{AdminToken, read_token_file};
pub use federation::Row;
use mosaic_crypto::pinned;
pub use mosaic_crypto::pinned::tls_error_in;
pub use redact::{REDACTED, redact_url};

use crate::error::{Error, Result};
use status::error_chain;
use transport::{parse_http_url, read_cacert};

/// `mosaic/<version>`, sent with every request.
pub const USER_AGENT: &str = concat!("mosaic/", env!("CARGO_PKG_VERSION"));

/// The most of a response body the client reads; a longer answer is refused, not truncated.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Everything needed to build a [`Client`], resolved once from flags, environment and
/// profile by `crate::config`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the gateway's API, e.g. `https://gw.example` (no `/api` suffix).
    pub base_url: String,
    pub admin_token: Option<AdminToken>,
    /// A PEM bundle trusted in addition to the system's roots.
    pub cacert: Option<PathBuf>,
    pub timeout: Duration,
    /// Log each request (method, redacted URL, status, time) to standard error.
    pub verbose: bool,
    /// Allow plain `http://` to a host that is not loopback.
    pub allow_insecure_http: bool,
}

/// The typed client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// For requests to another gateway's enrollment URL when the operator pinned its CA
    /// (`peer add --ca-fingerprint`): trusts exactly that CA. See [`Client::pin_ca`].
    pinned: Option<(String, reqwest::Client)>,
    /// Which proxy each request takes (never one for loopback).
    proxies: proxy::Proxies,
    base: Arc<Url>,
    token: Option<AdminToken>,
    timeout: Duration,
    verbose: bool,
    allow_insecure_http: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Whether a request carries the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Admin,
    /// The public enrollment endpoint of another gateway: the token in its path is the
    /// credential, and the admin token of this gateway must never travel there.
    Public,
}

/// A `--gateway` that points into the API (`…/api`, `…/api/admin/…`) would answer every
/// request with the gateway's own "no such endpoint", which reads as "not found" (exit
/// 3): refused up front (exit 2), with the URL to give instead.
fn refuse_api_path(base: &Url) -> Result<()> {
    let segments: Vec<&str> = base
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(i) = segments.iter().position(|s| *s == "api") {
        let mut root = base.clone();
        root.set_path(&segments[..i].join("/"));
        root.set_query(None);
        return Err(Error::invalid_input(format!(
            "--gateway: give the gateway's root URL, without /api (try --gateway {})",
            root.as_str().trim_end_matches('/')
        )));
    }
    Ok(())
}

/// A `--gateway` URL by the rules every command applies: http(s), a host, no user name or
/// password, no `/api` path segment. For `config set-profile`, which stores one.
pub fn check_gateway_url(raw: &str) -> Result<Url> {
    let base = parse_http_url("--gateway", raw)?;
    refuse_api_path(&base)?;
    Ok(base)
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        let base = check_gateway_url(&cfg.base_url)?;
        if cfg.timeout.is_zero() {
            return Err(Error::invalid_input("--timeout: must be at least 1 second"));
        }
        let proxies = proxy::Proxies::from_env();
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .no_proxy()
            .proxy(proxies.reqwest_proxy())
            .timeout(cfg.timeout)
            // An API answer is never a redirect; following one could carry a request to
            // a host or a scheme the operator never named.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &cfg.cacert {
            builder = builder.tls_certs_merge(read_cacert(path)?);
        }
        let http = builder.build().map_err(|e| match &cfg.cacert {
            Some(path) => Error::invalid_input(format!(
                "--cacert {}: cannot use these certificates: {}",
                path.display(),
                error_chain(&e)
            )),
            None => Error::internal(format!(
                "cannot set up the HTTP client: {}",
                error_chain(&e)
            )),
        })?;
        Ok(Client {
            http,
            pinned: None,
            proxies,
            base: Arc::new(base),
            token: cfg.admin_token,
            timeout: cfg.timeout,
            verbose: cfg.verbose,
            allow_insecure_http: cfg.allow_insecure_http,
        })
    }

    /// A client whose requests to another gateway's public endpoints trust exactly the
    /// CA with `fingerprint` (the chain must end there), instead of the system roots and
    /// `--cacert`; requests to this gateway's admin API are unchanged.
    pub fn pin_ca(&self, fingerprint: &str) -> Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .no_proxy()
            .proxy(self.proxies.reqwest_proxy())
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(pinned::PinnedCa::new(fingerprint).client_config())
            .build()
            .map_err(|e| {
                Error::internal(format!(
                    "cannot set up the pinned HTTP client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(Client {
            pinned: Some((fingerprint.to_string(), http)),
            ..self.clone()
        })
    }

    /// The gateway's base URL, as given by `--gateway`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }
}
