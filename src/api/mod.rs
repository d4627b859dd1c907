//! The whole wire contract, shared by the CLI and the reference gateway so the two cannot
//! drift apart: bodies (`types`, `scope`, `federation`), list queries (`query`), paths
//! (`paths`), environment variable names (`env`); and the typed HTTP client the commands
//! use (`client`). Nothing here prints.

pub mod client;
pub mod env;
pub mod federation;
pub mod integer;
pub mod paths;
pub mod query;
pub mod scope;
pub mod text;
pub mod timestamp;
pub mod types;
