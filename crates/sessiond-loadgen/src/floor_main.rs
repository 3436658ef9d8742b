//! `sessiond-floor`: see [`sessiond_loadgen::floor`] and `--help`.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;

/// A Redis-protocol server that answers the session mix's `GET` and `SET` without storing
/// anything: the cost floor of reading and answering, for comparison with real servers.
#[derive(Parser, Debug)]
#[command(name = "sessiond-floor", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6390")]
    listen: String,
    /// Size of the values `GET` answers with (as the load generator's `--value-size`).
    #[arg(long, default_value_t = 4096)]
    value_size: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listen on {}", args.listen))?;
        sessiond_loadgen::floor::serve(listener, args.value_size).await;
        Ok(())
    })
}
