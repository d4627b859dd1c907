//! The CLI's one error type. Each variant has a meaning, a machine code for JSON output,
//! and the documented exit code; `main` is the only place that turns it into an exit.

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
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Usage, a bad flag value, a bad scope file, or the gateway's 400/413.
    #[error("{0}")]
    InvalidInput(String),
    /// The gateway's 404.
    #[error("{0}")]
    NotFound(String),
    /// The state forbids it (409).
    #[error("{0}")]
    Conflict(String),
    /// The enrollment token is unknown, used or expired (410).
    #[error("{0}")]
    TokenInvalid(String),
    /// No admin token, or the gateway's 401/403.
    #[error("{0}")]
    Unauthorized(String),
    /// Connection, TLS, timeout, 5xx or a malformed body.
    #[error("{0}")]
    Unreachable(String),
    /// The issued certificate failed one of `peer add`'s checks.
    #[error("{0}")]
    Verification(String),
    /// A bug or an environment fault nobody could foresee.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidInput(_) => exit::INVALID_INPUT,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::Conflict(_) | Error::TokenInvalid(_) => exit::CONFLICT,
            Error::Unauthorized(_) => exit::AUTH,
            Error::Unreachable(_) => exit::UNREACHABLE,
            Error::Verification(_) => exit::VERIFICATION,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// The `code` of the JSON error written to standard error with `-o json`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::TokenInvalid(_) => "token_invalid",
            Error::Unauthorized(_) => "unauthorized",
            Error::Unreachable(_) => "unreachable",
            Error::Verification(_) => "verification_failed",
            Error::Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The same kind of error (and so the same exit code) with another message.
    pub fn with_message(self, message: String) -> Error {
        match self {
            Error::InvalidInput(_) => Error::InvalidInput(message),
            Error::NotFound(_) => Error::NotFound(message),
            Error::Conflict(_) => Error::Conflict(message),
            Error::TokenInvalid(_) => Error::TokenInvalid(message),
            Error::Unauthorized(_) => Error::Unauthorized(message),
            Error::Unreachable(_) => Error::Unreachable(message),
            Error::Verification(_) => Error::Verification(message),
            Error::Internal(_) => Error::Internal(message),
        }
    }
}
