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
                actor: args.actor,
                since,
                ..AuditListQuery::default()
            };
            output::emit(format, client.list_all_audit(&query).await?.as_slice())
        }
    }
}

impl Render for [AuditEntry] {
    /// Within 100 columns: no actor or peer column and the detail cut; `-o wide` shows
    /// everything whole.
    fn table(&self) -> String {
        let wide = output::is_wide();
        let rows = self
            .iter()
            .map(|e| {
                let mut row = vec![output::timestamp(e.at), e.action.as_str().to_string()];
                if wide {
                    row.push(e.actor.clone());
                }
                row.push(output::or_dash(e.grant_id.as_deref()));
                if wide {
                    row.push(output::or_dash(e.peer_id.as_deref()));
                }
                row.push(output::clip(&output::or_dash(e.detail.as_deref()), 16));
                row
            })
            .collect();
        let header: &[&str] = if wide {
            &["AT", "ACTION", "ACTOR", "GRANT", "PEER", "DETAIL"]
        } else {
            &["AT", "ACTION", "GRANT", "DETAIL"]
        };
        output::list_table(header, rows)
    }
}
