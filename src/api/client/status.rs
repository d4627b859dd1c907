//! From what went wrong on the wire to the CLI's error: transport faults (connection,
//! TLS, timeout) and error statuses, with the gateway's own message verbatim and the next
//! step where there is one. Nothing here sends anything.

use reqwest::StatusCode;

use super::redact::redact_url;
use super::{Auth, Client};
use crate::api::federation::codes;
use crate::api::types::{ErrorBody, ErrorDetail};
use crate::error::{Error, says};

impl Client {
    pub(super) fn transport_error(&self, e: &reqwest::Error, shown: &str, auth: Auth) -> Error {
        let tls = super::tls_error_in(e);
        if let (Some((pin, _)), Auth::Public) = (&self.pinned, auth)
            && let Some(rustls::Error::InvalidCertificate(why)) = tls
        {
            return match super::pinned::presented_cas(why) {
                Some(presented) => says::pin_mismatch(shown, pin, presented),
                None => Error::verification(format!(
                    "{shown}: the server's TLS certificate does not verify under the pinned CA \
                     {pin} ({}); nothing was sent and the token is unspent",
                    super::pinned::describe_certificate_error(why)
                )),
            };
        }
        if e.is_timeout() {
            return Error::unreachable(format!(
                "{shown}: no answer within {} s (--timeout)",
                self.timeout.as_secs()
            ));
        }
        if let Some(wrong) = self.wrong_scheme(e, tls, auth) {
            return wrong;
        }
        if let (None, Auth::Public, Some(rustls::Error::InvalidCertificate(why))) =
            (&self.pinned, auth, tls)
        {
            let why = (*why != rustls::CertificateError::UnknownIssuer)
                .then(|| super::pinned::describe_certificate_error(why));
            return says::enrollment_ca_not_trusted(shown, why.as_deref());
        }
        let cause = match tls {
            Some(rustls::Error::InvalidCertificate(why)) => {
                super::pinned::describe_certificate_error(why)
            }
            _ => error_chain(e),
        };
        let verb = if e.is_connect() {
            "cannot connect to"
        } else {
            "request failed:"
        };
        let err = Error::unreachable(format!("{verb} {shown}: {cause}"));
        if matches!(tls, Some(rustls::Error::InvalidCertificate(_))) {
            err.with_hint(
                "if the gateway uses a private CA, pass its CA certificate with --cacert FILE \
                 (MOSAIC_CACERT; a reference gateway's is DIR/ca.pem)",
            )
        } else {
            err
        }
    }

    /// The server answered in the other scheme than the URL named: a TLS record to a plain
    /// HTTP request (hyper cannot read its "HTTP version"), or plain bytes to a TLS hello
    /// (rustls: not a TLS record).
    fn wrong_scheme(
        &self,
        e: &reqwest::Error,
        tls: Option<&rustls::Error>,
        auth: Auth,
    ) -> Option<Error> {
        let url = e.url()?;
        let speaks = match (url.scheme(), tls) {
            ("https", Some(rustls::Error::InvalidMessage(_))) => says::Speaks::PlainHttp,
            ("http", _) if error_chain(e).contains("invalid HTTP version") => says::Speaks::Https,
            _ => return None,
        };
        let other = match speaks {
            says::Speaks::Https => "https",
            says::Speaks::PlainHttp => "http",
        };
        let (what, at, instead) = match auth {
            Auth::Admin => {
                let mut base = (*self.base).clone();
                let _ = base.set_scheme(other);
                let base = redact_url(base.as_str().trim_end_matches('/'));
                let cacert = match speaks {
                    says::Speaks::Https => {
                        "; a gateway with its own CA also needs --cacert DIR/ca.pem"
                    }
                    says::Speaks::PlainHttp => "",
                };
                (
                    "the gateway",
                    redact_url(self.base.as_str().trim_end_matches('/')),
                    format!("--gateway {base} (or MOSAIC_GATEWAY_URL){cacert}"),
                )
            }
            Auth::Public => {
                let mut host = url.clone();
                host.set_path("");
                host.set_query(None);
                (
                    "the granting gateway",
                    redact_url(host.as_str().trim_end_matches('/')),
                    format!("the enrollment URL with {other}:// instead"),
                )
            }
        };
        Some(says::wrong_scheme(what, &at, speaks, &instead))
    }

    /// Maps an error status to the CLI's error, with the gateway's own message verbatim.
    ///
    /// A 404 means "no such grant or peer" only where the path names one (`names_record`)
    /// and the answer is not the gateway's "no such endpoint": anywhere else (the public
    /// enrollment endpoint answers 410 for an unknown token, never 404) it means the URL
    /// leads somewhere that is not that endpoint, exit 6 rather than a "not found" that a
    /// script would read as "the grant does not exist".
    pub(super) fn status_error(
        &self,
        status: StatusCode,
        bytes: &[u8],
        auth: Auth,
        shown: &str,
        names_record: Option<&(says::Record, String)>,
    ) -> Error {
        let detail = serde_json::from_slice::<ErrorBody>(bytes)
            .ok()
            .map(|b| b.error);
        let code = detail.as_ref().map(|d| d.code.clone());
        let err = self.status_error_of(status, detail, auth, shown, names_record);
        match code {
            Some(code) => err.with_gateway_code(&code),
            None => err,
        }
    }

    /// [`Client::status_error`] without the gateway's code.
    fn status_error_of(
        &self,
        status: StatusCode,
        detail: Option<ErrorDetail>,
        auth: Auth,
        shown: &str,
        names_record: Option<&(says::Record, String)>,
    ) -> Error {
        // What the local gateway relays from a peer (`peer test`, `peer query`).
        match detail.as_ref().map(|d| d.code.as_str()) {
            Some(codes::PEER_REFUSED) => {
                let message = detail.map(|d| d.message).unwrap_or_default();
                if message.contains(&format!("{}: ", codes::GRANT_INACTIVE)) {
                    let peer = names_record.map(|(_, id)| crate::api::text::escape(id));
                    return says::grant_no_longer_active(&message, peer.as_deref());
                }
                return Error::unauthorized(message);
            }
            Some(codes::PEER_UNTRUSTED) => {
                return Error::verification(detail.map(|d| d.message).unwrap_or_default());
            }
            Some(codes::PEER_UNREACHABLE) => {
                return Error::unreachable(detail.map(|d| d.message).unwrap_or_default());
            }
            // The credential is right; its role is not enough (the message names the role).
            Some(crate::api::types::codes::FORBIDDEN_ROLE) => {
                return Error::unauthorized(detail.map(|d| d.message).unwrap_or_default());
            }
            _ => {}
        }
        let gateway_msg = detail.map(|d| d.message);
        let http = status_text(status);
        let check = match auth {
            Auth::Admin => "is --gateway right?",
            Auth::Public => "is the enrollment URL right?",
        };
        match (status.as_u16(), gateway_msg) {
            (410, _) => says::token_used_or_expired(),
            (401 | 403, msg) => {
                let msg = msg.unwrap_or_else(|| format!("{shown} answered {http}"));
                match auth {
                    Auth::Admin => says::admin_token_refused(&msg),
                    Auth::Public => Error::unauthorized(msg),
                }
            }
            (413, msg) => {
                Error::invalid_input(msg.unwrap_or_else(|| {
                    format!("{shown} answered {http}: the request is too large")
                }))
            }
            (400, Some(msg)) => Error::invalid_input(msg),
            (404, Some(msg)) if !msg.starts_with("no such endpoint") && names_record.is_some() => {
                let (record, id) = names_record.expect("checked");
                says::not_found(
                    *record,
                    &crate::api::text::escape(id),
                    &redact_url(self.base.as_str().trim_end_matches('/')),
                    &msg,
                )
            }
            (404, msg) => Error::unreachable(format!(
                "{shown} answered {http}{}: no such endpoint there; {check}",
                msg.map(|m| format!(" ({m})")).unwrap_or_default()
            )),
            (409, Some(msg)) => Error::conflict(msg),
            (500..=599, Some(msg)) => Error::unreachable(format!("{shown} answered {http}: {msg}")),
            (400..=499, None) => Error::unreachable(format!(
                "{shown} answered {http} without a Mosaic error body; {check}"
            )),
            (_, Some(msg)) => Error::unreachable(format!("{shown} answered {http}: {msg}")),
            (_, None) => Error::unreachable(format!("{shown} answered {http}")),
        }
    }
}

pub(super) fn no_admin_token() -> Error {
    says::no_admin_token()
}

pub(super) fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A reqwest error and its causes, without the URL (the caller names it, redacted).
pub(super) fn error_chain(e: &reqwest::Error) -> String {
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
pub(super) fn describe_body_error(bytes: &[u8], e: &serde_json::Error) -> String {
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
