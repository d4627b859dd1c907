//! `mosaic completion` and `mosaic man`: both generated from the one clap tree, so they
//! cannot drift from the commands they describe.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, ManArgs};
use crate::error::{Error, Result};
use crate::output;

/// Prints the completion script; it never edits a shell's rc files. The script calls
/// `mosaic` back (`COMPLETE=<shell>`) for every completion, so commands, flags, values of
/// enum flags and profile names come from this binary's own tree, and grant and peer IDs
/// from the gateway.
pub fn completion(args: &CompletionArgs) -> Result<()> {
    let shell = args.shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&shell)
        .ok_or_else(|| Error::invalid_input(format!("no completion for the shell {shell}")))?;
    let mut script = Vec::new();
    completer
        .write_registration(COMPLETE_VAR, "mosaic", "mosaic", "mosaic", &mut script)
        .map_err(|e| Error::internal(format!("cannot write the completion script: {e}")))?;
    output::write_stdout(&script)
}

/// The environment variable that turns a run of `mosaic` into a completion.
const COMPLETE_VAR: &str = "COMPLETE";

/// Writes `mosaic.1`, `mosaic-federation.1`, `mosaic-federation-grant-create.1`, … and
/// prints the paths written.
pub fn man(args: &ManArgs) -> Result<()> {
    let cant = |path: &Path, e: std::io::Error| {
        Error::invalid_input(format!("cannot write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&args.out).map_err(|e| cant(&args.out, e))?;
    let mut root = Cli::command();
    root.build();
    let mut written = Vec::new();
    write_pages(&root, "mosaic", &args.out, &mut written)?;
    let list: String = written
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    output::write_stdout(list.as_bytes())
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Error::internal(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff)
        .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))?;
    out.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, out)?;
    }
    Ok(())
}
