//! A room to join, as the Join dialog, a link or the command line gives it: plain data that
//! the dialog hands to the window, so that neither needs the other's insides.

use crate::i18n::gettext;

/// The password argument of `join-requested` meaning "the VDO.Ninja default password".
pub const PASSWORD_DEFAULT: &str = "";
/// The password argument of `join-requested` meaning "the room has no password".
pub const PASSWORD_NONE: &str = "false";

/// A room to join, as the join dialog or the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub room: String,
    /// A ws:// or wss:// URL.
    pub server: String,
    /// [`PASSWORD_DEFAULT`], [`PASSWORD_NONE`], or the password itself.
    pub password: String,
}

/// How the room is protected, as the password combo row offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordMode {
    /// The VDO.Ninja default password.
    Default,
    /// A password the operator types.
    Custom,
    /// No password at all.
    None,
}

impl PasswordMode {
    /// In the order of the combo row.
    pub(crate) const ALL: [Self; 3] = [Self::Default, Self::Custom, Self::None];

    pub(crate) fn label(self) -> String {
        match self {
            Self::Default => gettext("Default"),
            Self::Custom => gettext("Custom"),
            Self::None => gettext("None"),
        }
    }

    /// Reads the `password` setting: empty is the default, "false" is none.
    pub(crate) fn from_setting(password: &str) -> Self {
        match password {
            PASSWORD_DEFAULT => Self::Default,
            PASSWORD_NONE => Self::None,
            _ => Self::Custom,
        }
    }

    /// How the recent-rooms list records it.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Custom => "custom",
            Self::None => "none",
        }
    }

    pub(crate) fn from_kind(kind: &str) -> Self {
        match kind {
            "custom" => Self::Custom,
            "none" => Self::None,
            _ => Self::Default,
        }
    }

    pub(crate) fn index(self) -> u32 {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0) as u32
    }

    pub(crate) fn from_index(index: u32) -> Self {
        Self::ALL
            .get(index as usize)
            .copied()
            .unwrap_or(Self::Default)
    }
}
