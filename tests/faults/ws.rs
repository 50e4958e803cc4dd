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
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
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
