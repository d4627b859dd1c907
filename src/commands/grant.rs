//! `mosaic federation grant create|list|show|revoke|token`: arguments in, client calls,
//! a value out to render. Local checks (the scope file, the TTL) run before any request.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::api::client::{Client, GrantFilter};
use crate::api::types::{
    CreateGrantRequest, CreateTokenRequest, EnrollmentToken, Grant, GrantStatus, MAX_ROWS_RANGE,
    RevokeGrantRequest, Scope, TokenRecord,
};
use crate::cli::{
    GrantCommand, GrantCreateArgs, GrantIdArg, GrantListArgs, GrantRevokeArgs, GrantTokenArgs,
    OutputFormat,
};
use crate::error::{Error, Result};
use crate::output::{
    Render, detail_table, emit, list_table, progress, relative, shell_quote, timestamp,
    timestamp_or_dash,
};

/// The largest scope file read; a scope is a few lines.
pub const MAX_SCOPE_BYTES: usize = 1024 * 1024;

pub async fn run(client: &Client, format: OutputFormat, cmd: GrantCommand) -> Result<()> {
    match cmd {
        GrantCommand::Create(args) => create(client, format, args).await,
        GrantCommand::List(args) => list(client, format, args).await,
        GrantCommand::Show(GrantIdArg { id }) => emit(format, &client.get_grant(&id).await?),
        GrantCommand::Revoke(args) => revoke(client, format, args).await,
        GrantCommand::Token(args) => token(client, format, args).await,
    }
}

async fn create(client: &Client, format: OutputFormat, args: GrantCreateArgs) -> Result<()> {
    let user_id = required("--user", &args.user)?;
    let peer_id = required("--peer", &args.peer)?;
    let scope = read_scope(&args.scope)?;
    let expires_at = match args.expires_in {
        Some(d) => Some(
            time::OffsetDateTime::now_utc()
                + time::Duration::try_from(d)
                    .map_err(|_| Error::InvalidInput("--expires-in is too long".into()))?,
        ),
        None => args.expires_at,
    };
    let req = CreateGrantRequest {
        user_id,
        peer_id,
        scope,
        expires_at,
    };
    if args.dry_run {
        progress(format, "Dry run: the scope is valid; nothing was sent.");
        return emit(format, &DryRun::from(req));
    }
    let grant = client.create_grant(&req).await?;
    progress(
        format,
        &format!(
            "Created grant {}. Next: mosaic federation grant token {}",
            grant.id, grant.id
        ),
    );
    emit(format, &grant)
}

/// What `grant create --dry-run` prints: the grant as it would be created, less what only
/// the gateway assigns (ID, timestamps).
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub user_id: String,
    pub peer_id: String,
    pub scope: Scope,
    pub status: GrantStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<time::OffsetDateTime>,
}

impl From<CreateGrantRequest> for DryRun {
    fn from(r: CreateGrantRequest) -> Self {
        DryRun {
            dry_run: true,
            user_id: r.user_id,
            peer_id: r.peer_id,
            scope: r.scope,
            status: GrantStatus::Pending,
            expires_at: r.expires_at,
        }
    }
}

impl Render for DryRun {
    fn table(&self) -> String {
        // The same rows as `grant show`, less what only the gateway assigns.
        let mut rows = vec![
            ("dry_run", "true".to_string()),
            ("user", self.user_id.clone()),
            ("peer", self.peer_id.clone()),
            ("status", self.status.as_str().to_string()),
        ];
        rows.extend(scope_rows(&self.scope));
        rows.push(("expires", timestamp_or_dash(self.expires_at)));
        detail_table(&rows)
    }
}

async fn list(client: &Client, format: OutputFormat, args: GrantListArgs) -> Result<()> {
    let filter = GrantFilter {
        peer_id: args.peer,
        status: args.status,
    };
    let grants = client.list_all_grants(&filter).await?;
    emit(format, grants.as_slice())
}

async fn revoke(client: &Client, format: OutputFormat, args: GrantRevokeArgs) -> Result<()> {
    let req = RevokeGrantRequest {
        reason: args.reason.filter(|r| !r.trim().is_empty()),
    };
    let grant = client.revoke_grant(&args.id, &req).await?;
    progress(format, &format!("Revoked grant {}.", grant.id));
    emit(format, &grant)
}

async fn token(client: &Client, format: OutputFormat, args: GrantTokenArgs) -> Result<()> {
    // The TTL range was checked while parsing the flag: a bad one never gets this far.
    let req = CreateTokenRequest {
        ttl_seconds: args.ttl,
    };
    let token = client.create_token(&args.id, &req).await?;
    emit(format, &token)
}

fn required(flag: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::InvalidInput(format!("{flag}: must not be empty")));
    }
    Ok(v.to_string())
}

/// Reads and checks a scope file (`-` is standard input). Every problem is exit 2, with
/// the file, the field and the rule in the message.
pub fn read_scope(path: &Path) -> Result<Scope> {
    let from_stdin = path.as_os_str() == "-";
    let name = if from_stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let fail = |e: std::io::Error| Error::InvalidInput(format!("scope file {name}: {e}"));
    let mut bytes = Vec::new();
    let limit = MAX_SCOPE_BYTES as u64 + 1;
    if from_stdin {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    }
    .map_err(fail)?;
    if bytes.len() > MAX_SCOPE_BYTES {
        return Err(Error::InvalidInput(format!(
            "scope file {name}: larger than 1 MiB; a scope is a small JSON object"
        )));
    }
    parse_scope(&bytes).map_err(|msg| Error::InvalidInput(format!("scope file {name}: {msg}")))
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

// ----- rendering -----

fn scope_rows(scope: &Scope) -> Vec<(&'static str, String)> {
    let names = |rs: &[crate::api::types::Resource]| {
        if rs.is_empty() {
            "-".to_string()
        } else {
            rs.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        }
    };
    vec![
        ("scope.resources", names(&scope.resources)),
        ("scope.excluded_resources", names(&scope.excluded_resources)),
        (
            "scope.max_rows_per_query",
            scope.max_rows_per_query.to_string(),
        ),
    ]
}

impl Render for Grant {
    fn table(&self) -> String {
        let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        let mut rows = vec![
            ("id", self.id.clone()),
            ("user", self.user_id.clone()),
            ("peer", self.peer_id.clone()),
            ("status", self.status.as_str().to_string()),
        ];
        rows.extend(scope_rows(&self.scope));
        rows.extend([
            ("created", timestamp(self.created_at)),
            ("activated", timestamp_or_dash(self.activated_at)),
            ("expires", timestamp_or_dash(self.expires_at)),
            ("revoked", timestamp_or_dash(self.revoked_at)),
            ("revoked_reason", dash(&self.revoked_reason)),
            ("peer_cert_fingerprint", dash(&self.peer_cert_fingerprint)),
        ]);
        let mut text = detail_table(&rows);
        if let Some(tokens) = &self.tokens {
            text.push_str(&token_history(tokens));
        }
        text
    }
}

/// The token history under `grant show`: one row per token ever issued, by handle.
fn token_history(tokens: &[TokenRecord]) -> String {
    if tokens.is_empty() {
        return "\nTokens: none issued.\n".into();
    }
    let rows = tokens
        .iter()
        .map(|t| {
            vec![
                t.handle.clone(),
                t.state.as_str().to_string(),
                timestamp(t.issued_at),
                timestamp(t.expires_at),
                timestamp_or_dash(t.redeemed_at),
                t.cert_fingerprint.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    format!(
        "\nTokens:\n{}",
        list_table(
            &[
                "HANDLE",
                "STATE",
                "ISSUED",
                "EXPIRES",
                "REDEEMED",
                "CERTIFICATE"
            ],
            rows
        )
    )
}

impl Render for [Grant] {
    fn table(&self) -> String {
        if self.is_empty() {
            return "No grants.\n".into();
        }
        let rows = self
            .iter()
            .map(|g| {
                vec![
                    g.id.clone(),
                    g.user_id.clone(),
                    g.peer_id.clone(),
                    g.status.as_str().to_string(),
                    timestamp(g.created_at),
                    timestamp_or_dash(g.activated_at),
                ]
            })
            .collect();
        list_table(
            &["ID", "USER", "PEER", "STATUS", "CREATED", "ACTIVATED"],
            rows,
        )
    }
}

impl Render for EnrollmentToken {
    fn table(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let details = detail_table(&[
            ("grant", self.grant_id.clone()),
            ("token", self.token.clone()),
            ("enrollment_url", self.enrollment_url.clone()),
            (
                "expires",
                format!(
                    "{} ({})",
                    timestamp(self.expires_at),
                    relative(self.expires_at, now)
                ),
            ),
            ("ca_fingerprint", self.ca_fingerprint.clone()),
        ]);
        format!(
            "{details}\nSingle use; shown only this once. On the enrolling gateway, run:\n\n  \
             mosaic federation peer add {} --ca-fingerprint {}\n",
            shell_quote(&self.enrollment_url),
            self.ca_fingerprint
        )
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

    #[test]
    fn token_table_has_paste_line() {
        let t = EnrollmentToken {
            grant_id: "g1".into(),
            token: "tok".into(),
            enrollment_url: "https://a.example/api/federation/enrollment/tok".into(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::seconds(900),
            ca_fingerprint: "sha256:ab".into(),
        };
        let out = t.table();
        assert!(out.contains("(in 15m)"), "{out}");
        assert!(out.contains(
            "mosaic federation peer add 'https://a.example/api/federation/enrollment/tok' --ca-fingerprint sha256:ab"
        ));
    }
}
