//! What may be shown of a URL: the enrollment token (the path segment after
//! `/api/federation/enrollment/`) and any user name or password never appear in a message
//! or a log line. Works on the URL's structure, never on byte offsets.

use url::{Position, Url};

use crate::api::paths::{ENROLLMENT as ENROLLMENT_PATH_MARKER, ENROLLMENT_SEGMENTS};

/// What replaces an enrollment token in every message and log line.
pub const REDACTED: &str = "<redacted>";

/// The URL as it may appear in a message or log: the enrollment token (the path segment
/// after `/api/federation/enrollment/`) replaced by `<redacted>`, credentials dropped.
/// A URL with neither is returned as given.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        return redact_text(raw);
    };
    let Some(segments) = url.path_segments() else {
        return redact_text(raw);
    };
    let segments: Vec<String> = segments.map(str::to_string).collect();
    let token_at = token_index(&segments);
    if token_at.is_none() && url.username().is_empty() && url.password().is_none() {
        return raw.to_string();
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let path: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| if Some(i) == token_at { REDACTED } else { s })
        .collect();
    format!(
        "{}/{}{}",
        &url[..Position::BeforePath],
        path.join("/"),
        &url[Position::AfterPath..]
    )
}

/// The enrollment token of a URL: the path segment after `/api/federation/enrollment/`.
pub fn enrollment_token(url: &Url) -> Option<&str> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    token_index(&segments).map(|i| segments[i])
}

/// Where the token is among the path segments: right after `api/federation/enrollment`,
/// and not empty.
fn token_index<S: AsRef<str>>(segments: &[S]) -> Option<usize> {
    segments
        .windows(ENROLLMENT_SEGMENTS.len() + 1)
        .position(|w| {
            w.iter()
                .zip(ENROLLMENT_SEGMENTS)
                .all(|(s, want)| s.as_ref() == want)
                && !w[ENROLLMENT_SEGMENTS.len()].as_ref().is_empty()
        })
        .map(|i| i + ENROLLMENT_SEGMENTS.len())
}

/// Redaction of text that does not parse as a URL (it still appears in the error that
/// says so): whatever follows the enrollment path up to `/`, `?` or `#` is the token.
fn redact_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((before, after)) = rest.split_once(ENROLLMENT_PATH_MARKER) {
        out.push_str(before);
        out.push_str(ENROLLMENT_PATH_MARKER);
        // `find` yields a character boundary, so the split can never cut a character.
        let (token, tail) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
        if !token.is_empty() {
            out.push_str(REDACTED);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_enrollment_tokens() {
        assert_eq!(
            redact_url("https://a.example/api/federation/enrollment/s3cr3t"),
            "https://a.example/api/federation/enrollment/<redacted>"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/x/api/federation/enrollment/s3cr3t?y=1#z"),
            "http://127.0.0.1:9/x/api/federation/enrollment/<redacted>?y=1#z"
        );
        assert_eq!(
            redact_url("https://a.example/api/admin/federation/grants?limit=1000"),
            "https://a.example/api/admin/federation/grants?limit=1000"
        );
        assert_eq!(
            redact_url("https://u:pw@a.example/api/federation/enrollment/tok/"),
            "https://a.example/api/federation/enrollment/<redacted>/"
        );
        assert_eq!(
            redact_url("not a url /api/federation/enrollment/"),
            "not a url /api/federation/enrollment/"
        );
        assert_eq!(
            redact_url("not a url /api/federation/enrollment/s3cr3t/x"),
            "not a url /api/federation/enrollment/<redacted>/x"
        );
    }

    /// Regression: a multi-byte character right after the enrollment path made the old
    /// byte-stepping loop slice inside it and panic.
    #[test]
    fn multi_byte_characters_never_panic() {
        for raw in [
            "nota url/api/federation/enrollment/#12345678é",
            "nota url/api/federation/enrollment/é",
            "nota url/api/federation/enrollment/tökén/api/federation/enrollment/ü",
            "https://a.example/api/federation/enrollment/tökén?é#é",
            "https://a.example/api/federation/enrollment/é",
            "é/api/federation/enrollment/",
        ] {
            let shown = redact_url(raw);
            assert!(!shown.contains("tökén"), "{raw} -> {shown}");
        }
        assert_eq!(
            redact_url("nota url/api/federation/enrollment/#12345678é"),
            "nota url/api/federation/enrollment/#12345678é"
        );
        assert_eq!(
            redact_url("https://a.example/api/federation/enrollment/é"),
            "https://a.example/api/federation/enrollment/<redacted>"
        );
    }

    #[test]
    fn finds_the_token_by_path_segment() {
        let url = Url::parse("https://a.example/p/api/federation/enrollment/tok/x?q#f").unwrap();
        assert_eq!(enrollment_token(&url), Some("tok"));
        let url = Url::parse("https://a.example/api/federation/enrollment/").unwrap();
        assert_eq!(enrollment_token(&url), None);
        let url = Url::parse("https://a.example/api/federation/enrollmentx/tok").unwrap();
        assert_eq!(enrollment_token(&url), None);
    }
}
