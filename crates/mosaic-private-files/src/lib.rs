//! Files and directories that only their owner may read: the gateway's data directory,
//! its sealed CA key and admin token, and the certificates `peer add` keeps on disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Creates `path` and its missing parents, mode 0700 on Unix.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Writes `bytes` to `path` readable by the owner only (0600 on Unix), atomically: a
/// temporary file is written and synced, then renamed over `path`, and the directory is
/// synced so the rename itself survives a crash.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    // A leftover from a crash could carry other permissions: start from nothing.
    let _ = fs::remove_file(&tmp);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
