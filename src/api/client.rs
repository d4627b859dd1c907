//! The typed HTTP client for `/api/admin/federation` and the public enrollment endpoint:
//! one method per endpoint, all going through one private request helper. Nothing here
//! prints, except the `-v` request log, which is a diagnostic on standard error.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::{Host, Url};
use zeroize::Zeroizing;

use crate::api::types::{
    AuditAction, AuditEntry, CreateGrantRequest, CreatePeerRequest, CreateTokenRequest,
    EnrollRequest, EnrollResponse, EnrollmentPreview, EnrollmentToken, ErrorBody, Grant,
    GrantStatus, PAGE_LIMIT_MAX, Page, Peer, RevokeGrantRequest, StoreCertRequest,
};
use crate::cli::{DEFAULT_GATEWAY, DEFAULT_TIMEOUT_SECS, GlobalArgs};
use crate::error::{Error, Result};

/// `mosaic/<version>`, sent with every request.
pub const USER_AGENT: &str = concat!("mosaic/", env!("CARGO_PKG_VERSION"));

/// The most of a response body the client reads; a longer answer is refused, not truncated.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Environment variable holding the admin token itself.
pub const ADMIN_TOKEN_ENV: &str = "MOSAIC_ADMIN_TOKEN";

/// The largest admin token file read; a token is a short line, not a document.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// The largest `--cacert` bundle read (the whole Mozilla bundle is about 200 KiB).
const MAX_CACERT_BYTES: u64 = 8 * 1024 * 1024;

/// The path prefix of enrollment URLs; the segment after it is the secret token.
const ENROLLMENT_PATH_MARKER: &str = "/api/federation/enrollment/";

/// What replaces an enrollment token in every message and log line.
pub const REDACTED: &str = "<redacted>";

/// The gateway's admin token. Never shown by `Debug`, wiped from memory when dropped.
#[derive(Clone)]
pub struct AdminToken(Zeroizing<String>);

impl AdminToken {
    /// Wraps a token; surrounding whitespace (a trailing newline in a file) is dropped.
    /// An empty token is no token.
    pub fn new(token: impl Into<String>) -> Option<AdminToken> {
        let raw = Zeroizing::new(token.into());
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(AdminToken(Zeroizing::new(trimmed.to_string())))
        }
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Everything needed to build a [`Client`], resolved from flags and environment.
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

impl ClientConfig {
    /// Resolves the global flags and the environment. The admin token comes from the file
    /// named by `--token-file`/`MOSAIC_ADMIN_TOKEN_FILE` if one is named, else from
    /// `MOSAIC_ADMIN_TOKEN`. A missing token is not an error here: only admin endpoints
    /// need one, and they say so when called.
    pub fn from_global(g: &GlobalArgs) -> Result<ClientConfig> {
        let admin_token = match &g.token_file {
            Some(path) => Some(read_token_file(path)?),
            None => std::env::var(ADMIN_TOKEN_ENV)
                .ok()
                .and_then(AdminToken::new),
        };
        Ok(ClientConfig {
            base_url: g
                .gateway
                .clone()
                .unwrap_or_else(|| DEFAULT_GATEWAY.to_string()),
            admin_token,
            cacert: g.cacert.clone(),
            timeout: Duration::from_secs(g.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            verbose: g.verbose,
            allow_insecure_http: g.allow_insecure_http,
        })
    }
}

fn read_token_file(path: &Path) -> Result<AdminToken> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::InvalidInput(format!("cannot read token file {shown}: {e}")))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::InvalidInput(format!("cannot read token file {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(Error::InvalidInput(format!(
            "token file {shown} is larger than {} KiB; it should hold just the admin token",
            MAX_TOKEN_FILE_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::InvalidInput(format!("token file {shown} is not UTF-8 text")))?;
    AdminToken::new(text).ok_or_else(|| Error::InvalidInput(format!("token file {shown} is empty")))
}

/// Filters of `audit list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub grant_id: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<time::OffsetDateTime>,
}

/// Filters of `grant list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub peer_id: Option<String>,
    pub status: Option<GrantStatus>,
}

/// The typed client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
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

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        let base = parse_http_url("--gateway", &cfg.base_url)?;
        if cfg.timeout.is_zero() {
            return Err(Error::InvalidInput(
                "--timeout: must be at least 1 second".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(cfg.timeout)
            // An API answer is never a redirect; following one could carry a request to
            // a host or a scheme the operator never named.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &cfg.cacert {
            builder = builder.tls_certs_merge(read_cacert(path)?);
        }
        let http = builder.build().map_err(|e| match &cfg.cacert {
            Some(path) => Error::InvalidInput(format!(
                "--cacert {}: cannot use these certificates: {}",
                path.display(),
                error_chain(&e)
            )),
            None => Error::Internal(format!(
                "cannot set up the HTTP client: {}",
                error_chain(&e)
            )),
        })?;
        Ok(Client {
            http,
            base: Arc::new(base),
            token: cfg.admin_token,
            timeout: cfg.timeout,
            verbose: cfg.verbose,
            allow_insecure_http: cfg.allow_insecure_http,
        })
    }

    /// The gateway's base URL, as given by `--gateway`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    // ----- grants -----

    pub async fn create_grant(&self, req: &CreateGrantRequest) -> Result<Grant> {
        let url = self.admin_url(&["grants"])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "grant")
            .await
    }

    /// One page of grants.
    pub async fn list_grants(
        &self,
        filter: &GrantFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Grant>> {
        let mut url = self.admin_url(&["grants"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(peer) = &filter.peer_id {
                q.append_pair("peer_id", peer);
            }
            if let Some(status) = filter.status {
                q.append_pair("status", status.as_str());
            }
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "page of grants")
            .await
    }

    /// One page of the audit log, oldest first.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        let mut url = self.admin_url(&["audit"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(grant) = &filter.grant_id {
                q.append_pair("grant_id", grant);
            }
            if let Some(action) = filter.action {
                q.append_pair("action", action.as_str());
            }
            if let Some(since) = filter.since {
                let since = since
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::InvalidInput(format!("--since: {e}")))?;
                q.append_pair("since", &since);
            }
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(
            Method::GET,
            url,
            Auth::Admin,
            None::<&()>,
            "page of audit entries",
        )
        .await
    }

    /// Every audit entry that matches, following `next_cursor` through all pages.
    pub async fn list_all_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.collect_pages(|cursor| async move { self.list_audit(filter, cursor.as_deref()).await })
            .await
    }

    /// Every grant that matches, following `next_cursor` through all pages.
    pub async fn list_all_grants(&self, filter: &GrantFilter) -> Result<Vec<Grant>> {
        self.collect_pages(
            |cursor| async move { self.list_grants(filter, cursor.as_deref()).await },
        )
        .await
    }

    pub async fn get_grant(&self, id: &str) -> Result<Grant> {
        let url = self.admin_url(&["grants", id_segment("grant", id)?])?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "grant")
            .await
    }

    pub async fn revoke_grant(&self, id: &str, req: &RevokeGrantRequest) -> Result<Grant> {
        let url = self.admin_url(&["grants", id_segment("grant", id)?, "revoke"])?;
        self.request(Method::PATCH, url, Auth::Admin, Some(req), "grant")
            .await
    }

    pub async fn create_token(
        &self,
        grant_id: &str,
        req: &CreateTokenRequest,
    ) -> Result<EnrollmentToken> {
        let url = self.admin_url(&["grants", id_segment("grant", grant_id)?, "tokens"])?;
        self.request(
            Method::POST,
            url,
            Auth::Admin,
            Some(req),
            "enrollment token",
        )
        .await
    }

    // ----- peers -----

    /// One page of peers.
    pub async fn list_peers(&self, cursor: Option<&str>) -> Result<Page<Peer>> {
        let mut url = self.admin_url(&["peers"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "page of peers")
            .await
    }

    /// Every peer, following `next_cursor` through all pages.
    pub async fn list_all_peers(&self) -> Result<Vec<Peer>> {
        self.collect_pages(|cursor| async move { self.list_peers(cursor.as_deref()).await })
            .await
    }

    /// `POST /peers/keypair`: stores a pending peer with its CSR and sealed key.
    pub async fn create_peer(&self, req: &CreatePeerRequest) -> Result<Peer> {
        let url = self.admin_url(&["peers", "keypair"])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "peer")
            .await
    }

    /// `PATCH /peers/{id}/cert`: stores the issued certificate and activates the peer.
    pub async fn store_peer_cert(&self, id: &str, req: &StoreCertRequest) -> Result<Peer> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?, "cert"])?;
        self.request(Method::PATCH, url, Auth::Admin, Some(req), "peer")
            .await
    }

    pub async fn delete_peer(&self, id: &str) -> Result<()> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?])?;
        self.call(Method::DELETE, url, Auth::Admin, None::<&()>)
            .await
            .map(|_| ())
    }

    // ----- the public enrollment endpoint of another gateway -----

    /// `GET <enrollment-url>`: what the token would grant, without spending it.
    pub async fn preview_enrollment(&self, enrollment_url: &str) -> Result<EnrollmentPreview> {
        let url = parse_http_url("enrollment URL", enrollment_url)?;
        self.request(
            Method::GET,
            url,
            Auth::Public,
            None::<&()>,
            "enrollment preview",
        )
        .await
    }

    /// `POST <enrollment-url>`: spends the token and returns the signed certificate.
    pub async fn enroll(
        &self,
        enrollment_url: &str,
        req: &EnrollRequest,
    ) -> Result<EnrollResponse> {
        let url = parse_http_url("enrollment URL", enrollment_url)?;
        self.request(
            Method::POST,
            url,
            Auth::Public,
            Some(req),
            "enrollment response",
        )
        .await
    }

    // ----- the one request helper -----

    /// `base` + `/api/admin/federation/` + segments, each segment percent-escaped.
    fn admin_url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = (*self.base).clone();
        url.path_segments_mut()
            .map_err(|_| Error::InvalidInput("--gateway: not a base URL".into()))?
            .pop_if_empty()
            .extend(["api", "admin", "federation"])
            .extend(segments);
        Ok(url)
    }

    async fn collect_pages<T, F, Fut>(&self, mut page: F) -> Result<Vec<T>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>>>,
    {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let p = page(cursor.take()).await?;
            all.extend(p.items);
            match p.next_cursor {
                None => return Ok(all),
                Some(next) => {
                    if !seen.insert(next.clone()) {
                        return Err(Error::Unreachable(format!(
                            "the gateway at {} handed out the same list cursor twice; \
                             stopping instead of looping forever",
                            redact_url(self.base.as_str())
                        )));
                    }
                    cursor = Some(next);
                }
            }
        }
    }

    /// A request whose successful answer is a JSON document of type `T` (`what` names it
    /// in errors).
    async fn request<B, T>(
        &self,
        method: Method,
        url: Url,
        auth: Auth,
        body: Option<&B>,
        what: &str,
    ) -> Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let shown = redact_url(url.as_str());
        let (status, bytes) = self.call(method, url, auth, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Unreachable(format!(
                "{shown} answered HTTP {} with a body that is not a {what}: {}",
                status.as_u16(),
                describe_body_error(&bytes, &e)
            ))
        })
    }

    /// Sends one request and returns a successful answer's status and body. Every rule
    /// about transport lives here: the insecure-http check, the admin token, the size cap,
    /// the status mapping, the redacted log.
    async fn call<B>(
        &self,
        method: Method,
        url: Url,
        auth: Auth,
        body: Option<&B>,
    ) -> Result<(StatusCode, Vec<u8>)>
    where
        B: Serialize + ?Sized,
    {
        let url_text = url.to_string();
        let shown = redact_url(&url_text);
        self.check_transport(&url, &shown)?;
        let mut req = self.http.request(method.clone(), url);
        if auth == Auth::Admin {
            self.require_admin_token()?;
            let token = self.token.as_ref().expect("checked above");
            let mut value =
                HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
                    Error::InvalidInput(
                        "the admin token holds characters an HTTP header cannot carry".into(),
                    )
                })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }

        let started = Instant::now();
        let result = self.send_and_read(req, &shown).await;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok((status, bytes)) => self.log(format_args!(
                "{method} {shown} -> {} in {ms} ms ({} bytes)",
                status_text(*status),
                bytes.len()
            )),
            Err(e) => self.log(format_args!("{method} {shown} failed after {ms} ms: {e}")),
        }
        let (status, bytes) = result?;

        if status.is_success() {
            return Ok((status, bytes));
        }
        let err = self.status_error(status, &bytes, auth, &shown);
        // A gateway that echoes the enrollment token in its message must not make us
        // print it.
        match enrollment_token(&url_text) {
            Some(token) if err.message().contains(token) => {
                let message = err.message().replace(token, REDACTED);
                Err(err.with_message(message))
            }
            _ => Err(err),
        }
    }

    async fn send_and_read(
        &self,
        req: reqwest::RequestBuilder,
        shown: &str,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&e, shown))?;
        let status = resp.status();
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(redact_url)
                .unwrap_or_else(|| "nowhere".into());
            return Err(Error::Unreachable(format!(
                "{shown} answered with a redirect ({}) to {to}; mosaic does not follow \
                 redirects: use the final address",
                status_text(status)
            )));
        }
        let too_large = || {
            Error::Unreachable(format!(
                "{shown} answered with more than {} MiB; refusing to read it",
                MAX_RESPONSE_BYTES / (1024 * 1024)
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e, shown))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    /// Fails now, before any request, where an admin call would fail for want of a token.
    pub fn require_admin_token(&self) -> Result<()> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(Error::Unauthorized(format!(
                "no admin token: set {ADMIN_TOKEN_ENV} or pass --token-file FILE \
                 (or set MOSAIC_ADMIN_TOKEN_FILE)"
            ))),
        }
    }

    /// Fails now, before any request, where a request to `raw` would be refused by the
    /// transport rules (plain http:// to a host that is not loopback).
    pub fn check_url(&self, raw: &str) -> Result<()> {
        let url = parse_http_url("URL", raw)?;
        self.check_transport(&url, &redact_url(raw))
    }

    /// Plain http:// is allowed only to loopback, unless the operator said otherwise.
    fn check_transport(&self, url: &Url, shown: &str) -> Result<()> {
        if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(url) {
            return Err(Error::InvalidInput(format!(
                "refusing plain http:// to {shown}: tokens and certificates would cross the \
                 network unencrypted; use https://, or pass --allow-insecure-http if you \
                 accept that"
            )));
        }
        Ok(())
    }

    fn transport_error(&self, e: &reqwest::Error, shown: &str) -> Error {
        if e.is_timeout() {
            return Error::Unreachable(format!(
                "{shown}: no answer within {} s (--timeout)",
                self.timeout.as_secs()
            ));
        }
        let cause = error_chain(e);
        let hint = if cause.contains("certificate") || cause.contains("UnknownIssuer") {
            " (if the gateway uses a private CA, pass --cacert FILE)"
        } else {
            ""
        };
        let verb = if e.is_connect() {
            "cannot connect to"
        } else {
            "request failed:"
        };
        Error::Unreachable(format!("{verb} {shown}: {cause}{hint}"))
    }

    /// Maps an error status to the CLI's error, with the gateway's own message verbatim.
    fn status_error(&self, status: StatusCode, bytes: &[u8], auth: Auth, shown: &str) -> Error {
        let gateway_msg = serde_json::from_slice::<ErrorBody>(bytes)
            .ok()
            .map(|b| b.error.message);
        let http = status_text(status);
        let check = match auth {
            Auth::Admin => "is --gateway right?",
            Auth::Public => "is the enrollment URL right?",
        };
        match (status.as_u16(), gateway_msg) {
            (410, _) => Error::TokenInvalid(
                "enrollment token used, unknown or expired: ask the granting admin for a new \
                 one with `mosaic federation grant token <grant-id>`"
                    .into(),
            ),
            (401 | 403, msg) => {
                let msg = msg.unwrap_or_else(|| format!("{shown} answered {http}"));
                Error::Unauthorized(match auth {
                    Auth::Admin => format!(
                        "{msg} (the gateway refused the admin token: check \
                         {ADMIN_TOKEN_ENV} or --token-file)"
                    ),
                    Auth::Public => msg,
                })
            }
            (413, msg) => {
                Error::InvalidInput(msg.unwrap_or_else(|| {
                    format!("{shown} answered {http}: the request is too large")
                }))
            }
            (400, Some(msg)) => Error::InvalidInput(msg),
            (404, Some(msg)) => Error::NotFound(msg),
            (409, Some(msg)) => Error::Conflict(msg),
            (500..=599, Some(msg)) => Error::Unreachable(format!("{shown} answered {http}: {msg}")),
            (400..=499, None) => Error::Unreachable(format!(
                "{shown} answered {http} without a Mosaic error body; {check}"
            )),
            (_, Some(msg)) => Error::Unreachable(format!("{shown} answered {http}: {msg}")),
            (_, None) => Error::Unreachable(format!("{shown} answered {http}")),
        }
    }

    fn log(&self, line: fmt::Arguments<'_>) {
        if self.verbose {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "debug: {line}");
        }
    }
}

/// Rejects IDs that cannot name one path segment (`""`, `.`, `..` would change the path).
fn id_segment<'a>(kind: &str, id: &'a str) -> Result<&'a str> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(Error::InvalidInput(format!(
            "\"{id}\" is not a valid {kind} ID"
        )));
    }
    Ok(id)
}

/// Parses an absolute http(s) URL given by the operator; `what` names it in errors.
fn parse_http_url(what: &str, raw: &str) -> Result<Url> {
    let shown = redact_url(raw);
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::InvalidInput(format!("{what}: \"{shown}\" is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::InvalidInput(format!(
            "{what}: \"{shown}\" is not an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidInput(format!(
            "{what}: the URL must not carry a user name or password"
        )));
    }
    Ok(url)
}

fn read_cacert(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::InvalidInput(format!("--cacert {shown}: {e}")))?;
    let mut pem = Vec::new();
    file.take(MAX_CACERT_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| Error::InvalidInput(format!("--cacert {shown}: {e}")))?;
    if pem.len() as u64 > MAX_CACERT_BYTES {
        return Err(Error::InvalidInput(format!(
            "--cacert {shown}: larger than {} MiB",
            MAX_CACERT_BYTES / (1024 * 1024)
        )));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::InvalidInput(format!(
            "--cacert {shown}: not a PEM certificate bundle: {e}"
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::InvalidInput(format!(
            "--cacert {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"
        )));
    }
    Ok(certs)
}

/// Loopback: `localhost`, 127.0.0.0/8 and ::1.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| IpAddr::V4(v4).is_loopback())
        }
        None => false,
    }
}

/// The URL as it may appear in a message or log: the enrollment token (the path segment
/// after `/api/federation/enrollment/`) replaced by `<redacted>`, credentials dropped.
pub fn redact_url(raw: &str) -> String {
    let mut out = match Url::parse(raw) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => raw.to_string(),
    };
    let mut from = 0;
    while let Some(i) = out[from..].find(ENROLLMENT_PATH_MARKER) {
        let start = from + i + ENROLLMENT_PATH_MARKER.len();
        let end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |j| start + j);
        if end > start {
            out.replace_range(start..end, REDACTED);
        }
        from = start + REDACTED.len().min(out.len() - start);
    }
    out
}

/// The enrollment token in a URL: the path segment after `/api/federation/enrollment/`.
fn enrollment_token(url: &str) -> Option<&str> {
    let start = url.find(ENROLLMENT_PATH_MARKER)? + ENROLLMENT_PATH_MARKER.len();
    let rest = &url[start..];
    let token = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    (!token.is_empty()).then_some(token)
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A reqwest error and its causes, without the URL (the caller names it, redacted).
fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        // Only the top level is left; drop its "for url (...)" part.
        let mut text = e.to_string();
        if let Some(i) = text.find(" for url (") {
            text.truncate(i);
        }
        parts.push(text);
    }
    // The innermost causes say the most ("Connection refused", "UnknownIssuer").
    parts
        .into_iter()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .join(" <- ")
}

/// Why a body did not decode, without echoing a large or binary body.
fn describe_body_error(bytes: &[u8], e: &serde_json::Error) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let looks_html = head.trim_start().starts_with('<');
    if bytes.is_empty() {
        "the body is empty".into()
    } else if looks_html {
        "it is HTML, not JSON".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_enrollment_tokens() {
        assert_eq!(
            redact_url("https://a.example/api/federation/enrollment/s3cr3t"),
            "https://a.example/api/federation/enrollment/<redacted>"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/x/api/federation/enrollment/s3cr3t?y=1#z"),
            "http://127.0.0.1:9/x/api/federation/enrollment/<redacted>?y=1#z"
        );
        assert_eq!(
            redact_url("https://a.example/api/admin/federation/grants?limit=1000"),
            "https://a.example/api/admin/federation/grants?limit=1000"
        );
        assert_eq!(
            redact_url("https://u:pw@a.example/api/federation/enrollment/tok/"),
            "https://a.example/api/federation/enrollment/<redacted>/"
        );
        assert_eq!(
            redact_url("not a url /api/federation/enrollment/"),
            "not a url /api/federation/enrollment/"
        );
    }

    #[test]
    fn admin_token_debug_is_redacted() {
        let t = AdminToken::new(" secret-value\n").unwrap();
        assert_eq!(t.expose(), "secret-value");
        assert!(!format!("{t:?}").contains("secret"));
        assert!(AdminToken::new(" \n").is_none());
    }

    fn client(base: &str, insecure: bool) -> Client {
        crate::install_crypto_provider();
        Client::new(ClientConfig {
            base_url: base.into(),
            admin_token: AdminToken::new("t"),
            cacert: None,
            timeout: Duration::from_secs(5),
            verbose: false,
            allow_insecure_http: insecure,
        })
        .unwrap()
    }

    #[test]
    fn admin_urls_escape_ids() {
        let c = client("https://gw.example/prefix/", false);
        let u = c.admin_url(&["grants", "a/b?c#d", "revoke"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://gw.example/prefix/api/admin/federation/grants/a%2Fb%3Fc%23d/revoke"
        );
        let c = client("https://gw.example", false);
        assert_eq!(
            c.admin_url(&["grants"]).unwrap().as_str(),
            "https://gw.example/api/admin/federation/grants"
        );
        assert!(id_segment("grant", "..").is_err());
        assert!(id_segment("grant", "").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for (url, ok) in [
            ("http://127.0.0.1:1/", true),
            ("http://127.8.9.10/", true),
            ("http://localhost:1/", true),
            ("http://[::1]:1/", true),
            ("http://10.0.0.1/", false),
            ("http://gw.example/", false),
            ("http://localhost.evil.example/", false),
            ("https://gw.example/", true),
        ] {
            let u = Url::parse(url).unwrap();
            let c = client(url, false);
            assert_eq!(c.check_transport(&u, url).is_ok(), ok, "{url}");
            let c = client(url, true);
            assert!(c.check_transport(&u, url).is_ok(), "{url}");
        }
    }

    #[test]
    fn gateway_url_must_be_http() {
        for bad in [
            "127.0.0.1:14242",
            "ftp://x/",
            "https://",
            "https://u:p@x/",
            "",
        ] {
            let e = parse_http_url("--gateway", bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{bad}: {e:?}");
        }
    }

    /// A body without a length is read in chunks and reading stops at the cap.
    #[tokio::test]
    async fn an_endless_body_stops_at_the_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            sock.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let chunk = vec![b' '; 64 * 1024];
            let mut total = 0usize;
            while total < 64 * 1024 * 1024 && sock.write_all(&chunk).await.is_ok() {
                total += chunk.len();
            }
            total
        });
        let err = client(&url, false)
            .list_grants(&GrantFilter::default(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
        assert!(err.to_string().contains("more than 8 MiB"), "{err}");
        let total = sent.await.unwrap();
        assert!(
            total < 64 * 1024 * 1024,
            "the client read on: {total} bytes"
        );
    }
}
