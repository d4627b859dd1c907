//! The data directory: where it is (`--data-dir`/`MOSAIC_DATA_DIR`, else under the user's data
//! directory), creating it private (0700), and a warning when others can read it. The
//! files in it are written by `mosaic_private_files` (0600, atomically).

use std::fs;
use std::path::{Path, PathBuf};

/// The directory holding the database, the CA and the generated admin token.
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Uses `path`, or the default, creating it (mode 0700) if it does not exist.
    pub fn open(path: Option<PathBuf>) -> Result<DataDir, String> {
        let path = match path {
            Some(p) => p,
            None => default_path()?,
        };
        if !path.exists() {
            mosaic_private_files::create_dir(&path)
                .map_err(|e| format!("cannot create the data directory {}: {e}", path.display()))?;
        } else if !path.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        warn_if_shared(&path);
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// `$XDG_DATA_HOME/mosaic/gateway`, else `~/.local/share/mosaic/gateway`.
pub(crate) fn default_path() -> Result<PathBuf, String> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("mosaic/gateway"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/mosaic/gateway")),
        None => Err("no --data-dir given and neither XDG_DATA_HOME nor HOME is set".into()),
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "mosaic gateway: warning: {} is accessible to other users (mode {:o}); \
             `chmod 700` it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}
