//! `po/POTFILES.in` stays in step with the sources: every file with translatable strings is
//! listed, and every listed file exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn listed() -> BTreeSet<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("po/POTFILES.in"))
        .expect("po/POTFILES.in is readable");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn has_translatable_strings(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let is_rust = path.extension().is_some_and(|e| e == "rs");
    if is_rust {
        ["gettext(", "gettext_f(", "ngettext("]
            .iter()
            .any(|call| text.contains(call))
    } else {
        text.contains("translatable=\"yes\"")
    }
}

#[test]
fn every_file_with_translatable_strings_is_in_potfiles() {
    let listed = listed();
    let mut files = Vec::new();
    walk(&Path::new(ROOT).join("src"), &mut files);
    walk(&Path::new(ROOT).join("data"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|path| has_translatable_strings(path))
        .filter_map(|path| path.strip_prefix(ROOT).ok())
        .map(|path| path.to_string_lossy().into_owned())
        // The gettext wrappers themselves.
        .filter(|path| path != "src/i18n.rs")
        .filter(|path| !listed.contains(path))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to po/POTFILES.in: {missing:?}"
    );
}

#[test]
fn every_listed_file_exists() {
    let gone: Vec<String> = listed()
        .into_iter()
        .filter(|path| !Path::new(ROOT).join(path).is_file())
        .collect();
    assert!(
        gone.is_empty(),
        "po/POTFILES.in lists missing files: {gone:?}"
    );
    let linguas = std::fs::read_to_string(Path::new(ROOT).join("po/LINGUAS"))
        .expect("po/LINGUAS is readable");
    for lang in linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(
            Path::new(ROOT).join(format!("po/{lang}.po")).is_file(),
            "po/LINGUAS names {lang} but po/{lang}.po is missing"
        );
    }
}

/// Every catalog compiles (`msgfmt --check`: placeholders, mnemonics, headers) and translates
/// every string of a template freshly extracted from the sources, so nothing marked for
/// translation reaches a German or Spanish screen in English.
#[test]
fn every_catalog_compiles_and_covers_the_template() {
    let root = Path::new(ROOT);
    let template = std::env::temp_dir().join(format!("roomtape-{}.pot", std::process::id()));
    let status = std::process::Command::new("bash")
        .arg(root.join("build-aux/update-pot.sh"))
        .env("ROOMTAPE_POT", &template)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("update-pot.sh runs (gettext installed)");
    assert!(status.success(), "the template could not be extracted");
    let text = std::fs::read_to_string(&template).expect("template");
    // Strings from every kind of source: Rust, .ui, the schema-free data files, the presets.
    for sample in [
        "_Record Room",
        "Copy _Guest Link",
        "Keyboard shortcuts",
        "Room Recorder",
        "MP4 for editing (H.264 + AAC), one file per participant",
    ] {
        assert!(
            text.contains(&format!("\"{sample}")),
            "{sample:?} is not in the template"
        );
    }
    let linguas = std::fs::read_to_string(root.join("po/LINGUAS")).expect("LINGUAS");
    let languages: Vec<&str> = linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        languages.len() >= 2,
        "two translations at least: {languages:?}"
    );
    for lang in languages {
        let po = root.join(format!("po/{lang}.po"));
        let output = std::process::Command::new("msgfmt")
            .args(["--check", "--statistics", "-o", "/dev/null"])
            .arg(&po)
            .output()
            .expect("msgfmt runs");
        let stats = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{lang}: {stats}");
        assert!(
            !stats.contains("fuzzy") && !stats.contains("untranslated"),
            "{lang}: {stats}"
        );
        let output = std::process::Command::new("msgcmp")
            .arg(&po)
            .arg(&template)
            .output()
            .expect("msgcmp runs");
        assert!(
            output.status.success(),
            "{lang} misses strings of the template: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = std::fs::remove_file(&template);
}
