//! `mosaic completion` and `mosaic man`: both generated from the one clap tree, so they
//! cannot drift from the commands they describe; and `mosaic gateway secret`, the secret
//! the docs' first steps need, so that they need nothing but `mosaic`.

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
    // No `help` subcommand in the pages: `mosaic help X` is `man mosaic-X`, and a
    // `mosaic-help(1)` would be a page that does not exist.
    let mut root = without_help_subcommand(Cli::command());
    root.build();
    let mut written = Vec::new();
    write_pages(&root, "mosaic", None, &args.out, &mut written)?;
    let list: String = written
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    output::write_stdout(list.as_bytes())
}

fn without_help_subcommand(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.disable_help_subcommand(true);
    for name in names {
        cmd = cmd.mut_subcommand(name, without_help_subcommand);
    }
    cmd
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    parent: Option<&str>,
    dir: &Path,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let roff = page(cmd, name, parent)
        .map_err(|e| Error::internal(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff)
        .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))?;
    out.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            Some(name),
            dir,
            out,
        )?;
    }
    Ok(())
}

/// One page: clap_mangen's sections from the tree (name, synopsis, description, options,
/// subcommands), then EXAMPLES and NOTES from the command's `after_help`, EXIT STATUS,
/// ENVIRONMENT, FILES and SEE ALSO, then the version.
fn page(cmd: &clap::Command, name: &str, parent: Option<&str>) -> std::io::Result<String> {
    let after_help = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    // clap_mangen would put `after_help` under "EXTRA"; it is split into sections below.
    let page = cmd.clone().name(name.to_string()).after_help(None::<&str>);
    let mut base = Vec::new();
    clap_mangen::Man::new(page).render(&mut base)?;
    let base = String::from_utf8_lossy(&base).into_owned();

    let gateway = name.starts_with("mosaic-gateway");
    let mut roff = roff::Roff::new();
    after_help_sections(&mut roff, &after_help);
    exit_status(&mut roff, gateway);
    environment(&mut roff, gateway);
    files(&mut roff, gateway);
    if let Some(parent) = parent {
        roff.control("SH", ["SEE ALSO"]);
        roff.text([roff::bold(parent), roff::roman("(1)")]);
    }
    let extra = roff.render();
    // Without the preamble that every rendering starts with (the page has it already).
    let extra = extra
        .split_once("\n.SH ")
        .map(|(_, rest)| format!(".SH {rest}"))
        .unwrap_or_default();
    let page = match base.find(".SH VERSION") {
        Some(i) => format!("{}{extra}{}", &base[..i], &base[i..]),
        None => format!("{base}{extra}"),
    };
    Ok(ascii_roff(&page))
}

/// Non-ASCII characters (the `…` of the examples) as roff's `\[uXXXX]` escapes, so that
/// groff renders them without a preprocessor and without warnings.
fn ascii_roff(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// `after_help` is paragraphs: "Example(s):" ones become EXAMPLES, "Exit codes:" and
/// "Environment:" ones are covered by their own sections, the rest become NOTES. Indented
/// lines are shown as written (no filling), so commands can be copied.
fn after_help_sections(roff: &mut roff::Roff, after_help: &str) {
    let paragraphs: Vec<&str> = after_help
        .split("\n\n")
        .map(str::trim_end)
        .filter(|p| !p.trim().is_empty())
        .collect();
    let is_example = |p: &&str| p.trim_start().starts_with("Example");
    let covered = |p: &&str| {
        let p = p.trim_start();
        p.starts_with("Exit codes:") || p.starts_with("Environment:")
    };
    let examples: Vec<&str> = paragraphs.iter().copied().filter(is_example).collect();
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for p in examples {
            literal_block(roff, p.lines().skip(1));
        }
    }
    let notes: Vec<&str> = paragraphs
        .iter()
        .copied()
        .filter(|p| !is_example(p) && !covered(p))
        .collect();
    if !notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for p in notes {
            let mut lines = p.lines();
            if let Some(head) = lines.next() {
                roff.control("PP", []);
                roff.text([roff::roman(head.trim())]);
            }
            literal_block(roff, lines);
        }
    }
}

fn literal_block<'a>(roff: &mut roff::Roff, lines: impl Iterator<Item = &'a str>) {
    let lines: Vec<&str> = lines.collect();
    if lines.is_empty() {
        return;
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    roff.control("PP", []);
    roff.control("RS", ["4"]);
    roff.control("nf", []);
    for line in lines {
        roff.text([roff::roman(line.get(indent..).unwrap_or("").trim_end())]);
    }
    roff.control("fi", []);
    roff.control("RE", []);
}

fn tagged(roff: &mut roff::Roff, items: &[(&str, &str)]) {
    for (tag, text) in items {
        roff.control("TP", []);
        roff.text([roff::bold(*tag)]);
        roff.text([roff::roman(*text)]);
    }
}

fn exit_status(roff: &mut roff::Roff, gateway: bool) {
    roff.control("SH", ["EXIT STATUS"]);
    if gateway {
        tagged(
            roff,
            &[
                ("0", "Stopped cleanly after SIGINT or SIGTERM."),
                ("1", "Stopped by a fault after it started serving."),
                (
                    "2",
                    "Refused to start: a bad flag, a missing or short BETTER_AUTH_SECRET, a short MOSAIC_ADMIN_TOKEN, an unspecified --listen address without --public-url, an address that cannot be bound, a data directory or CA that cannot be used. Nothing is written to the data directory before the flags are checked and the socket is bound.",
                ),
            ],
        );
        return;
    }
    tagged(
        roff,
        &[
            ("0", "Success (also when a reader closed the pipe early)."),
            (
                "1",
                "Unexpected internal error (standard output cannot be written).",
            ),
            (
                "2",
                "Invalid input: usage, a bad flag value or scope file, a --gateway with /api in its path, an enrollment URL served by the local gateway (or by a gateway with its CA), the gateway's 400 or 413.",
            ),
            ("3", "Not found: the gateway's 404 for a grant or peer ID."),
            (
                "4",
                "Conflict: the state forbids it (409), or the enrollment token is used, unknown or expired (410).",
            ),
            (
                "5",
                "Authentication: no admin token, or the gateway's 401/403; a peer's refusal.",
            ),
            (
                "6",
                "The gateway could not be reached or answered unusably: connection, TLS, timeout, 5xx, a redirect, an answer that is not the gateway's JSON (an HTML page, a 404 where none is possible).",
            ),
            (
                "7",
                "Verification failed: the issued certificate failed a check of peer add, or a TLS chain does not end at the pinned CA.",
            ),
        ],
    );
}

fn environment(roff: &mut roff::Roff, gateway: bool) {
    roff.control("SH", ["ENVIRONMENT"]);
    if gateway {
        tagged(
            roff,
            &[
                (
                    "BETTER_AUTH_SECRET",
                    "Required, at least 32 bytes: seals the CA key and opens the peers' sealed keys; every later start needs the same one. Never a flag.",
                ),
                (
                    "BETTER_AUTH_SECRET_FILE",
                    "Instead of BETTER_AUTH_SECRET (not both): a file holding the secret, one trailing newline ignored; a file group or others may read draws a warning.",
                ),
                (
                    "MOSAIC_ADMIN_TOKEN",
                    "The admin token to accept (at least 16 characters); otherwise one is generated into DIR/admin-token.",
                ),
                ("MOSAIC_DATA_DIR", "--data-dir."),
                ("MOSAIC_AUTO_RENEW", "--auto-renew."),
                ("MOSAIC_RATE_LIMIT", "--rate-limit."),
                (
                    "XDG_DATA_HOME, HOME",
                    "The default data directory: $XDG_DATA_HOME/mosaic/gateway, else ~/.local/share/mosaic/gateway.",
                ),
            ],
        );
        return;
    }
    tagged(
        roff,
        &[
            (
                "MOSAIC_GATEWAY_URL",
                "--gateway (default http://127.0.0.1:14242).",
            ),
            ("MOSAIC_OUTPUT", "--output: table, wide or json."),
            ("MOSAIC_PROFILE", "--profile."),
            ("MOSAIC_CACERT", "--cacert."),
            ("MOSAIC_TIMEOUT", "--timeout, in seconds."),
            ("MOSAIC_ADMIN_TOKEN_FILE", "--token-file."),
            (
                "MOSAIC_ADMIN_TOKEN",
                "The admin token itself, when no token file is named. Never a flag.",
            ),
            ("MOSAIC_CONFIG", "The config file of profiles."),
            (
                "MOSAIC_STATE_DIR",
                "Where peer add keeps a certificate the local gateway did not take yet.",
            ),
            (
                "BETTER_AUTH_SECRET",
                "The sealing secret of peer add (the enrolling gateway's own). Never a flag.",
            ),
            (
                "BETTER_AUTH_SECRET_FILE",
                "Instead of BETTER_AUTH_SECRET: a file holding it, as the gateway reads it.",
            ),
            (
                "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
                "Proxies, as curl reads them; loopback is always reached directly.",
            ),
            (
                "COMPLETE",
                "Set by the completion scripts: the run completes a command line instead.",
            ),
        ],
    );
}

fn files(roff: &mut roff::Roff, gateway: bool) {
    roff.control("SH", ["FILES"]);
    if gateway {
        tagged(
            roff,
            &[
                (
                    "DIR/gateway.db",
                    "SQLite: grants, token hashes, certificates, peers, the audit log (DIR is --data-dir).",
                ),
                (
                    "DIR/ca.pem",
                    "The CA certificate (public); peers pin its fingerprint.",
                ),
                (
                    "DIR/ca-key.sealed",
                    "The CA's private key, sealed with BETTER_AUTH_SECRET.",
                ),
                (
                    "DIR/admin-token",
                    "The generated admin token (0600), when MOSAIC_ADMIN_TOKEN is not set.",
                ),
            ],
        );
        return;
    }
    tagged(
        roff,
        &[
            (
                "~/.config/mosaic/config.toml",
                "Profiles (or the file MOSAIC_CONFIG names); mosaic config show prints its path.",
            ),
            (
                "~/.local/state/mosaic/",
                "Certificates peer add could not hand to the local gateway yet (or MOSAIC_STATE_DIR); peer finish takes them.",
            ),
        ],
    );
}

/// `mosaic gateway secret`: 256 random bits, base64url, for `BETTER_AUTH_SECRET` or
/// `MOSAIC_ADMIN_TOKEN` (43 characters: long enough for both).
#[cfg(feature = "gateway")]
pub fn secret() -> Result<()> {
    use base64::Engine as _;
    let bytes = crate::crypto::random_secret::<32>();
    let text = zeroize::Zeroizing::new(format!(
        "{}\n",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    output::write_stdout(text.as_bytes())
}
