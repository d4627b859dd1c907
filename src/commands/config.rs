//! `mosaic config list|show|set-profile|use`: the profiles of the config file, every
//! connection setting in effect with its source (secrets never shown), and the two edits
//! that spare people editing TOML by hand.

use serde::Serialize;

use crate::cli::ConfigCommand;
use crate::config::{self, ProfileUpdate, Setting, Settings};
use crate::error::{Error, Result};
use crate::output::{self, OutputFormat, Render};

pub fn run(format: OutputFormat, cmd: ConfigCommand, settings: &Settings) -> Result<()> {
    match cmd {
        ConfigCommand::List => output::emit(format, &list()?),
        ConfigCommand::Show => output::emit(format, &Shown::from(settings)),
        ConfigCommand::SetProfile(args) => {
            let mut update = given_flags(settings)?;
            update.output = args.profile_output;
            if update.is_empty() && !args.make_default {
                return Err(Error::invalid_input(
                    "config set-profile: nothing to set; give --gateway URL, --token-file \
                     FILE, --cacert FILE and/or --profile-output FORMAT (or --use)",
                ));
            }
            let path = config::set_profile(&args.name, &update, args.make_default)?;
            saved(format, &args.name, &path)
        }
        ConfigCommand::Use(args) => {
            let path = config::use_profile(&args.name)?;
            saved(format, &args.name, &path)
        }
    }
}

/// What `set-profile` stores: the connection settings given as flags on this command line
/// (not those from the environment or another profile).
fn given_flags(settings: &Settings) -> Result<ProfileUpdate> {
    let flag = |source: &config::Source| *source == config::Source::Flag;
    let url = match flag(&settings.gateway.source) {
        true => Some(
            crate::api::client::check_gateway_url(&settings.gateway.value)?
                .as_str()
                .to_string(),
        ),
        false => None,
    };
    Ok(ProfileUpdate {
        url,
        token_file: settings
            .token_file
            .value
            .clone()
            .filter(|_| flag(&settings.token_file.source)),
        cacert: settings
            .cacert
            .value
            .clone()
            .filter(|_| flag(&settings.cacert.source)),
        output: None,
    })
}

/// The profile as `config list` shows it, and on a terminal where it was written.
fn saved(format: OutputFormat, name: &str, path: &std::path::Path) -> Result<()> {
    let rows: Vec<ProfileRow> = list()?.into_iter().filter(|p| p.name == name).collect();
    output::emit(format, &rows)?;
    output::hint(
        format,
        &format!("Saved profile {name} in {}.", path.display()),
    );
    Ok(())
}

/// One profile of the config file, as `config list` shows it.
#[derive(Debug, Serialize)]
pub struct ProfileRow {
    pub name: String,
    pub default: bool,
    pub url: Option<String>,
    pub token_file: Option<String>,
    pub cacert: Option<String>,
    pub output: Option<String>,
}

fn list() -> Result<Vec<ProfileRow>> {
    let Some((_, file)) = config::load_if_present()? else {
        return Ok(Vec::new());
    };
    Ok(file
        .profiles
        .iter()
        .map(|(name, p)| ProfileRow {
            name: name.clone(),
            default: file.default_profile.as_deref() == Some(name),
            url: p.url.clone(),
            token_file: p.token_file.as_ref().map(|t| t.display().to_string()),
            cacert: p.cacert.as_ref().map(|c| c.display().to_string()),
            output: p.output.map(|o| format!("{o:?}").to_lowercase()),
        })
        .collect())
}

impl Render for Vec<ProfileRow> {
    fn table(&self) -> String {
        if self.is_empty() {
            return "no profiles (see `mosaic config show` for the config file's path)\n".into();
        }
        let rows = self
            .iter()
            .map(|p| {
                vec![
                    format!("{}{}", p.name, if p.default { " (default)" } else { "" }),
                    output::or_dash(p.url.as_deref()),
                    output::or_dash(p.token_file.as_deref()),
                    output::or_dash(p.cacert.as_deref()),
                    output::or_dash(p.output.as_deref()),
                ]
            })
            .collect();
        output::list_table(&["NAME", "URL", "TOKEN FILE", "CACERT", "OUTPUT"], rows)
    }
}

/// `config show`: each setting with its value and where it came from.
#[derive(Debug, Serialize)]
pub struct Shown {
    /// Where the config file is (or would be: `config set-profile` writes it there).
    pub config_file: Option<String>,
    pub config_file_exists: bool,
    pub profile: Setting<Option<String>>,
    pub gateway: Setting<String>,
    pub output: Setting<String>,
    pub cacert: Setting<Option<String>>,
    pub token_file: Setting<Option<String>>,
    pub admin_token: Setting<Option<String>>,
}

impl From<&Settings> for Shown {
    fn from(r: &Settings) -> Self {
        let path = |s: &Setting<Option<std::path::PathBuf>>| Setting {
            value: s.value.as_ref().map(|p| p.display().to_string()),
            source: s.source.clone(),
        };
        Shown {
            config_file: r.config_path.as_ref().map(|p| p.display().to_string()),
            config_file_exists: r.config_path.as_ref().is_some_and(|p| p.is_file()),
            profile: match &r.profile {
                Some(p) => Setting {
                    value: Some(p.value.clone()),
                    source: p.source.clone(),
                },
                None => Setting {
                    value: None,
                    source: config::Source::Unset,
                },
            },
            gateway: r.gateway.clone(),
            output: Setting {
                value: format!("{:?}", r.output.value).to_lowercase(),
                source: r.output.source.clone(),
            },
            cacert: path(&r.cacert),
            token_file: path(&r.token_file),
            admin_token: r.admin_token.clone(),
        }
    }
}

impl Render for Shown {
    fn table(&self) -> String {
        let row = |v: String, s: &config::Source| format!("{v}  ({s})");
        let rows = [
            (
                "config file",
                match (&self.config_file, self.config_file_exists) {
                    (Some(path), true) => path.clone(),
                    (Some(path), false) => format!("{path}  (does not exist yet)"),
                    (None, _) => "-  (no config directory; set MOSAIC_CONFIG)".to_string(),
                },
            ),
            (
                "profile",
                row(
                    output::or_dash(self.profile.value.as_deref()),
                    &self.profile.source,
                ),
            ),
            (
                "gateway",
                row(self.gateway.value.clone(), &self.gateway.source),
            ),
            (
                "output",
                row(self.output.value.clone(), &self.output.source),
            ),
            (
                "cacert",
                row(
                    output::or_dash(self.cacert.value.as_deref()),
                    &self.cacert.source,
                ),
            ),
            (
                "token file",
                row(
                    output::or_dash(self.token_file.value.as_deref()),
                    &self.token_file.source,
                ),
            ),
            (
                "admin token",
                row(
                    output::or_dash(self.admin_token.value.as_deref()),
                    &self.admin_token.source,
                ),
            ),
        ];
        output::detail_table(&rows)
    }
}
