//! `mosaic gateway reseal`: the gateway crate does the work (and names on standard error
//! each value no secret opens); this shows its summary, as a table or one JSON document.

use serde::Serialize;

use crate::cli::ResealArgs;
use crate::error::{Error, Result};
use crate::output::{self, OutputFormat, Render};
use mosaic_gateway::reseal::{ResealError, Summary};

/// What one run did.
#[derive(Debug, Serialize)]
struct Report {
    resealed: u64,
    already_current: u64,
    could_not_open: u64,
    /// Every value is under the current secret: the previous ones can be removed.
    previous_secrets_removable: bool,
    #[serde(skip)]
    summary: Summary,
}

impl Render for Report {
    fn table(&self) -> String {
        self.summary.lines()
    }
}

impl From<Summary> for Report {
    fn from(summary: Summary) -> Report {
        Report {
            resealed: summary.resealed,
            already_current: summary.current,
            could_not_open: summary.unopenable,
            previous_secrets_removable: summary.unopenable == 0,
            summary,
        }
    }
}

pub async fn run(format: OutputFormat, args: ResealArgs) -> Result<()> {
    match mosaic_gateway::reseal::reseal(args.into()).await {
        Ok(summary) => output::emit(format, &Report::from(summary)),
        Err(ResealError::Unopenable { summary, message }) => {
            output::emit(format, &Report::from(summary))?;
            Err(Error::conflict(message))
        }
        Err(e @ ResealError::Invalid(_)) => Err(Error::invalid_input(e.to_string())),
        Err(e @ ResealError::Failed(_)) => Err(Error::internal(e.to_string())),
    }
}
