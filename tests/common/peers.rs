//! Peers no one here wrote: a VDO.Ninja-style signaling server on Python's `websockets` stack
//! (`tests/peers/relay.py`) and headless Chromium publishing its fake camera and microphone
//! from `tests/peers/publisher.html`. Everything stays on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Proc, lines_of};

const PEERS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

/// Where a test's helper processes write what they say on stderr, for a failing run to read.
pub fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roomtape-peers-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `relay.py`: the signaling server, also serving the publisher page over HTTP.
pub struct Relay {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `ws://127.0.0.1:PORT`
    pub ws: String,
}

impl Relay {
    /// Starts it in `dialect` (`relay` or `official`), refusing an empty
    /// `Sec-WebSocket-Protocol` header as Node's `ws` does.
    pub fn start(dialect: &str) -> Relay {
        let stderr = std::fs::File::create(log_dir().join(format!("relay-{dialect}.log")))
            .expect("relay log file");
        let mut child = Command::new("python3")
            .arg(format!("{PEERS_DIR}/relay.py"))
            .args(["--port", "0", "--dialect", dialect, "--strict-handshake"])
            // Every frame in the log, for a run that needs looking into.
            .args(std::env::var_os("ROOMTAPE_RELAY_VERBOSE").map(|_| "--verbose"))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python3 runs relay.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut proc = Proc::from_child(child, lines_of(stdout));
        let line = proc
            .wait_line(Duration::from_secs(15), |l| l.starts_with("listening "))
            .expect("relay.py announces its port (is python3-websockets installed?)");
        let mut words = line.split_whitespace().skip(1);
        let http = words.next().expect("http url").to_owned();
        let ws = words.next().expect("ws url").to_owned();
        Relay { proc, http, ws }
    }

    /// The next report of a publisher page matching `pred`, taken out of the backlog.
    pub fn report(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let line = self.proc.wait_line(timeout, |line| {
            line.strip_prefix("report ")
                .and_then(|json| serde_json::from_str::<Value>(json).ok())
                .is_some_and(|v| pred(&v))
        })?;
        if let Some(at) = self.proc.seen.iter().position(|seen| *seen == line) {
            self.proc.seen.remove(at);
        }
        serde_json::from_str(line.strip_prefix("report ")?).ok()
    }

    /// Every report seen so far.
    pub fn reports(&mut self) -> Vec<Value> {
        let _ = self.proc.events();
        self.proc
            .seen
            .iter()
            .filter_map(|l| l.strip_prefix("report "))
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }

    /// The publisher page's URL with these query parameters.
    pub fn page(&self, params: &[(&str, &str)]) -> String {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        format!("{}/publisher.html?{}", self.http, query.join("&"))
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Headless Chromium (Debian's `chromium`), driven over its DevTools HTTP endpoint.
pub struct Browser {
    child: Child,
    devtools_port: u16,
    profile: PathBuf,
}

impl Browser {
    pub fn start() -> Browser {
        let profile = tempdir("chromium-profile");
        let stderr = std::fs::File::create(log_dir().join("chromium.log")).expect("log file");
        let child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // The test's session bus can start GNOME Keyring, whose first-run prompt would
                // wait forever under Xvfb: Chromium keeps its secrets in the profile instead.
                "--password-store=basic",
                "--no-first-run",
                "--disable-quic",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own process group, so that killing it takes every Chromium process along.
            .process_group(0)
            .spawn()
            .expect("chromium runs");
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let devtools_port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse().ok())
            {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "chromium opens its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        Browser {
            child,
            devtools_port,
            profile,
        }
    }

    /// Opens `url` in a new tab; returns the tab's id.
    pub fn open(&self, url: &str) -> String {
        // DevTools takes the whole query, unescaped, as the address to open.
        let body = self.devtools("PUT", &format!("/json/new?{}", percent_encode(url)));
        let tab: Value = serde_json::from_str(&body).expect("DevTools answers with JSON");
        tab["id"].as_str().expect("a tab id").to_owned()
    }

    /// Closes a tab as a user does (the page gets its `pagehide`).
    pub fn close(&self, tab: &str) {
        self.devtools("GET", &format!("/json/close/{tab}"));
    }

    /// Kills every Chromium process at once, as a crash or a pulled plug does: no goodbye.
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }

    fn devtools(&self, method: &str, path: &str) -> String {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.devtools_port)).expect("DevTools connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.devtools_port
        )
        .expect("DevTools request");
        // Chromium keeps the connection open whatever the request says: read exactly the
        // body its Content-Length announces.
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return body.to_owned();
                }
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return String::new(),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roomtape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// coturn (Debian's `turnserver`) on 127.0.0.1 with one long-term user.
pub struct Turn {
    child: Child,
    pub port: u16,
}

impl Turn {
    pub fn start(user: &str, password: &str) -> Turn {
        let port = free_udp_port();
        let log = std::fs::File::create(log_dir().join("coturn.log")).expect("log file");
        let child = Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                &format!("--user={user}:{password}"),
                "--realm=roomtape.test",
                "--lt-cred-mech",
                "--allow-loopback-peers",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--log-file=stdout",
                "--simple-log",
            ])
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver runs (Debian package coturn)");
        // It answers on UDP; give it a moment to bind.
        std::thread::sleep(Duration::from_millis(500));
        Turn { child, port }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    socket.local_addr().expect("address").port()
}
