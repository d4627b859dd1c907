//! `mosaic federation peer add|list|remove|finish|test|query|renew`. `add` is a sequence of its own
//! (`enroll`); certificates it could not hand to the local gateway wait in `pending`.

mod enroll;
mod finish;
mod pending;
mod reads;

use serde::Serialize;

use crate::api::client::Client;
use crate::api::types::Peer;
use crate::api::types::PeerStatus;
use crate::cli::{PeerAddArgs, PeerCommand, PeerIdArg, PeerRemoveArgs};
use crate::error::Error;
use crate::error::Result;
use crate::output::{self, OutputFormat, Render};
use enroll::Enrollment;
pub use pending::state_dir;

pub async fn run(client: &Client, format: OutputFormat, cmd: PeerCommand) -> Result<()> {
    match cmd {
        PeerCommand::Add(args) => output::emit(format, &add(client, format, &args).await?),
        PeerCommand::List => {
            let peers = list(client).await?;
            output::emit(format, &peers)?;
            if peers.is_empty() {
                output::hint(format, "No peers.");
            }
            Ok(())
        }
        PeerCommand::Remove(PeerRemoveArgs { id, yes }) => {
            if !yes && output::is_interactive() {
                confirm_removal(client, &id).await?;
            }
            output::emit(format, &remove(client, &id).await?)
        }
        PeerCommand::Finish(args) => {
            let previous = args.previous_secrets_file.as_deref();
            output::emit(
                format,
                &finish::finish(client, format, &args.id, previous).await?,
            )
        }
        PeerCommand::Test(PeerIdArg { id }) => {
            output::emit(format, &reads::test(client, &id).await?)
        }
        PeerCommand::Query(args) => {
            let rows = reads::query(client, format, &args).await?;
            output::emit(format, &rows)?;
            if rows.rows.is_empty() {
                output::hint(format, &format!("No rows of {}.", args.resource));
            }
            Ok(())
        }
        PeerCommand::Renew(PeerIdArg { id }) => output::emit(format, &renew(client, &id).await?),
    }
}

/// `peer add`: enroll this gateway (B) with the remote one (A) behind `enrollment_url`.
pub async fn add(client: &Client, format: OutputFormat, args: &PeerAddArgs) -> Result<Peer> {
    Enrollment::new(client, format, args)?.run().await
}

/// The sealing secret of the local gateway (`BETTER_AUTH_SECRET` or the file
/// `BETTER_AUTH_SECRET_FILE` names), as the gateway itself reads it; a file others may read
/// draws a warning.
fn sealing_secret(format: OutputFormat) -> Result<crate::crypto::seal::SealingSecret> {
    let secret = crate::crypto::seal::SealingSecret::from_env()
        .map_err(|e| Error::invalid_input(e.to_string()))?;
    if let Some(warning) = std::env::var_os(crate::crypto::seal::SECRET_FILE_ENV)
        .and_then(|path| crate::crypto::seal::secret_file_warning(path.as_ref()))
    {
        output::warn(format, &warning);
    }
    Ok(secret)
}

/// What `peer renew` shows: the peer with its new certificate, and the round trip (B's
/// renewal with A included).
#[derive(Debug, Serialize)]
pub struct Renewed {
    #[serde(flatten)]
    pub peer: Peer,
    /// Milliseconds from the request to B until its answer.
    pub round_trip_ms: f64,
}

/// `peer renew`: the local gateway renews the peer's certificate now.
pub async fn renew(client: &Client, peer_id: &str) -> Result<Renewed> {
    client.require_admin_token()?;
    let started = std::time::Instant::now();
    let peer = client.renew_peer(peer_id).await?;
    Ok(Renewed {
        peer,
        round_trip_ms: (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
    })
}

pub async fn list(client: &Client) -> Result<Vec<Peer>> {
    client.list_all_peers().await
}

pub async fn remove(client: &Client, peer_id: &str) -> Result<Removed> {
    client.delete_peer(peer_id).await?;
    Ok(Removed {
        id: peer_id.to_string(),
        removed: true,
    })
}

/// On a terminal, removing an active peer asks first, naming what it loses.
async fn confirm_removal(client: &Client, peer_id: &str) -> Result<()> {
    let peers = list(client).await?;
    let Some(p) = peers
        .iter()
        .find(|p| p.id == peer_id && p.status == PeerStatus::Active)
    else {
        return Ok(());
    };
    let question = format!(
        "Remove active peer {} ({}, {}, grant {})? This gateway loses its certificate for \
         that grant and can no longer read through it.",
        p.id,
        p.name,
        p.remote_url,
        output::or_dash(p.grant_id.as_deref())
    );
    if output::confirm(&question)? {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "not confirmed: nothing was removed (--yes skips the question)",
        ))
    }
}

/// What `peer remove` prints.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub id: String,
    pub removed: bool,
}

impl Render for Peer {
    fn quiet(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn table(&self) -> String {
        output::detail_table(&peer_rows(self))
    }
}

fn peer_rows(peer: &Peer) -> Vec<(&'static str, String)> {
    let p = peer;
    vec![
        ("id", p.id.clone()),
        ("name", p.name.clone()),
        ("remote", p.remote_url.clone()),
        ("status", p.status.as_str().to_string()),
        ("grant", output::or_dash(p.grant_id.as_deref())),
        (
            "subject user",
            output::or_dash(p.subject_user_id.as_deref()),
        ),
        (
            "fingerprint",
            output::or_dash(p.cert_fingerprint.as_deref()),
        ),
        ("serial", output::or_dash(p.cert_serial.as_deref())),
        ("not after", output::timestamp_or_dash(p.cert_not_after)),
        ("renewal due", output::timestamp_or_dash(p.renewal_due_at)),
        ("created", output::timestamp(p.created_at)),
        ("activated", output::timestamp_or_dash(p.activated_at)),
    ]
}

impl Render for Vec<Peer> {
    fn quiet(&self) -> Option<String> {
        Some(self.iter().map(|p| format!("{}\n", p.id)).collect())
    }

    /// Within 100 columns: the fingerprint shortened, long names and URLs cut, no expiry
    /// or grant column; `-o wide` shows everything whole.
    fn table(&self) -> String {
        let wide = output::is_wide();
        let mut header = vec!["ID", "NAME", "REMOTE", "STATUS", "FINGERPRINT"];
        if wide {
            header.extend(["NOT AFTER", "RENEWAL DUE", "GRANT"]);
        }
        let rows: Vec<Vec<String>> = self
            .iter()
            .map(|p| {
                let mut row = vec![
                    p.id.clone(),
                    output::clip(&p.name, 12),
                    output::clip(&p.remote_url, 24),
                    p.status.as_str().to_string(),
                    output::or_dash(
                        p.cert_fingerprint
                            .as_deref()
                            .map(output::short_fingerprint)
                            .as_deref(),
                    ),
                ];
                if wide {
                    row.push(output::timestamp_or_dash(p.cert_not_after));
                    row.push(output::timestamp_or_dash(p.renewal_due_at));
                    row.push(output::or_dash(p.grant_id.as_deref()));
                }
                row
            })
            .collect();
        output::list_table(&header, rows)
    }
}

impl Render for Renewed {
    fn table(&self) -> String {
        let mut rows = peer_rows(&self.peer);
        rows.push(("round trip", format!("{:.1} ms", self.round_trip_ms)));
        output::detail_table(&rows)
    }
}

impl Render for Removed {
    fn quiet(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn table(&self) -> String {
        format!("removed peer {}\n", self.id)
    }
}
