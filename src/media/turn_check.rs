//! Asks a TURN server for an allocation with the configured credentials, the way libnice
//! will, so that a refusal can be named.
//!
//! libnice 0.1.21 reports nothing when a TURN server refuses its credentials: the relay
//! candidate is simply never gathered, and with `--relay-only` ICE then waits forever. One
//! Allocate exchange over UDP (RFC 8656 §7.2 with the long-term credential mechanism of
//! RFC 8489 §9.2) tells a refusal apart from a server that does not answer. A granted
//! allocation is released at once.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::Duration;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const ALLOCATE_REQUEST: u16 = 0x0003;
const ALLOCATE_SUCCESS: u16 = 0x0103;
const ALLOCATE_ERROR: u16 = 0x0113;
const REFRESH_REQUEST: u16 = 0x0004;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_LIFETIME: u16 = 0x000D;
const ATTR_REALM: u16 = 0x0014;
const ATTR_NONCE: u16 = 0x0015;
const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;

/// What the TURN server said to our credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnVerdict {
    /// It granted an allocation (released again straight away).
    Accepted,
    /// It refused them (401 Unauthorized after we authenticated, or 403/441 and the like).
    CredentialsRefused { code: u16, reason: String },
    /// Nothing came back in time.
    NoAnswer,
    /// It answered in a way this check does not understand, or it could not be asked (a
    /// `turns://` server, a name that does not resolve).
    Unchecked(String),
}

/// Checks `turn://user:pass@host:port` (credentials as typed, not escaped).
pub fn check(url: &str, timeout: Duration) -> TurnVerdict {
    let Some((scheme, rest)) = url.split_once("://") else {
        return TurnVerdict::Unchecked("not a TURN URL".into());
    };
    if scheme != "turn" {
        return TurnVerdict::Unchecked(format!("{scheme}:// servers are not checked"));
    }
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return TurnVerdict::Unchecked("no credentials".into());
    };
    let Some((user, password)) = credentials.split_once(':') else {
        return TurnVerdict::Unchecked("no password".into());
    };
    // As webrtcbin will get them: typed escapes decoded once.
    let (user, password) = (
        super::ice::percent_decode(user),
        super::ice::percent_decode(password),
    );
    let (user, password) = (user.as_str(), password.as_str());
    if host.contains("transport=tcp") {
        return TurnVerdict::Unchecked("TURN over TCP is not checked".into());
    }
    let host = host.split(['?', '/']).next().unwrap_or(host);
    // The default TURN port when the URL names none (a bare or bracketed IPv6 has colons).
    let host = if host.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']'))
    }) {
        host.to_owned()
    } else {
        format!("{host}:3478")
    };
    let target = match host.as_str().to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(target)) => target,
        _ => return TurnVerdict::Unchecked(format!("{host} does not resolve")),
    };
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = match UdpSocket::bind(bind).and_then(|s| {
        s.connect(target)?;
        s.set_read_timeout(Some(timeout))?;
        Ok(s)
    }) {
        Ok(socket) => socket,
        Err(err) => return TurnVerdict::Unchecked(err.to_string()),
    };
    allocate(&socket, user, password)
}

fn allocate(socket: &UdpSocket, user: &str, password: &str) -> TurnVerdict {
    let mut request = Message::new(ALLOCATE_REQUEST);
    request.attribute(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let first = match exchange(socket, &request.finish(None)) {
        Some(reply) => reply,
        None => return TurnVerdict::NoAnswer,
    };
    if first.kind == ALLOCATE_SUCCESS {
        // A server that asks for no credentials at all accepts any.
        return TurnVerdict::Accepted;
    }
    let (Some(realm), Some(mut nonce)) = (first.text(ATTR_REALM), first.text(ATTR_NONCE)) else {
        return describe_error(&first);
    };
    let key = long_term_key(user, &realm, password);
    // One retry for a stale nonce (438), as every client does.
    for _ in 0..2 {
        let mut request = Message::new(ALLOCATE_REQUEST);
        request.attribute(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        request.attribute(ATTR_USERNAME, user.as_bytes());
        request.attribute(ATTR_REALM, realm.as_bytes());
        request.attribute(ATTR_NONCE, nonce.as_bytes());
        let Some(reply) = exchange(socket, &request.finish(Some(&key))) else {
            return TurnVerdict::NoAnswer;
        };
        if reply.kind == ALLOCATE_SUCCESS {
            release(socket, user, &realm, &nonce, &key);
            return TurnVerdict::Accepted;
        }
        match (reply.error_code(), reply.text(ATTR_NONCE)) {
            (Some((438, _)), Some(fresh)) => nonce = fresh,
            _ => return describe_error(&reply),
        }
    }
    TurnVerdict::Unchecked("the server kept calling the nonce stale".into())
}

/// Gives the allocation back (a Refresh with lifetime 0), so the check holds no relay port.
fn release(socket: &UdpSocket, user: &str, realm: &str, nonce: &str, key: &[u8]) {
    let mut refresh = Message::new(REFRESH_REQUEST);
    refresh.attribute(ATTR_LIFETIME, &0u32.to_be_bytes());
    refresh.attribute(ATTR_USERNAME, user.as_bytes());
    refresh.attribute(ATTR_REALM, realm.as_bytes());
    refresh.attribute(ATTR_NONCE, nonce.as_bytes());
    let _ = exchange(socket, &refresh.finish(Some(key)));
}

fn describe_error(reply: &Reply) -> TurnVerdict {
    match reply.error_code() {
        Some((code @ (401 | 403 | 431 | 441), reason)) => {
            TurnVerdict::CredentialsRefused { code, reason }
        }
        Some((code, reason)) => TurnVerdict::Unchecked(format!("error {code} {reason}")),
        None if reply.kind == ALLOCATE_ERROR => {
            TurnVerdict::Unchecked("an error without a code".into())
        }
        None => TurnVerdict::Unchecked(format!("unexpected reply type {:#06x}", reply.kind)),
    }
}

/// The long-term credential key: MD5(username ":" realm ":" password).
fn long_term_key(user: &str, realm: &str, password: &str) -> Vec<u8> {
    let mut md5 = Md5::new();
    md5.update(format!("{user}:{realm}:{password}").as_bytes());
    md5.finalize().to_vec()
}

/// Sends a request and waits for the reply with the same transaction id (UDP: three tries).
fn exchange(socket: &UdpSocket, request: &[u8]) -> Option<Reply> {
    let transaction = &request[8..20];
    let mut buf = [0u8; 1500];
    for _ in 0..3 {
        socket.send(request).ok()?;
        while let Ok(n) = socket.recv(&mut buf) {
            if let Some(reply) = Reply::parse(&buf[..n])
                && reply.transaction == transaction
            {
                return Some(reply);
            }
        }
    }
    None
}

/// A STUN message being built.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(kind: u16) -> Message {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&kind.to_be_bytes());
        bytes.extend_from_slice(&0u16.to_be_bytes());
        bytes.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        bytes.extend_from_slice(&rand::random::<[u8; 12]>());
        Message { bytes }
    }

    fn attribute(&mut self, kind: u16, value: &[u8]) {
        self.bytes.extend_from_slice(&kind.to_be_bytes());
        self.bytes
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(value);
        while self.bytes.len() % 4 != 0 {
            self.bytes.push(0);
        }
    }

    /// Sets the length and, with a key, appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message
    /// with the length already counting the integrity attribute).
    fn finish(mut self, key: Option<&[u8]>) -> Vec<u8> {
        let integrity_len = if key.is_some() { 24 } else { 0 };
        let length = (self.bytes.len() - 20 + integrity_len) as u16;
        self.bytes[2..4].copy_from_slice(&length.to_be_bytes());
        if let Some(key) = key {
            let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
                .expect("HMAC takes a key of any length");
            mac.update(&self.bytes);
            let digest = mac.finalize().into_bytes();
            self.attribute(ATTR_MESSAGE_INTEGRITY, &digest);
        }
        self.bytes
    }
}

/// A STUN message received.
#[derive(Debug)]
struct Reply {
    kind: u16,
    transaction: Vec<u8>,
    attributes: Vec<(u16, Vec<u8>)>,
}

impl Reply {
    fn parse(bytes: &[u8]) -> Option<Reply> {
        if bytes.len() < 20 || bytes[0] & 0xC0 != 0 {
            return None;
        }
        let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
        let length = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        if u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) != MAGIC_COOKIE
            || bytes.len() < 20 + length
        {
            return None;
        }
        let mut attributes = Vec::new();
        let mut rest = &bytes[20..20 + length];
        while rest.len() >= 4 {
            let attr = u16::from_be_bytes([rest[0], rest[1]]);
            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            let padded = len.div_ceil(4) * 4;
            if rest.len() < 4 + len {
                return None;
            }
            attributes.push((attr, rest[4..4 + len].to_vec()));
            rest = &rest[(4 + padded).min(rest.len())..];
        }
        Some(Reply {
            kind,
            transaction: bytes[8..20].to_vec(),
            attributes,
        })
    }

    fn value(&self, kind: u16) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    fn text(&self, kind: u16) -> Option<String> {
        self.value(kind)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn error_code(&self) -> Option<(u16, String)> {
        let value = self.value(ATTR_ERROR_CODE)?;
        if value.len() < 4 {
            return None;
        }
        let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
        Some((code, String::from_utf8_lossy(&value[4..]).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unauthorized_reply_is_read_for_its_code_realm_and_nonce() {
        let mut reply = Message::new(ALLOCATE_ERROR);
        reply.attribute(
            ATTR_ERROR_CODE,
            &[0, 0, 4, 1, b'U', b'n', b'a', b'u', b't', b'h'],
        );
        reply.attribute(ATTR_REALM, b"roomtape.test");
        reply.attribute(ATTR_NONCE, b"abc");
        let bytes = reply.finish(None);
        let parsed = Reply::parse(&bytes).expect("parses");
        assert_eq!(parsed.error_code(), Some((401, "Unauth".into())));
        assert_eq!(parsed.text(ATTR_REALM).as_deref(), Some("roomtape.test"));
        assert_eq!(parsed.text(ATTR_NONCE).as_deref(), Some("abc"));
        assert_eq!(
            describe_error(&parsed),
            TurnVerdict::CredentialsRefused {
                code: 401,
                reason: "Unauth".into()
            }
        );
    }

    #[test]
    fn integrity_counts_itself_in_the_length_and_is_twenty_bytes_of_hmac() {
        let mut request = Message::new(ALLOCATE_REQUEST);
        request.attribute(ATTR_USERNAME, b"user");
        let bytes = request.finish(Some(&long_term_key("user", "realm", "pass")));
        let length = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        assert_eq!(bytes.len(), 20 + length);
        let parsed = Reply::parse(&bytes).expect("parses");
        assert_eq!(
            parsed.value(ATTR_MESSAGE_INTEGRITY).map(<[u8]>::len),
            Some(20)
        );
    }

    #[test]
    fn truncated_or_foreign_datagrams_are_not_replies() {
        assert!(Reply::parse(&[0u8; 10]).is_none());
        let mut bytes = Message::new(ALLOCATE_SUCCESS).finish(None);
        bytes[4] = 0; // not the magic cookie
        assert!(Reply::parse(&bytes).is_none());
        let mut long = Message::new(ALLOCATE_SUCCESS).finish(None);
        long[3] = 200; // claims more than it has
        assert!(Reply::parse(&long).is_none());
    }

    #[test]
    fn the_long_term_key_is_md5_of_user_realm_password() {
        // md5("user:realm:pass")
        assert_eq!(
            hex::encode(long_term_key("user", "realm", "pass")),
            "8493fbc53ba582fb4c044c456bdc40eb"
        );
    }
}
