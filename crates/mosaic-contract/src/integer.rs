//! Integers as JSON Schema reads them: `600` and `600.0` are the same integer (a number
//! with a zero fractional part), so a body valid under the OpenAPI document is accepted.
//! `600.5`, a negative number or one past the type's range is refused, naming both.

use serde::{Deserialize, Deserializer, de::Error};

/// A `u32` written as an integer or as a number with a zero fractional part.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole(serde_json::Number::deserialize(d)?)
}

/// [`u32`] for an optional field (with `#[serde(default)]`): `null` is `None`.
pub fn option_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(whole)
        .transpose()
}

fn whole<E: Error>(n: serde_json::Number) -> Result<u32, E> {
    if let Some(n) = n.as_u64() {
        return u32::try_from(n).map_err(|_| E::custom(format!("{n} is out of range")));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u32),
        _ => Err(E::custom(format!(
            "invalid value: {n}, expected a whole number from 0 to {}",
            u32::MAX
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::u32")]
        n: u32,
    }

    fn read(json: &str) -> Result<u32, String> {
        serde_json::from_str::<T>(json)
            .map(|t| t.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_are_integers_and_the_rest_is_refused() {
        assert_eq!(read(r#"{"n": 600}"#), Ok(600));
        assert_eq!(read(r#"{"n": 600.0}"#), Ok(600));
        assert_eq!(read(r#"{"n": 6e2}"#), Ok(600));
        assert!(
            read(r#"{"n": 600.5}"#)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(read(r#"{"n": -1}"#).unwrap_err().contains("whole number"));
        assert!(
            read(r#"{"n": 4294967296}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(read(r#"{"n": "600"}"#).is_err());
    }
}
