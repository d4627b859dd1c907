//! The wire contract (the `mosaic-contract` crate, re-exported here so that the CLI names
//! it as one module with its client) and the typed HTTP client the commands use
//! (`client`). Nothing here prints.

pub mod client;

pub use mosaic_contract::*;
