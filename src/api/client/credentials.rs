//! The admin token: where it comes from (a token file or `MOSAIC_ADMIN_TOKEN`) and how it
//! is held (never shown by `Debug`, wiped from memory when dropped).

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The largest admin token file read; a token is a short line, not a document.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

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

/// Reads the admin token from a file named by `--token-file`, `MOSAIC_ADMIN_TOKEN_FILE` or
/// a profile: at most 64 KiB of UTF-8, surrounding whitespace dropped.
pub fn read_token_file(path: &Path) -> Result<AdminToken> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid_input(format!("cannot read token file {shown}: {e}")))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid_input(format!("cannot read token file {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(Error::invalid_input(format!(
            "token file {shown} is larger than {} KiB; it should hold just the admin token",
            MAX_TOKEN_FILE_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::invalid_input(format!("token file {shown} is not UTF-8 text")))?;
    AdminToken::new(text)
        .ok_or_else(|| Error::invalid_input(format!("token file {shown} is empty")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_debug_is_redacted() {
        let t = AdminToken::new(" secret-value\n").unwrap();
        assert_eq!(t.expose(), "secret-value");
        assert!(!format!("{t:?}").contains("secret"));
        assert!(AdminToken::new(" \n").is_none());
    }
}
