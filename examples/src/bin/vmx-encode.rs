//! `vmx-encode [--kind vch|container] [--layout current|legacy] FILE.json`: reads a
//! VCH or containerVM config as JSON (`-` for standard input) and prints its
//! extraConfig as `key = "value"` lines, sorted by key. Without `--kind`, a JSON
//! object with an `init` member is a VCH.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::vmx::write_lines;
use vic_config::{to_extra_config_with, EncodeOptions, Layout};

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Vch,
    Container,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Current,
    Legacy,
}

#[derive(Parser)]
#[command(about = "Encode a VIC config from JSON into .vmx extraConfig lines")]
struct Args {
    /// What the JSON describes (default: a VCH if it has `init`, else a containerVM).
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Key layout to write.
    #[arg(long, value_enum, default_value = "current")]
    layout: LayoutArg,
    /// The JSON file (`-` for standard input).
    file: String,
}

fn run(args: &Args) -> Result<String, String> {
    let text = if args.file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file))?
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.file))?;
    let kind = args.kind.unwrap_or(if json.get("init").is_some() {
        KindArg::Vch
    } else {
        KindArg::Container
    });
    let opts = EncodeOptions {
        layout: match args.layout {
            LayoutArg::Current => Layout::Current,
            LayoutArg::Legacy => Layout::Legacy,
        },
        ..EncodeOptions::default()
    };
    let bad = |e: serde_json::Error| format!("{}: not a valid config: {e}", args.file);
    let map = match kind {
        KindArg::Vch => {
            let v: VchConfig = serde_json::from_value(json).map_err(bad)?;
            to_extra_config_with(&v, opts)
        }
        KindArg::Container => {
            let v: ExecutorConfig = serde_json::from_value(json).map_err(bad)?;
            to_extra_config_with(&v, opts)
        }
    }
    .map_err(|e| e.to_string())?;
    write_lines(&map).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(lines) => {
            print!("{lines}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vmx-encode: {e}");
            ExitCode::from(1)
        }
    }
}
