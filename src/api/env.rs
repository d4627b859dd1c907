//! The environment variables of the contract and of the CLI, named once. Scripts depend
//! on these names: change them only with a deprecation path.

/// The admin token itself (the CLI sends it; the gateway accepts it).
pub const ADMIN_TOKEN: &str = "MOSAIC_ADMIN_TOKEN";
/// A file holding the admin token (CLI).
pub const ADMIN_TOKEN_FILE: &str = "MOSAIC_ADMIN_TOKEN_FILE";
/// The sealing secret: at least 32 bytes, from the environment only, never a flag.
pub const SEALING_SECRET: &str = "BETTER_AUTH_SECRET";
/// A file holding the sealing secret, instead of `BETTER_AUTH_SECRET` (never both).
pub const SEALING_SECRET_FILE: &str = "BETTER_AUTH_SECRET_FILE";
/// The gateway's base URL (CLI `--gateway`).
pub const GATEWAY_URL: &str = "MOSAIC_GATEWAY_URL";
/// `table` or `json` (CLI `--output`).
pub const OUTPUT: &str = "MOSAIC_OUTPUT";
/// A PEM bundle to trust in addition to the system's roots (CLI `--cacert`).
pub const CACERT: &str = "MOSAIC_CACERT";
/// A profile of the config file (CLI `--profile`).
pub const PROFILE: &str = "MOSAIC_PROFILE";
/// The config file (CLI).
pub const CONFIG: &str = "MOSAIC_CONFIG";
/// Where the CLI keeps local state (certificates `peer add` could not hand over).
pub const STATE_DIR: &str = "MOSAIC_STATE_DIR";
/// When the gateway renews its peers' certificates, or `off` (`gateway serve --auto-renew`).
pub const AUTO_RENEW: &str = "MOSAIC_AUTO_RENEW";
/// Seconds to wait for each request (`--timeout`).
pub const TIMEOUT: &str = "MOSAIC_TIMEOUT";
/// The gateway's data directory (`mosaic gateway serve --data-dir`).
pub const DATA_DIR: &str = "MOSAIC_DATA_DIR";
/// PostgreSQL shared by gateway replicas (`mosaic gateway serve --database-url`); a
/// secret when it carries a password.
pub const DATABASE_URL: &str = "MOSAIC_DATABASE_URL";
