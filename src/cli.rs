//! The clap command tree and the global flags. Flag names and environment variables are
//! an interface that scripts depend on: change them only with a deprecation path. The
//! parsers of flag values are in `cli/values.rs`.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand};

use crate::api::env;
use crate::api::types::GrantStatus;
use crate::config::{Given, Source};
use crate::output::OutputFormat;
pub mod complete;
mod values;

use values::{
    parse_action, parse_duration, parse_future_time, parse_since, parse_status, parse_ttl,
    resource_names,
};

#[derive(Debug, Parser)]
#[command(
    name = "mosaic",
    version,
    about = "Manage Mosaic gateway federation: grants, enrollment tokens and peers",
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  mosaic federation grant create --user u-42 --peer gw-b --scope scope.json\n  \
                  mosaic federation grant list -o json\n  \
                  (umask 077; mosaic gateway secret > gw-a.secret)\n  \
                  BETTER_AUTH_SECRET_FILE=gw-a.secret mosaic gateway serve --data-dir ./gw-a\n\n\
                  Exit codes: 0 ok, 1 internal, 2 invalid input, 3 not found, 4 conflict or \
                  token used/expired, 5 authentication, 6 gateway unreachable, 7 verification failed"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The global flags that only the client reads: `mosaic gateway serve` accepts them (they
/// are global) but ignores them, so its help leaves them out.
const CLIENT_ONLY: [&str; 10] = [
    "profile",
    "gateway",
    "output",
    "quiet",
    "jq",
    "no_headers",
    "cacert",
    "timeout",
    "token_file",
    "allow_insecure_http",
];

impl Cli {
    /// The command tree as `main` parses `args`: for `mosaic gateway …`, the client-only
    /// global flags are hidden from the help (they are still accepted, and ignored).
    pub fn parser(args: &[std::ffi::OsString]) -> clap::Command {
        use clap::CommandFactory;
        let cmd = Cli::command();
        if !args.iter().skip(1).any(|a| a == "gateway") {
            return cmd;
        }
        CLIENT_ONLY
            .iter()
            .fold(cmd, |cmd, id| cmd.mut_arg(*id, |a| a.hide(true)))
    }
}

/// Flags accepted anywhere on the command line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Named gateway from the config file (`mosaic config list`)
    #[arg(long, global = true, env = env::PROFILE, value_name = "NAME", add = complete::profiles())]
    pub profile: Option<String>,

    /// Base URL of the gateway's admin API
    #[arg(long, global = true, env = env::GATEWAY_URL, value_name = "URL")]
    pub gateway: Option<String>,

    /// Output format: a table for people (`wide`: every column, nothing shortened), or
    /// exactly one JSON document for scripts
    #[arg(short, long, global = true, env = env::OUTPUT, value_enum)]
    pub output: Option<OutputFormat>,

    /// Print only the identifying value: a grant's ID, `grant token`'s enrollment URL, a
    /// peer's ID (one per line for lists)
    #[arg(short, long, global = true, conflicts_with = "jq")]
    pub quiet: bool,

    /// Print what this jq expression selects from the JSON output (strings raw, one result
    /// per line), e.g. `--jq '.[].id'`
    #[arg(long, global = true, value_name = "EXPR")]
    pub jq: Option<String>,

    /// Leave out the header row of list tables
    #[arg(long, global = true)]
    pub no_headers: bool,

    /// PEM file of a private CA to trust, in addition to the system's roots
    #[arg(long, global = true, env = env::CACERT, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Seconds to wait for each request before giving up [default: 30]
    #[arg(long, global = true, env = env::TIMEOUT, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,

    /// File holding the admin token; otherwise the token comes from env MOSAIC_ADMIN_TOKEN
    #[arg(
        long,
        global = true,
        env = env::ADMIN_TOKEN_FILE,
        value_name = "FILE"
    )]
    pub token_file: Option<PathBuf>,

    /// Allow plain http:// to a host that is not loopback (credentials travel in clear)
    #[arg(long, global = true)]
    pub allow_insecure_http: bool,

    /// Log requests and responses to standard error, secrets redacted
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl GlobalArgs {
    /// How output is shaped beyond its format (`-q`, `--jq`, `--no-headers`, wide).
    pub fn shape(&self, format: OutputFormat) -> crate::output::Shape {
        crate::output::Shape {
            quiet: self.quiet,
            jq: self.jq.clone(),
            no_headers: self.no_headers,
            wide: format == OutputFormat::Wide,
        }
    }

    /// What the command line and the environment said, each with its source, for
    /// `crate::config` to resolve against the profiles.
    pub fn given(&self, matches: &ArgMatches) -> Given {
        let source = |id: &str, env: &str| match matches.value_source(id) {
            Some(ValueSource::EnvVariable) => Source::Env(env.to_string()),
            _ => Source::Flag,
        };
        Given {
            profile: self
                .profile
                .clone()
                .map(|p| (p, source("profile", env::PROFILE))),
            gateway: self
                .gateway
                .clone()
                .map(|g| (g, source("gateway", env::GATEWAY_URL))),
            output: self.output.map(|o| (o, source("output", env::OUTPUT))),
            cacert: self
                .cacert
                .clone()
                .map(|c| (c, source("cacert", env::CACERT))),
            token_file: self
                .token_file
                .clone()
                .map(|t| (t, source("token_file", env::ADMIN_TOKEN_FILE))),
            admin_token: None,
            timeout: self.timeout,
            verbose: self.verbose,
            allow_insecure_http: self.allow_insecure_http,
            config_may_be_missing: false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Grants, enrollment tokens and peers of gateway federation
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaic federation grant list --status active\n  \
        mosaic federation peer list -o wide\n  mosaic federation audit list --since 24h"
    )]
    Federation(FederationCommand),

    /// Who you are on the gateway, and its named admin credentials (each with a role)
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaic auth whoami\n  \
        mosaic auth credential create alice --role operator --expires-in 90d\n  \
        mosaic auth credential list\n  mosaic auth credential revoke 3f2a…"
    )]
    Auth(AuthCommand),

    /// Run the reference gateway
    #[cfg(feature = "gateway")]
    #[command(
        subcommand,
        after_help = "Example:\n  (umask 077; mosaic gateway secret > gw-a.secret)   # keep it: the data directory needs it\n  \
        BETTER_AUTH_SECRET_FILE=gw-a.secret mosaic gateway serve --data-dir ./gw-a"
    )]
    Gateway(GatewayCommand),

    /// Print a shell completion script to standard output
    #[command(
        after_help = "Examples:\n  mosaic completion bash > ~/.local/share/bash-completion/completions/mosaic\n  \
        mosaic completion zsh > \"${fpath[1]}/_mosaic\"\n  mosaic completion fish > ~/.config/fish/completions/mosaic.fish"
    )]
    Completion(CompletionArgs),

    /// Profiles of the config file: list, show the settings in effect, set, use
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaic config show\n  \
        mosaic config set-profile a --gateway https://gw-a.example --token-file ~/.config/mosaic/a.token --use"
    )]
    Config(ConfigCommand),

    /// Write a man page for every command into a directory
    #[command(after_help = "Example:\n  mosaic man --out /usr/local/share/man/man1")]
    Man(ManArgs),

    /// The gateway at a glance: version, CA expiry, grants by status, peers' certificates
    /// and renewals; exit 8 when something needs attention
    #[command(
        after_help = "Examples:\n  mosaic status\n  mosaic status -o json --jq .peers\n  \
        mosaic status >/dev/null || alert \"gateway needs attention\""
    )]
    Status,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// The name, role and expiry of the admin credential this command line uses
    #[command(after_help = "Example:\n  mosaic auth whoami -o json")]
    Whoami,
    /// Create, list and revoke named admin credentials (creating and revoking need the
    /// admin role)
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaic auth credential create alice --role operator --expires-in 90d -q > alice.token\n  \
        mosaic auth credential list\n  mosaic auth credential revoke 3f2a… --yes"
    )]
    Credential(CredentialCommand),
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create a credential; its secret is printed once (`-q`: only the secret)
    #[command(
        after_help = "Examples:\n  mosaic auth credential create alice --role operator\n  \
        mosaic auth credential create ci-grants --role operator --expires-in 90d -q > ci.token"
    )]
    Create(CredentialCreateArgs),
    /// List the gateway's named credentials (never a secret)
    #[command(after_help = "Example:\n  mosaic auth credential list -o json")]
    List,
    /// Revoke a credential: every replica refuses it from its next request on
    #[command(after_help = "Example:\n  mosaic auth credential revoke 3f2a… --yes")]
    Revoke(CredentialRevokeArgs),
}

#[derive(Debug, Args)]
pub struct CredentialCreateArgs {
    /// Who or what holds it (alice, ci-grants): letters, digits, '.', '_' and '-'
    #[arg(value_name = "NAME")]
    pub name: String,
    /// viewer (every read), operator (grants, tokens, peers, data, audit) or admin
    /// (everything, credentials too)
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub role: crate::api::credentials::Role,
    /// Expire it after this long (30s to 10 years, e.g. 12h, 90d); never, if not given
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires_in: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct CredentialRevokeArgs {
    /// The credential's ID (`mosaic auth credential list`)
    #[arg(value_name = "CREDENTIAL_ID")]
    pub id: String,
    /// Do not ask for confirmation on a terminal
    #[arg(long)]
    pub yes: bool,
}

fn parse_role(s: &str) -> Result<crate::api::credentials::Role, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the profiles of the config file
    #[command(after_help = "Example:\n  mosaic config list")]
    List,
    /// Show every connection setting in effect and where it came from (secrets redacted)
    #[command(after_help = "Example:\n  mosaic --profile prod config show -o json")]
    Show,
    /// Create or update a profile with the connection flags given on this command line
    /// (--gateway, --token-file, --cacert); other profiles, settings and comments in the
    /// file are kept
    #[command(
        name = "set-profile",
        after_help = "Examples:\n  mosaic config set-profile a --gateway https://gw-a.example --token-file ~/.config/mosaic/a.token\n  \
        mosaic config set-profile a --cacert /etc/mosaic/ca-a.pem --use"
    )]
    SetProfile(SetProfileArgs),
    /// Make a profile the default (`default_profile` in the config file)
    #[command(after_help = "Example:\n  mosaic config use a")]
    Use(UseProfileArgs),
}

#[derive(Debug, Args)]
pub struct SetProfileArgs {
    /// The profile's name: letters, digits, '-' and '_'
    #[arg(value_name = "NAME", add = complete::profiles())]
    pub name: String,
    /// The output format the profile uses when neither -o nor MOSAIC_OUTPUT is given (-o
    /// itself only shapes this command's own output)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub profile_output: Option<OutputFormat>,
    /// Also make it the default profile
    #[arg(long = "use")]
    pub make_default: bool,
}

#[derive(Debug, Args)]
pub struct UseProfileArgs {
    /// The profile's name
    #[arg(value_name = "NAME", add = complete::profiles())]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Create, inspect and revoke grants; issue enrollment tokens
    #[command(
        subcommand,
        after_help = "Examples:\n  id=$(mosaic federation grant create --user u-42 --peer gw-b --scope scope.json -q)\n  \
        mosaic federation grant token \"$id\"\n  mosaic federation grant revoke \"$id\" --reason \"contract ended\""
    )]
    Grant(GrantCommand),

    /// Enroll with a remote gateway and list enrolled peers
    #[command(
        subcommand,
        after_help = "Examples:\n  BETTER_AUTH_SECRET=… mosaic federation peer add \
        'https://a.example/api/federation/enrollment/…' --ca-fingerprint sha256:…\n  \
        mosaic federation peer list\n  mosaic federation peer query 5c1d… tasks --all"
    )]
    Peer(PeerCommand),

    /// Read the gateway's audit log: who did what to which grant, and when
    #[command(
        subcommand,
        after_help = "Example:\n  mosaic federation audit list --grant 0b9e… -o json"
    )]
    Audit(AuditCommand),

    /// Load the rows that peers read through grants (granting gateway)
    #[command(
        subcommand,
        after_help = "Example:\n  mosaic federation data import tasks --user u-42 rows.json"
    )]
    Data(DataCommand),
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Import rows of one resource for one user from a JSON array (idempotent by row id)
    #[command(
        after_help = "Example:\n  echo '[{\"id\": \"t1\", \"title\": \"Ship\", \"status\": \"open\", \"due_at\": null}]' |\n    mosaic federation data import tasks --user user-42 -"
    )]
    Import(DataImportArgs),
}

#[derive(Debug, Args)]
pub struct DataImportArgs {
    /// The resource the rows belong to
    #[arg(value_name = "RESOURCE", value_parser = resource_names())]
    pub resource: String,
    /// The user who owns the rows
    #[arg(long, value_name = "USER_ID")]
    pub user: String,
    /// A JSON array of rows (`-` reads standard input)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first
    #[command(
        after_help = "Examples:\n  mosaic federation audit list --grant 0b9e… \n  \
        mosaic federation audit list --since 24h --action enrollment.refused -o json"
    )]
    List(AuditListArgs),
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only entries about this grant
    #[arg(long, value_name = "GRANT_ID", add = complete::grant_ids())]
    pub grant: Option<String>,
    /// Only entries since this long ago (e.g. 90m, 24h, 7d) or this RFC 3339 time
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since)]
    pub since: Option<time::OffsetDateTime>,
    /// Only entries of this action
    #[arg(long, value_name = "ACTION", value_parser = parse_action, add = complete::actions())]
    pub action: Option<crate::api::types::AuditAction>,
    /// Only entries of this actor: a credential's name (`bootstrap` for the admin token),
    /// `enrollment`, `peer` or `gateway`
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Create a grant that lets a peer read part of a user's data
    #[command(
        after_help = "Example:\n  mosaic federation grant create --user u-42 --peer gw-b --scope scope.json\n\n\
        Scope file:\n  {\"resources\": [\"tasks\", \"notes\"], \"excluded_resources\": [\"credentials\"], \"max_rows_per_query\": 100}"
    )]
    Create(GrantCreateArgs),

    /// List grants, optionally filtered by peer or status
    #[command(after_help = "Example:\n  mosaic federation grant list --status active -o json")]
    List(GrantListArgs),

    /// Show one grant with its scope, timestamps and status
    #[command(after_help = "Example:\n  mosaic federation grant show 0b9e…")]
    Show(GrantIdArg),

    /// Revoke a grant immediately; revoked grants never become active again
    #[command(
        after_help = "Examples:\n  mosaic federation grant revoke 0b9e… --reason \"contract ended\"\n  \
        mosaic federation grant revoke 0b9e… --yes    # no question on a terminal"
    )]
    Revoke(GrantRevokeArgs),

    /// Issue a single-use enrollment token for a pending grant
    #[command(after_help = "Example:\n  mosaic federation grant token 0b9e… --ttl 600")]
    Token(GrantTokenArgs),
}

#[derive(Debug, Args)]
pub struct GrantCreateArgs {
    /// ID of the user whose data the grant exposes
    #[arg(long, value_name = "USER_ID")]
    pub user: String,
    /// ID of the remote peer the grant is for
    #[arg(long, value_name = "PEER_ID")]
    pub peer: String,
    /// JSON scope file (at most 1 MiB); `-` reads standard input
    #[arg(long, value_name = "FILE")]
    pub scope: PathBuf,
    /// When the grant expires by itself (RFC 3339, e.g. 2026-12-31T23:59:59Z) [default: never]
    #[arg(long, value_name = "TIME", value_parser = parse_future_time)]
    pub expires_at: Option<time::OffsetDateTime>,
    /// Expire the grant this long from now, e.g. 90m, 12h, 30d [default: never]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "expires_at")]
    pub expires_in: Option<std::time::Duration>,
    /// Validate the scope and print the grant that would be created, without any request
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct GrantListArgs {
    /// Only grants for this peer
    #[arg(long, value_name = "PEER_ID")]
    pub peer: Option<String>,
    /// Only grants in this status
    #[arg(long, value_parser = parse_status, value_name = "pending|active|revoked|expired", add = complete::statuses())]
    pub status: Option<GrantStatus>,
}

#[derive(Debug, Args)]
pub struct GrantIdArg {
    /// The grant's ID
    #[arg(value_name = "GRANT_ID", add = complete::grant_ids())]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct GrantRevokeArgs {
    /// The grant's ID
    #[arg(value_name = "GRANT_ID", add = complete::grant_ids())]
    pub id: String,
    /// Why; stored in the gateway's audit log
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation on a terminal
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct GrantTokenArgs {
    /// The grant's ID
    #[arg(value_name = "GRANT_ID", add = complete::grant_ids())]
    pub id: String,
    /// Lifetime of the token in seconds, 1 to 900 [default: 900]
    #[arg(long, value_name = "SECONDS", value_parser = parse_ttl, allow_negative_numbers = true)]
    pub ttl: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Enroll this gateway with a remote one, using an enrollment URL from `grant token`
    #[command(
        after_help = "Example:\n  BETTER_AUTH_SECRET=… mosaic federation peer add \
        'https://a.example/api/federation/enrollment/…' --ca-fingerprint sha256:…"
    )]
    Add(PeerAddArgs),

    /// List enrolled peers with their certificate fingerprints and status
    #[command(after_help = "Example:\n  mosaic federation peer list -o json")]
    List,

    /// Complete an enrollment `peer add` did not: store the certificate it kept, or ask the granting gateway again
    #[command(after_help = "Example:\n  mosaic federation peer finish 5c1d…")]
    Finish(PeerFinishArgs),

    /// Remove a peer record (for example a pending one left by a failed enrollment)
    #[command(after_help = "Examples:\n  mosaic federation peer remove 5c1d…\n  \
        mosaic federation peer remove 5c1d… --yes")]
    Remove(PeerRemoveArgs),

    /// Ask the peer, over mutual TLS through this gateway, which grant its certificate holds
    #[command(after_help = "Example:\n  mosaic federation peer test 5c1d…")]
    Test(PeerIdArg),

    /// Read rows of one resource from the peer, over mutual TLS through this gateway
    #[command(
        after_help = "Examples:\n  mosaic federation peer query 5c1d… tasks\n  \
        mosaic federation peer query 5c1d… notes --all -o json"
    )]
    Query(PeerQueryArgs),

    /// Renew the peer's client certificate now: a new key, renewed over mutual TLS with the
    /// current certificate (the gateway also does this by itself before expiry)
    #[command(after_help = "Example:\n  mosaic federation peer renew 5c1d…")]
    Renew(PeerIdArg),
}

#[derive(Debug, Args)]
pub struct PeerQueryArgs {
    /// The peer's ID
    #[arg(value_name = "PEER_ID", add = complete::peer_ids())]
    pub id: String,
    /// The resource to read
    #[arg(value_name = "RESOURCE", value_parser = resource_names())]
    pub resource: String,
    /// Rows per page [default: the grant's max_rows_per_query]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Read every page, not only the first
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PeerAddArgs {
    /// Enrollment URL printed by `mosaic federation grant token` on the granting gateway
    #[arg(value_name = "ENROLLMENT_URL")]
    pub enrollment_url: String,
    /// Name of the peer record [default: the enrollment URL's host]
    #[arg(long)]
    pub name: Option<String>,
    /// Refuse the remote CA unless its fingerprint is this (`sha256:HEX`, from `grant token`)
    #[arg(long, value_name = "sha256:HEX")]
    pub ca_fingerprint: Option<String>,
    /// Refuse the certificate unless it is for this grant ID
    #[arg(long, value_name = "GRANT_ID")]
    pub expect_grant: Option<String>,
    /// Refuse the certificate unless it is for this subject user ID
    #[arg(long, value_name = "USER_ID")]
    pub expect_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct PeerRemoveArgs {
    /// The peer's ID
    #[arg(value_name = "PEER_ID", add = complete::peer_ids())]
    pub id: String,
    /// Do not ask for confirmation on a terminal before removing an active peer
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PeerFinishArgs {
    /// The peer's ID
    #[arg(value_name = "PEER_ID", add = complete::peer_ids())]
    pub id: String,
    /// A file of previous sealing secrets, one a line (with MOSAIC_PREVIOUS_SECRETS), that
    /// also open the sealed enrollment while BETTER_AUTH_SECRET is being rotated
    #[arg(long, value_name = "FILE")]
    pub previous_secrets_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PeerIdArg {
    /// The peer's ID
    #[arg(value_name = "PEER_ID", add = complete::peer_ids())]
    pub id: String,
}

#[cfg(feature = "gateway")]
#[derive(Debug, Subcommand)]
// Parsed once at start-up; boxing `ServeArgs` would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum GatewayCommand {
    /// Serve the federation API with an embedded SQLite database and its own CA
    #[command(
        after_help = "Example:\n  (umask 077; mosaic gateway secret > gw-a.secret)   # keep it: the data directory needs it\n  \
        BETTER_AUTH_SECRET_FILE=gw-a.secret mosaic gateway serve --data-dir ./gw-a\n\n\
        Environment:\n  \
        BETTER_AUTH_SECRET   required, at least 32 bytes (never a flag): seals the CA key and\n                       \
        opens the peers' sealed keys; every later start needs the same one\n  \
        BETTER_AUTH_SECRET_FILE  instead of BETTER_AUTH_SECRET (not both): a file holding\n                       \
        the secret, one trailing newline ignored\n  \
        MOSAIC_PREVIOUS_SECRETS  previous secrets, comma-separated: only open (rotation)\n  \
        MOSAIC_ADMIN_TOKEN   the admin token to accept (at least 16 characters); else one is\n                       \
        generated into DIR/admin-token\n  \
        MOSAIC_DATA_DIR      --data-dir [default: $XDG_DATA_HOME/mosaic/gateway, else\n                       \
        ~/.local/share/mosaic/gateway]\n  \
        MOSAIC_AUTO_RENEW    --auto-renew\n  \
        MOSAIC_RATE_LIMIT    --rate-limit"
    )]
    Serve(Box<ServeArgs>),

    /// Seal every key the gateway keeps (CA key, peers' keys, pending enrollments) again
    /// under the current BETTER_AUTH_SECRET, after a rotation; safe while it serves
    ///
    /// Run it once every gateway (every replica) serves with the new secret as
    /// BETTER_AUTH_SECRET and the old one as a previous secret. Each value is replaced in
    /// its own transaction, only if unchanged since it was read; a rerun does what an
    /// interrupted run left. It prints a summary and, once every value is under the
    /// current secret, that the previous secrets can be removed. A value that opens with
    /// no secret given is named and left as it is (exit 4).
    #[command(after_help = "Example:\n  \
        export BETTER_AUTH_SECRET=\"$NEW\" MOSAIC_PREVIOUS_SECRETS=\"$OLD\"\n  \
        mosaic gateway reseal --data-dir ./gw-a\n\n\
        Environment:\n  \
        BETTER_AUTH_SECRET       the current secret (at least 32 bytes): seals\n  \
        MOSAIC_PREVIOUS_SECRETS  previous secrets, comma-separated: only open\n  \
        MOSAIC_DATA_DIR          --data-dir\n  \
        MOSAIC_DATABASE_URL      --database-url")]
    Reseal(ResealArgs),

    /// Print a new random secret (256 bits, base64url) for BETTER_AUTH_SECRET or
    /// MOSAIC_ADMIN_TOKEN
    #[command(
        after_help = "Example:\n  (umask 077; mosaic gateway secret > gw-a.secret)   # then BETTER_AUTH_SECRET_FILE=gw-a.secret"
    )]
    Secret,
}

#[cfg(feature = "gateway")]
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:14242", value_name = "ADDR")]
    pub listen: String,
    /// Directory for the database, the CA and the admin token
    #[arg(long, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Base URL of enrollment URLs handed out [default: http://<listen address>]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Validity of issued client certificates, in days (1 to 365)
    #[arg(long, default_value_t = 7, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub cert_validity_days: u32,
    /// Validity of issued client certificates as a duration (30s to 365d, e.g. 2m or 12h),
    /// instead of --cert-validity-days: short-lived certificates for tests and demos
    #[arg(long, value_name = "DURATION", value_parser = parse_cert_validity, conflicts_with = "cert_validity_days")]
    pub cert_validity: Option<std::time::Duration>,
    /// Renew each active peer's certificate once PERCENT (50 to 90) of its lifetime has
    /// passed, plus up to 5% jitter, retrying with backoff; `off` leaves renewal to
    /// `mosaic federation peer renew`
    #[arg(long, env = env::AUTO_RENEW, default_value = "67", value_name = "PERCENT|off", value_parser = parse_auto_renew)]
    pub auto_renew: AutoRenew,
    /// Longest wait for the granting gateway's answer to one renewal (1s to 10m); the
    /// claim that keeps every other renewal of the peer out, on this gateway and its
    /// replicas, lasts twice this, also when the gateway dies mid-renewal
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_renewal_timeout)]
    pub renewal_timeout: std::time::Duration,
    /// Serve HTTPS with a certificate issued by the gateway's own CA (SANs: the host of
    /// --public-url and the listen address); client certificates are requested and, when
    /// presented, must chain to this CA
    #[arg(long)]
    pub tls: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first) instead; needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client has to send a request's headers; on HTTP/1 also the longest idle
    /// time of a keep-alive connection (1 to 3600)
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds from a request's headers to its answer, body read included; past it, 408
    /// (1 to 3600)
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// Connections served at once; further ones are closed at once (1 to 1000000)
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Connections served at once from one client address (IPv6: one /64); further ones
    /// from it are closed at once. Behind a proxy every client shares its address: raise
    /// it (1 to 1000000)
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_address: u64,
    /// Seconds a connection may stay open with no request in flight (HTTP/2 pings do not
    /// count) before it is closed (1 to 3600)
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Requests one HTTP/2 connection may have in flight at once (1 to 10000)
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent_streams: u32,
    /// Seconds requests in flight may take after SIGTERM/SIGINT before the gateway exits
    /// anyway (0 to 3600)
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,
    /// Requests a minute per client address on the enrollment endpoint, and failed admin
    /// authentications and refused data-plane requests a minute per address (bursts of as
    /// many); past it, 429 with Retry-After. A right admin token or a valid client
    /// certificate is never refused. `off` disables all three
    #[arg(long, env = "MOSAIC_RATE_LIMIT", default_value = "300", value_name = "N|off", value_parser = parse_rate_limit)]
    pub rate_limit: RateLimit,
    /// Keep everything in this PostgreSQL database instead of SQLite in --data-dir, so
    /// that any number of replicas serve one gateway (postgres://USER@HOST:PORT/DB, with
    /// ?sslmode=disable|prefer|require); the admin token then comes from
    /// MOSAIC_ADMIN_TOKEN or --admin-token-file
    #[arg(long, env = env::DATABASE_URL, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Connections to PostgreSQL this process keeps at most (1 to 1000)
    #[arg(long, default_value_t = 16, value_name = "N", requires = "database_url", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,
    /// Longest a database statement may run before PostgreSQL cancels it (e.g. 10s)
    #[arg(long, default_value = "10s", value_name = "DURATION", requires = "database_url", value_parser = parse_duration)]
    pub database_statement_timeout: std::time::Duration,
    /// PEM roots the PostgreSQL server's certificate must chain to: TLS to the database,
    /// verified (needed for sslmode=require)
    #[arg(long, value_name = "FILE", requires = "database_url")]
    pub database_ca_file: Option<PathBuf>,
    /// A file holding the admin token, given to every replica (with --database-url,
    /// unless MOSAIC_ADMIN_TOKEN is set)
    #[arg(long, value_name = "FILE", requires = "database_url")]
    pub admin_token_file: Option<PathBuf>,
    /// A file of previous sealing secrets, one a line, that only open (with
    /// MOSAIC_PREVIOUS_SECRETS): for rotating BETTER_AUTH_SECRET
    #[arg(long, value_name = "FILE")]
    pub previous_secrets_file: Option<PathBuf>,
    /// Refuse the admin token (the `bootstrap` credential) while a named credential of
    /// role admin (`mosaic auth credential create`) is live; it works again once none is
    #[arg(long)]
    pub no_bootstrap_token: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (never the
    /// API's port); off unless given
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How the gateway writes its log: `text` (plain lines) or `json` (one object a line,
    /// start-up lines included)
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[cfg(feature = "gateway")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `mosaic gateway reseal`: where the gateway keeps its data, as for `serve`.
#[cfg(feature = "gateway")]
#[derive(Debug, Clone, Args)]
pub struct ResealArgs {
    /// The gateway's data directory (as given to `serve`; unused with --database-url)
    #[arg(long, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The gateway's PostgreSQL database (as given to `serve`)
    #[arg(long, env = env::DATABASE_URL, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PEM roots the PostgreSQL server's certificate must chain to (as for `serve`)
    #[arg(long, value_name = "FILE", requires = "database_url")]
    pub database_ca_file: Option<PathBuf>,
    /// Longest a database statement may run before PostgreSQL cancels it (e.g. 10s)
    #[arg(long, default_value = "10s", value_name = "DURATION", requires = "database_url", value_parser = parse_duration)]
    pub database_statement_timeout: std::time::Duration,
    /// A file of previous sealing secrets, one a line (with MOSAIC_PREVIOUS_SECRETS)
    #[arg(long, value_name = "FILE")]
    pub previous_secrets_file: Option<PathBuf>,
}

#[cfg(feature = "gateway")]
impl From<ResealArgs> for mosaic_gateway::reseal::ResealConfig {
    fn from(a: ResealArgs) -> Self {
        mosaic_gateway::reseal::ResealConfig {
            data_dir: a.data_dir,
            database: a.database_url.map(|url| mosaic_gateway::PgOptions {
                url,
                pool_size: mosaic_gateway::reseal::IN_FLIGHT,
                statement_timeout: a.database_statement_timeout,
                ca_file: a.database_ca_file,
            }),
            previous_secrets_file: a.previous_secrets_file,
        }
    }
}

/// `--rate-limit`: a number of requests a minute, or `off`.
#[cfg(feature = "gateway")]
#[derive(Debug, Clone, Copy)]
pub struct RateLimit(pub Option<std::num::NonZeroU32>);

#[cfg(feature = "gateway")]
fn parse_rate_limit(raw: &str) -> Result<RateLimit, String> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(RateLimit(None));
    }
    match raw.parse::<u32>() {
        Ok(n @ 1..=1_000_000) => Ok(RateLimit(std::num::NonZeroU32::new(n))),
        _ => Err("expected a number of requests a minute from 1 to 1000000, or `off`".into()),
    }
}

#[cfg(feature = "gateway")]
impl From<ServeArgs> for mosaic_gateway::Config {
    fn from(a: ServeArgs) -> Self {
        mosaic_gateway::Config {
            listen: a.listen,
            data_dir: a.data_dir,
            public_url: a.public_url,
            cert_validity_days: a.cert_validity_days,
            cert_validity: a.cert_validity,
            auto_renew: a.auto_renew.0,
            renewal_timeout: a.renewal_timeout,
            tls: a.tls,
            tls_cert: a.tls_cert,
            tls_key: a.tls_key,
            limits: mosaic_gateway::server::Limits {
                header_timeout: std::time::Duration::from_secs(a.header_timeout),
                request_timeout: std::time::Duration::from_secs(a.request_timeout),
                max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
                max_connections_per_address: usize::try_from(a.max_connections_per_address)
                    .unwrap_or(usize::MAX),
                idle_timeout: std::time::Duration::from_secs(a.idle_timeout),
                max_concurrent_streams: a.max_concurrent_streams,
                shutdown_timeout: std::time::Duration::from_secs(a.shutdown_timeout),
            },
            rate_limit: a.rate_limit.0,
            database: a.database_url.map(|url| mosaic_gateway::PgOptions {
                url,
                pool_size: a.database_pool_size as usize,
                statement_timeout: a.database_statement_timeout,
                ca_file: a.database_ca_file,
            }),
            admin_token_file: a.admin_token_file,
            previous_secrets_file: a.previous_secrets_file,
            no_bootstrap_token: a.no_bootstrap_token,
            metrics_listen: a.metrics_listen,
            log_format: match a.log_format {
                LogFormat::Text => mosaic_gateway::log::LogFormat::Text,
                LogFormat::Json => mosaic_gateway::log::LogFormat::Json,
            },
        }
    }
}

/// `--auto-renew`: the percent of a certificate's lifetime after which it is renewed, or
/// `None` for off.
#[cfg(feature = "gateway")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoRenew(pub Option<u8>);

/// `--cert-validity`: a duration from 30 seconds (long enough to see renewal at work)
/// to 365 days (the bound of `--cert-validity-days`).
#[cfg(feature = "gateway")]
fn parse_cert_validity(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if !(30..=365 * 86_400).contains(&d.as_secs()) {
        return Err("must be from 30s to 365d".into());
    }
    Ok(d)
}

#[cfg(feature = "gateway")]
fn parse_renewal_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if !(1..=600).contains(&d.as_secs()) || d.subsec_nanos() != 0 {
        return Err("must be whole seconds from 1s to 10m".into());
    }
    Ok(d)
}

#[cfg(feature = "gateway")]
fn parse_auto_renew(s: &str) -> Result<AutoRenew, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(AutoRenew(None));
    }
    match s.trim_end_matches('%').parse::<u8>() {
        Ok(p) if mosaic_gateway::renewal::PERCENT_RANGE.contains(&p) => Ok(AutoRenew(Some(p))),
        _ => Err(format!(
            "must be a percentage from 50 to 90, or off; got {s:?}"
        )),
    }
}
