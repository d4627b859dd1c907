//! `mosaic`: the operator CLI for Mosaic gateway federation, on top of the workspace's
//! crates: the wire contract, the crypto, and (feature `gateway`) the reference gateway
//! that implements the same contract.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod output;

/// Keys, certificates, CA pinning and sealing: the `mosaic-crypto` crate.
pub use mosaic_crypto as crypto;

/// Installs the process-wide rustls crypto provider (ring). reqwest is built without a
/// default provider, so this must run before the first client is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
