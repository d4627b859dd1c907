//! Entry point: parse, run, and turn the outcome into an exit code. The only exit point.

use std::process::ExitCode;

use clap::Parser;
use mosaic::cli::{Cli, OutputFormat};
use mosaic::error::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                exit::OK
            });
        }
    };
    mosaic::install_crypto_provider();
    let format = cli.global.output.unwrap_or(OutputFormat::Table);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(mosaic::commands::run(cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            mosaic::output::print_error(format, &e);
            ExitCode::from(e.exit_code())
        }
    }
}
