//! Refused requests in the audit log, with repeats from one address collapsed, so that
//! probing is visible without growing the log without bound: refused enrollment requests
//! (previews and POSTs) as `enrollment.refused`, refused data-plane requests
//! (`/api/federation/v1/...`) as `federation.refused` (docs/gateway.md, "Refused
//! enrollments in the audit log" and "Refused data-plane requests in the audit log").
//!
//! Per (kind, client address, grant, reason) and per one-minute window, the 1st, 2nd, 4th,
//! 8th, ... refusal is written; each written row says how many refusals it stands for
//! (itself and the ones since the previous row), and what is left when the window ends is
//! written as one last row (by [`RefusalLog::due`], run every few seconds and at shutdown).
//! So N identical refusals in a minute cost at most 2 + log2(N) rows, and the counts of the
//! rows add up to N.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::store::audit::{Actor, Event};
use super::store::{Store, StoreError};
use mosaic_contract::types::AuditAction;

/// The window over which repeats are collapsed.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Keys tracked at once; past it, refusals from further addresses share one key (the
/// address then reads `other addresses`), so the table stays bounded too.
const TRACKED: usize = 10_000;

/// Which endpoint refused, hence which audit action its rows are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `enrollment.refused`, by the enrollment endpoint.
    Enrollment,
    /// `federation.refused`, by the data plane; its rows name the peer too.
    Federation,
}

/// What a refusal is collapsed with: the same reason for the same grant (and peer) from
/// one address, at the same endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: Kind,
    addr: Option<IpAddr>,
    grant_id: Option<String>,
    peer_id: Option<String>,
    why: String,
}

#[derive(Debug)]
struct Slot {
    started: Instant,
    /// Refusals seen in this window.
    seen: u64,
    /// Refusals accounted for by rows already written.
    written: u64,
}

/// A row to append to the audit log (as `enrollment.refused` or `federation.refused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: Kind,
    pub grant_id: Option<String>,
    pub peer_id: Option<String>,
    pub detail: String,
}

/// The collapsing state, shared by all requests.
#[derive(Debug, Default)]
pub struct RefusalLog {
    slots: Mutex<HashMap<Key, Slot>>,
}

impl RefusalLog {
    /// Counts one refused enrollment request; the rows to write for it now (none when it
    /// is collapsed into a later row; two when it also closes its key's previous window).
    pub fn refused(
        &self,
        addr: Option<IpAddr>,
        grant_id: Option<&str>,
        why: &str,
        now: Instant,
    ) -> Vec<Row> {
        self.count(
            Key {
                kind: Kind::Enrollment,
                addr,
                grant_id: grant_id.map(str::to_string),
                peer_id: None,
                why: why.to_string(),
            },
            now,
        )
    }

    /// Counts one refused data-plane request, of `grant` (its ID and peer ID) when the
    /// certificate named one; the rows to write for it now, as [`RefusalLog::refused`].
    pub fn refused_federation(
        &self,
        addr: Option<IpAddr>,
        grant: Option<(&str, &str)>,
        why: &str,
        now: Instant,
    ) -> Vec<Row> {
        self.count(
            Key {
                kind: Kind::Federation,
                addr,
                grant_id: grant.map(|(id, _)| id.to_string()),
                peer_id: grant.map(|(_, peer)| peer.to_string()),
                why: why.to_string(),
            },
            now,
        )
    }

    fn count(&self, mut key: Key, now: Instant) -> Vec<Row> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows = Vec::new();
        if !slots.contains_key(&key) && slots.len() >= TRACKED {
            rows.extend(take_ended(&mut slots, now));
            if slots.len() >= TRACKED {
                key.addr = None;
            }
        }
        let slot = slots.entry(key.clone()).or_insert(Slot {
            started: now,
            seen: 0,
            written: 0,
        });
        if now.duration_since(slot.started) >= WINDOW {
            rows.extend(closing_row(&key, slot));
            *slot = Slot {
                started: now,
                seen: 0,
                written: 0,
            };
        }
        slot.seen += 1;
        if slot.seen.is_power_of_two() {
            let count = slot.seen - slot.written;
            slot.written = slot.seen;
            rows.push(row(&key, count, slot.seen, "in this minute"));
        }
        rows
    }

    /// The closing rows of every window that has ended, which are forgotten.
    pub fn due(&self, now: Instant) -> Vec<Row> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        take_ended(&mut slots, now)
    }

    /// The closing rows of every window, ended or not (at shutdown).
    pub fn flush(&self) -> Vec<Row> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .drain()
            .filter_map(|(key, slot)| closing_row(&key, &slot))
            .collect()
    }
}

/// Appends `rows` to the audit log (`enrollment.refused` or `federation.refused`), one
/// transaction each.
pub async fn write(store: &Store, rows: Vec<Row>) -> Result<(), StoreError> {
    for row in rows {
        store
            .write(move |_, _| {
                let mut event = match row.kind {
                    Kind::Enrollment => {
                        Event::new(AuditAction::EnrollmentRefused, Actor::Enrollment)
                    }
                    Kind::Federation => Event::new(AuditAction::FederationRefused, Actor::Peer),
                }
                .detail(row.detail);
                event.grant_id = row.grant_id;
                event.peer_id = row.peer_id;
                Ok::<_, StoreError>(((), event))
            })
            .await?;
    }
    Ok(())
}

/// Every few seconds, writes the closing rows of the windows that ended; runs until the
/// gateway stops (whose shutdown writes the rest with [`RefusalLog::flush`]).
pub async fn run_closer(log: std::sync::Arc<RefusalLog>, store: Store) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let rows = log.due(Instant::now());
        if let Err(e) = write(&store, rows).await {
            tracing::warn!("writing collapsed refusals to the audit log: {e}");
        }
    }
}

fn take_ended(slots: &mut HashMap<Key, Slot>, now: Instant) -> Vec<Row> {
    let mut rows = Vec::new();
    slots.retain(|key, slot| {
        if now.duration_since(slot.started) < WINDOW {
            return true;
        }
        rows.extend(closing_row(key, slot));
        false
    });
    rows
}

/// The row for the refusals of a window not yet written, if any.
fn closing_row(key: &Key, slot: &Slot) -> Option<Row> {
    (slot.seen > slot.written).then(|| {
        row(
            key,
            slot.seen - slot.written,
            slot.seen,
            "in the minute that ended",
        )
    })
}

fn row(key: &Key, count: u64, seen: u64, window: &str) -> Row {
    let from = match key.addr {
        Some(addr) => addr.to_string(),
        None => "other addresses".to_string(),
    };
    let detail = if count == 1 && seen == 1 {
        format!("{}; from {from}", key.why)
    } else {
        format!(
            "{}; from {from}; {count} {} like it collapsed into this row ({seen} {window})",
            key.why,
            if count == 1 { "refusal" } else { "refusals" }
        )
    };
    Row {
        kind: key.kind,
        grant_id: key.grant_id.clone(),
        peer_id: key.peer_id.clone(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(row: &Row) -> u64 {
        match row.detail.split("; ").nth(2) {
            None => 1,
            Some(rest) => rest.split(' ').next().unwrap().parse().unwrap(),
        }
    }

    #[test]
    fn repeats_are_written_at_powers_of_two_and_the_rest_when_the_window_ends() {
        let log = RefusalLog::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows.extend(log.refused(Some(ip), None, "unknown token", t0));
        }
        // 1, 2, 4, 8, 16, 32, 64.
        assert_eq!(rows.len(), 7, "{rows:#?}");
        assert_eq!(rows[0].detail, "unknown token; from 192.0.2.7");
        assert_eq!(
            rows[6].detail,
            "unknown token; from 192.0.2.7; 32 refusals like it collapsed into this row \
             (64 in this minute)"
        );
        assert!(log.due(t0 + Duration::from_secs(59)).is_empty());
        let closing = log.due(t0 + WINDOW);
        assert_eq!(closing.len(), 1);
        assert!(
            closing[0]
                .detail
                .ends_with("(100 in the minute that ended)")
        );
        rows.extend(closing);
        assert_eq!(rows.iter().map(count).sum::<u64>(), 100);
        assert!(log.flush().is_empty(), "the ended window was forgotten");
    }

    #[test]
    fn keys_are_apart_and_a_new_window_closes_the_old_one() {
        let log = RefusalLog::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            log.refused(Some(a), Some("g1"), "token tok_1 was already used", t0);
        }
        assert_eq!(log.refused(Some(b), None, "unknown token", t0).len(), 1);
        assert_eq!(log.refused(Some(a), None, "unknown token", t0).len(), 1);
        let later = log.refused(
            Some(a),
            Some("g1"),
            "token tok_1 was already used",
            t0 + WINDOW,
        );
        assert_eq!(later.len(), 2, "{later:#?}");
        assert_eq!(later[0].grant_id.as_deref(), Some("g1"));
        assert!(later[0].detail.contains("1 refusal like it") && later[0].detail.contains("(3 "));
        assert_eq!(
            later[1].detail,
            "token tok_1 was already used; from 192.0.2.1"
        );
    }

    #[test]
    fn data_plane_refusals_are_apart_from_enrollment_ones_and_name_the_peer() {
        let log = RefusalLog::default();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        let mut rows = Vec::new();
        for _ in 0..51 {
            rows.extend(log.refused_federation(Some(ip), None, "certificate_required", t0));
        }
        rows.extend(log.refused(Some(ip), None, "certificate_required", t0));
        let grant = Some(("g1", "peer-1"));
        rows.extend(log.refused_federation(Some(ip), grant, "grant_inactive", t0));
        // 1, 2, 4, 8, 16, 32; then one enrollment row and one for the grant.
        assert_eq!(rows.len(), 8, "{rows:#?}");
        assert!(rows[..6].iter().all(|r| r.kind == Kind::Federation));
        assert_eq!(rows[6].kind, Kind::Enrollment);
        assert_eq!(rows[7].grant_id.as_deref(), Some("g1"));
        assert_eq!(rows[7].peer_id.as_deref(), Some("peer-1"));
        let closing = log.flush();
        assert_eq!(closing.len(), 1, "{closing:#?}");
        rows.extend(closing);
        let federation: u64 = rows
            .iter()
            .filter(|r| r.kind == Kind::Federation && r.grant_id.is_none())
            .map(count)
            .sum();
        assert_eq!(federation, 51);
    }

    #[test]
    fn the_table_is_bounded() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        for i in 0..(TRACKED as u32 + 50) {
            let ip = IpAddr::from(i.to_be_bytes());
            log.refused(Some(ip), None, "unknown token", t0);
        }
        let slots = log.slots.lock().unwrap();
        assert_eq!(slots.len(), TRACKED + 1);
        assert!(slots.keys().any(|k| k.addr.is_none()));
    }
}
