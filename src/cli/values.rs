//! The values of flags that clap's own parsers do not cover: durations, times, a TTL with
//! its reason, grant statuses, audit actions, resource names. Each error says what is
//! expected.

use crate::api::types::{AuditAction, GrantStatus, Resource, TOKEN_TTL_RANGE};

/// The resource names a grant can expose, as clap's possible values.
pub fn resource_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Resource::ALL.map(|r| r.as_str()))
}

/// `--since`: a duration back from now, or an absolute RFC 3339 time.
pub fn parse_since(s: &str) -> Result<time::OffsetDateTime, String> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let d = humantime::parse_duration(s).map_err(|_| {
        "expected a duration such as 90m, 24h or 7d, or an RFC 3339 time such as 2026-11-01T00:00:00Z"
            .to_string()
    })?;
    time::Duration::try_from(d)
        .ok()
        .and_then(|d| time::OffsetDateTime::now_utc().checked_sub(d))
        .ok_or_else(|| {
            "the duration reaches back before year -9999; give a shorter one".to_string()
        })
}

pub fn parse_action(s: &str) -> Result<AuditAction, String> {
    s.parse().map_err(|e: String| {
        let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        format!("{e} (one of: {})", all.join(", "))
    })
}

/// A positive duration such as `90s`, `15m`, `12h`, `30d` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|_| duration_mistake(s))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// What is wrong with a duration, in our words (the library's would suggest `30sec`).
fn duration_mistake(s: &str) -> String {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return format!(
            "\"{t}\" has no unit: write {t}d (days), {t}h (hours), {t}m (minutes) or {t}s (seconds)"
        );
    }
    let unit: String = t
        .trim_start_matches(|c: char| c.is_ascii_digit() || c.is_whitespace())
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect();
    let suggestion = match unit.as_str() {
        "mo" | "mon" | "month" | "months" => " (a month is not a fixed length: write 30d)",
        _ => "",
    };
    format!(
        "not a duration: write a number and a unit, s, m, h, d or w, such as 90m, 12h or \
         30d{suggestion}"
    )
}

pub fn parse_ttl(s: &str) -> Result<u32, String> {
    let (lo, hi) = (TOKEN_TTL_RANGE.start(), TOKEN_TTL_RANGE.end());
    match s.trim().parse::<i64>() {
        Ok(n) if (i64::from(*lo)..=i64::from(*hi)).contains(&n) => Ok(n as u32),
        Ok(n) => Err(format!(
            "must be from {lo} to {hi} seconds (tokens live at most 15 minutes), got {n}"
        )),
        Err(_) => Err(format!(
            "must be a whole number of seconds from {lo} to {hi}"
        )),
    }
}

pub fn parse_status(s: &str) -> Result<GrantStatus, String> {
    s.parse()
}

pub fn parse_future_time(s: &str) -> Result<time::OffsetDateTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2026-12-31T23:59:59Z ({e})"))?;
    if t <= time::OffsetDateTime::now_utc() {
        return Err("must be in the future".into());
    }
    Ok(t)
}
