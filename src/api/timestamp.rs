//! Timestamps on the wire and in JSON output: RFC 3339 in UTC with exactly three
//! fractional digits (`2026-04-22T06:06:45.120Z`), so that every timestamp has the same
//! length and sorts as text. Any RFC 3339 time is accepted on the way in.

use serde::{Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::FormatItem;
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

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(d)
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
        time::serde::rfc3339::option::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

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
