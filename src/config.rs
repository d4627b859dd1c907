//! Settings, resolved once: named gateways (profiles) in a TOML file, and every connection
//! setting by precedence flag > environment > profile > built-in default, into one
//! [`Settings`] value that the client, the commands and the output take.
//!
//! ```toml
//! default_profile = "a"
//! [profiles.a]
//! url = "https://gw-a.example"
//! token_file = "~/.config/mosaic/a.token"
//! cacert = "/etc/mosaic/ca-a.pem"
//! output = "table"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::client::{AdminToken, ClientConfig, REDACTED, read_token_file};
use crate::api::env;
use crate::error::{Error, Result};
use crate::output::OutputFormat;

/// The gateway used when neither a flag, the environment nor a profile names one.
pub const DEFAULT_GATEWAY: &str = "http://127.0.0.1:14242";

/// Seconds each request may take when `--timeout` is not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
    pub output: Option<ProfileOutput>,
}

/// `output` in a profile: the same words as `--output`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileOutput {
    Table,
    Wide,
    Json,
}

impl From<ProfileOutput> for OutputFormat {
    fn from(o: ProfileOutput) -> Self {
        match o {
            ProfileOutput::Table => OutputFormat::Table,
            ProfileOutput::Wide => OutputFormat::Wide,
            ProfileOutput::Json => OutputFormat::Json,
        }
    }
}

/// Where a resolved setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Source {
    Flag,
    Env(String),
    Profile(String),
    Default,
    Unset,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "flag"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Profile(name) => write!(f, "profile {name}"),
            Source::Default => write!(f, "default"),
            Source::Unset => write!(f, "unset"),
        }
    }
}

/// Where the config file is: `MOSAIC_CONFIG`, else `<config dir>/mosaic/config.toml`.
/// The second item says whether the operator named it (then it must exist).
pub fn config_path() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os(env::CONFIG).filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    dirs::config_dir().map(|d| (d.join("mosaic").join("config.toml"), false))
}

/// Reads and parses the config file; a missing default file is no error, a missing file
/// that `MOSAIC_CONFIG` names is (a typo must not silently mean "no profiles").
pub fn load() -> Result<Option<(PathBuf, ConfigFile)>> {
    load_file(false)
}

/// [`load`] for the `config` commands, which show or create the file: a missing file is
/// no error even when named.
pub fn load_if_present() -> Result<Option<(PathBuf, ConfigFile)>> {
    load_file(true)
}

fn load_file(missing_ok: bool) -> Result<Option<(PathBuf, ConfigFile)>> {
    let Some((path, named)) = config_path() else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path).map(|c| Some((path, c))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && (missing_ok || !named) => Ok(None),
        Err(e) => Err(Error::invalid_input(format!(
            "cannot read the config file {} ({e}) named by {}",
            path.display(),
            env::CONFIG
        ))),
    }
}

pub fn parse(text: &str, path: &Path) -> Result<ConfigFile> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        Error::invalid_input(format!("invalid config file {}{at}: {msg}", path.display()))
    })?;
    if let Some(name) = &file.default_profile
        && !file.profiles.contains_key(name)
    {
        return Err(Error::invalid_input(format!(
            "invalid config file {}: default_profile \"{name}\" has no [profiles.{name}] table",
            path.display()
        )));
    }
    Ok(file)
}

/// A setting with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// What the command line and environment said, with where each came from; `None` = not
/// given.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub profile: Option<(String, Source)>,
    pub gateway: Option<(String, Source)>,
    pub output: Option<(OutputFormat, Source)>,
    pub cacert: Option<(PathBuf, Source)>,
    pub token_file: Option<(PathBuf, Source)>,
    /// The value of `MOSAIC_ADMIN_TOKEN`, if set: it beats a profile's `token_file`.
    pub admin_token: Option<AdminToken>,
    /// `--timeout` in seconds.
    pub timeout: Option<u64>,
    pub verbose: bool,
    pub allow_insecure_http: bool,
    /// The command shows or writes the config file (`mosaic config …`): a file that
    /// `MOSAIC_CONFIG` names may be missing.
    pub config_may_be_missing: bool,
}

/// Every setting, resolved once: what the client, the commands and the output take.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Option<Setting<String>>,
    pub gateway: Setting<String>,
    pub output: Setting<OutputFormat>,
    pub cacert: Setting<Option<PathBuf>>,
    pub token_file: Setting<Option<PathBuf>>,
    /// Whether an admin token is in effect and whence; never the token itself.
    pub admin_token: Setting<Option<String>>,
    pub config_path: Option<PathBuf>,
    pub timeout: Duration,
    pub verbose: bool,
    pub allow_insecure_http: bool,
    /// `MOSAIC_ADMIN_TOKEN`, used when no token file is in effect.
    env_admin_token: Option<AdminToken>,
}

impl Settings {
    /// The output format in effect.
    pub fn format(&self) -> OutputFormat {
        self.output.value
    }

    /// What the HTTP client needs. Reads the token file when one is in effect; a missing
    /// token is not an error here: only admin endpoints need one, and they say so.
    pub fn client_config(&self) -> Result<ClientConfig> {
        let admin_token = match &self.token_file.value {
            Some(path) => Some(read_token_file(path)?),
            None => self.env_admin_token.clone(),
        };
        Ok(ClientConfig {
            base_url: self.gateway.value.clone(),
            admin_token,
            cacert: self.cacert.value.clone(),
            timeout: self.timeout,
            verbose: self.verbose,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// Resolves what the command line and environment said against the config file.
pub fn settings(mut given: Given) -> Result<Settings> {
    given.admin_token = std::env::var(env::ADMIN_TOKEN)
        .ok()
        .and_then(AdminToken::new);
    let file = match given.config_may_be_missing {
        true => load_if_present()?,
        false => load()?,
    };
    let mut settings = resolve(given, file, DEFAULT_GATEWAY)?;
    // Named even when it does not exist yet: that is where `config set-profile` writes.
    if settings.config_path.is_none() {
        settings.config_path = config_path().map(|(path, _)| path);
    }
    Ok(settings)
}

/// What `config set-profile` stores in a profile; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
    pub output: Option<OutputFormat>,
}

impl ProfileUpdate {
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.token_file.is_none()
            && self.cacert.is_none()
            && self.output.is_none()
    }
}

/// Creates or updates profile `name` (and makes it the default if asked); returns the
/// file's path. Everything else in the file, comments included, is kept.
pub fn set_profile(name: &str, update: &ProfileUpdate, make_default: bool) -> Result<PathBuf> {
    check_profile_name(name)?;
    edit_file(|doc, path| {
        let profiles = doc
            .entry("profiles")
            .or_insert_with(|| {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                toml_edit::Item::Table(t)
            })
            .as_table_mut()
            .ok_or_else(|| not_editable(path, "profiles is not a table"))?;
        let profile = profiles
            .entry(name)
            .or_insert_with(toml_edit::table)
            .as_table_mut()
            .ok_or_else(|| not_editable(path, &format!("profiles.{name} is not a table")))?;
        let path_text = |p: &PathBuf| absolute(p).display().to_string();
        if let Some(url) = &update.url {
            profile["url"] = toml_edit::value(url.trim_end_matches('/'));
        }
        if let Some(p) = &update.token_file {
            profile["token_file"] = toml_edit::value(path_text(p));
        }
        if let Some(p) = &update.cacert {
            profile["cacert"] = toml_edit::value(path_text(p));
        }
        if let Some(o) = update.output {
            profile["output"] = toml_edit::value(o.as_str());
        }
        if make_default {
            doc["default_profile"] = toml_edit::value(name);
        }
        Ok(())
    })
}

/// Makes profile `name`, which must exist, the default; returns the file's path.
pub fn use_profile(name: &str) -> Result<PathBuf> {
    edit_file(|doc, path| {
        let known: Vec<String> = doc
            .get("profiles")
            .and_then(|p| p.as_table_like())
            .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default();
        if !known.iter().any(|k| k == name) {
            return Err(Error::invalid_input(format!(
                "no profile \"{}\" in {}; known profiles: {} (create it with `mosaic config \
                 set-profile {} --gateway URL`)",
                crate::api::text::escape(name),
                path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
                if check_profile_name(name).is_ok() {
                    name
                } else {
                    "NAME"
                }
            )));
        }
        doc["default_profile"] = toml_edit::value(name);
        Ok(())
    })
}

/// Profile names are TOML keys and words on a command line: kept simple.
fn check_profile_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "profile name \"{}\": use 1 to 64 letters, digits, '-' or '_'",
            crate::api::text::escape(name)
        )))
    }
}

/// Reads the config file (an absent one is empty), applies `change`, checks that the
/// result is still a valid config file, and replaces the file atomically, owner-only.
fn edit_file(
    change: impl FnOnce(&mut toml_edit::DocumentMut, &Path) -> Result<()>,
) -> Result<PathBuf> {
    let (path, _) = config_path().ok_or_else(|| {
        Error::invalid_input(format!(
            "no config directory is known: set {} to the config file's path",
            env::CONFIG
        ))
    })?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::invalid_input(format!(
                "cannot read the config file {}: {e}",
                path.display()
            )));
        }
    };
    parse(&text, &path)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| not_editable(&path, &e.to_string()))?;
    change(&mut doc, &path)?;
    let new_text = doc.to_string();
    parse(&new_text, &path)?;
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        mosaic_private_files::create_dir(dir)
            .map_err(|e| Error::invalid_input(format!("cannot create {}: {e}", dir.display())))?;
    }
    mosaic_private_files::write_file(&path, new_text.as_bytes()).map_err(|e| {
        Error::invalid_input(format!(
            "cannot write the config file {}: {e}",
            path.display()
        ))
    })?;
    Ok(path)
}

fn not_editable(path: &Path, why: &str) -> Error {
    Error::invalid_input(format!(
        "cannot edit the config file {}: {why}; edit it by hand",
        path.display()
    ))
}

/// A path stored in a profile means the same from any directory: relative paths are made
/// absolute; `~/…` is kept (it is expanded when read).
fn absolute(p: &Path) -> PathBuf {
    if p.starts_with("~") {
        return p.to_path_buf();
    }
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Applies flag > env > profile > default.
pub fn resolve(
    given: Given,
    file: Option<(PathBuf, ConfigFile)>,
    default_gateway: &str,
) -> Result<Settings> {
    let (config_path, file) = match file {
        Some((p, f)) => (Some(p), f),
        None => (None, ConfigFile::default()),
    };
    let profile = given.profile.map(setting).or_else(|| {
        file.default_profile.clone().map(|name| Setting {
            value: name,
            source: Source::Profile("default_profile".into()),
        })
    });
    let (pname, prof) = match &profile {
        Some(p) => (p.value.clone(), chosen_profile(&file, p)?),
        None => (String::new(), Profile::default()),
    };
    let in_profile = || Source::Profile(pname.clone());
    let gateway = given
        .gateway
        .map(setting)
        .unwrap_or_else(|| match &prof.url {
            Some(url) => setting((url.clone(), in_profile())),
            None => setting((default_gateway.to_string(), Source::Default)),
        });
    let output = given
        .output
        .map(setting)
        .unwrap_or_else(|| match prof.output {
            Some(o) => setting((o.into(), in_profile())),
            None => setting((OutputFormat::Table, Source::Default)),
        });
    let cacert = path_setting(given.cacert, prof.cacert.as_ref(), &pname);
    // MOSAIC_ADMIN_TOKEN beats a profile's token file (a flag or env file beats both).
    let profile_token_file = prof
        .token_file
        .as_ref()
        .filter(|_| given.admin_token.is_none());
    let token_file = path_setting(given.token_file, profile_token_file, &pname);
    let admin_token = shown_admin_token(&token_file, given.admin_token.is_some());
    Ok(Settings {
        profile,
        gateway,
        output,
        cacert,
        token_file,
        admin_token,
        config_path,
        timeout: Duration::from_secs(given.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)),
        verbose: given.verbose,
        allow_insecure_http: given.allow_insecure_http,
        env_admin_token: given.admin_token,
    })
}

/// What the command line or the environment said, as a setting.
fn setting<T>((value, source): (T, Source)) -> Setting<T> {
    Setting { value, source }
}

/// The profile `p` names; an unknown name is an error that lists the known ones.
fn chosen_profile(file: &ConfigFile, p: &Setting<String>) -> Result<Profile> {
    file.profiles.get(&p.value).cloned().ok_or_else(|| {
        let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        Error::invalid_input(format!(
            "unknown profile \"{}\" (from {}); known profiles: {}",
            p.value,
            p.source,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// A path setting: given (flag or env), else from the profile (`~` expanded), else unset.
fn path_setting(
    given: Option<(PathBuf, Source)>,
    in_profile: Option<&PathBuf>,
    profile_name: &str,
) -> Setting<Option<PathBuf>> {
    match (given, in_profile) {
        (Some((v, source)), _) => Setting {
            value: Some(v),
            source,
        },
        (None, Some(p)) => Setting {
            value: Some(expand_home(p)),
            source: Source::Profile(profile_name.to_string()),
        },
        (None, None) => Setting {
            value: None,
            source: Source::Unset,
        },
    }
}

/// Whether an admin token is in effect and whence, for `config show`; never the token.
fn shown_admin_token(
    token_file: &Setting<Option<PathBuf>>,
    from_env: bool,
) -> Setting<Option<String>> {
    match (&token_file.value, from_env) {
        (Some(path), _) => Setting {
            value: Some(format!("{REDACTED} (from file {})", path.display())),
            source: token_file.source.clone(),
        },
        (None, true) => Setting {
            value: Some(REDACTED.into()),
            source: Source::Env(env::ADMIN_TOKEN.into()),
        },
        (None, false) => Setting {
            value: None,
            source: Source::Unset,
        },
    }
}

/// A warning when a token file can be read by group or others; `None` when it is private
/// (or on platforms without Unix modes).
pub fn token_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "token file {} is readable by group or others (mode {:o}): run chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

/// `~/x` in a config file means the home directory.
fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
default_profile = "a"
[profiles.a]
url = "https://a.example"
output = "json"
[profiles.b]
url = "https://b.example"
token_file = "/etc/mosaic/b.token"
"#;

    fn file() -> Option<(PathBuf, ConfigFile)> {
        let p = PathBuf::from("config.toml");
        Some((p.clone(), parse(FILE, &p).unwrap()))
    }

    #[test]
    fn default_profile_applies_when_nothing_is_given() {
        let r = resolve(Given::default(), file(), "http://127.0.0.1:14242").unwrap();
        assert_eq!(r.gateway.value, "https://a.example");
        assert_eq!(r.gateway.source, Source::Profile("a".into()));
        assert_eq!(r.output.value, OutputFormat::Json);
        assert_eq!(r.token_file.source, Source::Unset);
    }

    #[test]
    fn flag_and_env_beat_the_profile() {
        let given = Given {
            profile: Some(("b".into(), Source::Flag)),
            gateway: Some((
                "https://env.example".into(),
                Source::Env("MOSAIC_GATEWAY_URL".into()),
            )),
            ..Given::default()
        };
        let r = resolve(given, file(), "d").unwrap();
        assert_eq!(r.gateway.value, "https://env.example");
        assert_eq!(
            r.token_file.value.as_deref(),
            Some(Path::new("/etc/mosaic/b.token"))
        );
        assert_eq!(r.output.source, Source::Default);
    }

    #[test]
    fn no_file_means_defaults() {
        let r = resolve(Given::default(), None, "http://127.0.0.1:14242").unwrap();
        assert_eq!(r.gateway.source, Source::Default);
        assert!(r.profile.is_none());
    }

    #[test]
    fn errors_name_the_problem() {
        let given = Given {
            profile: Some(("c".into(), Source::Flag)),
            ..Given::default()
        };
        let e = resolve(given, file(), "d").unwrap_err().to_string();
        assert!(
            e.contains("unknown profile \"c\"") && e.contains("a, b"),
            "{e}"
        );
        let p = Path::new("c.toml");
        let e = parse("default_profile = \"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[profiles.x]"), "{e}");
        let e = parse("[profiles.a]\nurl = 1\n", p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("[profiles.a]\nuri = \"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("uri"), "{e}");
    }
}
