//! `mosaic federation audit list`: the gateway's audit log, oldest first, every page.

use crate::api::client::{AuditFilter, Client};
use crate::api::types::AuditEntry;
use crate::cli::AuditCommand;
use crate::error::Result;
use crate::output::{self, OutputFormat, Render};

pub async fn run(client: &Client, format: OutputFormat, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::List(args) => {
            let filter = AuditFilter {
                grant_id: args.grant,
                action: args.action,
                since: args.since,
            };
            output::emit(format, client.list_all_audit(&filter).await?.as_slice())
        }
    }
}

impl Render for [AuditEntry] {
    fn table(&self) -> String {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let rows = self
            .iter()
            .map(|e| {
                vec![
                    output::timestamp(e.at),
                    e.action.as_str().to_string(),
                    e.actor.clone(),
                    dash(&e.grant_id),
                    dash(&e.peer_id),
                    dash(&e.detail),
                ]
            })
            .collect();
        output::list_table(&["AT", "ACTION", "ACTOR", "GRANT", "PEER", "DETAIL"], rows)
    }
}
