//! Names that touch the file system.
//!
//! Participant labels, stream ids and room names are chosen by strangers on the internet, and
//! other recorders in this field have shipped path-traversal bugs through exactly such names.
//! So every string that ends up in a path goes through [`sanitize_component`] first: the result
//! is always one ordinary path component (never empty, never `.`/`..`, never hidden, no
//! separators, no control or bidi characters, bounded length). Uniqueness within a folder is a
//! separate step ([`unique_file_name`], [`unique_in`]), because it depends on what else exists.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Upper bound, in bytes, of a sanitised component. Leaves ample room under the usual 255-byte
/// file-name limit for a folder timestamp or a `-NN.ext` suffix.
pub const MAX_COMPONENT_BYTES: usize = 80;

/// What an empty or fully stripped participant name becomes.
pub const FALLBACK_PARTICIPANT: &str = "participant";

/// What an empty or fully stripped room name becomes in a session folder name.
const FALLBACK_ROOM: &str = "room";

/// Name of the application sub-folder inside the user's Videos folder.
const APP_FOLDER: &str = "Roomtape";

/// Turns an untrusted name into one safe path component, falling back to `"participant"`.
///
/// See [`sanitize_component_or`] for the rules.
pub fn sanitize_component(raw: &str) -> String {
    sanitize_component_or(raw, FALLBACK_PARTICIPANT)
}

/// Turns an untrusted name into one safe path component, or `fallback` if nothing usable is left.
///
/// Rules, in order:
/// - `/` and `\` are removed (they would split the name into several components);
/// - NUL, every other control character and invisible formatting characters that can disguise a
///   name (bidi embeddings/overrides/isolates, LRM/RLM/ALM, zero-width space, word joiner, BOM)
///   are removed; the zero-width joiner and variation selectors stay because emoji need them;
/// - any run of whitespace (tabs and newlines included) becomes one space;
/// - `<>:"|?*` become `_`, so the recording can be copied to FAT/NTFS media;
/// - runs of dots collapse to one, so the result never contains `..`;
/// - leading dots and spaces are stripped (no `.`, `..` or hidden files), as are trailing dots
///   and spaces (Windows drops them silently, which would merge names);
/// - a Windows device name (`CON`, `NUL`, `COM1`, …) gets a `_` appended to its stem;
/// - the result is cut to [`MAX_COMPONENT_BYTES`] bytes on a character boundary.
///
/// Ordinary letters of any script and emoji are kept. The function is idempotent, so sanitising
/// an already sanitised name is harmless. `fallback` is returned as given and should itself be a
/// safe component.
pub fn sanitize_component_or(raw: &str, fallback: &str) -> String {
    sanitize_component_within(raw, fallback, MAX_COMPONENT_BYTES)
}

/// [`sanitize_component_or`] with a tighter length bound, for a stem that still gets suffixes
/// (`.part2.audio`) which must survive the final cut to [`MAX_COMPONENT_BYTES`].
pub fn sanitize_component_within(raw: &str, fallback: &str, max_bytes: usize) -> String {
    let max_bytes = max_bytes.min(MAX_COMPONENT_BYTES);
    let mut out = String::with_capacity(raw.len().min(4 * MAX_COMPONENT_BYTES));
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if is_dropped(c) {
            continue;
        }
        let c = if is_windows_reserved(c) { '_' } else { c };
        // Leading dots and spaces are never emitted, and a dot never follows a dot, so the
        // result cannot be `.`/`..`, hidden, or contain `..`.
        if c == '.' && (out.is_empty() || (!pending_space && out.ends_with('.'))) {
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
        // Stop early on enormous inputs: only the first MAX_COMPONENT_BYTES survive, and the
        // slack beyond them cannot change how the cut-off name is trimmed.
        if out.len() > 2 * MAX_COMPONENT_BYTES {
            break;
        }
    }

    let mut name = trim_edges(&out).to_owned();
    escape_device_name(&mut name);
    truncate_on_char_boundary(&mut name, max_bytes);
    let trimmed_len = trim_edges(&name).len();
    name.truncate(trimmed_len);

    if name.is_empty() {
        fallback.to_owned()
    } else {
        name
    }
}

/// Characters removed outright: path separators, controls and invisible formatting characters.
fn is_dropped(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '\u{061C}' // Arabic letter mark
            | '\u{200B}' // zero-width space
            | '\u{200E}' | '\u{200F}' // left-to-right / right-to-left mark
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}' // word joiner
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // byte order mark / zero-width no-break space
    ) || c.is_control()
}

/// Characters Windows forbids in file names (besides separators and controls).
fn is_windows_reserved(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// Strips leading dots/spaces and trailing dots/spaces/zero-width joiners.
///
/// A trailing zero-width joiner can only be the remains of an emoji sequence cut by truncation.
fn trim_edges(s: &str) -> &str {
    s.trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ', '\u{200D}'])
}

/// Appends `_` to the stem of a Windows device name, which cannot be a file name there even with
/// an extension (`CON.mkv`).
fn escape_device_name(name: &mut String) {
    let stem_len = name.find('.').unwrap_or(name.len());
    let stem = name[..stem_len].trim_end_matches(' ');
    let stem_len = stem.len();
    let upper = stem.to_ascii_uppercase();
    let reserved = matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (upper.len() == 4
            && (upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.as_bytes()[3].is_ascii_digit());
    if reserved {
        name.insert(stem_len, '_');
    }
}

/// Cuts `s` to at most `max` bytes without splitting a character.
fn truncate_on_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
    }
}

/// Builds `stem.ext` (or just `stem` when `ext` is empty) with an optional `-n` counter.
fn numbered_name(stem: &str, n: u64, ext: &str) -> String {
    let ext = ext.trim_start_matches('.');
    let mut name = if n <= 1 {
        stem.to_owned()
    } else {
        format!("{stem}-{n}")
    };
    if !ext.is_empty() {
        name.push('.');
        name.push_str(ext);
    }
    name
}

/// The first of `stem.ext`, `stem-2.ext`, `stem-3.ext`, … for which `taken` is false.
fn first_free(stem: &str, ext: &str, mut taken: impl FnMut(&str) -> bool) -> String {
    let stem = sanitize_component(stem);
    // The candidates are pairwise distinct and `taken` can only reject finitely many of them in
    // any realistic folder, so this ends; u64 cannot run out in practice.
    (1..=u64::MAX)
        .map(|n| numbered_name(&stem, n, ext))
        .find(|name| !taken(name))
        .unwrap_or_else(|| numbered_name(&stem, u64::MAX, ext))
}

/// A path in `dir` named `stem.ext`, or `stem-2.ext`, `stem-3.ext`, … that does not exist yet.
///
/// `stem` is sanitised again (cheap and idempotent) so a caller cannot forget it; `ext` is
/// trusted (it comes from our own code) and may be empty, which gives a name without a dot, handy
/// for folders. Anything present under the name counts as taken, even a dangling symlink.
///
/// This only checks; the file is not created. Create it with
/// `OpenOptions::new().write(true).create_new(true)` so a race is an error instead of an
/// overwrite. When several names are handed out before any file exists, use [`unique_in`].
pub fn unique_file_name(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let name = first_free(stem, ext, |name| {
        // Only an answer of "something is here" counts: on any other error (say, no permission
        // to look) creating the file will fail loudly anyway, and looping forever would not help.
        dir.join(name).symlink_metadata().is_ok()
    });
    dir.join(name)
}

/// The first of `stem.ext`, `stem-2.ext`, … not in `existing`, compared case-insensitively.
///
/// Used to reserve names before the files exist (several participants joining at once).
/// Case is ignored because recordings get copied to case-insensitive file systems, where
/// `Alice.mkv` and `alice.mkv` would collide. Insert the returned name into the set to reserve it.
pub fn unique_in(existing: &HashSet<String>, stem: &str, ext: &str) -> String {
    let lowered: HashSet<String> = existing.iter().map(|n| n.to_lowercase()).collect();
    first_free(stem, ext, |name| lowered.contains(&name.to_lowercase()))
}

/// Resolves a file name read back from a manifest inside `dir`, refusing anything that is not a
/// single plain component.
///
/// Manifests are files on disk that anybody could have edited; a `file` of `../../x` must never
/// make an export read or overwrite something outside the session folder.
pub fn resolve_in(dir: &Path, file_name: &str) -> Option<PathBuf> {
    let mut components = Path::new(file_name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(name)), None) if !file_name.contains(['/', '\\']) => {
            Some(dir.join(name))
        }
        _ => None,
    }
}

/// Milliseconds since the Unix epoch, negative before it (which only a broken clock gives).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Formats a Unix time in milliseconds as local time with `format` (a `g_date_time_format`
/// pattern). `None` only for times GLib cannot represent.
fn format_local(unix_ms: i64, format: &str) -> Option<String> {
    let secs = unix_ms.div_euclid(1000);
    let dt = glib::DateTime::from_unix_local(secs).ok()?;
    dt.format(format).ok().map(Into::into)
}

/// RFC 3339 local time with milliseconds and UTC offset, e.g. `2025-03-01T18:04:05.120+01:00`.
///
/// Returns an empty string for times GLib cannot represent (years outside 1–9999); the manifest
/// always carries the exact Unix time next to it, which is what programs should use.
pub fn local_rfc3339(unix_ms: i64) -> String {
    let millis = unix_ms.rem_euclid(1000);
    format_local(unix_ms, &format!("%Y-%m-%dT%H:%M:%S.{millis:03}%:z")).unwrap_or_default()
}

/// The local date (`YYYY-MM-DD`) and time (`HH-MM-SS`) of a Unix time, as session folder names
/// show them; colons are avoided so the names fit any file system.
pub fn local_date_and_time(unix_ms: i64) -> (String, String) {
    let fallback = || unix_ms.div_euclid(1000).to_string();
    (
        format_local(unix_ms, "%Y-%m-%d").unwrap_or_else(fallback),
        format_local(unix_ms, "%H-%M-%S").unwrap_or_else(fallback),
    )
}

/// The folder name of a session: `"<room> YYYY-MM-DD HH-MM-SS"` in local time.
///
/// The room is sanitised (falling back to `"room"`); colons are avoided in the time so the
/// folder can be copied to any file system. Two sessions of one room started within the same
/// second get the same name: pass it through [`unique_file_name`] with an empty extension.
pub fn session_folder_name(room: &str, start: SystemTime) -> String {
    let ms = unix_ms(start);
    let stamp =
        format_local(ms, "%Y-%m-%d %H-%M-%S").unwrap_or_else(|| ms.div_euclid(1000).to_string());
    // Shorten the room so the whole name is itself a sanitised component: sanitising it again
    // (as `unique_file_name` does) must not cut the timestamp off.
    let mut room = sanitize_component_or(room, FALLBACK_ROOM);
    truncate_on_char_boundary(
        &mut room,
        MAX_COMPONENT_BYTES.saturating_sub(stamp.len() + 1),
    );
    let trimmed_len = trim_edges(&room).len();
    room.truncate(trimmed_len);
    if room.is_empty() {
        FALLBACK_ROOM.clone_into(&mut room);
    }
    format!("{room} {stamp}")
}

/// Where recordings go unless the user chose otherwise: `<XDG Videos>/Roomtape`, or
/// `$HOME/Videos/Roomtape` when no Videos folder is configured.
///
/// The folder is not created here: it is created lazily by the first recording, so merely
/// starting the app leaves no trace on disk.
pub fn default_recordings_dir() -> PathBuf {
    let videos = glib::user_special_dir(glib::UserDirectory::Videos).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map_or_else(glib::home_dir, PathBuf::from)
            .join("Videos")
    });
    videos.join(APP_FOLDER)
}

#[cfg(test)]
mod tests;
