//! `mosaic`: the operator CLI for Mosaic gateway federation, and (feature `gateway`) a
//! reference gateway that implements the same contract.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod error;
pub mod output;
pub mod private_files;

#[cfg(feature = "gateway")]
pub mod gateway;

/// Installs the process-wide rustls crypto provider (ring). reqwest is built without a
/// default provider, so this must run before the first client is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
