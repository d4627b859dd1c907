//! The CLI's one error type: a kind and a message. The kind decides the documented exit
//! code and the machine code of the JSON error; `main` is the only place that turns an
//! error into an exit.

/// Exit codes, as documented in the README ("Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const INTERNAL: u8 = 1;
    pub const INVALID_INPUT: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CONFLICT: u8 = 4;
    pub const AUTH: u8 = 5;
    pub const UNREACHABLE: u8 = 6;
    pub const VERIFICATION: u8 = 7;
    /// `mosaic status`: the gateway answered, and something needs an operator.
    pub const ATTENTION: u8 = 8;
}

/// What went wrong, as far as a script needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Usage, a bad flag value, a bad scope file, or the gateway's 400/413.
    InvalidInput,
    /// The gateway's 404.
    NotFound,
    /// The state forbids it (409).
    Conflict,
    /// The enrollment token is unknown, used or expired (410).
    TokenInvalid,
    /// No admin token, or the gateway's 401/403.
    Unauthorized,
    /// Connection, TLS, timeout, 5xx or a malformed body.
    Unreachable,
    /// The issued certificate failed one of `peer add`'s checks.
    Verification,
    /// `mosaic status` found something that needs an operator.
    Attention,
    /// A bug or an environment fault nobody could foresee.
    Internal,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidInput => exit::INVALID_INPUT,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Conflict | ErrorKind::TokenInvalid => exit::CONFLICT,
            ErrorKind::Unauthorized => exit::AUTH,
            ErrorKind::Unreachable => exit::UNREACHABLE,
            ErrorKind::Verification => exit::VERIFICATION,
            ErrorKind::Attention => exit::ATTENTION,
            ErrorKind::Internal => exit::INTERNAL,
        }
    }

    /// The `code` of the JSON error written to standard error with `-o json`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TokenInvalid => "token_invalid",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Verification => "verification_failed",
            ErrorKind::Attention => "needs_attention",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error: its kind, the one line that says what went wrong (naming the thing that
/// was wrong), and, where one exists, the next step: what to type or check next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The next step, shown after the message (`hint` with `-o json`).
    hint: Option<String>,
    /// The `code` of the gateway's own error body, when the error is a gateway's answer.
    gateway_code: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            hint: None,
            gateway_code: None,
        }
    }

    /// The same error with `hint` as its next step (replacing any earlier one).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// The next step, if the error has one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The same error, naming the `code` the gateway's error body gave (shown as
    /// `gateway_code` with `-o json`). A code that is not a plain `snake_case` word of at
    /// most 64 characters is not repeated: it comes from a remote server.
    pub fn with_gateway_code(mut self, code: &str) -> Error {
        let plain = !code.is_empty()
            && code.len() <= 64
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        self.gateway_code = plain.then(|| code.to_string());
        self
    }

    /// The gateway's own error code, if the error is a gateway's answer.
    pub fn gateway_code(&self) -> Option<&str> {
        self.gateway_code.as_deref()
    }

    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    pub fn token_invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::TokenInvalid, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unauthorized, message)
    }

    pub fn unreachable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unreachable, message)
    }

    pub fn verification(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Verification, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// The `code` of the JSON error written to standard error with `-o json`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same kind of error (and so the same exit code) with another message.
    pub fn with_message(self, message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            ..self
        }
    }
}

/// The wording of the mistakes an operator makes most, one function each: what went
/// wrong (naming the thing that was wrong) and the next step. Every command reports the
/// same mistake through the same function, so it reads the same everywhere, in table and
/// in JSON mode.
pub mod says {
    use super::Error;

    /// Which side of a federation keeps a kind of record.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Record {
        Grant,
        Peer,
        Credential,
    }

    /// The scheme a server answered in, when it is not the one the URL named.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Speaks {
        Https,
        PlainHttp,
    }

    /// The enrollment endpoint's 410: the gateway deliberately does not say which.
    pub fn token_used_or_expired() -> Error {
        Error::token_invalid(
            "enrollment token used, unknown or expired (the granting gateway does not say which)",
        )
        .with_hint(
            "ask the granting admin for a new one with `mosaic federation grant token <grant-id>`",
        )
    }

    /// No admin token configured, found before anything is sent.
    pub fn no_admin_token() -> Error {
        use crate::api::env::{ADMIN_TOKEN, ADMIN_TOKEN_FILE};
        Error::unauthorized("no admin token was given for the gateway's admin API").with_hint(
            format!(
                "set {ADMIN_TOKEN}, or name a file holding it with --token-file FILE \
                 ({ADMIN_TOKEN_FILE}); a reference gateway writes DIR/admin-token"
            ),
        )
    }

    /// The gateway's 401/403 to the admin token; `gateway_said` is its own message.
    pub fn admin_token_refused(gateway_said: &str) -> Error {
        Error::unauthorized(format!(
            "{gateway_said} (the gateway refused the admin token)"
        ))
        .with_hint(format!(
            "check {} or --token-file ({}): the token of the gateway that --gateway names",
            crate::api::env::ADMIN_TOKEN,
            crate::api::env::ADMIN_TOKEN_FILE
        ))
    }

    /// `url` named one scheme and the server answered in the other. `instead` is the URL
    /// to give (the same with the other scheme), or how to find it.
    pub fn wrong_scheme(what: &str, at: &str, speaks: Speaks, instead: &str) -> Error {
        let (spoken, not, done) = match speaks {
            Speaks::Https => (
                "HTTPS (TLS)",
                "plain http://",
                "it refused the plain request unread",
            ),
            Speaks::PlainHttp => ("plain HTTP", "https://", "nothing was sent"),
        };
        Error::unreachable(format!("{what} at {at} speaks {spoken}, not {not}; {done}"))
            .with_hint(format!("use {instead}"))
    }

    /// `peer add` without `--ca-fingerprint`, to a granting gateway whose certificate
    /// comes from its own CA (as every reference gateway's does).
    pub fn enrollment_ca_not_trusted(at: &str, why: Option<&str>) -> Error {
        let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
        Error::unreachable(format!(
            "{at}: the granting gateway's TLS certificate is issued by a CA this machine does \
             not trust, most likely the granting gateway's own CA{why}; nothing was sent and the \
             token is unspent"
        ))
        .with_hint(
            "run the same `peer add` again with --ca-fingerprint sha256:\u{2026}, the \
             ca_fingerprint that `grant token` printed next to the enrollment URL",
        )
    }

    /// The enrollment URL's server is not under the CA the operator pinned.
    pub fn pin_mismatch(at: &str, pinned: &str, presented: &[String]) -> Error {
        let presented = match presented {
            [] => "no CA certificate".to_string(),
            [one] => format!("CA {one}"),
            many => format!("CAs {}", many.join(", ")),
        };
        Error::verification(format!(
            "CA fingerprint mismatch: {at} presented {presented}, not the pinned CA {pinned} \
             (--ca-fingerprint); nothing was sent and the token is unspent"
        ))
        .with_hint(
            "compare --ca-fingerprint with the ca_fingerprint that `grant token` printed; if \
             they are the same, this URL does not lead to that granting gateway: ask its admin",
        )
    }

    /// A 404 for a record the command named: which gateway was asked, and which side
    /// keeps such records.
    pub fn not_found(record: Record, id: &str, gateway: &str, gateway_said: &str) -> Error {
        let (kind, side, made_by) = match record {
            Record::Grant => (
                "grant",
                "the granting gateway",
                "`grant create` ran there; peers are listed by `peer list` on the enrolling one",
            ),
            Record::Peer => (
                "peer",
                "the enrolling gateway",
                "`peer add` ran there; grants are listed by `grant list` on the granting one",
            ),
            Record::Credential => (
                "credential",
                "the gateway that made it",
                "`auth credential create` ran there; `auth credential list` shows its credentials",
            ),
        };
        // The gateway's own words, unless they only say the same.
        let said = if gateway_said.starts_with(&format!("no {kind} with ID")) {
            String::new()
        } else {
            format!(" ({gateway_said})")
        };
        Error::not_found(format!(
            "no {kind} with ID {id} on the gateway at {gateway}{said}"
        ))
        .with_hint(format!(
            "{kind}s live on {side} ({made_by}): check the ID with `mosaic federation {kind} \
             list` and that --gateway (MOSAIC_GATEWAY_URL) names {side}"
        ))
    }

    /// The granting gateway refused a read because the grant is no longer active.
    pub fn grant_no_longer_active(message: &str, peer_id: Option<&str>) -> Error {
        let remove = match peer_id {
            Some(id) => format!("`mosaic federation peer remove {id}`"),
            None => "`mosaic federation peer remove <peer-id>`".to_string(),
        };
        Error::unauthorized(message).with_hint(format!(
            "this peer cannot read through that grant again (`peer list` shows it): ask the \
             granting admin for a new grant and token, enroll with `mosaic federation peer add`, \
             then remove this peer with {remove}"
        ))
    }

    /// An ID holding a line break: most often several IDs from a `-q` list in one
    /// variable. `shown` is the ID with its control characters escaped.
    pub fn several_ids(kind: &str, shown: &str, lines: usize) -> Error {
        Error::invalid_input(format!(
            "{kind} ID \"{shown}\" holds {lines} lines: it looks like several IDs (`{kind} \
             list -q` prints one per line); nothing was sent"
        ))
        .with_hint(format!(
            "pass one {kind} ID: in a script keep the one ID that `{kind} {made} -q` printed, \
             or pick one from `mosaic federation {kind} list`",
            made = if kind == "grant" { "create" } else { "add" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_decides_exit_code_and_json_code() {
        let e = Error::token_invalid("gone");
        assert_eq!((e.exit_code(), e.code()), (exit::CONFLICT, "token_invalid"));
        let e = e
            .with_gateway_code("token_invalid")
            .with_message("still gone");
        assert_eq!(e.kind(), ErrorKind::TokenInvalid);
        assert_eq!(e.gateway_code(), Some("token_invalid"));
        assert_eq!(e.to_string(), "still gone");
        assert_eq!(Error::verification("x").exit_code(), exit::VERIFICATION);
    }
}
