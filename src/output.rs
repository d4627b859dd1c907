//! Rendering: tables for people, exactly one JSON document for scripts, or just what a
//! script asked for (`-q`: the identifying value; `--jq EXPR`: fields picked by a jq
//! expression). All printing goes through here and survives a closed pipe
//! (`mosaic … | head -1` ends quietly, exit 0). Hints for people go to standard error, and
//! only when it is a terminal.

use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::OnceLock;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::api::text::{escape, escape_keeping_lines, json_ascii_safe, write_json_safe};
use crate::error::{Error, Result};

/// `--output`: a table for people (`wide`: every column, nothing shortened), or exactly
/// one JSON document for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
}

impl OutputFormat {
    /// The word of `--output` (and of a profile's `output`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Wide => "wide",
            OutputFormat::Json => "json",
        }
    }

    /// Whether the output is for people (a table, narrow or wide).
    pub fn is_table(self) -> bool {
        self != OutputFormat::Json
    }
}

/// How output is shaped beyond its format, set once by `main` from `-q`, `--jq`,
/// `--no-headers` and `-o wide`.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// `-q`: only the identifying value of what the command produced.
    pub quiet: bool,
    /// `--jq EXPR`: the results of the expression run on the JSON document.
    pub jq: Option<String>,
    /// `--no-headers`: list tables without their header row.
    pub no_headers: bool,
    /// `-o wide`: every column of list tables, nothing shortened.
    pub wide: bool,
}

static SHAPE: OnceLock<Shape> = OnceLock::new();

/// Sets the output shape for the rest of the process; a `--jq` expression that does not
/// compile is refused here, before any request.
pub fn configure(shape: Shape) -> Result<()> {
    if let Some(expr) = &shape.jq {
        jq::compile(expr)?;
    }
    let _ = SHAPE.set(shape);
    Ok(())
}

fn shape() -> &'static Shape {
    SHAPE.get_or_init(Shape::default)
}

/// Whether list tables show every column at full length (`-o wide`).
pub fn is_wide() -> bool {
    shape().wide
}

/// Whether only what the script asked for goes out: no progress, no hints.
fn is_script_shape() -> bool {
    let s = shape();
    s.quiet || s.jq.is_some()
}

/// A value a command shows: as itself in JSON, as [`Render::table`] for people.
pub trait Render: Serialize {
    /// The text shown with `--output table`, ending with a newline.
    fn table(&self) -> String;

    /// What `-q` prints: the identifying value(s), one per line (a grant's ID, an
    /// enrollment URL, a peer's ID). `None`: the command has no such value and `-q`
    /// prints nothing.
    fn quiet(&self) -> Option<String> {
        None
    }
}

/// Writes `value` to standard output: one JSON document (pretty-printed, newline-ended),
/// its table, its identifying value (`-q`) or the results of `--jq`. A closed pipe is not
/// an error.
pub fn emit<T: Render + ?Sized>(format: OutputFormat, value: &T) -> Result<()> {
    let shape = shape();
    let text = if let Some(expr) = &shape.jq {
        let doc = serde_json::to_value(value).map_err(encode_error)?;
        let text = jq::run(expr, &doc)?;
        if std::io::stdout().is_terminal() {
            escape_keeping_lines(&text).into_owned()
        } else {
            text
        }
    } else if shape.quiet {
        let mut text = value.quiet().unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        escape_keeping_lines(&text).into_owned()
    } else {
        match format {
            OutputFormat::Json => {
                let mut out = Vec::new();
                write_json_safe(&mut out, value).map_err(encode_error)?;
                out.push(b'\n');
                return write_stdout(&out);
            }
            // Tables escape each cell; this catches any text a `table()` wrote itself.
            OutputFormat::Table | OutputFormat::Wide => {
                escape_keeping_lines(&value.table()).into_owned()
            }
        }
    };
    write_stdout(text.as_bytes())
}

/// One item of a list written page by page ([`ListWriter`]).
pub trait ListItem: Serialize {
    /// The header of the list's table.
    fn header() -> Vec<&'static str>;
    /// The item's row of the table (cells unescaped).
    fn row(&self) -> Vec<String>;
    /// What `-q` prints for it: its ID.
    fn id(&self) -> String;
}

/// A list written as its pages arrive, so that memory stays flat in its length. The bytes
/// are those [`emit`] writes for the whole list: JSON is one array document (each item
/// pretty-printed, as `serde_json` prints it inside an array); `-q` one ID a line. A table
/// takes its column widths from the first page (up to 1,000 rows, so in practice the whole
/// list's widths): a longer cell on a later page widens only its own row. `--jq` needs the
/// whole document, so it alone holds every item until the end. After the reader closed
/// the pipe, [`ListWriter::page`] answers false: stop fetching.
pub struct ListWriter {
    format: OutputFormat,
    written: usize,
    widths: Option<Vec<usize>>,
    for_jq: Vec<serde_json::Value>,
    closed: bool,
}

impl ListWriter {
    pub fn new(format: OutputFormat) -> ListWriter {
        ListWriter {
            format,
            written: 0,
            widths: None,
            for_jq: Vec::new(),
            closed: false,
        }
    }

    /// Writes one page; false once standard output is closed.
    pub fn page<T: ListItem>(&mut self, items: &[T]) -> Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let shape = shape();
        let mut out = Vec::new();
        if shape.jq.is_some() {
            for item in items {
                self.for_jq
                    .push(serde_json::to_value(item).map_err(encode_error)?);
            }
        } else if shape.quiet {
            let mut text = String::new();
            for item in items {
                text.push_str(&item.id());
                text.push('\n');
            }
            out = escape_keeping_lines(&text).into_owned().into_bytes();
        } else if self.format == OutputFormat::Json {
            // The page as one pretty array, in one pass: its items come out indented as
            // the whole list's would, between the array's own "[\n" and "\n]"; the page's
            // "[" becomes the list's "," after the first page.
            if !items.is_empty() {
                write_json_safe(&mut out, items).map_err(encode_error)?;
                out.truncate(out.len() - "\n]".len());
                if self.written > 0 {
                    out[0] = b',';
                }
            }
        } else {
            let mut rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| item.row().iter().map(|c| escape(c).into_owned()).collect())
                .collect();
            if self.widths.is_none() && !rows.is_empty() {
                if !shape.no_headers {
                    rows.insert(0, T::header().iter().map(|h| h.to_string()).collect());
                }
                self.widths = Some(column_widths(&rows));
            }
            if let Some(widths) = &self.widths {
                out = aligned_rows(widths, &rows).into_bytes();
            }
        }
        self.written += items.len();
        if !out.is_empty() && !write_stdout_open(&out)? {
            self.closed = true;
        }
        Ok(!self.closed)
    }

    /// Ends the list (the JSON array's end, or `--jq`'s results); how many items it held.
    pub fn finish(self) -> Result<usize> {
        let shape = shape();
        if self.closed {
            return Ok(self.written);
        }
        if let Some(expr) = &shape.jq {
            let text = jq::run(expr, &serde_json::Value::Array(self.for_jq))?;
            let text = if std::io::stdout().is_terminal() {
                escape_keeping_lines(&text).into_owned()
            } else {
                text
            };
            write_stdout(text.as_bytes())?;
        } else if !shape.quiet && self.format == OutputFormat::Json {
            let end = if self.written == 0 { "[]\n" } else { "\n]\n" };
            write_stdout(end.as_bytes())?;
        }
        Ok(self.written)
    }
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::internal(format!("cannot encode the output as JSON: {e}"))
}

/// The width of each column: its widest cell, as the table renderer measures text.
fn column_widths(rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = tabled::grid::util::string::get_text_width(cell);
            if i == widths.len() {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    widths
}

/// Rows laid out as [`list_table`] lays them out: each cell padded to its column's width,
/// two spaces between columns, no trailing space.
fn aligned_rows(widths: &[usize], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let w = tabled::grid::util::string::get_text_width(cell);
            let width = widths.get(i).copied().unwrap_or(w);
            line.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One warning line on standard error, for people: with `-o json` standard error is kept
/// for the one JSON error document, so warnings are not printed there.
pub fn warn(format: OutputFormat, message: &str) {
    if format.is_table() {
        let _ = writeln!(std::io::stderr().lock(), "warning: {}", escape(message));
    }
}

/// A hint for a person at a terminal (what to run next, what an empty list means): on
/// standard error, only when it is a terminal, never with `-o json`, `-q` or `--jq`.
/// Printed after the record it is about.
pub fn hint(format: OutputFormat, text: &str) {
    if format.is_table() && !is_script_shape() && std::io::stderr().is_terminal() {
        let _ = write!(
            std::io::stderr().lock(),
            "{}",
            escape_keeping_lines(&format!("{}\n", text.trim_end_matches('\n')))
        );
    }
}

/// Writes bytes to standard output; a reader that went away (EPIPE) ends the output
/// quietly. Rust ignores SIGPIPE, so a closed pipe shows up here as an error, not a signal.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    write_stdout_open(bytes).map(|_| ())
}

/// [`write_stdout`], telling whether standard output is still open.
fn write_stdout_open(bytes: &[u8]) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::internal(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// Whether a person can answer a question: standard input and standard error are both a
/// terminal.
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a person at a terminal to confirm `question` (which says what will be lost);
/// `true` only for an answer starting with `y`. Without a terminal on standard input and
/// standard error there is nobody to ask: `true`, so that scripts keep working.
pub fn confirm(question: &str) -> Result<bool> {
    if !is_interactive() {
        return Ok(true);
    }
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{} [y/N] ", escape_keeping_lines(question));
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::internal(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim_start().starts_with(['y', 'Y']))
}

/// One progress line on standard error, for people only: silent with `--output json`, so
/// that a script sees nothing but the document and, on failure, the JSON error.
pub fn progress(format: OutputFormat, line: &str) {
    if format.is_table() && !is_script_shape() {
        let _ = writeln!(std::io::stderr().lock(), "{}", escape(line));
    }
}

/// Writes an error to standard error: one line of text (control and bidi characters
/// escaped), or `{"error": {code, message}}`.
pub fn print_error(format: OutputFormat, err: &Error) {
    write_error(
        format,
        err.code(),
        err.message(),
        err.hint(),
        err.gateway_code(),
    );
}

/// [`print_error`] for errors that are not an [`Error`] yet (clap's usage errors).
pub fn print_error_parts(format: OutputFormat, code: &str, message: &str) {
    write_error(format, code, message, None, None);
}

/// The error: `{"error": {"code", "message"}}` with `-o json` (plus `hint` when there is
/// a next step, and `gateway_code` when a gateway's error body named one), else the line
/// `error: MESSAGE`, followed by `hint: NEXT STEP` when there is one.
fn write_error(
    format: OutputFormat,
    code: &str,
    message: &str,
    hint: Option<&str>,
    gateway_code: Option<&str>,
) {
    let mut stderr = std::io::stderr().lock();
    let _ = match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct ErrorLine<'a> {
                error: ErrorFields<'a>,
            }
            #[derive(Serialize)]
            struct ErrorFields<'a> {
                code: &'a str,
                message: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                hint: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                gateway_code: Option<&'a str>,
            }
            let line = ErrorLine {
                error: ErrorFields {
                    code,
                    message,
                    hint,
                    gateway_code,
                },
            };
            let text = serde_json::to_string(&line).unwrap_or_default();
            writeln!(stderr, "{}", json_ascii_safe(text))
        }
        // One line each, whatever a gateway put in its message.
        OutputFormat::Table | OutputFormat::Wide => match hint {
            Some(hint) => writeln!(stderr, "error: {}\nhint: {}", escape(message), escape(hint)),
            None => writeln!(stderr, "error: {}", escape(message)),
        },
    };
}

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// A timestamp for tables: RFC 3339 in UTC, to the second.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP)
        .unwrap_or_else(|_| t.to_string())
}

/// What a table shows where a value is absent.
pub const ABSENT: &str = "-";

/// A table cell: the value, or [`ABSENT`].
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or(ABSENT).to_string()
}

/// Names joined by `, `, or [`ABSENT`] when there are none.
pub fn list_or_dash<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        ABSENT.to_string()
    } else {
        names.join(", ")
    }
}

/// An optional timestamp for tables; [`ABSENT`] when absent.
pub fn timestamp_or_dash(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| ABSENT.to_string(), timestamp)
}

/// How far `t` is from `now`, for people: `in 15m`, `in 4m 10s`, `in 2h 5m`, `3s ago`.
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (t - now).as_seconds_f64().round() as i64;
    let span = |s: i64| {
        let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
        match (h, m, s) {
            (0, 0, s) => format!("{s}s"),
            (0, m, 0) => format!("{m}m"),
            (0, m, s) => format!("{m}m {s}s"),
            (h, 0, _) => format!("{h}h"),
            (h, m, _) => format!("{h}h {m}m"),
        }
    };
    match secs {
        0 => "now".to_string(),
        s if s > 0 => format!("in {}", span(s)),
        s => format!("{} ago", span(-s)),
    }
}

/// A table with a header row (unless `--no-headers`) and no borders, like `kubectl get`
/// or `gh … list`. No rows: no output at all, so that `| wc -l` counts records.
pub fn list_table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut b = tabled::builder::Builder::default();
    if !shape().no_headers {
        b.push_record(header.iter().map(|h| h.to_string()));
    }
    for row in rows {
        b.push_record(row.iter().map(|c| escape(c).into_owned()));
    }
    finish(b)
}

/// Field/value pairs, one per line, values aligned.
pub fn detail_table(rows: &[(&str, String)]) -> String {
    let mut b = tabled::builder::Builder::default();
    for (k, v) in rows {
        b.push_record([format!("{k}:"), escape(v).into_owned()]);
    }
    finish(b)
}

fn finish(b: tabled::builder::Builder) -> String {
    use tabled::settings::{Padding, Style};
    let mut table = b.build();
    table.with(Style::blank()).with(Padding::new(0, 1, 0, 0));
    let mut s = table.to_string();
    // Blank style pads the last column too; trailing spaces help nobody.
    s = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    s.push('\n');
    s
}

/// A long cell cut to `max` characters with a trailing `…`, unless `-o wide`.
pub fn clip(s: &str, max: usize) -> String {
    if is_wide() || s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A certificate fingerprint for a narrow table: `sha256:` and the first 12 hex digits,
/// enough to tell certificates apart by eye; `-o wide` shows it whole.
pub fn short_fingerprint(fp: &str) -> String {
    if is_wide() {
        return fp.to_string();
    }
    let hex = fp.strip_prefix("sha256:").unwrap_or(fp);
    if hex.len() <= 12 {
        return fp.to_string();
    }
    format!("{}…", &hex[..12])
}

/// Quotes `s` for a POSIX shell: `'…'`, with embedded quotes as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `--jq EXPR`, through jaq (a jq implementation): each result on its own line, strings
/// raw as `jq -r` prints them, anything else as compact JSON.
mod jq {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
    use jaq_json::Val;

    use crate::error::{Error, Result};

    type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

    pub fn compile(expr: &str) -> Result<Filter> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(
                &arena,
                File {
                    code: expr,
                    path: (),
                },
            )
            .map_err(|_| {
                Error::invalid_input(format!("--jq: cannot parse the expression {expr:?}"))
            })?;
        Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                let names: Vec<&str> = errs
                    .iter()
                    .flat_map(|(_, e)| e.iter().map(|(name, _)| *name))
                    .collect();
                Error::invalid_input(format!(
                    "--jq: unknown name(s) in the expression: {}",
                    names.join(", ")
                ))
            })
    }

    pub fn run(expr: &str, doc: &serde_json::Value) -> Result<String> {
        let filter = compile(expr)?;
        let input = jaq_json::read::parse_single(doc.to_string().as_bytes())
            .map_err(|e| Error::internal(format!("--jq: cannot read the document: {e}")))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
        let mut out = String::new();
        for v in filter.id.run((ctx, input)).map(unwrap_valr) {
            match v {
                Ok(Val::TStr(s)) => out.push_str(&String::from_utf8_lossy(&s)),
                Ok(v) => out.push_str(&v.to_string()),
                Err(e) => return Err(Error::invalid_input(format!("--jq: {e}"))),
            }
            out.push('\n');
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fields_strings_raw_and_errors() {
            let doc = serde_json::json!([{"id": "a", "n": 1}, {"id": "b", "n": 2}]);
            assert_eq!(run(".[].id", &doc).unwrap(), "a\nb\n");
            assert_eq!(run(".[0] | {n}", &doc).unwrap(), "{\"n\":1}\n");
            assert_eq!(run("map(.n) | add", &doc).unwrap(), "3\n");
            assert!(compile(".[").is_err());
            assert!(compile("nosuchfn").is_err());
            assert!(run(".[0].id + 1", &doc).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let at = |s: i64| relative(now + time::Duration::seconds(s), now);
        assert_eq!(at(900), "in 15m");
        assert_eq!(at(899), "in 14m 59s");
        assert_eq!(at(45), "in 45s");
        assert_eq!(at(7500), "in 2h 5m");
        assert_eq!(at(3600), "in 1h");
        assert_eq!(at(0), "now");
        assert_eq!(at(-3), "3s ago");
        // Network latency shaves milliseconds off a fresh 900 s token.
        assert_eq!(
            relative(now + time::Duration::milliseconds(899_700), now),
            "in 15m"
        );
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let t = datetime!(2026-04-22 08:06:45.123 +02:00);
        assert_eq!(timestamp(t), "2026-04-22T06:06:45Z");
        assert_eq!(timestamp_or_dash(None), "-");
    }

    #[test]
    fn tables_have_no_trailing_space() {
        let t = list_table(&["ID", "STATUS"], vec![vec!["a".into(), "pending".into()]]);
        assert_eq!(t, "ID  STATUS\na   pending\n");
        let d = detail_table(&[("id", "a".into()), ("status", "active".into())]);
        assert_eq!(d, "id:      a\nstatus:  active\n");
    }

    /// The streamed table lays rows out exactly as the one-shot table does.
    #[test]
    fn streamed_rows_align_like_the_table() {
        let rows = vec![
            vec!["ID".to_string(), "USER".into(), "STATUS".into()],
            vec!["a".into(), "ünïcödé-名前".into(), "pending".into()],
            vec!["bbbbbbbb".into(), "u".into(), "active".into()],
        ];
        let one_shot = list_table(&["ID", "USER", "STATUS"], rows[1..].to_vec());
        assert_eq!(aligned_rows(&column_widths(&rows), &rows), one_shot);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("https://a/x"), "'https://a/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
