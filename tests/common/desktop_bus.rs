//! A private D-Bus message bus (the system's own `dbus-daemon`) for one test, with the desktop
//! services the app talks to standing in where the real ones need a whole session: a GNOME
//! session manager that hands out inhibit cookies, and systemd-logind's inhibitor, which
//! returns a descriptor that is held until every copy of it is closed.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gio::prelude::*;

/// `dbus-daemon --session` on a socket of its own; killed when dropped.
pub struct PrivateBus {
    daemon: Child,
    pub address: String,
}

impl PrivateBus {
    pub fn start() -> PrivateBus {
        Self::start_with_env(&[])
    }

    /// A bus whose activated services (dconf's, say) see `env` added to the test's own.
    pub fn start_with_env(env: &[(&str, &std::path::Path)]) -> PrivateBus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts (package dbus)");
        let stdout = daemon.stdout.take().expect("piped stdout");
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("dbus-daemon prints its address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        PrivateBus { daemon, address }
    }

    /// Waits up to `timeout` for `name` to have an owner; whether it has one.
    pub fn wait_for_owner(&self, name: &str, timeout: Duration) -> bool {
        let started = std::time::Instant::now();
        while !self.has_owner(name) {
            if started.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// Whether `name` has an owner on this bus now.
    pub fn has_owner(&self, name: &str) -> bool {
        let Ok(connection) = connect(&self.address) else {
            return false;
        };
        connection
            .call_sync(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                Some(&(name,).to_variant()),
                None,
                gio::DBusCallFlags::NONE,
                2_000,
                gio::Cancellable::NONE,
            )
            .ok()
            .and_then(|reply| reply.get::<(bool,)>())
            .is_some_and(|(owned,)| owned)
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn connect(address: &str) -> Result<gio::DBusConnection, glib::Error> {
    gio::DBusConnection::for_address_sync(
        address,
        gio::DBusConnectionFlags::AUTHENTICATION_CLIENT
            | gio::DBusConnectionFlags::MESSAGE_BUS_CONNECTION,
        None,
        gio::Cancellable::NONE,
    )
}

/// Which desktop service the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `org.gnome.SessionManager`: `Inhibit(susu) -> u`, `Uninhibit(u)`.
    SessionManager,
    /// `org.freedesktop.login1`: `Inhibit(ssss) -> h`.
    Logind,
}

const SESSION_MANAGER_XML: &str = r#"<node><interface name="org.gnome.SessionManager">
<method name="Inhibit"><arg type="s" direction="in"/><arg type="u" direction="in"/>
<arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="u" direction="out"/></method>
<method name="Uninhibit"><arg type="u" direction="in"/></method>
</interface></node>"#;

const LOGIND_XML: &str = r#"<node><interface name="org.freedesktop.login1.Manager">
<method name="Inhibit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
<arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="h" direction="out"/></method>
</interface></node>"#;

/// The cookie the fake session manager gives for the first inhibitor.
pub const FIRST_COOKIE: u32 = 4242;

/// What the fake was asked, and the reading ends of the descriptors logind handed out.
#[derive(Debug, Default)]
pub struct Calls {
    /// (method, arguments as GVariant text)
    pub calls: Vec<(String, String)>,
    pub held: Vec<OwnedFd>,
}

/// A fake service on its own thread and main context; stops when dropped.
pub struct FakeService {
    pub calls: Arc<Mutex<Calls>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeService {
    /// Owns the service's well-known name on the bus at `address` and answers its methods.
    pub fn start(address: &str, service: Service) -> FakeService {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let address = address.to_owned();
            let calls = calls.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let context = glib::MainContext::new();
                let _guard = context.acquire().expect("a fresh context");
                context
                    .with_thread_default(|| {
                        let served = serve(&address, service, calls);
                        let _ = ready_tx.send(served.as_ref().err().map(|e| e.to_string()));
                        let Ok((_connection, _registration)) = served else {
                            return;
                        };
                        while !stop.load(Ordering::Relaxed) {
                            while context.iteration(false) {}
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    })
                    .expect("thread default context");
            })
        };
        if let Some(error) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the fake service starts")
        {
            panic!("the fake {service:?} could not start: {error}");
        }
        FakeService {
            calls,
            stop,
            thread: Some(thread),
        }
    }

    /// The calls of `method` so far, as argument texts.
    pub fn calls_of(&self, method: &str) -> Vec<String> {
        self.calls
            .lock()
            .map(|c| {
                c.calls
                    .iter()
                    .filter(|(m, _)| m == method)
                    .map(|(_, args)| args.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether every descriptor logind handed out is closed by now by whoever took it: a
    /// read on our end returns end-of-file only once no writer is left.
    pub fn all_released(&self) -> bool {
        let calls = self.calls.lock().expect("calls");
        calls.held.iter().all(|fd| {
            let mut pollfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no timeout.
            let ready = unsafe { libc::poll(&mut pollfd, 1, 0) };
            ready == 1 && pollfd.revents & libc::POLLHUP != 0
        })
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    address: &str,
    service: Service,
    calls: Arc<Mutex<Calls>>,
) -> Result<(gio::DBusConnection, gio::RegistrationId), glib::Error> {
    let connection = connect(address)?;
    let (xml, interface, path, name) = match service {
        Service::SessionManager => (
            SESSION_MANAGER_XML,
            "org.gnome.SessionManager",
            "/org/gnome/SessionManager",
            "org.gnome.SessionManager",
        ),
        Service::Logind => (
            LOGIND_XML,
            "org.freedesktop.login1.Manager",
            "/org/freedesktop/login1",
            "org.freedesktop.login1",
        ),
    };
    let node = gio::DBusNodeInfo::for_xml(xml)?;
    let info = node
        .lookup_interface(interface)
        .expect("the interface is in the XML");
    let next_cookie = std::cell::Cell::new(FIRST_COOKIE);
    let registration = connection
        .register_object(path, &info)
        .method_call(move |_, _, _, _, method, params, invocation| {
            if let Ok(mut calls) = calls.lock() {
                calls
                    .calls
                    .push((method.to_owned(), params.print(false).to_string()));
            }
            match (service, method) {
                (Service::SessionManager, "Inhibit") => {
                    let cookie = next_cookie.get();
                    next_cookie.set(cookie + 1);
                    invocation.return_value(Some(&(cookie,).to_variant()));
                }
                (Service::SessionManager, "Uninhibit") => invocation.return_value(None),
                (Service::Logind, "Inhibit") => {
                    let (reader, writer) = pipe();
                    let fds = gio::UnixFDList::new();
                    let index = fds.append(&writer).expect("the descriptor is passed");
                    drop(writer);
                    if let Ok(mut calls) = calls.lock() {
                        calls.held.push(reader);
                    }
                    invocation.return_value_with_unix_fd_list(
                        Some(&(glib::variant::Handle(index),).to_variant()),
                        Some(&fds),
                    );
                }
                _ => invocation.return_dbus_error(
                    "org.freedesktop.DBus.Error.UnknownMethod",
                    &format!("no method {method}"),
                ),
            }
        })
        .build()?;
    let owned = connection.call_sync(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "RequestName",
        Some(&(name, 4u32).to_variant()),
        Some(glib::VariantTy::new("(u)").expect("type")),
        gio::DBusCallFlags::NONE,
        5_000,
        gio::Cancellable::NONE,
    )?;
    assert_eq!(owned.get::<(u32,)>(), Some((1,)), "{name} is ours");
    Ok((connection, registration))
}

/// A pipe's reading and writing ends.
fn pipe() -> (OwnedFd, OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut ends = [0; 2];
    // SAFETY: `ends` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both are open descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) }
}
