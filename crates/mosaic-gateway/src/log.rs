//! The gateway's log (`--log-format text|json`): every line it writes goes through
//! `tracing`. Start-up lines (target `startup`) go to standard output, everything else to
//! standard error. `text` keeps the plain lines operators and scripts already read
//! (`mosaic gateway listening on …`); `json` writes one object a line, with each event's
//! fields (a request's `request_id`, `method`, `route`, `status`, `duration_ms`,
//! `actor`). The request id of the request being served is kept here, for its audit rows.

use std::fmt;
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// How the gateway writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One plain line per event, as `mosaic gateway: …`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The target of the lines that announce the gateway (data directory, CA, listening).
pub const STARTUP: &str = "startup";

/// Installs the process's log. The first call wins (a process runs one gateway).
pub fn init(format: LogFormat) {
    let is_startup = |m: &tracing::Metadata<'_>| m.target() == STARTUP;
    let subscriber = tracing_subscriber::registry();
    let result = match format {
        LogFormat::Text => tracing::subscriber::set_global_default(
            subscriber
                .with(
                    tracing_subscriber::fmt::layer()
                        .event_format(Plain {
                            prefix: "mosaic gateway ",
                        })
                        .with_writer(std::io::stdout)
                        .with_filter(filter_fn(is_startup)),
                )
                .with(
                    tracing_subscriber::fmt::layer()
                        .event_format(Plain {
                            prefix: "mosaic gateway: ",
                        })
                        .with_writer(std::io::stderr)
                        .with_filter(filter_fn(move |m| !is_startup(m))),
                ),
        ),
        LogFormat::Json => tracing::subscriber::set_global_default(
            subscriber
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(false)
                        .with_writer(std::io::stdout)
                        .with_filter(filter_fn(is_startup)),
                )
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(false)
                        .with_writer(std::io::stderr)
                        .with_filter(filter_fn(move |m| !is_startup(m))),
                ),
        ),
    };
    // Already set: an earlier gateway of this process (tests) keeps its log.
    let _ = result;
}

/// `prefix` + the event's message + its other fields as ` name=value`.
struct Plain {
    prefix: &'static str,
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        write!(writer, "{}{}", self.prefix, fields.message)?;
        for (name, value) in &fields.rest {
            write!(writer, " {name}={value}")?;
        }
        writeln!(writer)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push((field.name(), format!("{value:?}")));
        }
    }
}

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request the current task serves, if it serves one.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.to_string()).ok()
}

/// Runs `f` as the handling of request `id`: [`request_id`] answers `id` inside it.
pub async fn with_request_id<F: Future>(id: Arc<str>, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

tokio::task_local! {
    static ACTOR: Arc<str>;
}

/// The name of the admin credential the current task's request was made with, if any:
/// the `actor` of the audit rows it writes.
pub fn actor() -> Option<String> {
    ACTOR.try_with(|name| name.to_string()).ok()
}

/// Runs `f` on behalf of the admin credential `name`: [`actor`] answers `name` inside it.
pub async fn with_actor<F: Future>(name: Arc<str>, f: F) -> F::Output {
    ACTOR.scope(name, f).await
}

/// An incoming `X-Request-Id` kept as it is: 1 to 128 characters of letters, digits and
/// `-_.:`, so that it is safe in a log line, a header and a database row. Anything else
/// is replaced by a new id.
pub fn valid_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A new request id: 128 random bits as a UUID.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(valid_request_id("abc-123_4.5:6"));
        assert!(valid_request_id(&"a".repeat(128)));
        assert!(!valid_request_id(&"a".repeat(129)));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id("a\nb"));
        assert!(!valid_request_id("a\"b"));
        assert_ne!(new_request_id(), new_request_id());
        assert!(valid_request_id(&new_request_id()));
    }

    #[tokio::test]
    async fn the_request_id_is_known_inside_its_request_only() {
        assert_eq!(request_id(), None);
        let inside = with_request_id(Arc::from("r-1"), async { request_id() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(request_id(), None);
    }

    #[tokio::test]
    async fn the_actor_is_known_inside_its_request_only() {
        assert_eq!(actor(), None);
        let inside = with_actor(Arc::from("alice"), async { actor() }).await;
        assert_eq!(inside.as_deref(), Some("alice"));
        assert_eq!(actor(), None);
    }
}
