//! Every rule about talking HTTP: the insecure-http check, the admin token header, the
//! response size cap, redirects refused, error statuses mapped to the CLI's errors with
//! the gateway's own message, pages followed, and the redacted `-v` request log.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::{Host, Url};

use super::redact::{REDACTED, enrollment_token, redact_url};
use super::status::{describe_body_error, no_admin_token, status_text};
use super::{Auth, Client, MAX_RESPONSE_BYTES};
use crate::api::paths;
use crate::api::query::Paged;
use crate::api::types::{PAGE_LIMIT_MAX, Page};
use crate::error::says;
use crate::error::{Error, Result};

/// The largest `--cacert` bundle read (the whole Mozilla bundle is about 200 KiB).
const MAX_CACERT_BYTES: u64 = 8 * 1024 * 1024;

impl Client {
    /// `base` + `/api/admin/federation/` + segments, each segment percent-escaped.
    pub(super) fn admin_url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = (*self.base).clone();
        url.path_segments_mut()
            .map_err(|_| Error::invalid_input("--gateway: not a base URL"))?
            .pop_if_empty()
            .extend(paths::ADMIN_SEGMENTS)
            .extend(segments);
        Ok(url)
    }

    /// Every item of a list endpoint: the query with the largest page, then each
    /// `next_cursor` in turn, until the last page.
    pub(super) async fn collect_pages<Q, T>(
        &self,
        segments: &[&str],
        query: &Q,
        what: &'static str,
    ) -> Result<Vec<T>>
    where
        Q: Paged + Serialize + Clone + Send + 'static,
        T: DeserializeOwned + Send + 'static,
    {
        let mut all = Vec::new();
        self.each_page(segments, query, what, |items| {
            all.extend(items);
            Ok(true)
        })
        .await?;
        Ok(all)
    }

    /// Every page of a list endpoint, handed to `each` in order as it arrives. A producer
    /// task follows the cursors: as soon as a page's body is in, it reads `next_cursor`
    /// alone ([`cursor_of`]) and sends the next request, then queues the body. This task
    /// decodes each queued body and hands its items to `each` (which writes them) while
    /// the gateway works on the next page, so the chain of requests waits for neither.
    /// At most three pages are held: one on the wire, one queued, one being decoded and
    /// written. `each` returns false to stop (a reader that closed the pipe). A cursor
    /// handed out twice is a broken gateway, not a reason to loop forever.
    pub(super) async fn each_page<Q, T>(
        &self,
        segments: &[&str],
        query: &Q,
        what: &'static str,
        mut each: impl FnMut(Vec<T>) -> Result<bool>,
    ) -> Result<()>
    where
        Q: Paged + Serialize + Clone + Send + 'static,
        T: DeserializeOwned,
    {
        let client = self.clone();
        let list_url = self.admin_url(segments)?;
        let query = query.clone();
        let fetch = move |cursor: Option<String>| -> Result<Fetch> {
            let mut query = query.clone();
            query.set_page(PAGE_LIMIT_MAX, cursor);
            let url = with_query(list_url.clone(), &query)?;
            let client = client.clone();
            Ok(tokio::spawn(async move {
                let shown = redact_url(url.as_str());
                let (status, body) = client
                    .call(Method::GET, url, Auth::Admin, None::<&()>)
                    .await?;
                Ok(Arrived {
                    next: cursor_of(&body),
                    shown,
                    status,
                    body,
                })
            }))
        };
        let base = redact_url(self.base.as_str());
        let (pages, mut arrived) = tokio::sync::mpsc::channel::<Result<Arrived>>(1);
        let producer = tokio::spawn(async move {
            if let Err(e) = follow_cursors(fetch, &base, what, &pages).await {
                // The receiver may be gone (it stopped early): nothing left to tell.
                let _ = pages.send(Err(e)).await;
            }
        });
        let _stop_producer = AbortOnDrop(producer);
        while let Some(page) = arrived.recv().await {
            let Arrived {
                shown,
                status,
                body,
                next,
            } = page?;
            let page: Page<T> = decode(&shown, status, &body, what)?;
            drop(body);
            if page.next_cursor != next {
                return Err(Error::unreachable(format!(
                    "{shown} answered a {what} whose next_cursor reads differently at its end \
                     than decoded"
                )));
            }
            if !each(page.items)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A request whose successful answer is a JSON document of type `T` (`what` names it
    /// in errors).
    pub(super) async fn request<B, T>(
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
        decode(&shown, status, &bytes, what)
    }

    /// Sends one request and returns a successful answer's status and body. Every rule
    /// about transport lives here: the insecure-http check, the admin token, the size cap,
    /// the status mapping, the redacted log.
    pub(super) async fn call<B>(
        &self,
        method: Method,
        url: Url,
        auth: Auth,
        body: Option<&B>,
    ) -> Result<(StatusCode, Vec<u8>)>
    where
        B: Serialize + ?Sized,
    {
        let shown = redact_url(url.as_str());
        let url_token = enrollment_token(&url).map(str::to_string);
        let names_record = (auth == Auth::Admin).then(|| names_record(&url)).flatten();
        self.check_transport(&url, &shown)?;
        let via = self.check_proxy(&url, &shown, auth)?;
        let http = match (&self.pinned, auth) {
            (Some((_, pinned)), Auth::Public) => pinned,
            _ => &self.http,
        };
        let mut req = http.request(method.clone(), url);
        if auth == Auth::Admin {
            let Some(token) = &self.token else {
                return Err(no_admin_token());
            };
            let mut value =
                HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
                    Error::invalid_input(
                        "the admin token holds characters an HTTP header cannot carry",
                    )
                })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }

        let started = Instant::now();
        let result = self.send_and_read(req, &shown, auth).await;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok((status, bytes)) => self.log(format_args!(
                "{method} {shown}{via} -> {} in {ms} ms ({} bytes)",
                status_text(*status),
                bytes.len()
            )),
            Err(e) => self.log(format_args!(
                "{method} {shown}{via} failed after {ms} ms: {e}"
            )),
        }
        let (status, bytes) = result?;

        if status.is_success() {
            return Ok((status, bytes));
        }
        let err = self.status_error(status, &bytes, auth, &shown, names_record.as_ref());
        // A gateway that echoes the enrollment token in its message must not make us
        // print it.
        match url_token {
            Some(token) if err.message().contains(&token) => {
                let message = err.message().replace(&token, REDACTED);
                Err(err.with_message(message))
            }
            _ => Err(err),
        }
    }

    async fn send_and_read(
        &self,
        req: reqwest::RequestBuilder,
        shown: &str,
        auth: Auth,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&e, shown, auth))?;
        let status = resp.status();
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(redact_url)
                .unwrap_or_else(|| "nowhere".into());
            return Err(Error::unreachable(format!(
                "{shown} answered with a redirect ({}) to {to}; mosaic does not follow \
                 redirects: use the final address",
                status_text(status)
            )));
        }
        let too_large = || {
            Error::unreachable(format!(
                "{shown} answered with more than {} MiB; refusing to read it",
                MAX_RESPONSE_BYTES / (1024 * 1024)
            ))
        };
        let announced = resp.content_length().unwrap_or(0);
        if announced > MAX_RESPONSE_BYTES as u64 {
            return Err(too_large());
        }
        // Sized once from Content-Length (a list page is hundreds of KiB), not regrown.
        let mut bytes = Vec::with_capacity(announced as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e, shown, auth))?
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
            None => Err(no_admin_token()),
        }
    }

    /// Fails now, before any request, where a request to `raw` would be refused by the
    /// transport rules (plain http:// to a host that is not loopback).
    pub fn check_url(&self, raw: &str) -> Result<()> {
        let url = parse_http_url("URL", raw)?;
        self.check_transport(&url, &redact_url(raw))
    }

    /// The proxy a request to `url` takes, as the `-v` log names it (` via proxy …`, empty
    /// for a direct connection). Plain http:// through a proxy is refused unless the
    /// operator allowed plain http: the proxy would read the admin token, or the
    /// enrollment token in the path, and everything else in clear.
    fn check_proxy(&self, url: &Url, shown: &str, auth: Auth) -> Result<String> {
        let Some(proxy) = self.proxies.for_url(url) else {
            return Ok(String::new());
        };
        let proxy = redact_url(proxy);
        if url.scheme() == "http" && !self.allow_insecure_http {
            let what = match auth {
                Auth::Admin => "the admin token",
                Auth::Public => "the enrollment token",
            };
            return Err(Error::invalid_input(format!(
                "refusing to send {what} to {shown} over plain http:// through the proxy \
                 {proxy}: it would read it in clear; use https://, set NO_PROXY for this \
                 host, or pass --allow-insecure-http if you accept that"
            )));
        }
        Ok(format!(" via proxy {proxy}"))
    }

    /// Plain http:// is allowed only to loopback, unless the operator said otherwise.
    fn check_transport(&self, url: &Url, shown: &str) -> Result<()> {
        if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(url) {
            return Err(Error::invalid_input(format!(
                "refusing plain http:// to {shown}: tokens and certificates would cross the \
                 network unencrypted; use https://, or pass --allow-insecure-http if you \
                 accept that"
            )));
        }
        Ok(())
    }

    fn log(&self, line: fmt::Arguments<'_>) {
        if self.verbose {
            use std::io::Write;
            let line = line.to_string();
            let _ = writeln!(
                std::io::stderr().lock(),
                "debug: {}",
                crate::api::text::escape(&line)
            );
        }
    }
}

/// `url` with `query` as its query string, encoded as reqwest's `.query()` would.
pub(super) fn with_query<Q: Serialize>(mut url: Url, query: &Q) -> Result<Url> {
    let text = serde_urlencoded::to_string(query)
        .map_err(|e| Error::internal(format!("cannot encode the query string: {e}")))?;
    url.set_query((!text.is_empty()).then_some(text.as_str()));
    Ok(url)
}

/// Rejects IDs that cannot name one path segment (`""`, `.`, `..` would change the path).
pub(super) fn id_segment<'a>(kind: &str, id: &'a str) -> Result<&'a str> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(Error::invalid_input(format!(
            "\"{id}\" is not a valid {kind} ID"
        )));
    }
    // Several IDs in one variable (`id=$(… list -q)` once there are two): shown escaped,
    // never glued together, and never sent.
    if matches!(kind, "grant" | "peer") && id.contains(['\n', '\r']) {
        let lines = id.lines().filter(|l| !l.is_empty()).count();
        return Err(says::several_ids(
            kind,
            &crate::api::text::escape(id),
            lines,
        ));
    }
    Ok(id)
}

/// Parses an absolute http(s) URL given by the operator; `what` names it in errors.
pub(super) fn parse_http_url(what: &str, raw: &str) -> Result<Url> {
    let shown = redact_url(raw);
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::invalid_input(format!("{what}: \"{shown}\" is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid_input(format!(
            "{what}: \"{shown}\" is not an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(format!(
            "{what}: the URL must not carry a user name or password"
        )));
    }
    Ok(url)
}

pub(super) fn read_cacert(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid_input(format!("--cacert {shown}: {e}")))?;
    let mut pem = Vec::new();
    file.take(MAX_CACERT_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| Error::invalid_input(format!("--cacert {shown}: {e}")))?;
    if pem.len() as u64 > MAX_CACERT_BYTES {
        return Err(Error::invalid_input(format!(
            "--cacert {shown}: larger than {} MiB",
            MAX_CACERT_BYTES / (1024 * 1024)
        )));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::invalid_input(format!(
            "--cacert {shown}: not a PEM certificate bundle: {e}"
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::invalid_input(format!(
            "--cacert {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"
        )));
    }
    Ok(certs)
}

/// Loopback: `localhost`, 127.0.0.0/8 and ::1.
pub(super) fn is_loopback(url: &Url) -> bool {
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

/// Whether an admin URL names one grant or peer (`…/grants/{id}`, `…/peers/{id}/cert`),
/// so that a 404 can mean "no such record"; a collection (`…/grants`, `…/peers/keypair`,
/// `…/audit`) always exists on a gateway.
fn names_record(url: &Url) -> Option<(says::Record, String)> {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    // `/api/admin/credentials/{id}`: a credential's 404 names it.
    if let Some(w) = segments
        .windows(paths::CREDENTIALS_SEGMENTS.len() + 1)
        .find(|w| w[..paths::CREDENTIALS_SEGMENTS.len()] == paths::CREDENTIALS_SEGMENTS)
    {
        let id = w[paths::CREDENTIALS_SEGMENTS.len()];
        return Some((says::Record::Credential, percent_encoding_decode(id)));
    }
    let i = segments
        .windows(paths::ADMIN_SEGMENTS.len())
        .position(|w| w == paths::ADMIN_SEGMENTS)?;
    let (record, id) = match &segments[i + paths::ADMIN_SEGMENTS.len()..] {
        ["grants", id, ..] => (says::Record::Grant, *id),
        ["peers", id, ..] if *id != "keypair" => (says::Record::Peer, *id),
        _ => return None,
    };
    Some((record, percent_encoding_decode(id)))
}

/// A path segment as the operator typed it (the URL holds it percent-encoded): `url` has
/// no decoder of its own, so its form decoder is used with `+` kept as it is.
fn percent_encoding_decode(segment: &str) -> String {
    let kept_plus = segment.replace('+', "%2B");
    url::form_urlencoded::parse(format!("x={kept_plus}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// One page's answer: the redacted URL, the status, the body and the `next_cursor` read
/// from it ahead of decoding.
struct Arrived {
    shown: String,
    status: StatusCode,
    body: Vec<u8>,
    next: Option<String>,
}

/// One page's request on its way.
type Fetch = tokio::task::JoinHandle<Result<Arrived>>;

/// A successful answer's body as a `T`, or the error that says what came instead.
fn decode<T: DeserializeOwned>(
    shown: &str,
    status: StatusCode,
    bytes: &[u8],
    what: &str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::unreachable(format!(
            "{shown} answered HTTP {} with a body that is not a {what}: {}",
            status.as_u16(),
            describe_body_error(bytes, &e)
        ))
    })
}

/// The producer of [`Client::each_page`]: requests page after page, each as soon as the
/// one before named its cursor, and queues each answer for decoding. Ends after the last
/// page, at the first error, or when the consumer is gone.
async fn follow_cursors(
    fetch: impl Fn(Option<String>) -> Result<Fetch>,
    base: &str,
    what: &'static str,
    pages: &tokio::sync::mpsc::Sender<Result<Arrived>>,
) -> Result<()> {
    let mut in_flight = AbortOnDrop(fetch(None)?);
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = (&mut in_flight.0)
            .await
            .map_err(|e| Error::internal(format!("fetching a {what}: {e}")))??;
        let last = match &page.next {
            None => true,
            Some(cursor) => {
                if !seen.insert(cursor.clone()) {
                    return Err(Error::unreachable(format!(
                        "the gateway at {base} handed out the same list cursor twice; \
                         stopping instead of looping forever"
                    )));
                }
                in_flight = AbortOnDrop(fetch(Some(cursor.clone()))?);
                false
            }
        };
        if pages.send(Ok(page)).await.is_err() || last {
            return Ok(());
        }
    }
}

/// A page's `next_cursor`, read before its items are decoded so that the next request can
/// go out at once. A gateway ends the page with it (`…],"next_cursor":"…"}` or `null`):
/// that tail is read as is; any other layout is scanned (the items skipped, not built).
/// The decoded page is compared with this answer, so a wrong guess is an error, never a
/// wrong list. A body that does not scan at all is refused by that decoding, with the
/// whole error.
fn cursor_of(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b",\"next_cursor\":";
    let tail = body.strip_suffix(b"}")?;
    if tail.ends_with(b"null") && tail[..tail.len() - 4].ends_with(KEY) {
        return None;
    }
    if let Some(value) = tail.strip_suffix(b"\"")
        && let Some(start) = value.iter().rposition(|&b| b == b'"')
    {
        let (before, cursor) = (&value[..start], &value[start + 1..]);
        let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        if before.ends_with(KEY) && cursor.iter().all(plain) {
            return String::from_utf8(cursor.to_vec()).ok();
        }
    }
    /// A page read for its cursor alone.
    #[derive(serde::Deserialize)]
    struct Cursor {
        next_cursor: Option<String>,
    }
    serde_json::from_slice::<Cursor>(body)
        .ok()
        .and_then(|c| c.next_cursor)
}

/// A spawned task that is cancelled when its handle is dropped (a stopped list stops its
/// requests too).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::client::{AdminToken, ClientConfig};
    use crate::api::query::GrantListQuery;
    use crate::error::ErrorKind;

    #[test]
    fn the_cursor_is_read_from_the_pages_end_or_else_scanned() {
        let c = |body: &str| cursor_of(body.as_bytes());
        // The gateway's own layout: read from the tail.
        assert_eq!(
            c(r#"{"items":[{"id":"a"}],"next_cursor":"MTc5_-x"}"#).as_deref(),
            Some("MTc5_-x")
        );
        assert_eq!(c(r#"{"items":[{"id":"a"}],"next_cursor":null}"#), None);
        // Other layouts, spaces, escapes: scanned, the same answer as decoding.
        assert_eq!(c(r#"{"next_cursor":"b","items":[]}"#).as_deref(), Some("b"));
        assert_eq!(
            c("{\"items\": [],\n \"next_cursor\": \"c\"\n}").as_deref(),
            Some("c")
        );
        assert_eq!(
            c(r#"{"items":[],"next_cursor":"\u0064"}"#).as_deref(),
            Some("d")
        );
        // A string that only looks like the tail is not taken for it.
        assert_eq!(
            c(r#"{"next_cursor":null,"items":[],"z":",\"next_cursor\":\"q"}"#),
            None
        );
        assert_eq!(
            c(r#"{"items":[],"next_cursor":"e","x":{"next_cursor":"f"}}"#).as_deref(),
            Some("e")
        );
        // Not JSON: no cursor (the decoding reports the body).
        assert_eq!(c("<html>next_cursor</html>"), None);
        assert_eq!(c(""), None);
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
    pub(super) fn admin_urls_escape_ids() {
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
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e:?}");
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
            .list_all_grants(&GrantListQuery::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err:?}");
        assert!(err.to_string().contains("more than 8 MiB"), "{err}");
        let total = sent.await.unwrap();
        assert!(
            total < 64 * 1024 * 1024,
            "the client read on: {total} bytes"
        );
    }
}
