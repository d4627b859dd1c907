//! `mosaic status`: one screen for the operator of a gateway — its version and readiness,
//! the CA's expiry, grants by status, and each peer's certificate and renewal, most urgent
//! first — and an exit code a cron job can act on: 8 when something needs attention.

use time::{Duration, OffsetDateTime};

use crate::api::client::Client;
use crate::api::types::{GatewayStatus, PeerHealth, PeerStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{self, OutputFormat, Render};

/// A CA that expires sooner than this needs attention.
const CA_WARNING: Duration = Duration::days(30);
/// A renewal later than this past its due time needs attention (the scheduler looks every
/// second; a minute late means it is not getting through).
const RENEWAL_GRACE: Duration = Duration::minutes(1);

pub async fn run(client: &Client, format: OutputFormat) -> Result<()> {
    let status = client.status().await?;
    output::emit(format, &status)?;
    let now = OffsetDateTime::now_utc();
    let problems = attention(&status, now);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Attention,
        format!(
            "{} need{} attention: {}",
            count(problems.len(), "thing"),
            if problems.len() == 1 { "s" } else { "" },
            problems.join("; ")
        ),
    ))
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What needs an operator, in words, most urgent first.
pub fn attention(status: &GatewayStatus, now: OffsetDateTime) -> Vec<String> {
    let mut out = Vec::new();
    if status.ca_not_after <= now {
        out.push("the gateway's CA has expired: no certificate it issues is trusted".to_string());
    } else if status.ca_not_after - now < CA_WARNING {
        out.push(format!(
            "the gateway's CA expires {}",
            output::relative(status.ca_not_after, now)
        ));
    }
    for peer in &status.peers {
        if let Some(why) = peer_problem(peer, now) {
            out.push(format!("peer {}: {why}", peer.id));
        }
    }
    out
}

fn peer_problem(peer: &PeerHealth, now: OffsetDateTime) -> Option<String> {
    if peer.status == PeerStatus::Pending {
        return Some(format!(
            "enrollment not finished (run `mosaic federation peer finish {}`)",
            peer.id
        ));
    }
    if let Some(until) = peer.cert_not_after.filter(|t| *t <= now) {
        return Some(format!(
            "its certificate expired {} (enroll again with a new token)",
            output::relative(until, now)
        ));
    }
    if peer.renewal_failures > 0 {
        return Some(format!(
            "{} failed in a row (see the gateway's log; `mosaic federation peer renew {}` tries now)",
            count(peer.renewal_failures as usize, "renewal"),
            peer.id
        ));
    }
    if let Some(due) = peer.renewal_due_at.filter(|t| *t + RENEWAL_GRACE < now) {
        return Some(format!(
            "renewal overdue since {} (is automatic renewal off?)",
            output::relative(due, now)
        ));
    }
    None
}

impl Render for GatewayStatus {
    fn table(&self) -> String {
        let now = OffsetDateTime::now_utc();
        let g = &self.grants;
        let mut out = output::detail_table(&[
            ("version", self.version.clone()),
            ("ready", "yes".to_string()),
            ("CA", self.ca_fingerprint.clone()),
            (
                "CA expires",
                format!(
                    "{} ({})",
                    output::timestamp(self.ca_not_after),
                    output::relative(self.ca_not_after, now)
                ),
            ),
            (
                "grants",
                format!(
                    "{} active, {} pending, {} revoked, {} expired",
                    g.active, g.pending, g.revoked, g.expired
                ),
            ),
            ("peers", self.peers.len().to_string()),
        ]);
        let rows: Vec<Vec<String>> = self
            .peers
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.name.clone(),
                    p.status.as_str().to_string(),
                    p.cert_not_after
                        .map_or_else(|| output::ABSENT.to_string(), |t| output::relative(t, now)),
                    p.renewal_due_at
                        .map_or_else(|| output::ABSENT.to_string(), |t| output::relative(t, now)),
                    p.renewal_failures.to_string(),
                    peer_problem(p, now)
                        .map_or_else(|| "ok".to_string(), |_| "attention".to_string()),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&output::list_table(
                &[
                    "PEER",
                    "NAME",
                    "STATUS",
                    "CERT EXPIRES",
                    "RENEWAL DUE",
                    "FAILURES",
                    "STATE",
                ],
                rows,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::GrantCounts;

    fn status(now: OffsetDateTime, peers: Vec<PeerHealth>) -> GatewayStatus {
        GatewayStatus {
            version: "0".into(),
            ca_fingerprint: "sha256:00".into(),
            ca_not_after: now + Duration::days(365),
            grants: GrantCounts::default(),
            peers,
        }
    }

    fn peer(status: PeerStatus, expires: Duration, due: Duration, failures: u32) -> PeerHealth {
        let now = OffsetDateTime::now_utc();
        PeerHealth {
            id: "p1".into(),
            name: "a".into(),
            status,
            cert_not_after: Some(now + expires),
            renewal_due_at: Some(now + due),
            renewal_failures: failures,
        }
    }

    #[test]
    fn what_needs_attention_and_what_does_not() {
        let now = OffsetDateTime::now_utc();
        let hours = Duration::hours;
        assert!(attention(&status(now, vec![]), now).is_empty());
        let healthy = peer(PeerStatus::Active, hours(10), hours(5), 0);
        assert!(attention(&status(now, vec![healthy]), now).is_empty());
        let cases = [
            (
                peer(PeerStatus::Pending, hours(10), hours(5), 0),
                "peer finish p1",
            ),
            (peer(PeerStatus::Active, hours(-1), hours(-5), 0), "expired"),
            (
                peer(PeerStatus::Active, hours(10), hours(-1), 2),
                "2 renewals failed",
            ),
            (peer(PeerStatus::Active, hours(10), hours(-1), 0), "overdue"),
        ];
        for (p, words) in cases {
            let said = attention(&status(now, vec![p]), now);
            assert_eq!(said.len(), 1, "{said:?}");
            assert!(said[0].contains(words), "{said:?} lacks {words}");
        }
        let mut s = status(now, vec![]);
        s.ca_not_after = now + Duration::days(29);
        assert!(attention(&s, now)[0].contains("CA expires in"));
        s.ca_not_after = now + Duration::days(31);
        assert!(attention(&s, now).is_empty());
        s.ca_not_after = now - Duration::days(1);
        assert!(attention(&s, now)[0].contains("CA has expired"));
    }
}
