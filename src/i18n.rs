//! Translations through the C library's gettext, which GtkBuilder also uses for `.ui` files.

use std::ffi::{CString, c_char};

use crate::config::{BUILD_LOCALE_DIR, GETTEXT_PACKAGE, LOCALEDIR};

unsafe extern "C" {
    fn bindtextdomain(domainname: *const c_char, dirname: *const c_char) -> *mut c_char;
    fn bind_textdomain_codeset(domainname: *const c_char, codeset: *const c_char) -> *mut c_char;
    fn textdomain(domainname: *const c_char) -> *mut c_char;
}

/// Binds the app's text domain; call once at start-up, before any widget is built.
pub fn init() {
    // From a checkout, the catalogs build.rs compiled; installed, the prefix the binary is in
    // (PREFIX/bin/roomtape → PREFIX/share/locale), else where the build said.
    let installed_next_to_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/locale")))
        .filter(|dir| dir.is_dir())
        .map(|dir| dir.to_string_lossy().into_owned());
    let dir = match BUILD_LOCALE_DIR {
        Some(dir) if crate::config::running_from_checkout() => dir.to_owned(),
        _ => installed_next_to_binary.unwrap_or_else(|| LOCALEDIR.to_owned()),
    };
    let (Ok(domain), Ok(dir), Ok(codeset)) = (
        CString::new(GETTEXT_PACKAGE),
        CString::new(dir.as_str()),
        CString::new("UTF-8"),
    ) else {
        return;
    };
    // SAFETY: all three are valid NUL-terminated strings that outlive the calls; glibc copies
    // them internally.
    unsafe {
        bindtextdomain(domain.as_ptr(), dir.as_ptr());
        bind_textdomain_codeset(domain.as_ptr(), codeset.as_ptr());
        textdomain(domain.as_ptr());
    }
}

/// Translates a user-visible string.
pub fn gettext(msgid: &str) -> String {
    glib::dgettext(Some(GETTEXT_PACKAGE), msgid).into()
}

/// Translates a string with a singular and a plural form.
pub fn ngettext(singular: &str, plural: &str, n: u32) -> String {
    glib::dngettext(Some(GETTEXT_PACKAGE), singular, plural, n.into()).into()
}

/// Translates a template and fills its `{}` placeholders in order.
pub fn gettext_f(msgid: &str, args: &[&str]) -> String {
    let mut out = gettext(msgid);
    for arg in args {
        if let Some(pos) = out.find("{}") {
            out.replace_range(pos..pos + 2, arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_order() {
        assert_eq!(gettext_f("{} of {}", &["1", "3"]), "1 of 3");
        assert_eq!(gettext_f("no placeholders", &["x"]), "no placeholders");
    }
}
