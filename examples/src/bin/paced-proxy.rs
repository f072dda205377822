//! `paced-proxy --upstream URL [--rate MB/S] [--listen 127.0.0.1:0] [--cache-min BYTES]
//! [--chunk BYTES]`
//!
//! The benchmark suite's stand-in for a server that streams its answers
//! ([`examples::paced`]): a TLS front for `URL` (the simulator) that sends every
//! response body at `--rate` MB/s (10⁶ bytes per second) in chunks, and answers a
//! repeated request for a large response from its cache. Standard output gets
//! `URL https://127.0.0.1:PORT/sdk` and then `READY`; standard error one line per
//! request, `OPERATION STATUS BYTES hit|miss|pass|error`. Runs until killed.

use clap::Parser;
use examples::paced::{Config, PacedProxy};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "A TLS front that streams every response at a fixed rate, caching large ones")]
struct Args {
    /// The endpoint to forward to (`https://127.0.0.1:PORT`; a path is ignored).
    #[arg(long)]
    upstream: url::Url,
    /// Body rate in MB/s (10⁶ bytes per second); 0 sends as fast as the socket takes it.
    #[arg(long, default_value_t = 80.0)]
    rate: f64,
    /// Where to listen (a loopback address; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Responses at least this large are cached and replayed.
    #[arg(long, default_value_t = 1 << 20)]
    cache_min: usize,
    /// Bytes per chunk of a body.
    #[arg(long, default_value_t = 64 << 10)]
    chunk: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        upstream: args.upstream,
        rate: args.rate * 1e6,
        cache_min: args.cache_min,
        chunk: args.chunk,
    };
    let proxy = match PacedProxy::bind(args.listen, config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("paced-proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    match proxy.local_addr() {
        Ok(addr) => println!("URL https://{addr}/sdk\nREADY"),
        Err(e) => {
            eprintln!("paced-proxy: {e}");
            return ExitCode::FAILURE;
        }
    }
    proxy.serve().await;
    ExitCode::SUCCESS
}
