//! Room passwords and TURN credentials in the Secret Service (GNOME Keyring, KWallet, or the
//! secret portal under Flatpak) through `oo7`, never in dconf.
//!
//! Every call is bounded in time: a keyring that would need a prompt (a locked or missing
//! collection) must never hold up joining a room. Without a running keyring the callers keep
//! secrets in memory for the session and say so.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::APP_ID;
use crate::i18n::{gettext, gettext_f};

/// The longest a keyring call may take before it counts as "no keyring".
const KEYRING_TIMEOUT: Duration = Duration::from_secs(8);
const SECRET_SERVICE: &str = "org.freedesktop.secrets";

/// Which secret: the attributes it is filed under in the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretKey {
    /// The password Preferences gives every room that has no password of its own.
    DefaultRoomPassword,
    /// The password of one room on one server, remembered from the Join dialog.
    RoomPassword { server: String, room: String },
    /// `user:password` for the TURN servers listed in Preferences.
    TurnCredentials,
}

impl SecretKey {
    /// The attributes, as `secret-tool lookup` takes them.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = vec![("application", APP_ID.to_owned())];
        match self {
            Self::DefaultRoomPassword => attributes.push(("kind", "default-room-password".into())),
            Self::RoomPassword { server, room } => {
                attributes.push(("kind", "room-password".into()));
                attributes.push(("server", server.clone()));
                attributes.push(("room", room.clone()));
            }
            Self::TurnCredentials => attributes.push(("kind", "turn-credentials".into())),
        }
        attributes
    }

    /// What a keyring manager (Seahorse) shows for the item.
    fn label(&self) -> String {
        match self {
            Self::DefaultRoomPassword => gettext("Roomtape: default room password"),
            Self::RoomPassword { server, room } => gettext_f(
                "Roomtape: password of room “{room}” on {server}",
                &[("room", room), ("server", server)],
            ),
            Self::TurnCredentials => gettext("Roomtape: TURN server credentials"),
        }
    }
}

/// Why the keyring could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("no keyring is running (nothing provides {SECRET_SERVICE} on the session bus)")]
    Unavailable,
    #[error("the keyring is locked")]
    Locked,
    #[error("the keyring did not answer within {} s", KEYRING_TIMEOUT.as_secs())]
    TimedOut,
    #[error("the keyring refused: {0}")]
    Failed(String),
}

impl From<oo7::Error> for KeyringError {
    fn from(err: oo7::Error) -> Self {
        match err {
            oo7::Error::DBus(oo7::dbus::Error::Service(oo7::dbus::ServiceError::IsLocked(_))) => {
                Self::Locked
            }
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Whether a Secret Service is there to talk to. Outside a sandbox only a running one counts:
/// asking an activatable but stopped keyring would start it, and it would ask for a new
/// keyring password in a window, which no call may wait for.
pub async fn available() -> bool {
    if std::path::Path::new("/.flatpak-info").exists() {
        return true;
    }
    let Ok(bus) = gio::bus_get_future(gio::BusType::Session).await else {
        return false;
    };
    let reply = bus
        .call_future(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            Some(&glib::Variant::from((SECRET_SERVICE,))),
            None,
            gio::DBusCallFlags::NONE,
            2_000,
        )
        .await;
    reply
        .ok()
        .and_then(|reply| reply.get::<(bool,)>())
        .is_some_and(|(owned,)| owned)
}

async fn keyring() -> Result<oo7::Keyring, KeyringError> {
    if !available().await {
        return Err(KeyringError::Unavailable);
    }
    Ok(oo7::Keyring::new().await?)
}

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, KeyringError>>,
) -> Result<T, KeyringError> {
    glib::future_with_timeout(KEYRING_TIMEOUT, call)
        .await
        .unwrap_or(Err(KeyringError::TimedOut))
}

fn attribute_map(key: &SecretKey) -> HashMap<&'static str, String> {
    key.attributes().into_iter().collect()
}

/// The secret filed under `key`, if there is one.
pub async fn lookup(key: &SecretKey) -> Result<Option<String>, KeyringError> {
    bounded(async {
        let keyring = keyring().await?;
        let items = keyring.search_items(&attribute_map(key)).await?;
        let Some(item) = items.first() else {
            return Ok(None);
        };
        let secret = item.secret().await?;
        Ok(Some(String::from_utf8_lossy(&secret).into_owned()))
    })
    .await
}

/// Files `secret` under `key`, replacing what was there.
pub async fn store(key: &SecretKey, secret: &str) -> Result<(), KeyringError> {
    bounded(async {
        let keyring = keyring().await?;
        keyring
            .create_item(&key.label(), &attribute_map(key), secret, true)
            .await?;
        Ok(())
    })
    .await
}

/// Removes what is filed under `key`; nothing there is not an error.
pub async fn forget(key: &SecretKey) -> Result<(), KeyringError> {
    bounded(async {
        let keyring = keyring().await?;
        keyring.delete(&attribute_map(key)).await?;
        Ok(())
    })
    .await
}

/// A TURN URL without its `user:password@`, and the credentials it carried.
pub fn split_turn_credentials(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => (
            format!("{scheme}://{}", &rest[at + 1..]),
            Some(rest[..at].to_owned()).filter(|c| !c.is_empty()),
        ),
        None => (url.to_owned(), None),
    }
}

/// A TURN URL with `credentials` (`user:password`) put in, unless it carries its own.
pub fn with_turn_credentials(url: &str, credentials: Option<&str>) -> String {
    let (bare, own) = split_turn_credentials(url);
    match (own, credentials, bare.split_once("://")) {
        (Some(_), _, _) | (None, None, _) | (None, _, None) => url.to_owned(),
        (None, Some(credentials), Some((scheme, rest))) => {
            format!("{scheme}://{credentials}@{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_turn_urls_and_go_back_in() {
        assert_eq!(
            split_turn_credentials("turn://tape:s3cret@10.0.0.1:3478?transport=udp"),
            (
                "turn://10.0.0.1:3478?transport=udp".to_owned(),
                Some("tape:s3cret".to_owned())
            )
        );
        assert_eq!(
            split_turn_credentials("turns://relay.example:5349"),
            ("turns://relay.example:5349".to_owned(), None)
        );
        // An @ after the authority is not a credential separator.
        assert_eq!(
            split_turn_credentials("turn://h:3478?x=a@b"),
            ("turn://h:3478?x=a@b".to_owned(), None)
        );
        // A password holding an @: the last one before the host separates.
        assert_eq!(
            split_turn_credentials("turn://u:p@ss@h:3478"),
            ("turn://h:3478".to_owned(), Some("u:p@ss".to_owned()))
        );
        assert_eq!(
            with_turn_credentials("turn://h:3478", Some("u:p")),
            "turn://u:p@h:3478"
        );
        assert_eq!(
            with_turn_credentials("turn://own:pw@h:3478", Some("u:p")),
            "turn://own:pw@h:3478"
        );
        assert_eq!(
            with_turn_credentials("turn://h:3478", None),
            "turn://h:3478"
        );
        assert_eq!(with_turn_credentials("not a url", Some("u:p")), "not a url");
    }

    #[test]
    fn each_secret_has_attributes_of_its_own() {
        let room = SecretKey::RoomPassword {
            server: "wss://wss.vdo.ninja:443".into(),
            room: "show".into(),
        };
        let attributes = room.attributes();
        assert!(attributes.contains(&("application", APP_ID.to_owned())));
        assert!(attributes.contains(&("room", "show".to_owned())));
        assert_ne!(
            SecretKey::DefaultRoomPassword.attributes(),
            SecretKey::TurnCredentials.attributes()
        );
    }
}
