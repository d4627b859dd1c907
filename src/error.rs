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

/// An error: its kind and the one line shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The `code` of the gateway's own error body, when the error is a gateway's answer.
    gateway_code: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            gateway_code: None,
        }
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
