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

/// Which of the three passwords: what the password rows offer, in this order, and what the
/// settings (`password-kind`, the recent-rooms list) record; the password itself is never
/// written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordKind {
    Default,
    Custom,
    None,
}

impl PasswordKind {
    const ALL: [PasswordKind; 3] = [
        PasswordKind::Default,
        PasswordKind::Custom,
        PasswordKind::None,
    ];

    pub(crate) fn of(password: &Password) -> Self {
        match password {
            Password::Default => PasswordKind::Default,
            Password::Custom(_) => PasswordKind::Custom,
            Password::Disabled => PasswordKind::None,
        }
    }

    /// The password of this kind; `custom` is what is typed (or known) for Custom.
    pub(crate) fn password(self, custom: &str) -> Password {
        match self {
            PasswordKind::Default => Password::Default,
            PasswordKind::Custom => Password::Custom(custom.to_owned()),
            PasswordKind::None => Password::Disabled,
        }
    }

    /// Its position in the password rows.
    pub(crate) fn position(self) -> u32 {
        match self {
            PasswordKind::Default => 0,
            PasswordKind::Custom => 1,
            PasswordKind::None => 2,
        }
    }

    /// The kind at `position` in the password rows (Default for anything else).
    pub(crate) fn at(position: u32) -> Self {
        Self::ALL
            .into_iter()
            .find(|kind| kind.position() == position)
            .unwrap_or(PasswordKind::Default)
    }

    /// How the settings name it.
    pub(crate) fn as_setting(self) -> &'static str {
        match self {
            PasswordKind::Default => "default",
            PasswordKind::Custom => "custom",
            PasswordKind::None => "none",
        }
    }

    /// The kind a setting names (Default for anything unknown).
    pub(crate) fn from_setting(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_setting() == value)
            .unwrap_or(PasswordKind::Default)
    }
}

/// The password rows' entries, in order.
pub(crate) fn password_choices() -> [String; 3] {
    [gettext("Default"), gettext("Custom"), gettext("None")]
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
