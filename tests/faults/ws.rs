//! A deliberately tiny RFC 6455 client on a std `TcpStream`, for peers that misbehave on
//! purpose: it sends whatever text it is given, as fast as it is told, and never validates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct RawSocket {
    stream: TcpStream,
    frames: mpsc::Receiver<Frame>,
}

#[derive(Debug, Clone)]
pub enum Frame {
    Text(String),
    Close(u16),
}

impl RawSocket {
    /// Connects to `ws://127.0.0.1:PORT[/path]` and performs the upgrade.
    pub fn connect(url: &str) -> std::io::Result<RawSocket> {
        let rest = url.strip_prefix("ws://").unwrap_or(url);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut stream = TcpStream::connect(authority)?;
        stream.set_nodelay(true)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        // A server that never answers the upgrade fails the connect instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        if !status.contains(" 101 ") {
            return Err(std::io::Error::other(format!("no upgrade: {status}")));
        }
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        stream.set_read_timeout(None)?;
        let (tx, rx) = mpsc::channel();
        let mut pong = stream.try_clone()?;
        std::thread::spawn(move || {
            while let Some((opcode, payload)) = read_frame(&mut reader) {
                let frame = match opcode {
                    1 => Frame::Text(String::from_utf8_lossy(&payload).into_owned()),
                    8 => {
                        let code = if payload.len() >= 2 {
                            u16::from_be_bytes([payload[0], payload[1]])
                        } else {
                            1005
                        };
                        let _ = tx.send(Frame::Close(code));
                        break;
                    }
                    9 => {
                        let _ = write_frame(&mut pong, 10, &payload);
                        continue;
                    }
                    _ => continue,
                };
                if tx.send(frame).is_err() {
                    break;
                }
            }
        });
        Ok(RawSocket { stream, frames: rx })
    }

    pub fn send(&mut self, text: &str) -> std::io::Result<()> {
        write_frame(&mut self.stream, 1, text.as_bytes())
    }

    /// A raw frame: `fin` false starts or continues a fragmented message.
    pub fn send_fragment(&mut self, opcode: u8, fin: bool, payload: &[u8]) -> std::io::Result<()> {
        write_any_frame(&mut self.stream, opcode, fin, true, payload)
    }

    pub fn send_binary(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        write_frame(&mut self.stream, 2, bytes)
    }

    /// Waits for a text frame that satisfies `pred`; other frames are skipped. A close frame
    /// ends the wait.
    pub fn wait_text(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left).ok()? {
                Frame::Text(text) if pred(&text) => return Some(text),
                Frame::Text(_) => {}
                Frame::Close(_) => return None,
            }
        }
    }

    /// Waits until the server closes the connection; returns the close code.
    pub fn wait_closed(&self, timeout: Duration) -> Option<u16> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(Frame::Close(code)) => return Some(code),
                Ok(Frame::Text(_)) => {}
                // The reader ended without a close frame: the socket is gone all the same.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Some(1006),
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
            }
        }
    }
}

fn write_frame(stream: &mut TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    write_any_frame(stream, opcode, true, true, payload)
}

/// A frame with the FIN bit and masking as given (clients mask, servers do not).
pub fn write_any_frame(
    stream: &mut TcpStream,
    opcode: u8,
    fin: bool,
    masked: bool,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(if fin { 0x80 } else { 0 } | opcode);
    let mask_bit = if masked { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        frame.push(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        frame.push(mask_bit | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(mask_bit | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if !masked {
        frame.extend_from_slice(payload);
        return stream.write_all(&frame);
    }
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame)
}

fn read_frame(reader: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).ok()?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        reader.read_exact(&mut b).ok()?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        reader.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    reader.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// Upgrades a connection to `ws://127.0.0.1:PORT` and returns it without ever reading from it
/// again: a client whose receive buffer fills up.
pub fn connect_never_reading(url: &str) -> std::io::Result<TcpStream> {
    let authority = url
        .strip_prefix("ws://")
        .unwrap_or(url)
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)?;
    // A small receive buffer fills sooner.
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    Ok(stream)
}

/// A WebSocket server of one connection that never finishes its first message: after the
/// upgrade it sends a text frame without FIN and then continuation frames, 64 KiB each, until
/// the client goes away or `limit` bytes are out. Returns the port and the bytes it sent.
pub fn endless_message_server(limit: usize) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handle = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return 0;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut key = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("sec-websocket-key:") {
                // The key's own case matters for the hash.
                key = line[line.len() - value.len()..].trim().to_owned();
            }
        }
        let accept = websocket_accept(&key);
        if write!(
            stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .is_err()
        {
            return 0;
        }
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        let mut opcode = 1;
        while sent < limit {
            if write_any_frame(&mut stream, opcode, false, false, &chunk).is_err() {
                break;
            }
            opcode = 0;
            sent += chunk.len();
        }
        sent
    });
    (port, handle)
}

fn websocket_accept(key: &str) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in digest.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
