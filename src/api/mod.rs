//! The federation admin API: wire types shared with the gateway, and the typed HTTP
//! client the commands use. Nothing here prints.

pub mod client;
pub mod env;
pub mod federation;
pub mod paths;
pub mod query;
pub mod text;
pub mod types;
