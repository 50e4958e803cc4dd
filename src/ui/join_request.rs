//! A room to join, as the Join dialog, a link or the command line gives it: plain data that
//! the dialog hands to the window, so that neither needs the other's insides.
//!
//! Its password is a [`Password`]: the VDO.Ninja default, none, or one typed in. The password
//! rows (the Join dialog's and Preferences') offer the same three choices, in that order.

use gtk::glib;

use crate::i18n::gettext;
use crate::protocol::crypto::Password;

/// A room to join, as the join dialog or the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq, glib::Boxed)]
#[boxed_type(name = "RoomtapeJoinRequest")]
pub struct JoinRequest {
    pub room: String,
    /// A ws:// or wss:// URL.
    pub server: String,
    pub password: Password,
}

/// The password choices' position in the password rows: Default, Custom, None.
pub(crate) const CHOICE_DEFAULT: u32 = 0;
pub(crate) const CHOICE_CUSTOM: u32 = 1;
pub(crate) const CHOICE_NONE: u32 = 2;

/// The password rows' entries, in order.
pub(crate) fn password_choices() -> [String; 3] {
    [gettext("Default"), gettext("Custom"), gettext("None")]
}

/// Where the password rows show `password`.
pub(crate) fn choice_of(password: &Password) -> u32 {
    match password {
        Password::Default => CHOICE_DEFAULT,
        Password::Custom(_) => CHOICE_CUSTOM,
        Password::Disabled => CHOICE_NONE,
    }
}

/// The password a row's choice stands for; `custom` is what is typed for Custom.
pub(crate) fn password_at(choice: u32, custom: &str) -> Password {
    match choice {
        CHOICE_CUSTOM => Password::Custom(custom.to_owned()),
        CHOICE_NONE => Password::Disabled,
        _ => Password::Default,
    }
}

/// How the settings (`password-kind`, the recent-rooms list) name a password's kind; the
/// password itself is never written there.
pub(crate) fn kind_of(password: &Password) -> &'static str {
    match password {
        Password::Default => "default",
        Password::Custom(_) => "custom",
        Password::Disabled => "none",
    }
}

/// The password of the kind the settings name; `custom` is the known custom password.
pub(crate) fn password_of_kind(kind: &str, custom: &str) -> Password {
    match kind {
        "custom" => Password::Custom(custom.to_owned()),
        "none" => Password::Disabled,
        _ => Password::Default,
    }
}

/// A password as `--password` takes it: empty for the default, "false" for none, anything
/// else is the password.
pub(crate) fn password_from_text(text: &str) -> Password {
    match text {
        "" => Password::Default,
        "false" => Password::Disabled,
        custom => Password::Custom(custom.to_owned()),
    }
}
