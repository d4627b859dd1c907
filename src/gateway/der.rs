//! The one ASN.1 value the gateway writes and reads by hand: the DER UTF8String that is
//! the value of each custom certificate extension (see `crypto::oid`).

const UTF8_STRING: u8 = 0x0c;

/// `s` as a DER UTF8String: tag 0x0C, the definite length in the fewest bytes, the bytes.
pub fn encode_utf8_string(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 6);
    out.push(UTF8_STRING);
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

/// The text of a DER UTF8String that fills `der` exactly; refuses other types, BER
/// lengths, trailing bytes and invalid UTF-8.
pub fn decode_utf8_string(der: &[u8]) -> Result<&str, &'static str> {
    let (&tag, rest) = der.split_first().ok_or("empty value")?;
    if tag != UTF8_STRING {
        return Err("not a UTF8String");
    }
    let (&first, rest) = rest.split_first().ok_or("truncated length")?;
    let (len, body) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad length");
        }
        let (len_bytes, body) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len_bytes[0] == 0 || len < 0x80 {
            return Err("length is not in its shortest (DER) form");
        }
        (len, body)
    };
    if body.len() != len {
        return Err("length does not match the value");
    }
    std::str::from_utf8(body).map_err(|_| "not valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_round_trip() {
        assert_eq!(encode_utf8_string("ab"), vec![0x0c, 2, b'a', b'b']);
        for len in [0, 1, 127, 128, 255, 256, 70_000] {
            let s = "x".repeat(len);
            let der = encode_utf8_string(&s);
            assert_eq!(decode_utf8_string(&der).unwrap(), s);
        }
        assert_eq!(
            &encode_utf8_string(&"y".repeat(200))[..3],
            &[0x0c, 0x81, 200]
        );
    }

    #[test]
    fn non_der_values_are_refused() {
        assert!(decode_utf8_string(&[0x13, 1, b'a']).is_err()); // PrintableString
        assert!(decode_utf8_string(&[0x0c, 0x81, 5, 1, 2, 3, 4, 5]).is_err()); // long form for 5
        assert!(decode_utf8_string(&[0x0c, 1, b'a', b'b']).is_err()); // trailing byte
        assert!(decode_utf8_string(&[0x0c, 1, 0xff]).is_err()); // bad UTF-8
    }
}
