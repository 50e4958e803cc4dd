//! Validation of ICE candidate strings before they reach webrtcbin.
//!
//! webrtcbin 1.22 takes any string that does not start with `candidate:` or
//! `a=candidate:` as end-of-candidates and reports no errors from `add-ice-candidate`
//! (webrtc-notes.md point 5). A malformed candidate from a remote peer would therefore
//! silently stop ICE for that peer. Every remote candidate goes through
//! [`parse_candidate`] first; the parsed form also feeds the candidate log (type,
//! address, mDNS hint for `.local` names, point 6).

use std::fmt;

/// Longest candidate line accepted, in bytes. Real candidates are well under 300 bytes;
/// the limit keeps hostile input cheap to reject.
pub const MAX_CANDIDATE_LEN: usize = 1024;

/// Transport protocol of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Lower-case SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Candidate type (`typ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateKind {
    /// The SDP token: `host`, `srflx`, `prflx` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::Srflx => "srflx",
            CandidateKind::Prflx => "prflx",
            CandidateKind::Relay => "relay",
        }
    }

    fn from_token(token: &str) -> Option<CandidateKind> {
        match token {
            "host" => Some(CandidateKind::Host),
            "srflx" => Some(CandidateKind::Srflx),
            "prflx" => Some(CandidateKind::Prflx),
            "relay" => Some(CandidateKind::Relay),
            _ => None,
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syntactically valid ICE candidate (RFC 8839 §5.1 grammar, leniently).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCandidate {
    pub foundation: String,
    pub component: u32,
    pub protocol: Transport,
    pub priority: u32,
    /// IP address or host name (browsers hide local IPs behind `<uuid>.local`).
    pub address: String,
    pub port: u16,
    pub kind: CandidateKind,
    /// `active` / `passive` / `so` for TCP candidates.
    pub tcp_type: Option<String>,
    /// Related address (`raddr`) of reflexive and relay candidates.
    pub related_address: Option<String>,
    /// Related port (`rport`).
    pub related_port: Option<u16>,
    /// `ufrag` extension, if present.
    pub ufrag: Option<String>,
    /// `true` when the address is an mDNS name (`*.local`): it resolves only where the
    /// host runs an mDNS resolver on the same LAN.
    pub is_mdns: bool,
}

impl fmt::Display for ParsedCandidate {
    /// Short form for the candidate log, e.g. `host udp 192.168.1.5:50000 (mDNS)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.kind, self.protocol)?;
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port)?;
        } else {
            write!(f, "{}:{}", self.address, self.port)?;
        }
        if let Some(t) = &self.tcp_type {
            write!(f, " tcptype {t}")?;
        }
        if self.is_mdns {
            f.write_str(" (mDNS)")?;
        }
        Ok(())
    }
}

/// Why a candidate string was rejected. Values from the peer are shortened and escaped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CandidateError {
    #[error("not a candidate line (must start with `candidate:` or `a=candidate:`)")]
    NotACandidate,
    #[error("candidate line is {0} bytes, limit is {MAX_CANDIDATE_LEN}")]
    TooLong(usize),
    #[error("candidate line contains control characters")]
    ControlCharacter,
    #[error("candidate line has {0} fields, at least 8 are needed")]
    TooFewFields(usize),
    #[error("bad foundation {0}")]
    BadFoundation(String),
    #[error("bad component id {0}")]
    BadComponent(String),
    #[error("unknown transport {0} (expected udp or tcp)")]
    BadTransport(String),
    #[error("bad priority {0}")]
    BadPriority(String),
    #[error("bad port {0}")]
    BadPort(String),
    #[error("port {0} out of range")]
    PortOutOfRange(u64),
    #[error("bad address {0}")]
    BadAddress(String),
    #[error("missing `typ`")]
    MissingTyp,
    #[error("unknown candidate type {0}")]
    UnknownType(String),
    #[error("attribute {0} has no value")]
    MissingValue(String),
    #[error("bad related port {0}")]
    BadRelatedPort(String),
}

/// Shortened, escaped rendering of an untrusted token for error messages.
fn shown(token: &str) -> String {
    const MAX: usize = 32;
    match token.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &token[..cut]),
        None => format!("{token:?}"),
    }
}

/// Parses and validates one candidate line (`candidate:...` or `a=candidate:...`).
///
/// The empty string (a browser's end-of-candidates marker) is rejected as
/// [`CandidateError::NotACandidate`]: callers must simply not hand it to webrtcbin.
///
/// # Errors
///
/// A [`CandidateError`] naming the first problem found; its `Display` is meant for the
/// candidate log.
pub fn parse_candidate(s: &str) -> Result<ParsedCandidate, CandidateError> {
    if s.len() > MAX_CANDIDATE_LEN {
        return Err(CandidateError::TooLong(s.len()));
    }
    let body = s
        .strip_prefix("a=candidate:")
        .or_else(|| s.strip_prefix("candidate:"))
        .ok_or(CandidateError::NotACandidate)?;
    if s.chars().any(char::is_control) {
        return Err(CandidateError::ControlCharacter);
    }
    let fields: Vec<&str> = body.split(' ').filter(|f| !f.is_empty()).collect();
    if fields.len() < 8 {
        return Err(CandidateError::TooFewFields(fields.len()));
    }

    let foundation = fields[0];
    if foundation.len() > 32 || !foundation.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CandidateError::BadFoundation(shown(foundation)));
    }
    let component = fields[1]
        .parse::<u32>()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| CandidateError::BadComponent(shown(fields[1])))?;
    let protocol = match fields[2].to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => return Err(CandidateError::BadTransport(shown(fields[2]))),
    };
    let priority = fields[3]
        .parse::<u32>()
        .map_err(|_| CandidateError::BadPriority(shown(fields[3])))?;
    // IP literals and (mDNS) host names are ASCII; anything else cannot be resolved and
    // would only end up in logs.
    let address = fields[4];
    if address.len() > 255 || !address.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CandidateError::BadAddress(shown(address)));
    }
    let port = parse_port(fields[5])?;

    let mut kind = None;
    let mut tcp_type = None;
    let mut related_address = None;
    let mut related_port = None;
    let mut ufrag = None;
    let mut rest = fields[6..].iter();
    while let Some(name) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| CandidateError::MissingValue(shown(name)))?;
        match *name {
            "typ" => {
                kind = Some(
                    CandidateKind::from_token(value)
                        .ok_or_else(|| CandidateError::UnknownType(shown(value)))?,
                );
            }
            "tcptype" => tcp_type = Some((*value).to_owned()),
            "raddr" => related_address = Some((*value).to_owned()),
            "rport" => {
                related_port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| CandidateError::BadRelatedPort(shown(value)))?,
                );
            }
            "ufrag" => ufrag = Some((*value).to_owned()),
            // generation, network-id, network-cost and future extensions.
            _ => {}
        }
    }
    let kind = kind.ok_or(CandidateError::MissingTyp)?;

    Ok(ParsedCandidate {
        foundation: foundation.to_owned(),
        component,
        protocol,
        priority,
        address: address.to_owned(),
        port,
        kind,
        tcp_type,
        related_address,
        related_port,
        ufrag,
        is_mdns: address.to_ascii_lowercase().ends_with(".local"),
    })
}

fn parse_port(token: &str) -> Result<u16, CandidateError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CandidateError::BadPort(shown(token)));
    }
    // Many digits are still "out of range", not "bad": saturate instead of failing.
    let value = token.parse::<u64>().unwrap_or(u64::MAX);
    match u16::try_from(value) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(CandidateError::PortOutOfRange(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host";

    #[test]
    fn parses_host_candidate() {
        let c = parse_candidate(HOST).unwrap();
        assert_eq!(c.foundation, "1");
        assert_eq!(c.component, 1);
        assert_eq!(c.protocol, Transport::Udp);
        assert_eq!(c.priority, 2_122_260_223);
        assert_eq!(c.address, "127.0.0.1");
        assert_eq!(c.port, 50000);
        assert_eq!(c.kind, CandidateKind::Host);
        assert_eq!(c.kind.as_str(), "host");
        assert!(!c.is_mdns);
        assert_eq!(c.to_string(), "host udp 127.0.0.1:50000");
    }

    #[test]
    fn accepts_sdp_attribute_form() {
        let c = parse_candidate(&format!("a={HOST}")).unwrap();
        assert_eq!(c.port, 50000);
    }

    #[test]
    fn parses_chrome_srflx_with_extensions() {
        let s = "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 192.168.1.5 rport 61234 generation 0 ufrag abcd network-id 1 network-cost 10";
        let c = parse_candidate(s).unwrap();
        assert_eq!(c.kind, CandidateKind::Srflx);
        assert_eq!(c.related_address.as_deref(), Some("192.168.1.5"));
        assert_eq!(c.related_port, Some(61234));
        assert_eq!(c.ufrag.as_deref(), Some("abcd"));
    }

    #[test]
    fn parses_mdns_tcp_relay_prflx_ipv6() {
        let mdns = parse_candidate(
            "candidate:1 1 udp 2113937151 4b1a3c7e-1111-2222-3333-444455556666.local 54321 typ host generation 0",
        )
        .unwrap();
        assert!(mdns.is_mdns);
        assert!(mdns.to_string().ends_with("(mDNS)"));

        let tcp =
            parse_candidate("candidate:2 1 TCP 1518280447 192.168.1.5 9 typ host tcptype active")
                .unwrap();
        assert_eq!(tcp.protocol, Transport::Tcp);
        assert_eq!(tcp.tcp_type.as_deref(), Some("active"));

        let relay = parse_candidate(
            "candidate:3 1 udp 41885439 198.51.100.1 3478 typ relay raddr 0.0.0.0 rport 0",
        )
        .unwrap();
        assert_eq!(relay.kind, CandidateKind::Relay);
        assert_eq!(relay.kind.as_str(), "relay");
        assert_eq!(relay.related_port, Some(0));

        let prflx =
            parse_candidate("candidate:4 2 udp 1845501695 2001:db8::1 40000 typ prflx").unwrap();
        assert_eq!(prflx.kind, CandidateKind::Prflx);
        assert_eq!(prflx.component, 2);
        assert_eq!(prflx.to_string(), "prflx udp [2001:db8::1]:40000");
        assert_eq!(CandidateKind::Srflx.as_str(), "srflx");
    }

    #[test]
    fn rejects_non_candidates() {
        for s in [
            "",
            "end-of-candidates",
            "a=end-of-candidates",
            " candidate:1",
            "Candidate:1 1 udp 1 1.2.3.4 5 typ host",
        ] {
            assert_eq!(
                parse_candidate(s),
                Err(CandidateError::NotACandidate),
                "{s:?}"
            );
        }
        assert_eq!(
            CandidateError::NotACandidate.to_string(),
            "not a candidate line (must start with `candidate:` or `a=candidate:`)"
        );
    }

    #[test]
    fn rejects_bad_ports() {
        let e =
            parse_candidate("candidate:1 1 udp 2122260223 127.0.0.1 70000 typ host").unwrap_err();
        assert_eq!(e, CandidateError::PortOutOfRange(70000));
        assert_eq!(e.to_string(), "port 70000 out of range");
        assert_eq!(
            parse_candidate("candidate:1 1 udp 2122260223 127.0.0.1 0 typ host"),
            Err(CandidateError::PortOutOfRange(0))
        );
        assert!(matches!(
            parse_candidate("candidate:1 1 udp 2122260223 127.0.0.1 -5 typ host"),
            Err(CandidateError::BadPort(_))
        ));
        assert!(matches!(
            parse_candidate(
                "candidate:1 1 udp 2122260223 127.0.0.1 99999999999999999999999 typ host"
            ),
            Err(CandidateError::PortOutOfRange(_))
        ));
    }

    /// Checks whether an error is the expected kind.
    type Check = fn(&CandidateError) -> bool;

    #[test]
    fn rejects_malformed_fields() {
        let cases: [(&str, Check); 10] = [
            ("candidate:1 1 udp 1 adresse\u{e9}.local 5 typ host", |e| {
                matches!(e, CandidateError::BadAddress(_))
            }),
            ("candidate:1 1 udp 2122260223 127.0.0.1 50000 host", |e| {
                matches!(e, CandidateError::TooFewFields(7))
            }),
            (
                "candidate:1 1 udp 2122260223 127.0.0.1 50000 foo bar",
                |e| *e == CandidateError::MissingTyp,
            ),
            (
                "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ weird",
                |e| matches!(e, CandidateError::UnknownType(_)),
            ),
            (
                "candidate:1 1 sctp 2122260223 127.0.0.1 50000 typ host",
                |e| matches!(e, CandidateError::BadTransport(_)),
            ),
            (
                "candidate:1 x udp 2122260223 127.0.0.1 50000 typ host",
                |e| matches!(e, CandidateError::BadComponent(_)),
            ),
            (
                "candidate:1 0 udp 2122260223 127.0.0.1 50000 typ host",
                |e| matches!(e, CandidateError::BadComponent(_)),
            ),
            (
                "candidate:1 1 udp 99999999999 127.0.0.1 50000 typ host",
                |e| matches!(e, CandidateError::BadPriority(_)),
            ),
            (
                "candidate:1 1 udp 1 127.0.0.1 50000 typ host generation",
                |e| matches!(e, CandidateError::MissingValue(_)),
            ),
            (
                "candidate:1 1 udp 1 1.2.3.4 5 typ srflx raddr 1.2.3.4 rport x",
                |e| matches!(e, CandidateError::BadRelatedPort(_)),
            ),
        ];
        for (s, check) in cases {
            let e = parse_candidate(s).unwrap_err();
            assert!(check(&e), "{s:?} gave {e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn rejects_control_characters_and_oversize() {
        assert_eq!(
            parse_candidate(&format!("{HOST}\r\n")),
            Err(CandidateError::ControlCharacter)
        );
        assert_eq!(
            parse_candidate("candidate:1 1 udp 1 1.2.3.4\u{0} 5 typ host"),
            Err(CandidateError::ControlCharacter)
        );
        let long = format!("{HOST} {}", "x ".repeat(600));
        assert_eq!(
            parse_candidate(&long),
            Err(CandidateError::TooLong(long.len()))
        );
    }

    #[test]
    fn error_values_are_shortened() {
        let junk = "y".repeat(200);
        let e = parse_candidate(&format!("candidate:1 1 udp 1 1.2.3.4 5 typ {junk}")).unwrap_err();
        assert!(e.to_string().len() < 80, "{e}");
    }
}
