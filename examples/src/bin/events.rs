//! `events [PATH] [--since RFC3339] [--max N]`: the most recent events about PATH and
//! everything below it (the whole inventory by default), oldest first, one per line:
//! time, event type, message.

use clap::Parser;
use std::process::ExitCode;
use vim25::find::Finder;
use vim25::object::{parse_date_time, EventFilter, EventManager};
use vim25::types::DateTime;
use vim25::types::EventFilterSpecRecursionOption;
use vim25::Error;

#[derive(Parser)]
#[command(about = "Print recent events, oldest first: time, type, message")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// Only events at or after this time (RFC 3339: `2026-01-02T15:04:05Z`).
    #[arg(long, value_parser = rfc3339)]
    since: Option<String>,
    /// At most this many events (the newest ones).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(i32).range(1..=1000))]
    max: i32,
    /// Only events about this inventory path and what is below it.
    path: Option<String>,
}

/// Accepts an RFC 3339 time and writes it the way `xsd:dateTime` wants (`T`, `Z`).
fn rfc3339(s: &str) -> Result<String, String> {
    parse_date_time(s)
        .map(|_| s.trim().replacen([' ', 't'], "T", 1).replace('z', "Z"))
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time such as 2026-01-02T15:04:05Z"))
}

async fn run(args: Args) -> Result<(), Error> {
    let client = args.conn.connect().await?;
    let entity = match &args.path {
        Some(p) => Finder::new(&client).one(p).await?,
        None => client.service_content().root_folder.clone(),
    };
    // The largest page a server hands out, trimmed to the newest `--max` here: a
    // capped page is the newest events on vCenter but not on every server (vcsim).
    let mut filter = EventFilter::new()
        .entity(&entity, EventFilterSpecRecursionOption::All)
        .max_count(1000);
    if let Some(since) = args.since {
        filter = filter.since(DateTime(since));
    }
    let mut events = EventManager::new(&client)?.query(&filter).await?;
    // Keys grow with time; pages come in no promised order.
    events.sort_by_key(|e| e.key);
    let skip = events.len().saturating_sub(args.max as usize);
    for e in &events[skip..] {
        let message = e.full_formatted_message.as_deref().unwrap_or("");
        println!(
            "{}  {}  {}",
            e.created_time,
            e.type_name(),
            message.replace(['\r', '\n'], " ")
        );
    }
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("events", run(Args::parse()).await)
}
