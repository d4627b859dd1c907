//! Timestamps on the wire and in JSON output: RFC 3339 in UTC with exactly three
//! fractional digits (`2026-04-22T06:06:45.120Z`), so that every timestamp has the same
//! length and sorts as text. On the way in, any RFC 3339 `date-time` as JSON Schema reads
//! it ([`parse`]).

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

const MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `t` in UTC, to the millisecond (truncated), as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(MILLIS)
        .unwrap_or_else(|_| t.to_string())
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// An RFC 3339 `date-time` (section 5.6, as JSON Schema's `format` reads it): `T` (or
/// `t`) between date and time, year 0001 or later, no leap second (`:60`, which the time
/// library would fold into `:59`). The document promises exactly this, so what a client
/// validates against it is what the gateway takes.
pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| e.to_string())?;
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return Err("the date and the time must be separated by `T`".into());
    }
    if text.get(17..19) == Some("60") {
        return Err("leap seconds (`:60`) are not accepted".into());
    }
    if t.year() < 1 {
        return Err("the year must be 0001 or later".into());
    }
    Ok(t)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse(&text).map_err(|e| D::Error::custom(format!("not an RFC 3339 time: {e}")))
}

/// The same for `Option<OffsetDateTime>`: `null` when absent.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<std::borrow::Cow<'de, str>>::deserialize(d)?
            .map(|text| super::parse(&text))
            .transpose()
            .map_err(|e| D::Error::custom(format!("not an RFC 3339 time: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn only_rfc3339_date_times_as_json_schema_reads_them() {
        for ok in [
            "2030-01-01T00:00:00Z",
            "2030-01-01t00:00:00z",
            "2030-01-01T00:00:00.123456789+02:00",
            "0001-01-01T00:00:00-00:00",
        ] {
            assert!(super::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2030-01-01 00:00:00Z",
            "1990-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "2030-02-30T00:00:00Z",
            "2030-01-01T00:00:00",
        ] {
            assert!(super::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn always_three_digits_in_utc() {
        assert_eq!(
            super::format(datetime!(2026-04-22 08:06:45.54 +02:00)),
            "2026-04-22T06:06:45.540Z"
        );
        assert_eq!(
            super::format(datetime!(2026-04-22 06:06:45 UTC)),
            "2026-04-22T06:06:45.000Z"
        );
        assert_eq!(
            super::format(datetime!(2026-04-22 06:06:45.123999 UTC)),
            "2026-04-22T06:06:45.123Z"
        );
    }
}
