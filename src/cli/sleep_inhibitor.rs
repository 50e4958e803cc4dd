//! Keeps the machine from sleeping while `record` runs: a systemd-logind "sleep:idle" inhibitor
//! taken over the system bus, held as long as the file descriptor logind returns stays open.

use std::os::fd::OwnedFd;
use std::time::Duration;

use gio::prelude::*;

/// How long logind may take to answer before recording goes on without it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// A held inhibitor; dropping it lets the machine sleep again.
#[derive(Debug)]
pub struct SleepInhibitor {
    _fd: Option<OwnedFd>,
}

impl SleepInhibitor {
    /// Asks logind not to suspend or idle the machine, for `why`. Without logind (a container,
    /// a system without systemd) one line says so, and recording goes on.
    pub fn take(why: &str) -> SleepInhibitor {
        match inhibit(why) {
            Ok(fd) => {
                tracing::info!("sleep and idle inhibited while recording");
                SleepInhibitor { _fd: Some(fd) }
            }
            Err(err) => {
                eprintln!("roomtape: cannot keep the machine awake (no systemd-logind: {err})");
                SleepInhibitor { _fd: None }
            }
        }
    }

    /// Whether logind granted the inhibitor.
    pub fn is_held(&self) -> bool {
        self._fd.is_some()
    }
}

fn inhibit(why: &str) -> Result<OwnedFd, glib::Error> {
    let bus = gio::bus_get_sync(gio::BusType::System, gio::Cancellable::NONE)?;
    let (reply, fds) = bus.call_with_unix_fd_list_sync(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "Inhibit",
        Some(&("sleep:idle", "Roomtape", why, "block").to_variant()),
        Some(glib::VariantTy::new("(h)").expect("a valid type string")),
        gio::DBusCallFlags::NONE,
        ANSWER_TIMEOUT.as_millis() as i32,
        None::<&gio::UnixFDList>,
        gio::Cancellable::NONE,
    )?;
    let bad_reply = || glib::Error::new(gio::IOErrorEnum::InvalidData, "logind sent no descriptor");
    let (handle,) = reply
        .get::<(glib::variant::Handle,)>()
        .ok_or_else(bad_reply)?;
    fds.ok_or_else(bad_reply)?.get(handle.0)
}
