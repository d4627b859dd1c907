//! One module per noun; each verb turns its arguments into client calls and a value to
//! render. Nothing here prints directly: output goes through `crate::output`.

pub mod audit;
pub mod config;
pub mod docs;
pub mod grant;
pub mod peer;

use crate::api::client::{Client, ClientConfig};
use crate::cli::{Cli, Command, FederationCommand, OutputFormat};
use crate::config::Resolved;
use crate::error::Result;

pub async fn run(cli: Cli, resolved: &Resolved) -> Result<()> {
    let format = cli.global.output.unwrap_or(OutputFormat::Table);
    match cli.command {
        Command::Federation(noun) => {
            // Built once, here: the commands receive a ready client and never build one.
            let client = Client::new(ClientConfig::from_global(&cli.global)?)?;
            match noun {
                FederationCommand::Grant(cmd) => grant::run(&client, format, cmd).await,
                FederationCommand::Peer(cmd) => peer::run(&client, format, cmd).await,
                FederationCommand::Audit(cmd) => audit::run(&client, format, cmd).await,
            }
        }
        Command::Config(cmd) => config::run(format, cmd, resolved),
        Command::Completion(args) => docs::completion(&args),
        Command::Man(args) => docs::man(&args),
        #[cfg(feature = "gateway")]
        Command::Gateway(crate::cli::GatewayCommand::Serve(args)) => {
            crate::gateway::serve(args).await
        }
    }
}
