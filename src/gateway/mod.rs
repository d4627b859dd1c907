//! The reference gateway (`mosaic gateway serve`): the admin API, the public enrollment
//! endpoint, an embedded SQLite store and its own CA.

use crate::cli::ServeArgs;
use crate::error::{Error, Result};

pub async fn serve(_args: ServeArgs) -> Result<()> {
    Err(Error::Internal("not implemented yet".into()))
}
