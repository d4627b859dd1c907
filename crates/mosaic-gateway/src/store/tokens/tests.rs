//! The token store against a real database: a token is found only by its hash, spent
//! once, and its history tells unused, expired (at `expires_at` exactly) and redeemed.

use super::*;
use crate::store::grants;
use crate::testkit::{TestGateway, grant};
use mosaic_contract::types::GrantStatus;
use rusqlite::Connection;

const NOW: i64 = 1_800_000_000_000;

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

/// A database with grant `g1` (pending) and its tokens `t1` (issued first, expires at
/// NOW), `t2` (expires 1 ms after NOW) and `t3`.
fn store() -> (TestGateway, Connection) {
    let gw = TestGateway::new();
    let conn = gw.conn();
    grants::insert(&conn, &grant("g1", GrantStatus::Pending, None)).expect("grant");
    insert(&conn, "t1", "g1", &hash(1), NOW - 3000, NOW).expect("t1");
    insert(&conn, "t2", "g1", &hash(2), NOW - 2000, NOW + 1).expect("t2");
    insert(&conn, "t3", "g1", &hash(3), NOW - 1000, NOW + 60_000).expect("t3");
    (gw, conn)
}

#[test]
fn a_token_is_found_by_its_hash_only() {
    let (_gw, conn) = store();
    let t2 = find_by_hash(&conn, &hash(2)).expect("query").expect("t2");
    assert_eq!(t2.handle, "t2");
    assert_eq!(t2.grant_id, "g1");
    assert_eq!(t2.token_hash, hash(2).to_vec());
    assert_eq!(t2.expires_at, NOW + 1);
    assert_eq!(t2.redeemed_at, None);
    assert!(find_by_hash(&conn, &hash(9)).expect("query").is_none());
    // A token hash is unique: the same hash cannot be stored for another token.
    assert!(insert(&conn, "t4", "g1", &hash(2), NOW, NOW + 1).is_err());
}

#[test]
fn a_token_is_redeemed_once_and_records_the_certificate() {
    let (_gw, conn) = store();
    assert!(redeem(&conn, "t3", NOW, "sha256:aa").expect("redeem"));
    assert!(!redeem(&conn, "t3", NOW + 5, "sha256:bb").expect("again"));
    assert!(!redeem(&conn, "nope", NOW, "sha256:cc").expect("unknown"));
    let t3 = find_by_hash(&conn, &hash(3)).expect("query").expect("t3");
    assert_eq!(t3.redeemed_at, Some(NOW));
    let records = history(&conn, "g1", NOW).expect("history");
    assert_eq!(records[2].cert_fingerprint.as_deref(), Some("sha256:aa"));
}

#[test]
fn the_history_tells_unused_expired_and_redeemed_tokens_apart_oldest_first() {
    let (_gw, conn) = store();
    redeem(&conn, "t3", NOW - 10, "sha256:aa").expect("redeem");
    let records = history(&conn, "g1", NOW).expect("history");
    let states: Vec<_> = records
        .iter()
        .map(|t| (t.handle.as_str(), t.state))
        .collect();
    assert_eq!(
        states,
        [
            ("t1", TokenState::Expired),
            ("t2", TokenState::Unused),
            ("t3", TokenState::Redeemed),
        ]
    );
    assert_eq!(records[0].issued_at, from_ms(NOW - 3000));
    assert_eq!(records[0].expires_at, from_ms(NOW));
    assert_eq!(records[0].redeemed_at, None);
    assert_eq!(records[2].redeemed_at, Some(from_ms(NOW - 10)));
    // A millisecond later, t2 has expired too; a redeemed token stays redeemed.
    let later = history(&conn, "g1", NOW + 1).expect("history");
    assert_eq!(later[1].state, TokenState::Expired);
    assert_eq!(later[2].state, TokenState::Redeemed);
    assert!(history(&conn, "g2", NOW).expect("other grant").is_empty());
}
