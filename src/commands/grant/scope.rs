//! The scope file of `grant create`: read (a file or standard input, at most 1 MiB) and
//! checked field by field, so that every error names the file, the field and the rule.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::api::types::{MAX_ROWS_RANGE, Scope};
use crate::error::{Error, Result};

/// The largest scope file read; a scope is a few lines.
pub const MAX_SCOPE_BYTES: usize = 1024 * 1024;

/// Reads and checks a scope file (`-` is standard input). Every problem is exit 2, with
/// the file, the field and the rule in the message.
pub fn read_scope(path: &Path) -> Result<Scope> {
    let from_stdin = path.as_os_str() == "-";
    let name = if from_stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let fail = |e: std::io::Error| Error::invalid_input(format!("scope file {name}: {e}"));
    let mut bytes = Vec::new();
    let limit = MAX_SCOPE_BYTES as u64 + 1;
    if from_stdin {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    }
    .map_err(fail)?;
    if bytes.len() > MAX_SCOPE_BYTES {
        return Err(Error::invalid_input(format!(
            "scope file {name}: larger than 1 MiB; a scope is a small JSON object"
        )));
    }
    parse_scope(&bytes).map_err(|msg| Error::invalid_input(format!("scope file {name}: {msg}")))
}

const SCOPE_FIELDS: [&str; 3] = ["resources", "excluded_resources", "max_rows_per_query"];

/// Parses a scope document; the error names the field and the rule it breaks, or the
/// line and column of a JSON syntax error.
pub fn parse_scope(bytes: &[u8]) -> std::result::Result<Scope, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty; expected a JSON object such as \
             {\"resources\": [\"tasks\"], \"max_rows_per_query\": 100}"
            .into());
    }
    // 1. Syntax, with a position.
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let what = full.strip_suffix(&suffix).unwrap_or(&full);
        format!(
            "invalid JSON at line {}, column {}: {what}",
            e.line(),
            e.column()
        )
    })?;
    // 2. Shape, field by field, so that each message names its field.
    let obj = doc
        .as_object()
        .ok_or("must be a JSON object with \"resources\" and \"max_rows_per_query\"")?;
    if let Some(unknown) = obj.keys().find(|k| !SCOPE_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{unknown}: unknown field (allowed: {})",
            SCOPE_FIELDS.join(", ")
        ));
    }
    check_resource_list(obj.get("resources"), "resources", true)?;
    check_resource_list(obj.get("excluded_resources"), "excluded_resources", false)?;
    let rows_rule = format!(
        "must be an integer from {} to {}",
        MAX_ROWS_RANGE.start(),
        MAX_ROWS_RANGE.end()
    );
    match obj.get("max_rows_per_query") {
        None => return Err(format!("max_rows_per_query: required; {rows_rule}")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= u64::from(*MAX_ROWS_RANGE.end()) => {}
            _ => return Err(format!("max_rows_per_query: {rows_rule}, got {n}")),
        },
        Some(other) => {
            return Err(format!(
                "max_rows_per_query: {rows_rule}, got {}",
                json_kind(other)
            ));
        }
    }
    // 3. The typed parse (also refuses duplicate keys, which the shape check cannot see).
    let scope: Scope = serde_json::from_slice(bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let what = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        match what.strip_prefix("duplicate field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or(rest);
                format!(
                    "{field}: appears twice (line {}, column {}); give each field once",
                    e.line(),
                    e.column()
                )
            }
            None => format!("{what} (line {}, column {})", e.line(), e.column()),
        }
    })?;
    // 4. The rules shared with the gateway.
    scope.validate().map_err(|v| v.to_string())?;
    Ok(scope)
}

fn check_resource_list(
    value: Option<&Value>,
    field: &str,
    required: bool,
) -> std::result::Result<(), String> {
    let valid = crate::api::types::Resource::ALL.map(|r| r.as_str());
    let rule = format!("must be an array of resource names ({})", valid.join(", "));
    let items = match value {
        None if required => return Err(format!("{field}: required; {rule}")),
        None => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("{field}: {rule}, got {}", json_kind(other))),
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if valid.contains(&s.as_str()) => {}
            Value::String(s) => {
                return Err(format!(
                    "{field}[{i}]: unknown resource \"{s}\" (valid: {})",
                    valid.join(", ")
                ));
            }
            other => {
                return Err(format!(
                    "{field}[{i}]: must be a resource name (a string), got {}",
                    json_kind(other)
                ));
            }
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 20 => format!("the string \"{s}\""),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_scope_parses() {
        let s = parse_scope(
            br#"{"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100}"#,
        )
        .unwrap();
        assert_eq!(s.max_rows_per_query, 100);
        // A byte-order mark from a Windows editor is not an error.
        parse_scope(b"\xEF\xBB\xBF{\"resources\":[\"tasks\"],\"max_rows_per_query\":1}").unwrap();
    }

    #[test]
    fn bad_scopes_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("{", "line 1, column 1"),
            ("{\"resources\": [\"tasks\",]\n}", "line 1, column"),
            ("[]", "JSON object"),
            (r#"{"max_rows_per_query": 1}"#, "resources: required"),
            (
                r#"{"resources": "tasks", "max_rows_per_query": 1}"#,
                "resources: must be an array",
            ),
            (
                r#"{"resources": [], "max_rows_per_query": 1}"#,
                "resources: must name at least one",
            ),
            (
                r#"{"resources": ["files"], "max_rows_per_query": 1}"#,
                "resources[0]: unknown resource \"files\"",
            ),
            (
                r#"{"resources": ["tasks", 3], "max_rows_per_query": 1}"#,
                "resources[1]: must be a resource name",
            ),
            (
                r#"{"resources": ["tasks", "tasks"], "max_rows_per_query": 1}"#,
                "resources[1]: duplicate",
            ),
            (
                r#"{"resources": ["tasks"], "excluded_resources": ["tasks"], "max_rows_per_query": 1}"#,
                "excluded_resources[0]:",
            ),
            (
                r#"{"resources": ["tasks"], "excluded_resources": null, "max_rows_per_query": 1}"#,
                "excluded_resources: must be an array",
            ),
            (
                r#"{"resources": ["tasks"]}"#,
                "max_rows_per_query: required",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": 0}"#,
                "max_rows_per_query: must be an integer from 1 to 10000, got 0",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": 10001}"#,
                "max_rows_per_query:",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": -5}"#,
                "max_rows_per_query:",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": 1.5}"#,
                "max_rows_per_query:",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": "100"}"#,
                "max_rows_per_query:",
            ),
            (
                r#"{"resources": ["tasks"], "max_rows_per_query": 1, "extra": 1}"#,
                "extra: unknown field",
            ),
            (
                r#"{"resources": ["tasks"], "resources": ["notes"], "max_rows_per_query": 1}"#,
                "resources: appears twice",
            ),
        ];
        for (input, want) in cases {
            let err = parse_scope(input.as_bytes()).expect_err(input);
            assert!(err.contains(want), "{input}\n  got: {err}\n  want: {want}");
        }
    }
}
