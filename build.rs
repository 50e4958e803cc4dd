//! Compiles the GSettings schema next to the build output so `cargo run` works with no install.

// Cargo reads its instructions from the build script's stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    compile_translations();
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

/// Compiles every catalog in `po/LINGUAS` into `OUT_DIR/locale`, so a checkout runs translated.
fn compile_translations() {
    println!("cargo:rerun-if-changed=po");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let locale_dir = out_dir.join("locale");
    let languages = std::fs::read_to_string("po/LINGUAS").unwrap_or_default();
    for lang in languages
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let target = locale_dir.join(lang).join("LC_MESSAGES");
        let compiled = std::fs::create_dir_all(&target).is_ok()
            && Command::new("msgfmt")
                .arg("--check")
                .arg("-o")
                .arg(target.join("roomtape.mo"))
                .arg(format!("po/{lang}.po"))
                .status()
                .is_ok_and(|s| s.success());
        if !compiled {
            println!(
                "cargo:warning=the {lang} translation did not compile (is gettext installed?)"
            );
        }
    }
    println!(
        "cargo:rustc-env=ROOMTAPE_BUILD_LOCALE_DIR={}",
        locale_dir.display()
    );
}
