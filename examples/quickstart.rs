//! The one-command quickstart: starts an IAS3 emulator on 127.0.0.1, uploads
//! `examples/collection.csv` (the SUCHO-style sheet: Cyrillic titles, a multi-line
//! description, `subject[0]`.. lists, a continuation row) with the real `iaup upload` code path,
//! then prints what landed (the description with its line breaks). Nothing leaves this machine,
//! and the temporary directory (emulator data and journal) is removed at the end.
//!
//!     cargo run --release --example quickstart
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use ias3_emulator::{Config, Emulator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The sheet's paths are relative to the repository root, as `ia` reads them from the cwd.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR"))?;
    let data = tempfile::tempdir()?;
    let emu = Emulator::spawn(Config::new(data.path(), "demo-access", "demo-secret"))?;
    println!("emulator listening on {}", emu.url());

    // Point iaup at the emulator, with keys from the environment (no ia.ini needed).
    std::env::set_var("IAUP_S3_URL", emu.url());
    std::env::set_var("IAUP_ARCHIVE_URL", emu.url());
    std::env::set_var("IA_ACCESS_KEY_ID", "demo-access");
    std::env::set_var("IA_SECRET_ACCESS_KEY", "demo-secret");
    let journal = data.path().join("journal.sqlite");
    let args = [
        "iaup",
        "upload",
        "--spreadsheet=examples/collection.csv",
        "--no-progress",
        "--journal",
        journal.to_str().ok_or("temp path is not UTF-8")?,
    ];
    println!("$ {}", args.join(" "));
    let code = match iaup::run(iaup::cli::Cli::parse_from(args)) {
        Ok(status) => status.code(),
        Err(e) => {
            eprintln!("{}", e.render());
            e.status.code()
        }
    };
    println!("\nexit code {code}; what landed:");
    for id in ["sucho-id-ArticleFiles_1258", "sucho-id-ArticleFiles_1301"] {
        let Some(item) = emu.item(id) else {
            println!("  {id}: MISSING");
            continue;
        };
        println!("  {id}  ({}/metadata/{id})", emu.url());
        for key in ["title", "subject", "language", "collection"] {
            if let Some(v) = item.metadata.get(key) {
                println!("    {key}: {v}");
            }
        }
        // Printed as text, so the multi-line description shows its line breaks.
        if let Some(d) = item.metadata.get("description") {
            let text = d.as_str().map_or_else(|| d.to_string(), str::to_owned);
            println!("    description:");
            for line in text.lines() {
                let row = format!("      | {line}");
                println!("{}", row.trim_end());
            }
        }
        for f in item.files.iter().filter(|f| f.source == "original") {
            println!("    file {} ({} bytes, md5 {})", f.name, f.size, f.md5);
        }
    }
    // Stop the emulator and remove the temporary directory before exiting: `process::exit`
    // runs no destructors.
    drop(emu);
    let data_path = data.path().to_path_buf();
    data.close()?;
    println!("removed {}", data_path.display());
    std::process::exit(i32::from(code));
}
