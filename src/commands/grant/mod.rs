//! `mosaic federation grant create|list|show|revoke|token`: arguments in, client calls,
//! a value out to render. Local checks (the scope file, the TTL) run before any request;
//! the scope file's parser is `scope`.

mod scope;

use serde::Serialize;

use crate::api::client::Client;
use crate::api::query::GrantListQuery;
use crate::api::types::{
    CreateGrantRequest, CreateTokenRequest, EnrollmentToken, Grant, GrantStatus,
    RevokeGrantRequest, Scope, TokenRecord,
};
use crate::cli::{
    GrantCommand, GrantCreateArgs, GrantIdArg, GrantListArgs, GrantRevokeArgs, GrantTokenArgs,
};
use crate::error::{Error, Result};
use crate::output::{
    ListItem, ListWriter, OutputFormat, Render, clip, detail_table, emit, hint, list_or_dash,
    list_table, or_dash, relative, shell_quote, short_fingerprint, timestamp, timestamp_or_dash,
};
use scope::read_scope;

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
    let scope = read_scope(&args.scope)?;
    let expires_at = match args.expires_in {
        Some(d) => Some(
            time::Duration::try_from(d)
                .ok()
                .and_then(|d| time::OffsetDateTime::now_utc().checked_add(d))
                .ok_or_else(|| {
                    Error::invalid_input("--expires-in: reaches past year 9999; give a shorter one")
                })?,
        ),
        None => args.expires_at,
    };
    let req = CreateGrantRequest {
        user_id: args.user,
        peer_id: args.peer,
        scope,
        expires_at,
    };
    // The gateway's own rules, by the same code: a dry run passes exactly what the
    // gateway would accept.
    req.validate().map_err(|e| {
        let flag = match e.field.as_str() {
            "user_id" => "--user",
            "peer_id" => "--peer",
            _ => "--scope",
        };
        Error::invalid_input(format!("{flag}: {e}"))
    })?;
    if args.dry_run {
        emit(format, &DryRun::from(req))?;
        hint(format, "Dry run: the grant is valid; nothing was sent.");
        return Ok(());
    }
    let grant = client.create_grant(&req).await?;
    emit(format, &grant)?;
    hint(
        format,
        &format!(
            "Created grant {}. Next: mosaic federation grant token {}",
            grant.id, grant.id
        ),
    );
    Ok(())
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
    #[serde(with = "crate::api::timestamp::option")]
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
    let query = GrantListQuery {
        peer_id: args.peer,
        status: args.status.map(|s| s.as_str().to_string()),
        ..GrantListQuery::default()
    };
    let mut out = ListWriter::new(format);
    client
        .each_grant_page(&query, |grants| out.page(&grants))
        .await?;
    if out.finish()? == 0 {
        hint(format, "No grants.");
    }
    Ok(())
}

async fn revoke(client: &Client, format: OutputFormat, args: GrantRevokeArgs) -> Result<()> {
    let req = RevokeGrantRequest {
        reason: args.reason.filter(|r| !r.trim().is_empty()),
    };
    req.validate()
        .map_err(|e| Error::invalid_input(format!("--reason: {e}")))?;
    if !args.yes && crate::output::is_interactive() {
        let g = client.get_grant(&args.id).await?;
        let question = format!(
            "Revoke grant {} ({}: user {}, peer {})? A revoked grant never becomes active \
             again{}.",
            g.id,
            g.status.as_str(),
            g.user_id,
            g.peer_id,
            if g.status == GrantStatus::Active {
                "; the peer loses access at once"
            } else {
                ""
            }
        );
        if !crate::output::confirm(&question)? {
            return Err(Error::invalid_input(
                "not confirmed: nothing was revoked (--yes skips the question)",
            ));
        }
    }
    let grant = client.revoke_grant(&args.id, &req).await?;
    emit(format, &grant)?;
    hint(format, &format!("Revoked grant {}.", grant.id));
    Ok(())
}

async fn token(client: &Client, format: OutputFormat, args: GrantTokenArgs) -> Result<()> {
    // The TTL range was checked while parsing the flag: a bad one never gets this far.
    let req = CreateTokenRequest {
        ttl_seconds: args.ttl,
    };
    let token = client.create_token(&args.id, &req).await?;
    emit(format, &token)?;
    hint(format, &paste_hint(&token));
    Ok(())
}

/// The value as given: an ID with edge whitespace is refused, not silently trimmed into
/// another ID.
fn scope_rows(scope: &Scope) -> Vec<(&'static str, String)> {
    let names = |rs: &[crate::api::types::Resource]| list_or_dash(rs.iter().map(|r| r.as_str()));
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
    fn quiet(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn table(&self) -> String {
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
            ("revoked_reason", or_dash(self.revoked_reason.as_deref())),
            (
                "peer_cert_fingerprint",
                or_dash(self.peer_cert_fingerprint.as_deref()),
            ),
            (
                "peer_cert_not_after",
                timestamp_or_dash(self.peer_cert_not_after),
            ),
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
                or_dash(
                    t.cert_fingerprint
                        .as_deref()
                        .map(short_fingerprint)
                        .as_deref(),
                ),
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

/// `grant list`, written page by page. Within 100 columns: long user and peer IDs are
/// cut (`-o wide` shows them whole, with the activation time).
impl ListItem for Grant {
    fn header() -> Vec<&'static str> {
        let mut header = vec!["ID", "USER", "PEER", "STATUS", "CREATED"];
        if crate::output::is_wide() {
            header.push("ACTIVATED");
        }
        header
    }

    fn row(&self) -> Vec<String> {
        let mut row = vec![
            self.id.clone(),
            clip(&self.user_id, 14),
            clip(&self.peer_id, 14),
            self.status.as_str().to_string(),
            timestamp(self.created_at),
        ];
        if crate::output::is_wide() {
            row.push(timestamp_or_dash(self.activated_at));
        }
        row
    }

    fn id(&self) -> String {
        self.id.clone()
    }
}

/// What to run on the enrolling gateway, for a person at a terminal.
fn paste_hint(token: &EnrollmentToken) -> String {
    format!(
        "\nSingle use; shown only this once. On the enrolling gateway, run:\n\n  \
         mosaic federation peer add {} --ca-fingerprint {}\n",
        shell_quote(&token.enrollment_url),
        token.ca_fingerprint
    )
}

impl Render for EnrollmentToken {
    fn quiet(&self) -> Option<String> {
        Some(self.enrollment_url.clone())
    }

    fn table(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        detail_table(&[
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
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(t.quiet().as_deref(), Some(t.enrollment_url.as_str()));
        assert!(paste_hint(&t).contains(
            "mosaic federation peer add 'https://a.example/api/federation/enrollment/tok' --ca-fingerprint sha256:ab"
        ));
    }
}
