//! `cargo run -p vim25-gen [-- --check] [--schema DIR] [--out DIR]`: writes (or checks)
//! `vim25/types/src/generated/`, `vim25/enums/src/generated/` and `vim25/core/src/generated/`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut schema = vim25_gen::default_schema_dir();
    let mut out = vim25_gen::default_out_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--schema" => schema = PathBuf::from(args.next().expect("--schema DIR")),
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            _ => {
                eprintln!("usage: vim25-gen [--check] [--schema DIR] [--out DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let files = vim25_gen::generate(&schema);
    let stale = vim25_gen::stale_files(&files, &out);
    if check {
        if stale.is_empty() {
            println!("generated code is current ({} files)", files.len());
            return ExitCode::SUCCESS;
        }
        eprintln!("generated code is stale: {}", stale.join(", "));
        return ExitCode::FAILURE;
    }
    std::fs::create_dir_all(&out).expect("create output directory");
    for name in &stale {
        let path = out.join(name);
        match files.get(name) {
            Some(text) => std::fs::write(&path, text).expect("write generated file"),
            None => std::fs::remove_file(&path).expect("remove stale generated file"),
        }
    }
    println!(
        "wrote {} of {} files to {}",
        stale.len(),
        files.len(),
        out.display()
    );
    ExitCode::SUCCESS
}
