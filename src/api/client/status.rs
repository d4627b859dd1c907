//! From what went wrong on the wire to the CLI's error: transport faults (connection,
//! TLS, timeout) and error statuses, with the gateway's own message verbatim and the next
//! step where there is one. Nothing here sends anything.

use reqwest::StatusCode;

use super::{Auth, Client};
use crate::api::env;
use crate::api::federation::codes;
use crate::api::types::{ErrorBody, ErrorDetail};
use crate::error::Error;

impl Client {
    pub(super) fn transport_error(&self, e: &reqwest::Error, shown: &str, auth: Auth) -> Error {
        if let (Some((pin, _)), Auth::Public) = (&self.pinned, auth)
            && let Some(rustls::Error::InvalidCertificate(why)) = super::tls_error_in(e)
        {
            return Error::verification(format!(
                "{shown}: the server's TLS certificate does not chain to the pinned CA {pin} \
                 ({why}); nothing was sent and the token is unspent"
            ));
        }
        if e.is_timeout() {
            return Error::unreachable(format!(
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
        Error::unreachable(format!("{verb} {shown}: {cause}{hint}"))
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
        names_record: bool,
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
        names_record: bool,
    ) -> Error {
        // What the local gateway relays from a peer (`peer test`, `peer query`).
        match detail.as_ref().map(|d| d.code.as_str()) {
            Some(codes::PEER_REFUSED) => {
                return Error::unauthorized(detail.map(|d| d.message).unwrap_or_default());
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
            (410, _) => Error::token_invalid(
                "enrollment token used, unknown or expired: ask the granting admin for a new \
                 one with `mosaic federation grant token <grant-id>`",
            ),
            (401 | 403, msg) => {
                let msg = msg.unwrap_or_else(|| format!("{shown} answered {http}"));
                Error::unauthorized(match auth {
                    Auth::Admin => format!(
                        "{msg} (the gateway refused the admin token: check \
                         {} or --token-file)",
                        env::ADMIN_TOKEN
                    ),
                    Auth::Public => msg,
                })
            }
            (413, msg) => {
                Error::invalid_input(msg.unwrap_or_else(|| {
                    format!("{shown} answered {http}: the request is too large")
                }))
            }
            (400, Some(msg)) => Error::invalid_input(msg),
            (404, Some(msg)) if names_record && !msg.starts_with("no such endpoint") => {
                Error::not_found(msg)
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
    Error::unauthorized(format!(
        "no admin token: set {} or pass --token-file FILE \
         (or set {})",
        env::ADMIN_TOKEN,
        env::ADMIN_TOKEN_FILE
    ))
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
