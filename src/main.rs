//! Entry point: parse, run, and turn the outcome into an exit code. The only exit point.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use mosaic::cli::Cli;
use mosaic::error::exit;
use mosaic::output::OutputFormat;

fn main() -> ExitCode {
    // With COMPLETE=<shell> set (by the script `mosaic completion <shell>` prints), this
    // run only completes the command line being typed, then exits.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let args: Vec<OsString> = std::env::args_os().collect();
    let matches = match Cli::parser(&args).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // Resolved once: flags and environment, then the profile, then the defaults.
    let mut given = cli.global.given(&matches);
    given.config_may_be_missing = matches!(cli.command, mosaic::cli::Command::Config(_));
    let settings = match mosaic::config::settings(given) {
        Ok(s) => s,
        Err(e) => {
            let format = cli.global.output.unwrap_or(OutputFormat::Table);
            mosaic::output::print_error(format, &e);
            return ExitCode::from(e.exit_code());
        }
    };
    let format = settings.format();
    if let Err(e) = mosaic::output::configure(cli.global.shape(format)) {
        mosaic::output::print_error(format, &e);
        return ExitCode::from(e.exit_code());
    }
    if let Some(warning) = settings
        .token_file
        .value
        .as_deref()
        .and_then(mosaic::config::token_file_warning)
    {
        mosaic::output::warn(format, &warning);
    }
    mosaic::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            mosaic::output::print_error(
                format,
                &mosaic::error::Error::internal(format!("cannot start the async runtime: {e}")),
            );
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(mosaic::commands::run(cli.command, &settings)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            mosaic::output::print_error(format, &e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version go to stdout (exit 0); usage errors to stderr (exit 2), as JSON when
/// the command line or MOSAIC_OUTPUT asked for JSON, so that scripts parse one shape.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(exit::OK);
    }
    if let Some(err) = empty_env_value(e) {
        mosaic::output::print_error(requested_format(std::env::args_os().skip(1)), &err);
        return ExitCode::from(exit::INVALID_INPUT);
    }
    if requested_format(std::env::args_os().skip(1)) == OutputFormat::Json {
        // The first paragraph of clap's text is the error; the rest is usage and hints.
        let rendered = e.render().to_string();
        let message = rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        let message = message.strip_prefix("error: ").unwrap_or(&message);
        mosaic::output::print_error_parts(OutputFormat::Json, "invalid_input", message);
    } else {
        let _ = e.print();
    }
    ExitCode::from(exit::INVALID_INPUT)
}

/// clap reads a variable set to the empty string (`MOSAIC_CACERT=`) as its flag given
/// without a value, and says so in terms of a flag nobody typed: named by its variable.
fn empty_env_value(e: &clap::Error) -> Option<mosaic::error::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let empty =
        matches!(e.get(ContextKind::InvalidValue), Some(ContextValue::String(v)) if v.is_empty());
    if e.kind() != ErrorKind::InvalidValue || !empty {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let typed = std::env::args_os().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    if typed {
        return None;
    }
    let var = env_of(&Cli::command(), long)?;
    std::env::var_os(&var)
        .is_some_and(|v| v.is_empty())
        .then(|| {
            mosaic::error::Error::invalid_input(format!(
                "{var} is set but empty (it stands for {arg})"
            ))
            .with_hint(format!("unset it (`unset {var}`) or give it a value"))
        })
}

/// The environment variable of the flag `--long`, wherever in the command tree it is.
fn env_of(cmd: &clap::Command, long: &str) -> Option<String> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| cmd.get_subcommands().find_map(|sub| env_of(sub, long)))
}

/// The output format the raw arguments ask for, for when clap itself refused them.
fn requested_format(args: impl Iterator<Item = OsString>) -> OutputFormat {
    let mut format = match std::env::var(mosaic::api::env::OUTPUT).as_deref() {
        Ok("json") => OutputFormat::Json,
        _ => OutputFormat::Table,
    };
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    for (i, a) in args.iter().enumerate() {
        let value = match a.as_str() {
            "--" => break,
            "-o" | "--output" => args.get(i + 1).map(String::as_str),
            _ => a
                .strip_prefix("--output=")
                .or_else(|| a.strip_prefix("-o="))
                .or_else(|| a.strip_prefix("-o").filter(|v| !v.is_empty())),
        };
        match value {
            Some("json") => format = OutputFormat::Json,
            Some("table") => format = OutputFormat::Table,
            Some("wide") => format = OutputFormat::Wide,
            _ => {}
        }
    }
    format
}
