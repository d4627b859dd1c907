//! The data directory: where it is (`--data-dir`/`MOSAIC_DATA_DIR`, else under the user's data
//! directory), creating it private (0700), and refusing one that other users can reach. The
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
        refuse_if_shared(&path)?;
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

/// A data directory that group or others can read, write or enter is refused, before
/// anything is read from or written to it: it holds the admin token and the sealed CA key.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path)
        .map_err(|e| format!("cannot read the data directory {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the data directory {} is accessible to other users (mode {mode:o}): run \
             `chmod 700 {}` and start again",
            path.display(),
            shell_quoted(&path.display().to_string())
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// `text` as one shell word: as it is when it needs no quoting, else in single quotes.
#[cfg(unix)]
fn shell_quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_only_when_the_shell_needs_it() {
        assert_eq!(shell_quoted("/var/lib/mosaic-gw"), "/var/lib/mosaic-gw");
        assert_eq!(shell_quoted("/srv/my gw"), "'/srv/my gw'");
        assert_eq!(shell_quoted("/srv/it's"), "'/srv/it'\\''s'");
    }
}
