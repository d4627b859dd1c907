//! `mosaic federation audit list`: the gateway's audit log, oldest first, every page.

use time::format_description::well_known::Rfc3339;

use crate::api::client::Client;
use crate::api::query::AuditListQuery;
use crate::api::types::AuditEntry;
use crate::cli::AuditCommand;
use crate::error::{Error, Result};
use crate::output::{self, OutputFormat, Render};

pub async fn run(client: &Client, format: OutputFormat, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::List(args) => {
            let since = args
                .since
                .map(|t| t.format(&Rfc3339))
                .transpose()
                .map_err(|e| Error::invalid_input(format!("--since: {e}")))?;
            let query = AuditListQuery {
                grant_id: args.grant,
                action: args.action.map(|a| a.as_str().to_string()),
                since,
                ..AuditListQuery::default()
            };
            output::emit(format, client.list_all_audit(&query).await?.as_slice())
        }
    }
}

impl Render for [AuditEntry] {
    fn table(&self) -> String {
        let rows = self
            .iter()
            .map(|e| {
                vec![
                    output::timestamp(e.at),
                    e.action.as_str().to_string(),
                    e.actor.clone(),
                    output::or_dash(e.grant_id.as_deref()),
                    output::or_dash(e.peer_id.as_deref()),
                    output::or_dash(e.detail.as_deref()),
                ]
            })
            .collect();
        output::list_table(&["AT", "ACTION", "ACTOR", "GRANT", "PEER", "DETAIL"], rows)
    }
}
