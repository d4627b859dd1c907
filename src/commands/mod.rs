//! One module per noun; each verb turns its arguments into client calls and a value to
//! render. Nothing here prints directly.

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Federation(_) => Err(Error::Internal("not implemented yet".into())),
        #[cfg(feature = "gateway")]
        Command::Gateway(crate::cli::GatewayCommand::Serve(args)) => {
            crate::gateway::serve(args).await
        }
    }
}
