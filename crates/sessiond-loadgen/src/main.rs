//! `sessiond-loadgen`: see the library documentation and `--help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sessiond_loadgen::cli::Args;
use sessiond_loadgen::runner;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; returning the error from main
            // would print a backtrace whenever RUST_BACKTRACE is set, which buries
            // the message in benchmark logs.
            eprintln!("sessiond-loadgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shared) = args.build()?;
    let shared = Arc::new(shared);
    let label = args.label.as_deref();
    let out = if args.rss_per_item {
        let report = runner::run_rss(&cfg, &shared)?;
        if args.json {
            report.to_json(label) + "\n"
        } else {
            report.to_text()
        }
    } else {
        let report = runner::run_bench(&cfg, &shared)?;
        if args.json {
            report.to_json(label) + "\n"
        } else {
            report.to_text()
        }
    };
    print!("{out}");
    Ok(())
}
