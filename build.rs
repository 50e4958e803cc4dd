//! Compiles the GSettings schema next to the build output so `cargo run` works with no install.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let schema = "data/io.github.roomtape.Roomtape.gschema.xml";
    println!("cargo:rerun-if-changed={schema}");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let schema_dir = out_dir.join("schemas");
    if std::fs::create_dir_all(&schema_dir).is_err()
        || std::fs::copy(
            schema,
            schema_dir.join("io.github.roomtape.Roomtape.gschema.xml"),
        )
        .is_err()
    {
        println!("cargo:warning=could not stage the GSettings schema");
        return;
    }
    match Command::new("glib-compile-schemas")
        .arg("--strict")
        .arg(&schema_dir)
        .status()
    {
        Ok(status) if status.success() => {
            println!(
                "cargo:rustc-env=ROOMTAPE_BUILD_SCHEMA_DIR={}",
                schema_dir.display()
            );
        }
        _ => println!(
            "cargo:warning=glib-compile-schemas failed; settings will use the installed schema"
        ),
    }
}
