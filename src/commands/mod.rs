//! One module per noun; each verb turns its arguments into client calls and a value to
//! render. Nothing here prints directly: output goes through `crate::output`.

pub mod audit;
pub mod auth;
pub mod config;
pub mod data;
pub mod docs;
pub mod grant;
pub mod peer;
#[cfg(feature = "gateway")]
mod reseal;
pub mod status;

use crate::api::client::Client;
use crate::cli::{Command, FederationCommand};
use crate::config::Settings;
use crate::error::Result;

pub async fn run(command: Command, settings: &Settings) -> Result<()> {
    let format = settings.format();
    match command {
        Command::Federation(noun) => {
            // Built once, here: the commands receive a ready client and never build one.
            let client = Client::new(settings.client_config()?)?;
            match noun {
                FederationCommand::Grant(cmd) => grant::run(&client, format, cmd).await,
                FederationCommand::Peer(cmd) => peer::run(&client, format, cmd).await,
                FederationCommand::Audit(cmd) => audit::run(&client, format, cmd).await,
                FederationCommand::Data(cmd) => data::run(&client, format, cmd).await,
            }
        }
        Command::Auth(cmd) => {
            let client = Client::new(settings.client_config()?)?;
            auth::run(&client, format, cmd).await
        }
        Command::Status => {
            let client = Client::new(settings.client_config()?)?;
            status::run(&client, format).await
        }
        Command::Config(cmd) => config::run(format, cmd, settings),
        Command::Completion(args) => docs::completion(&args),
        Command::Man(args) => docs::man(&args),
        #[cfg(feature = "gateway")]
        Command::Gateway(crate::cli::GatewayCommand::Secret) => docs::secret(),
        #[cfg(feature = "gateway")]
        Command::Gateway(crate::cli::GatewayCommand::Reseal(args)) => {
            reseal::run(format, args).await
        }
        #[cfg(feature = "gateway")]
        Command::Gateway(crate::cli::GatewayCommand::Serve(args)) => {
            mosaic_gateway::serve((*args).into()).await.map_err(|e| {
                use crate::error::Error;
                match e {
                    mosaic_gateway::ServeError::Start(_) => Error::invalid_input(e.to_string()),
                    mosaic_gateway::ServeError::Stopped(_) => Error::internal(e.to_string()),
                }
            })
        }
    }
}
