//! The whole wire contract, shared by the CLI and the reference gateway so the two cannot
//! drift apart: bodies (`types`, `scope`, `federation`), list queries (`query`), paths
//! (`paths`), environment variable names (`env`), which characters may reach a terminal
//! (`text`). It depends on no other crate of the workspace; nothing here prints or does I/O.

pub mod credentials;
pub mod env;
pub mod federation;
pub mod integer;
pub mod paths;
pub mod query;
pub mod scope;
pub mod text;
pub mod timestamp;
pub mod types;
