//! Translations through `gettext-rs`, bound to the same text domain GtkBuilder uses for `.ui`
//! files.

use crate::config::{BUILD_LOCALE_DIR, GETTEXT_PACKAGE, LOCALEDIR};

/// Binds the app's text domain; call once at start-up, before any widget is built.
pub fn init() {
    // From a checkout, the catalogs build.rs compiled; installed, the prefix the binary is in
    // (PREFIX/bin/roomtape → PREFIX/share/locale), else where the build said.
    let installed_next_to_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/locale")))
        .filter(|dir| dir.is_dir());
    let dir = match BUILD_LOCALE_DIR {
        Some(dir) if crate::config::running_from_checkout() => dir.into(),
        _ => installed_next_to_binary.unwrap_or_else(|| LOCALEDIR.into()),
    };
    // Untranslated English is what a failure here leaves, so it is logged and start-up goes on.
    let bound = gettextrs::bindtextdomain(GETTEXT_PACKAGE, dir)
        .and_then(|_| gettextrs::bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8"))
        .and_then(|_| gettextrs::textdomain(GETTEXT_PACKAGE));
    if let Err(err) = bound {
        tracing::warn!("translations are off: {err}");
    }
}

/// Translates a user-visible string.
pub fn gettext(msgid: &str) -> String {
    gettextrs::dgettext(GETTEXT_PACKAGE, msgid)
}

/// Translates a string with a singular and a plural form.
pub fn ngettext(singular: &str, plural: &str, n: u32) -> String {
    gettextrs::dngettext(GETTEXT_PACKAGE, singular, plural, n)
}

/// Translates a template and fills its named placeholders: `{room}` takes the value paired
/// with `"room"`, wherever the translation puts it. Braces that name no argument stay as they
/// are.
pub fn gettext_f(msgid: &str, args: &[(&str, &str)]) -> String {
    fill(&gettext(msgid), args)
}

/// `ngettext` with named placeholders, as `gettext_f`.
pub fn ngettext_f(singular: &str, plural: &str, n: u32, args: &[(&str, &str)]) -> String {
    fill(&ngettext(singular, plural, n), args)
}

fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| Some((close, args.iter().find(|(n, _)| *n == &after[..close])?.1)));
        match value {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_placeholders_are_filled_wherever_they_stand() {
        assert_eq!(
            fill("{index} of {count}", &[("index", "1"), ("count", "3")]),
            "1 of 3"
        );
        assert_eq!(
            fill(
                "{count} Dateien, {index}.",
                &[("index", "1"), ("count", "3")]
            ),
            "3 Dateien, 1."
        );
        assert_eq!(fill("{a}{a}", &[("a", "x")]), "xx");
    }

    #[test]
    fn text_that_is_not_a_placeholder_stays() {
        assert_eq!(fill("no placeholders", &[("x", "y")]), "no placeholders");
        assert_eq!(fill("{unknown} {", &[("x", "y")]), "{unknown} {");
        assert_eq!(fill("}{x}", &[("x", "{x}")]), "}{x}");
    }
}
