//! The `afm-spark` command line: parses arguments, sets up logging, runs one subcommand, and turns any
//! failure into one clear line on stderr and a non-zero exit status.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.quiet);
    match cli::dispatch(args.command, args.quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
