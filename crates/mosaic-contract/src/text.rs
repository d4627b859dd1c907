//! Which characters may reach a terminal: the one rule the CLI escapes by and the gateway
//! refuses by, so that a string from a gateway or a stored record cannot move the cursor,
//! retitle the window, clear the screen or reorder what the operator reads.

use std::borrow::Cow;

/// Control characters (C0, DEL, C1), bidirectional formatting characters (Unicode
/// Trojan Source, CVE-2021-42574) and the two Unicode line breaks that end a line in some
/// terminals.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Longest ID, name or free text a gateway stores, in characters (as JSON Schema's
/// `maxLength` counts them).
pub const MAX_TEXT_CHARS: usize = 256;

/// A field that breaks a rule of the contract. The message names the field and the rule,
/// never the value (which may hold anything, escape sequences included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The field as the wire names it: `user_id`, `scope.resources`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, rule: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: format!("{field} {rule}"),
        }
    }
}

/// An opaque ID or name chosen by a client (user, peer, grant IDs in bodies and queries):
/// present, at most [`MAX_TEXT_CHARS`], no [unsafe character](is_unsafe_char), no
/// whitespace at either end. The gateway refuses by it; the CLI checks by it first.
pub fn check_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(FieldError::new(
            field,
            &format!("is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    check_printable(field, value)?;
    if value.trim() != value {
        return Err(FieldError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

/// Any text a gateway stores and shows again (IDs, names, reasons, URLs): no
/// [unsafe character](is_unsafe_char), so nothing it hands out can drive a terminal.
pub fn check_printable(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().any(is_unsafe_char) {
        return Err(FieldError::new(
            field,
            "must not contain control or bidirectional formatting characters",
        ));
    }
    Ok(())
}

/// `s` with every [unsafe character](is_unsafe_char) written as a visible escape
/// (`\n`, `\t`, `\x1b`, `\u{202e}`): one line, printable as it stands.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_keeping(s, false)
}

/// [`escape`], keeping `\n` as a line break: for multi-line text this program made
/// (tables) around values that were already escaped.
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    escape_keeping(s, true)
}

/// A JSON text with every [unsafe character](is_unsafe_char) left in it by the encoder
/// (DEL, C1 controls, bidi) written as a `\uXXXX` escape: the same JSON value, to the
/// byte once decoded, and nothing in it that a terminal acts on. Such characters can only
/// be inside strings, where the escape means the same character.
pub fn json_ascii_safe(json: String) -> String {
    if !json.chars().any(is_unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_char(c) && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` pretty-printed as JSON (as `serde_json::to_string_pretty` prints it) onto
/// `out`, with every [unsafe character](is_unsafe_char) the encoder leaves in a string
/// written as a `\uXXXX` escape: the bytes [`json_ascii_safe`] makes of that text, in one
/// pass instead of three (encode, scan, copy).
pub fn write_json_safe<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, SafePretty::default());
    value.serialize(&mut ser)
}

/// serde_json's pretty layout, with unsafe characters inside strings escaped. Outside
/// strings the encoder writes only ASCII punctuation, digits, spaces and `\n`.
#[derive(Default)]
struct SafePretty(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafePretty {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Printable ASCII, the common case, goes out as is; only a fragment with a byte
        // outside it is looked at character by character.
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe_char(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn escape_keeping(s: &str, lines: bool) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| is_unsafe_char(c) && !(lines && c == '\n'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if lines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_and_keeps_the_rest() {
        assert_eq!(escape("gw-b \u{e9}\u{4e2d}"), "gw-b \u{e9}\u{4e2d}");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("\x1b]0;x\x07\x1b[2J"), "\\x1b]0;x\\x07\\x1b[2J");
        assert_eq!(escape("a\nb\r\tc\u{7f}\u{9b}"), "a\\nb\\r\\tc\\x7f\\x9b");
        assert_eq!(escape("u\u{202e}fdp.exe"), "u\\u{202e}fdp.exe");
        assert_eq!(
            escape("\u{2066}\u{2069}\u{200f}\u{2028}"),
            "\\u{2066}\\u{2069}\\u{200f}\\u{2028}"
        );
        assert_eq!(escape_keeping_lines("a\nb\x1b"), "a\nb\\x1b");
    }

    #[test]
    fn json_stays_the_same_value_without_unsafe_characters() {
        let value = serde_json::json!({"m": "a\u{1b}[2J\u{7f}\u{9b}\u{202e}\u{2069}z\n", "k": [1]});
        let text = json_ascii_safe(serde_json::to_string_pretty(&value).unwrap());
        assert!(
            !text.chars().any(|c| is_unsafe_char(c) && c != '\n'),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }

    #[test]
    fn the_one_pass_writer_makes_the_bytes_of_the_three_pass_one() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let value = serde_json::json!({
            "all": all,
            "m": "a\u{1b}[2J\u{7f}\u{9b}\u{202e}\u{2069}z\n\"\\",
            "k": [1, {"e": [], "o": {}}, null, 2.5, "\u{e9}\u{4e2d}"],
        });
        let mut out = Vec::new();
        write_json_safe(&mut out, &value).unwrap();
        let expected = json_ascii_safe(serde_json::to_string_pretty(&value).unwrap());
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn nothing_unsafe_survives_escaping() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = escape(&all);
        assert!(!out.chars().any(is_unsafe_char));
        let out = escape_keeping_lines(&all);
        assert!(!out.chars().any(|c| is_unsafe_char(c) && c != '\n'));
    }
}
