//! A shell-like transcript of `mosaic` runs for snapshot tests: each command line, its
//! exit code, stdout and stderr, with what changes from run to run masked.

use std::process::Command;

use crate::common::{Gateway, Output, run};

/// A shell-like record of commands and what each printed.
#[derive(Default)]
pub struct Transcript {
    text: String,
    /// Text that must appear nowhere (admin tokens).
    pub secrets: Vec<String>,
    /// Literal paths to replace, with their placeholder.
    paths: Vec<(String, &'static str)>,
}

impl Transcript {
    pub fn new(gateways: &[&Gateway]) -> Transcript {
        Transcript {
            secrets: gateways.iter().map(|g| g.admin_token.clone()).collect(),
            ..Transcript::default()
        }
    }

    /// Runs `mosaic ARGS` as `cmd` is set up, and records it.
    pub fn run(&mut self, mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Output {
        cmd.args(args);
        let out = run(cmd, stdin);
        self.record(args, &out);
        out
    }

    /// Runs `mosaic ARGS` against `gw`.
    pub fn on(&mut self, gw: &Gateway, args: &[&str]) -> Output {
        self.run(gw.mosaic(), args, None)
    }

    pub fn record(&mut self, args: &[&str], out: &Output) {
        for secret in &self.secrets {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "admin token in the output of {args:?}: {out:?}"
            );
        }
        if args.windows(2).any(|w| w == ["-o", "json"]) {
            // One JSON document on stdout, or one JSON error on stderr: parsed, not just shown.
            if !out.stdout.is_empty() {
                out.json();
            }
            if !out.stderr.is_empty() {
                out.stderr_json();
            }
        }
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '\'', '"', '{']) {
                    format!("'{a}'")
                } else {
                    a.to_string()
                }
            })
            .collect();
        self.text += &format!("$ mosaic {}\n[exit {}]\n", quoted.join(" "), out.code);
        for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if !stream.is_empty() {
                self.text += &format!("--- {name}\n{stream}");
                if !stream.ends_with('\n') {
                    self.text.push('\n');
                }
            }
        }
        self.text.push('\n');
    }

    pub fn path(mut self, path: &std::path::Path, placeholder: &'static str) -> Transcript {
        self.paths.push((path.display().to_string(), placeholder));
        self
    }

    /// The text with every literal path and every value that changes from run to run
    /// replaced by a placeholder of the same length, so that table columns stay aligned.
    pub fn finish(&self) -> String {
        let mut text = self.text.clone();
        for (path, placeholder) in &self.paths {
            text = text.replace(path, placeholder);
        }
        // JSON times carry as many fractional digits as they need.
        let fraction = regex::Regex::new(r"(T\d{2}:\d{2}:\d{2})\.\d+").unwrap();
        text = fraction.replace_all(&text, "${1}.fff").into_owned();
        for (pattern, name, fixed) in MASKS {
            let re = regex::Regex::new(pattern).unwrap();
            text = re
                .replace_all(&text, |c: &regex::Captures| {
                    // Only the `m` group is masked; what the pattern matched around it stays.
                    let (whole, m) = (c.get(0).unwrap(), c.name("m").unwrap());
                    let masked = if fixed {
                        format!("[{name}]")
                    } else {
                        mask(name, m.len())
                    };
                    let (start, end) = (m.start() - whole.start(), m.end() - whole.start());
                    let w = whole.as_str();
                    format!("{}{masked}{}", &w[..start], &w[end..])
                })
                .into_owned();
        }
        text
    }
}

/// What changes from run to run, in the order it is masked: the `m` group of each
/// pattern, by a placeholder of the same length, or (`true`) by a fixed one where the
/// length itself varies and nothing is aligned after it.
const MASKS: [(&str, &str, bool); 13] = [
    (
        r"(?P<m>sha256:[0-9a-fA-F]{64})",
        "sha256-fingerprint",
        false,
    ),
    (
        r"(?P<m>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        "uuid",
        false,
    ),
    (
        r"(?P<m>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.fff)?(Z|[+-]\d{2}:\d{2}))",
        "time",
        false,
    ),
    (r"(?P<m>tok_[0-9a-f]{16})", "token-handle", false),
    // Shortened in narrow tables: a fingerprint's first 12 digits, a cut token handle.
    (r"(?P<m>\b[0-9a-f]{12})…", "short-fp", false),
    (r"(?P<m>tok_[0-9a-f]{1,15})…", "tok", false),
    // A token is 43 characters of base64url, which may begin or end with `-`.
    (
        r"(?m)(?:^|[^A-Za-z0-9_-])(?P<m>[A-Za-z0-9_-]{43})(?:$|[^A-Za-z0-9_-])",
        "enrollment-token",
        false,
    ),
    (
        r#"(?:"cert_serial": "|serial: +)(?P<m>[0-9a-f]+)"#,
        "serial",
        true,
    ),
    // How long until a token expires depends on how fast the test ran.
    (r"\((?P<m>in \d+m( \d+s)?)\)", "duration", true),
    (r"(?P<m>127\.0\.0\.1:\d{4,5})", "loopback:port", false),
    (r"(?P<m>\d+(\.\d+)?) ms\b", "ms", true),
    (r#""round_trip_ms": (?P<m>\d+(\.\d+)?)"#, "ms", true),
    (r"os error (?P<m>\d+)", "errno", true),
];

/// `[name....]` as long as the text it replaces (or the name cut to fit).
fn mask(name: &str, len: usize) -> String {
    if len >= name.len() + 2 {
        format!("[{name}{}]", ".".repeat(len - name.len() - 2))
    } else {
        name.chars().cycle().take(len).collect()
    }
}
