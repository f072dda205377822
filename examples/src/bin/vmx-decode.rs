//! `vmx-decode [--kind vch|container|auto] [--layout auto|current|legacy] FILE`: reads
//! `.vmx`-style `key = "value"` lines (keys that are not VIC's are ignored) and prints
//! the decoded VCH or containerVM config as pretty JSON. Exit status 1, with a message
//! naming the key, on bad input.
//!
//! Secret fields never appear in the JSON in the clear. Their values are carried
//! sealed, as stored in the file, in the member `"@sealed"` (key → stored value), so
//! that `vmx-encode --secret-key-from FILE` can write them back; the master key in
//! `guestinfo.ovfEnv` is not printed.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use vic_config::migrate::Kind;
use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::vmx::VmxFile;
use vic_config::{decode_into, DecodeOptions, Layout};

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Vch,
    Container,
    Auto,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Auto,
    Current,
    Legacy,
}

#[derive(Parser)]
#[command(about = "Decode VIC extraConfig lines of a .vmx file into JSON")]
struct Args {
    /// What the file describes (auto: a VCH if it has `init` keys).
    #[arg(long, value_enum, default_value = "auto")]
    kind: KindArg,
    /// Key layout (auto: detected from the keys).
    #[arg(long, value_enum, default_value = "auto")]
    layout: LayoutArg,
    /// The .vmx file (`-` for standard input).
    file: String,
}

fn run(args: &Args) -> Result<String, String> {
    let text = if args.file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file))?
    };
    let file = VmxFile::parse(&text).map_err(|e| e.to_string())?;
    let opts = DecodeOptions {
        layout: match args.layout {
            LayoutArg::Auto => None,
            LayoutArg::Current => Some(Layout::Current),
            LayoutArg::Legacy => Some(Layout::Legacy),
        },
        ..DecodeOptions::default()
    };
    let kind = match args.kind {
        KindArg::Vch => Kind::Vch,
        KindArg::Container => Kind::Container,
        KindArg::Auto => Kind::detect(&file.to_map()),
    };
    let (json, consumed) = match kind {
        Kind::Vch => {
            let mut v = VchConfig::default();
            let keys = decode_into(&file, &mut v, opts).map_err(|e| e.to_string())?;
            (serde_json::to_value(&v), keys)
        }
        Kind::Container => {
            let mut v = ExecutorConfig::default();
            let keys = decode_into(&file, &mut v, opts).map_err(|e| e.to_string())?;
            (serde_json::to_value(&v), keys)
        }
    };
    let mut json = json.map_err(|e| format!("JSON: {e}"))?;
    // The model skips secrets in JSON (they would be plaintext): carry what the file
    // stores for them instead, still sealed, so that a round trip keeps them.
    let sealed: serde_json::Map<String, serde_json::Value> = consumed
        .iter()
        .filter(|k| k.contains("@secret"))
        .filter_map(|k| Some((k.clone(), file.get(k)?.to_owned().into())))
        .collect();
    if !sealed.is_empty() {
        if let Some(obj) = json.as_object_mut() {
            obj.insert(SEALED.to_owned(), sealed.into());
        }
    }
    serde_json::to_string_pretty(&json).map_err(|e| format!("JSON: {e}"))
}

/// The JSON member that carries sealed values (not a Rust field name, so it cannot
/// clash with one of the model).
const SEALED: &str = "@sealed";

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vmx-decode: {e}");
            ExitCode::from(1)
        }
    }
}
