//! One module per noun; each verb turns its arguments into client calls and a value to
//! render. Nothing here prints directly: output goes through `crate::output`.

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
        Command::Federation(FederationCommand::Grant(cmd)) => {
            let client = Client::new(ClientConfig::from_global(&cli.global)?)?;
            grant::run(&client, format, cmd).await
        }
        Command::Federation(FederationCommand::Peer(cmd)) => {
            let client = Client::new(ClientConfig::from_global(&cli.global)?)?;
            peer::run(&client, format, cmd).await
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
