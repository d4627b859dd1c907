//! `peer test` and `peer query`: the local gateway (B) reads from the peer (A) over
//! mutual TLS with the enrolled certificate; the CLI only talks to B's admin API.

use std::time::Instant;

use serde::Serialize;

use crate::api::client::{Client, Row};
use crate::api::federation::{RowsQuery, WhoAmI, resource_fields};
use crate::api::types::Resource;
use crate::cli::PeerQueryArgs;
use crate::error::Result;
use crate::output::{self, OutputFormat, Render};

/// What `peer test` shows: the peer's whoami answer and the round trip through B.
#[derive(Debug, Serialize)]
pub struct PeerTest {
    #[serde(flatten)]
    pub whoami: WhoAmI,
    /// Milliseconds from the request to B until its answer, A's leg included.
    pub round_trip_ms: f64,
}

pub async fn test(client: &Client, peer_id: &str) -> Result<PeerTest> {
    client.require_admin_token()?;
    let started = Instant::now();
    let whoami = client.peer_whoami(peer_id).await?;
    Ok(PeerTest {
        whoami,
        round_trip_ms: (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
    })
}

/// What `peer query` shows: the rows (a JSON array), and in a table the resource's
/// columns.
#[derive(Debug)]
pub struct Rows {
    pub resource: String,
    pub rows: Vec<Row>,
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.rows.serialize(s)
    }
}

pub async fn query(client: &Client, format: OutputFormat, args: &PeerQueryArgs) -> Result<Rows> {
    client.require_admin_token()?;
    let (rows, more) = if args.all {
        let rows = client
            .peer_rows_all(&args.id, &args.resource, args.limit)
            .await?;
        (rows, false)
    } else {
        let page = client
            .peer_rows(
                &args.id,
                &args.resource,
                &RowsQuery {
                    limit: args.limit,
                    cursor: None,
                },
            )
            .await?;
        (page.items, page.next_cursor.is_some())
    };
    if more {
        output::warn(
            format,
            "more rows than one page: pass --all to read every page",
        );
    }
    Ok(Rows {
        resource: args.resource.clone(),
        rows,
    })
}

impl Render for PeerTest {
    fn table(&self) -> String {
        let w = &self.whoami;
        let list = |rs: &[Resource]| output::list_or_dash(rs.iter().map(|r| r.as_str()));
        let rows = [
            ("grant", w.grant_id.clone()),
            ("status", w.status.as_str().to_string()),
            ("subject user", w.subject_user_id.clone()),
            ("peer", w.peer_id.clone()),
            ("resources", list(&w.scope.resources)),
            ("excluded", list(&w.scope.excluded_resources)),
            ("max rows per query", w.scope.max_rows_per_query.to_string()),
            ("certificate", w.cert_fingerprint.clone()),
            ("certificate expires", output::timestamp(w.cert_not_after)),
            ("round trip", format!("{:.1} ms", self.round_trip_ms)),
        ];
        output::detail_table(&rows)
    }
}

impl Render for Rows {
    fn table(&self) -> String {
        let own: Vec<&str> = Resource::ALL
            .into_iter()
            .find(|r| r.as_str() == self.resource)
            .map(|r| resource_fields(r).iter().map(|(name, _)| *name).collect())
            .unwrap_or_default();
        let mut header = vec!["id"];
        header.extend(&own);
        header.extend(["created_at", "updated_at"]);
        let rows = self
            .rows
            .iter()
            .map(|row| {
                header
                    .iter()
                    .map(|h| match row.get(*h) {
                        None | Some(serde_json::Value::Null) => output::ABSENT.to_string(),
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        let upper: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        output::list_table(&upper, rows)
    }
}
