//! `vmx-encode [--kind vch|container] [--layout current|legacy] FILE.json`: reads a
//! VCH or containerVM config as JSON (`-` for standard input) and prints its
//! extraConfig as `key = "value"` lines, sorted by key. Without `--kind`, a JSON
//! object with an `init` member is a VCH.
//!
//! Sealed values that `vmx-decode` carried in the member `"@sealed"` are never
//! dropped silently: with `--secret-key-from FILE` (the `.vmx` they came from, for its
//! `guestinfo.ovfEnv`) each is checked to open at its key and written with that key
//! (as it was in the same layout, re-sealed for its new key in the other); without
//! it the program refuses and names them, unless `--drop-secrets` says to leave them
//! out.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use std::collections::BTreeMap;

use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::vmx::{write_lines, VmxFile};
use vic_config::{to_extra_config_with, EncodeOptions, Layout, SecretKey, SECRET_KEY_KEY};

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
    /// The `.vmx` file whose `guestinfo.ovfEnv` opens the sealed values carried in
    /// the JSON (normally the file `vmx-decode` read).
    #[arg(long, value_name = "VMX")]
    secret_key_from: Option<String>,
    /// Leave the sealed values carried in the JSON out (said on standard error).
    #[arg(long, conflicts_with = "secret_key_from")]
    drop_secrets: bool,
    /// The JSON file (`-` for standard input).
    file: String,
}

/// The JSON member that carries sealed values (see `vmx-decode`).
const SEALED: &str = "@sealed";

/// The key of the read-only (so also secret) key `key` in `layout`, when `key` is a
/// visible key of either layout. Secret keys are always read-only: `<root>./…`.
fn relayout(key: &str, layout: Layout) -> Option<String> {
    let rest = [Layout::Current, Layout::Legacy]
        .iter()
        .find_map(|l| key.strip_prefix(l.root())?.strip_prefix("./"))?;
    Some(format!("{}./{rest}", layout.root()))
}

/// Reads the master key from the `guestinfo.ovfEnv` of a `.vmx` file.
fn master_key(path: &str) -> Result<SecretKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let file = VmxFile::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let stored = file
        .get(SECRET_KEY_KEY)
        .ok_or_else(|| format!("{path}: no {SECRET_KEY_KEY} to open the sealed values with"))?;
    SecretKey::from_base64(stored).map_err(|e| format!("{path}: {e}"))
}

/// Writes the sealed values into `map` in `layout`, each checked to open at the key
/// it was carried under (so a value moved to another key in the JSON is refused).
fn write_sealed(
    map: &mut BTreeMap<String, String>,
    sealed: &BTreeMap<String, String>,
    key: &SecretKey,
    layout: Layout,
) -> Result<(), String> {
    for (k, stored) in sealed {
        if !k.contains("@secret") {
            return Err(format!("{SEALED}: `{k}` is not a secret key"));
        }
        let to = relayout(k, layout)
            .ok_or_else(|| format!("{SEALED}: `{k}` is not a visible key of either layout"))?;
        let plain = key.open(k, stored).map_err(|e| e.to_string())?;
        // In the same place the stored text is kept as it was (a value VIC sealed
        // stays in VIC's format); under a new key it must be sealed for that key.
        let value = if &to == k {
            stored.clone()
        } else {
            key.seal(&to, &plain).map_err(|e| e.to_string())?
        };
        if map.insert(to.clone(), value).is_some() {
            return Err(format!("{SEALED}: `{to}` is also written by the config"));
        }
    }
    map.insert(SECRET_KEY_KEY.to_owned(), key.to_base64());
    Ok(())
}

fn run(args: &Args) -> Result<String, String> {
    let text = if args.file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file))?
    };
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.file))?;
    let sealed: BTreeMap<String, String> = match json.as_object_mut().and_then(|o| o.remove(SEALED))
    {
        None => BTreeMap::new(),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| format!("{}: {SEALED} is not an object of strings: {e}", args.file))?,
    };
    let listed = || {
        sealed
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let key = match (&args.secret_key_from, args.drop_secrets) {
        _ if sealed.is_empty() => None,
        (Some(path), _) => Some(master_key(path)?),
        (None, true) => {
            eprintln!(
                "vmx-encode: leaving out the sealed value(s) of {} (--drop-secrets)",
                listed()
            );
            None
        }
        (None, false) => {
            return Err(format!(
                "the JSON carries sealed value(s) of {}, which cannot be written without the key \
                 that opens them: give --secret-key-from FILE.vmx (the file they were decoded \
                 from), or --drop-secrets to leave them out",
                listed()
            ))
        }
    };
    let kind = args.kind.unwrap_or(if json.get("init").is_some() {
        KindArg::Vch
    } else {
        KindArg::Container
    });
    let layout = match args.layout {
        LayoutArg::Current => Layout::Current,
        LayoutArg::Legacy => Layout::Legacy,
    };
    let opts = EncodeOptions {
        layout,
        secret_key: key.clone(),
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
    let mut map = map;
    if let Some(key) = &key {
        write_sealed(&mut map, &sealed, key, layout)?;
    }
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
