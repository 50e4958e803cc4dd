//! The window's secrets: the default room password and the TURN credentials, read from the
//! keyring once at start and written back when the operator changes them, and the passwords
//! of rooms the operator asked to remember. Settings keep only the choice ("custom"), never
//! the secret. With no keyring running, secrets live in memory until Roomtape quits, and
//! Preferences and the Join dialog say so.

use std::cell::RefCell;
use std::time::Duration;

use futures_channel::oneshot;
use gtk::{gio, glib, prelude::*};

use crate::i18n::gettext;
use crate::protocol::crypto::Password;
use crate::secrets::{self, KeyringError, SecretKey};
use crate::ui::join_request::PasswordKind;

#[derive(Default)]
struct State {
    loaded: bool,
    /// Callers of [`ready`] while the first one loads.
    waiting: Option<Vec<oneshot::Sender<()>>>,
    /// Why the keyring cannot be used, once a call found out.
    unavailable: Option<KeyringError>,
    default_password: Option<String>,
    turn_credentials: Option<String>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Loads the secrets the window needs, once; later calls wait for that first load. Older
/// settings that held a password or TURN credentials are moved into the keyring here.
pub(crate) async fn ready(settings: &gio::Settings) {
    enum Turn {
        Done,
        Wait(oneshot::Receiver<()>),
        Load,
    }
    let turn = STATE.with_borrow_mut(|state| {
        if state.loaded {
            return Turn::Done;
        }
        match &mut state.waiting {
            Some(waiting) => {
                let (done, wait) = oneshot::channel();
                waiting.push(done);
                Turn::Wait(wait)
            }
            None => {
                state.waiting = Some(Vec::new());
                Turn::Load
            }
        }
    });
    match turn {
        Turn::Done => return,
        Turn::Wait(wait) => {
            let _ = wait.await;
            return;
        }
        Turn::Load => {}
    }
    move_old_settings(settings).await;
    let default_password = lookup(&SecretKey::DefaultRoomPassword).await;
    let turn_credentials = lookup(&SecretKey::TurnCredentials).await;
    let waiting = STATE.with_borrow_mut(|state| {
        state.loaded = true;
        // A value set while loading (Preferences open at once) wins over the stored one.
        state.default_password = state.default_password.take().or(default_password);
        state.turn_credentials = state.turn_credentials.take().or(turn_credentials);
        state.waiting.take().unwrap_or_default()
    });
    for done in waiting {
        let _ = done.send(());
    }
}

/// Earlier versions kept a custom default password in the `password` key and TURN
/// credentials inside the `turn-servers` URLs. Both move to the keyring, and leave the
/// settings only once the keyring has them.
async fn move_old_settings(settings: &gio::Settings) {
    let old_password = settings.string("password");
    // The old key said "" for the default password and "false" for none.
    match old_password.as_str() {
        "" => {}
        "false" => {
            let _ = settings.set_string("password-kind", PasswordKind::None.as_setting());
            settings.reset("password");
        }
        custom => {
            if store(&SecretKey::DefaultRoomPassword, custom).await {
                let _ = settings.set_string("password-kind", PasswordKind::Custom.as_setting());
                settings.reset("password");
            } else {
                STATE.with_borrow_mut(|state| state.default_password = Some(custom.to_owned()));
            }
        }
    }
    let urls: Vec<String> = settings
        .strv("turn-servers")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let split: Vec<(String, Option<String>)> = urls
        .iter()
        .map(|url| secrets::split_turn_credentials(url))
        .collect();
    if let Some(credentials) = split.iter().find_map(|(_, c)| c.clone())
        && store(&SecretKey::TurnCredentials, &credentials).await
    {
        let bare: Vec<&str> = split.iter().map(|(url, _)| url.as_str()).collect();
        let _ = settings.set_strv("turn-servers", bare.as_slice());
    }
}

async fn lookup(key: &SecretKey) -> Option<String> {
    match secrets::lookup(key).await {
        Ok(secret) => secret,
        Err(err) => {
            note_unavailable(err);
            None
        }
    }
}

/// Stores a secret; false when the keyring could not take it (then it is kept in memory).
async fn store(key: &SecretKey, secret: &str) -> bool {
    match secrets::store(key, secret).await {
        Ok(()) => true,
        Err(err) => {
            note_unavailable(err);
            false
        }
    }
}

fn note_unavailable(err: KeyringError) {
    tracing::info!("keyring: {err}; secrets are kept in memory only");
    STATE.with_borrow_mut(|state| state.unavailable = Some(err));
}

/// What Preferences and the Join dialog say when secrets cannot be kept past this run.
pub(crate) fn unavailable_note() -> Option<String> {
    STATE
        .with_borrow(|state| state.unavailable.is_some())
        .then(|| gettext("No keyring is running: passwords are kept only until Roomtape quits."))
}

/// Whether the keyring was found unusable, for the test hook.
pub(crate) fn unavailable_reason() -> Option<String> {
    STATE.with_borrow(|state| state.unavailable.as_ref().map(ToString::to_string))
}

/// The default room password: the kind the settings name, with the custom password from the
/// keyring (the default when none is known).
pub(crate) fn default_room_password(settings: &gio::Settings) -> Password {
    match PasswordKind::from_setting(&settings.string("password-kind")) {
        PasswordKind::Custom => STATE
            .with_borrow(|state| state.default_password.clone())
            .filter(|p| !p.is_empty())
            .map_or(Password::Default, Password::Custom),
        PasswordKind::Default => Password::Default,
        PasswordKind::None => Password::Disabled,
    }
}

/// Preferences' choice of default room password: the kind goes to the settings, a custom
/// password to the keyring; leaving Custom forgets the password.
pub(crate) fn set_default_room_password(settings: &gio::Settings, password: &Password) {
    if let Err(err) = settings.set_string("password-kind", PasswordKind::of(password).as_setting())
    {
        tracing::warn!("could not save the password choice: {err}");
    }
    let kept = match password {
        Password::Custom(custom) if !custom.is_empty() => Some(custom.clone()),
        _ => None,
    };
    STATE.with_borrow_mut(|state| state.default_password = kept);
    write_soon(SecretKey::DefaultRoomPassword);
}

/// `user:password` for the TURN servers, if known.
pub(crate) fn turn_credentials() -> Option<String> {
    STATE.with_borrow(|state| state.turn_credentials.clone())
}

/// Keeps `user:password` for the TURN servers (empty forgets them).
pub(crate) fn set_turn_credentials(credentials: &str) {
    let kept = (!credentials.is_empty()).then(|| credentials.to_owned());
    STATE.with_borrow_mut(|state| state.turn_credentials = kept);
    write_soon(SecretKey::TurnCredentials);
}

thread_local! {
    /// Keyring writes waiting for typing to pause, by secret.
    static PENDING_WRITES: RefCell<std::collections::HashMap<SecretKey, glib::SourceId>> =
        RefCell::new(std::collections::HashMap::new());
    /// Keyring writes under way.
    static IN_FLIGHT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Writes what the window holds for `key` once typing has paused for half a second: one
/// keyring write per word, not per key. The value is read when writing, from memory, so it
/// is written even when Preferences has closed meanwhile.
fn write_soon(key: SecretKey) {
    if let Some(source) = PENDING_WRITES.with_borrow_mut(|pending| pending.remove(&key)) {
        source.remove();
    }
    let pending_key = key.clone();
    let source = glib::timeout_add_local_once(Duration::from_millis(500), move || {
        PENDING_WRITES.with_borrow_mut(|pending| pending.remove(&key));
        IN_FLIGHT.set(IN_FLIGHT.get() + 1);
        let value = STATE.with_borrow(|state| match &key {
            SecretKey::DefaultRoomPassword => state.default_password.clone(),
            SecretKey::TurnCredentials => state.turn_credentials.clone(),
            SecretKey::RoomPassword { .. } => None,
        });
        glib::spawn_future_local(async move {
            match value {
                Some(secret) => {
                    store(&key, &secret).await;
                }
                None => {
                    if let Err(err) = secrets::forget(&key).await {
                        note_unavailable(err);
                    }
                }
            }
            IN_FLIGHT.set(IN_FLIGHT.get().saturating_sub(1));
        });
    });
    PENDING_WRITES.with_borrow_mut(|pending| pending.insert(pending_key, source));
}

/// Whether keyring writes are still waiting, for the test hook.
pub(crate) fn writes_pending() -> bool {
    PENDING_WRITES.with_borrow(|pending| !pending.is_empty()) || IN_FLIGHT.get() > 0
}

/// The TURN server URLs of the settings, each with the credentials put in.
pub(crate) fn turn_urls(settings: &gio::Settings) -> Vec<String> {
    let credentials = turn_credentials();
    settings
        .strv("turn-servers")
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|url| secrets::with_turn_credentials(url, credentials.as_deref()))
        .collect()
}

/// The remembered password of `room` on `server`.
pub(crate) async fn room_password(server: &str, room: &str) -> Option<String> {
    let key = SecretKey::RoomPassword {
        server: server.to_owned(),
        room: room.to_owned(),
    };
    if let Some(kept) = MEMORY.with_borrow(|memory| memory.get(&key).cloned()) {
        return Some(kept);
    }
    lookup(&key).await
}

thread_local! {
    /// Remembered room passwords while no keyring runs.
    static MEMORY: RefCell<std::collections::HashMap<SecretKey, String>> =
        RefCell::new(std::collections::HashMap::new());
}

/// Remembers (or, with `None`, forgets) the password of `room` on `server`.
pub(crate) fn remember_room_password(server: &str, room: &str, password: Option<&str>) {
    let key = SecretKey::RoomPassword {
        server: server.to_owned(),
        room: room.to_owned(),
    };
    let password = password.map(str::to_owned);
    IN_FLIGHT.set(IN_FLIGHT.get() + 1);
    glib::spawn_future_local(async move {
        match &password {
            Some(password) => {
                if !store(&key, password).await {
                    MEMORY.with_borrow_mut(|memory| memory.insert(key, password.clone()));
                }
            }
            None => {
                MEMORY.with_borrow_mut(|memory| memory.remove(&key));
                if let Err(err) = secrets::forget(&key).await {
                    note_unavailable(err);
                }
            }
        }
        IN_FLIGHT.set(IN_FLIGHT.get().saturating_sub(1));
    });
}
