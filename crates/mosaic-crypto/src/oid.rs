//! The custom certificate extensions that bind a federation client certificate to its
//! grant. Each is a non-critical extension whose value is one ASN.1 UTF8String.
//!
//! The arc 1.3.6.1.4.1.32473 is the enterprise number reserved for documentation
//! (RFC 5612); a deployment with its own registered arc changes these two constants only.

/// Extension holding the grant ID.
pub const GRANT_ID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];
/// Extension holding the subject user ID.
pub const SUBJECT_USER_ID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 2];

/// Dotted form of an OID, e.g. `1.3.6.1.4.1.32473.1.1`.
pub fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// DER of an ASN.1 UTF8String: the value of each custom extension.
pub fn utf8_string_der(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = vec![0x0c];
    let len = bytes.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CertificateAuthority, ClientCertProfile};
    use crate::keys::PeerKey;
    use crate::verify::{Expected, VerifyError, verify_issued_cert};
    use time::{Duration, OffsetDateTime};

    /// 127 and 128 bytes are the two sides of DER's short and long length forms; 255 and
    /// 256 the one- and two-byte long forms; 256 is the longest ID the gateway stores.
    #[test]
    fn ids_at_the_der_length_boundaries_round_trip() {
        let ca = CertificateAuthority::generate("test CA", Duration::days(30)).unwrap();
        let key = PeerKey::generate().unwrap();
        let csr = key.csr_pem("peer").unwrap();
        for (len, header) in [
            (127, &[0x0c, 0x7f][..]),
            (128, &[0x0c, 0x81, 0x80]),
            (129, &[0x0c, 0x81, 0x81]),
            (255, &[0x0c, 0x81, 0xff]),
            (256, &[0x0c, 0x82, 0x01, 0x00]),
        ] {
            let grant = "g".repeat(len);
            let user = "u".repeat(len);
            let der = utf8_string_der(&user);
            assert_eq!(&der[..header.len()], header, "{len} bytes");
            assert_eq!(der.len(), header.len() + len, "{len} bytes");

            let profile = ClientCertProfile::new(&grant, &user, Duration::days(7));
            let cert = ca.issue(&csr, &profile).unwrap().pem;
            let expected = Expected {
                public_key_spki: key.spki_der(),
                grant_id: &grant,
                subject_user_id: &user,
                ca_fingerprint: Some(ca.fingerprint()),
            };
            verify_issued_cert(&cert, ca.cert_pem(), &expected, OffsetDateTime::now_utc())
                .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
            // One byte less is another ID, and says so.
            let shorter = Expected {
                subject_user_id: &user[1..],
                ..expected
            };
            let err = verify_issued_cert(&cert, ca.cert_pem(), &shorter, OffsetDateTime::now_utc())
                .unwrap_err();
            assert!(
                matches!(&err, VerifyError::ExtensionMismatch { actual, .. } if *actual == user),
                "{len} bytes: {err:?}"
            );
        }
    }

    #[test]
    fn utf8_string_der_encodes_long_values() {
        assert_eq!(utf8_string_der("ab"), vec![0x0c, 2, b'a', b'b']);
        let long = "x".repeat(300);
        let der = utf8_string_der(&long);
        assert_eq!(&der[..4], &[0x0c, 0x82, 0x01, 0x2c]);
        assert_eq!(der.len(), 304);
    }
}
