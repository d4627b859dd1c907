//! Rendering: tables for people, exactly one JSON document for scripts. All printing goes
//! through here and survives a closed pipe.

use std::io::Write;

use crate::cli::OutputFormat;
use crate::error::Error;

/// Writes an error to standard error: one line of text, or `{"error": {code, message}}`.
pub fn print_error(format: OutputFormat, err: &Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = match format {
        OutputFormat::Json => writeln!(
            stderr,
            "{}",
            serde_json::json!({"error": {"code": err.code(), "message": err.message()}})
        ),
        OutputFormat::Table => writeln!(stderr, "error: {err}"),
    };
}
