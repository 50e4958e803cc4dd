//! Password handling, identifier hashing and payload encryption (protocol doc §5).
//!
//! VDO.Ninja derives everything from two strings: the room *password* and a *salt* that
//! depends on the host name the web client was loaded from. From `password + salt` it
//! derives
//!
//! * the 6-hex-digit suffix appended to every published stream id on the wire,
//! * the 16-hex-digit hashed room name,
//! * the AES-256-CBC key that encrypts SDP descriptions and ICE candidates.
//!
//! Getting any of these wrong means a silent failure (nobody answers, or every payload fails
//! to decrypt), so the rules here follow the web client exactly and the worked example of
//! the protocol doc is reproduced in the unit tests.
//!
//! The encryption has no integrity check and the default password is public: a successful
//! decryption proves nothing about the sender, so callers must treat decrypted text as
//! untrusted input.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha2::{Digest, Sha256};

/// The password every VDO.Ninja client uses when none is given. It is public, so it only
/// keeps casual eavesdroppers on the signaling server out.
pub const DEFAULT_PASSWORD: &str = "someEncryptionKey123";

/// Salt used by the web client on vdo.ninja itself, on IP literals and on localhost.
pub const DEFAULT_SALT: &str = "vdo.ninja";

/// Number of hex characters of the stream-id suffix (`hex6`).
pub const STREAM_SUFFIX_LEN: usize = 6;

/// The web client truncates stream ids to this many characters before appending the suffix.
pub const MAX_STREAM_ID_CHARS: usize = 44;

/// Number of hex characters of a hashed room name (`hex16`).
pub const ROOM_HASH_LEN: usize = 16;

/// AES block and IV size in bytes.
const BLOCK_LEN: usize = 16;

type Aes256CbcEnc = cbc::Encryptor<Aes256>;
type Aes256CbcDec = cbc::Decryptor<Aes256>;

/// The room password as the user configured it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Password {
    /// No password given: the public [`DEFAULT_PASSWORD`] is used (hashing and encryption
    /// stay on, exactly like the web client).
    #[default]
    Default,
    /// A password chosen by the user (already trimmed, not URI-encoded).
    Custom(String),
    /// Hashing and encryption switched off (`&password=false`, `&nopassword`, ...).
    Disabled,
}

impl Password {
    /// Interprets a password setting the way the web client and Raspberry Ninja do:
    /// empty, `true`, `1` or `on` mean "the default password", `false`, `0` or `off`
    /// (case-insensitive) disable encryption, anything else is a custom password
    /// (surrounding white space removed).
    pub fn parse(input: &str) -> Password {
        let trimmed = input.trim();
        let lower = trimmed.to_ascii_lowercase();
        match lower.as_str() {
            "" | "true" | "1" | "on" => Password::Default,
            "false" | "0" | "off" => Password::Disabled,
            _ => Password::Custom(trimmed.to_owned()),
        }
    }

    /// Like [`Password::parse`], for a value copied out of a VDO.Ninja URL
    /// (`&password=...`): percent escapes are decoded first, as the web client does.
    /// Malformed escapes leave the value untouched (the web client logs and keeps it).
    pub fn from_url_value(raw: &str) -> Password {
        match percent_decode(raw) {
            Some(decoded) => Password::parse(&decoded),
            None => Password::parse(raw),
        }
    }

    /// The password text as entered, or `None` when encryption is disabled.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Password::Default => Some(DEFAULT_PASSWORD),
            Password::Custom(s) => Some(s),
            Password::Disabled => None,
        }
    }

    /// The string that actually goes into the hashes: the web client URI-encodes a custom
    /// password (`encodeURIComponent`) before using it, so `a b` is hashed as `a%20b`.
    /// Plain alphanumeric passwords are unchanged.
    pub fn wire_secret(&self) -> Option<Cow<'_, str>> {
        match self {
            Password::Default => Some(Cow::Borrowed(DEFAULT_PASSWORD)),
            Password::Custom(s) => Some(encode_uri_component(s)),
            Password::Disabled => None,
        }
    }

    /// `true` unless encryption is switched off.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, Password::Disabled)
    }
}

/// The salt the web client would use when served from `host` (protocol doc §5).
///
/// Accepts a bare host name, optionally with a port or IPv6 brackets, or a whole URL
/// (scheme, credentials and path are ignored); the result is lower-cased. Note that Raspberry Ninja uses the last two labels for *every* host, so a
/// self-hosted web client at `a.b.example.com` and Raspberry Ninja disagree unless the salt
/// is set explicitly; Roomtape follows the web client.
pub fn salt_for_host(host: &str) -> String {
    let host = normalise_host(host);
    if host.is_empty() {
        return DEFAULT_SALT.to_owned();
    }
    if host == "vdo.ninja" || host == "steveseguin.github.io" || host == "localhost" {
        return DEFAULT_SALT.to_owned();
    }
    if host.parse::<Ipv4Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
        return DEFAULT_SALT.to_owned();
    }
    for domain in TWO_LABEL_DOMAINS {
        if host == domain || host.ends_with(&format!(".{domain}")) {
            return domain.to_owned();
        }
    }
    host
}

/// Domains whose sub-domains all share the salt of the domain itself.
const TWO_LABEL_DOMAINS: [&str; 4] = ["vdo.ninja", "rtc.ninja", "versus.cam", "socialstream.ninja"];

/// Lower-cases `host` and strips a URL's scheme, credentials and path, IPv6 brackets, a
/// trailing `:port` and a trailing dot.
fn normalise_host(host: &str) -> String {
    let mut host = host.trim();
    if let Some((_, rest)) = host.split_once("://") {
        host = rest;
    }
    host = host.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((_, rest)) = host.rsplit_once('@') {
        host = rest;
    }
    let host = host.to_ascii_lowercase();
    // Bracketed IPv6 literal, possibly followed by a port: "[::1]:443".
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return rest[..end].to_owned();
        }
        return rest.to_owned();
    }
    // A bare IPv6 literal contains several colons; only strip a port when there is one.
    let without_port = match host.rsplit_once(':') {
        Some((name, port))
            if !name.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name.to_owned()
        }
        _ => host,
    };
    without_port.trim_end_matches('.').to_owned()
}

/// Lower-case hex of SHA-256(`input`), cut to the first `hex_chars` characters
/// (at most 64). This is the web client's `generateHash` with a hex length.
pub fn hex_prefix(input: &str, hex_chars: usize) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(hex_chars.min(hex.len()));
    hex
}

/// Why a payload could not be decrypted. Messages name the problem, never the data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The frame carries ciphertext but encryption is disabled locally.
    #[error("payload is encrypted but no password is configured (encryption is disabled)")]
    Disabled,
    /// The ciphertext field is not valid hex.
    #[error("ciphertext is not valid hex")]
    BadCipherHex,
    /// The `vector` field is not valid hex.
    #[error("IV (`vector`) is not valid hex")]
    BadIvHex,
    /// The IV does not have 16 bytes.
    #[error("IV must be 16 bytes, got {0}")]
    BadIvLength(usize),
    /// The ciphertext is empty or not a whole number of AES blocks.
    #[error("ciphertext length {0} bytes is not a positive multiple of 16")]
    BadCipherLength(usize),
    /// PKCS#7 padding check failed: almost always a different password or salt.
    #[error("decryption failed: wrong password or salt (bad padding)")]
    WrongKey,
    /// The plaintext is not UTF-8: also almost always a different password or salt.
    #[error("decrypted payload is not UTF-8 text (wrong password or salt?)")]
    NotUtf8,
}

/// Everything derived from one password + salt pair, computed once per room.
///
/// `Debug` is written by hand so the key and a custom password never end up in logs.
#[derive(Clone)]
pub struct RoomCrypto {
    /// Hashed form of the password (see [`Password::wire_secret`]); `None` = disabled.
    secret: Option<String>,
    salt: String,
    key: Option<[u8; 32]>,
    suffix: Option<String>,
}

impl fmt::Debug for RoomCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomCrypto")
            .field("enabled", &self.is_enabled())
            .field("salt", &self.salt)
            .field("stream_suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl RoomCrypto {
    /// Derives the stream suffix, room hash input and AES key for `password` + `salt`.
    pub fn new(password: &Password, salt: &str) -> RoomCrypto {
        let secret = password.wire_secret().map(Cow::into_owned);
        let key = secret.as_ref().map(|s| {
            let digest = Sha256::digest(format!("{s}{salt}").as_bytes());
            let mut key = [0u8; 32];
            key.copy_from_slice(&digest);
            key
        });
        let suffix = secret
            .as_ref()
            .map(|s| hex_prefix(&format!("{s}{salt}"), STREAM_SUFFIX_LEN));
        RoomCrypto {
            secret,
            salt: salt.to_owned(),
            key,
            suffix,
        }
    }

    /// A crypto context with hashing and encryption switched off.
    pub fn disabled() -> RoomCrypto {
        RoomCrypto::new(&Password::Disabled, "")
    }

    /// `true` when a password (default or custom) is in force.
    pub fn is_enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The salt this context was built with.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The AES-256 key, SHA-256(password + salt); `None` when disabled.
    pub fn key(&self) -> Option<&[u8; 32]> {
        self.key.as_ref()
    }

    /// `hex6(password + salt)`, the suffix appended to stream ids on the wire.
    pub fn stream_suffix(&self) -> Option<String> {
        self.suffix.clone()
    }

    /// The stream id as it goes on the wire: cut to 44 characters (like the web client),
    /// then the suffix appended. Unchanged when encryption is disabled.
    pub fn wire_stream_id(&self, id: &str) -> String {
        match &self.suffix {
            Some(suffix) => {
                let cut = match id.char_indices().nth(MAX_STREAM_ID_CHARS) {
                    Some((byte_index, _)) => &id[..byte_index],
                    None => id,
                };
                format!("{cut}{suffix}")
            }
            None => id.to_owned(),
        }
    }

    /// The published stream id from its wire form: the suffix is removed when it is there
    /// and matches. A wire id without the matching suffix is returned unchanged (it was
    /// hashed with another password or salt, or not at all), so callers can still show it.
    pub fn strip_stream_id(&self, wire: &str) -> String {
        match &self.suffix {
            Some(suffix) => match wire.strip_suffix(suffix.as_str()) {
                Some(base) if !base.is_empty() => base.to_owned(),
                _ => wire.to_owned(),
            },
            None => wire.to_owned(),
        }
    }

    /// `true` when `wire` carries this context's suffix (i.e. the publisher uses the same
    /// password and salt). Always `true` when disabled.
    pub fn stream_id_matches(&self, wire: &str) -> bool {
        match &self.suffix {
            Some(suffix) => wire.len() > suffix.len() && wire.ends_with(suffix.as_str()),
            None => true,
        }
    }

    /// The room name as it goes on the wire: `hex16(room + password + salt)`, or the plain
    /// name when encryption is disabled.
    pub fn wire_room(&self, room: &str) -> String {
        match &self.secret {
            Some(secret) => hex_prefix(&format!("{room}{secret}{}", self.salt), ROOM_HASH_LEN),
            None => room.to_owned(),
        }
    }

    /// Encrypts `plaintext` with a fresh random IV. Returns `(ciphertext hex, IV hex)`, or
    /// `None` when encryption is disabled (the caller then sends the value in clear).
    pub fn encrypt(&self, plaintext: &str) -> Option<(String, String)> {
        let iv: [u8; BLOCK_LEN] = rand::random();
        self.encrypt_with_iv(plaintext, iv)
    }

    /// Encrypts with a given IV; only tests and reproducible fixtures should need this,
    /// since reusing an IV weakens CBC.
    pub fn encrypt_with_iv(
        &self,
        plaintext: &str,
        iv: [u8; BLOCK_LEN],
    ) -> Option<(String, String)> {
        let key = self.key.as_ref()?;
        let cipher = Aes256CbcEnc::new(key.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
        Some((hex::encode(cipher), hex::encode(iv)))
    }

    /// Decrypts a hex ciphertext with a hex IV (both as found on the wire, any case).
    ///
    /// # Errors
    ///
    /// [`CryptoError`] when encryption is disabled, the hex or the IV length is bad, or the
    /// key does not fit (bad padding or non-UTF-8 plaintext). A wrong key is detected
    /// only with high probability: garbage that happens to end in valid padding decrypts
    /// to nonsense, which the JSON parsing above this layer then rejects.
    pub fn decrypt(&self, cipher_hex: &str, iv_hex: &str) -> Result<String, CryptoError> {
        let key = self.key.as_ref().ok_or(CryptoError::Disabled)?;
        let iv_bytes = hex::decode(iv_hex.trim()).map_err(|_| CryptoError::BadIvHex)?;
        let iv: [u8; BLOCK_LEN] = iv_bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadIvLength(iv_bytes.len()))?;
        let cipher = hex::decode(cipher_hex.trim()).map_err(|_| CryptoError::BadCipherHex)?;
        if cipher.is_empty() || cipher.len() % BLOCK_LEN != 0 {
            return Err(CryptoError::BadCipherLength(cipher.len()));
        }
        let plain = Aes256CbcDec::new(key.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&cipher)
            .map_err(|_| CryptoError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| CryptoError::NotUtf8)
    }
}

/// JavaScript's `encodeURIComponent`: every byte of the UTF-8 form except
/// `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes `%XX` (upper-case hex).
pub fn encode_uri_component(s: &str) -> Cow<'_, str> {
    fn unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
    }
    if s.bytes().all(unreserved) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

/// JavaScript's `decodeURIComponent`: `None` for a malformed escape or invalid UTF-8
/// (where JavaScript would throw). `+` is left alone, as in JavaScript.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| char::from(*b).to_digit(16))?;
            let lo = bytes.get(i + 2).and_then(|b| char::from(*b).to_digit(16))?;
            // Both digits are < 16, so the value fits a byte.
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
