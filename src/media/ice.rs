//! ICE server configuration for webrtcbin.

use gst::prelude::*;

/// Where a peer finds STUN and TURN, and which candidates it may use.
#[derive(Debug, Clone, Default)]
pub struct IceConfig {
    /// `stun://host:port`, or none.
    pub stun: Option<String>,
    /// `turn://user:pass@host:port` or `turns://…`, credentials not yet escaped.
    pub turn: Vec<String>,
    /// Only relay candidates (ICE transport policy "relay").
    pub relay_only: bool,
    /// Add 127.0.0.1 as a local address: libnice never gathers on `lo`.
    pub loopback: bool,
}

impl IceConfig {
    /// A STUN value from the command line: "false"/"none" disables it, a bare host gets `stun://`.
    pub fn parse_stun(value: Option<&str>, default: Option<&str>) -> Option<String> {
        let value = match value {
            Some(v) => v.trim(),
            None => return default.map(str::to_owned),
        };
        if value.is_empty()
            || matches!(
                value.to_ascii_lowercase().as_str(),
                "false" | "none" | "off" | "0"
            )
        {
            return None;
        }
        if value.starts_with("stun://") {
            Some(value.to_owned())
        } else if let Some(rest) = value.strip_prefix("stun:") {
            Some(format!("stun://{rest}"))
        } else {
            Some(format!("stun://{value}"))
        }
    }

    /// Applies the configuration to a webrtcbin before negotiation starts.
    pub fn apply(&self, webrtcbin: &gst::Element) {
        if let Some(stun) = &self.stun {
            webrtcbin.set_property("stun-server", stun);
        }
        for turn in &self.turn {
            match escape_turn_url(turn) {
                Ok(url) => {
                    let added = webrtcbin.emit_by_name::<bool>("add-turn-server", &[&url]);
                    if !added {
                        tracing::warn!("webrtcbin refused TURN server {}", redact_turn_url(turn));
                    }
                }
                Err(err) => tracing::warn!("ignoring TURN server {}: {err}", redact_turn_url(turn)),
            }
        }
        if self.relay_only {
            webrtcbin.set_property_from_str("ice-transport-policy", "relay");
        }
        if let Some(agent) = webrtcbin.property::<Option<gst::glib::Object>>("ice-agent") {
            if agent.has_property("ice-tcp") {
                agent.set_property("ice-tcp", false);
            }
            if self.loopback {
                let _ = agent.emit_by_name::<bool>("add-local-ip-address", &[&"127.0.0.1"]);
            }
        }
    }
}

/// Percent-escapes the user and password of a TURN URL the way webrtcbin expects.
pub fn escape_turn_url(url: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "a TURN URL looks like turn://user:pass@host:port".to_owned())?;
    if scheme != "turn" && scheme != "turns" {
        return Err(format!("unknown TURN scheme {scheme:?}"));
    }
    let (credentials, host) = rest
        .rsplit_once('@')
        .ok_or_else(|| "a TURN URL needs user:pass@ before the host".to_owned())?;
    let (user, pass) = credentials
        .split_once(':')
        .ok_or_else(|| "TURN credentials look like user:pass".to_owned())?;
    if host.is_empty() || host.contains('/') {
        return Err("a TURN URL needs host:port after @".to_owned());
    }
    // Credentials typed already percent-encoded (`p%40ss`) are decoded first, so they are
    // escaped once, not twice.
    Ok(format!(
        "{scheme}://{}:{}@{host}",
        escape(&percent_decode(user)),
        escape(&percent_decode(pass))
    ))
}

/// Decodes `%XX` escapes; anything that is not a valid escape stays as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL with its credentials hidden, for logs.
pub fn redact_turn_url(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => "<unparsable TURN URL>".to_owned(),
    }
}

/// Replaces the credentials of every `turn://` / `turns://` URL in `text` with `***`.
pub fn redact_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    // libnice's debug output: "added relay server … with user/pass : USER -- PASSWORD".
    if let Some(at) = text.find("user/pass") {
        return std::borrow::Cow::Owned(format!("{} ***", &text[..at + "user/pass".len()]));
    }
    if !text.contains("turn://") && !text.contains("turns://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("turn").filter(|_| !rest.is_empty()) {
        let after = &rest[start..];
        let scheme_len = if after.starts_with("turns://") {
            8
        } else if after.starts_with("turn://") {
            7
        } else {
            out.push_str(&rest[..start + 4]);
            rest = &rest[start + 4..];
            continue;
        };
        out.push_str(&rest[..start + scheme_len]);
        let url = &after[scheme_len..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | ')' | ']'))
            .unwrap_or(url.len());
        match url[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&url[at..end]);
            }
            None => out.push_str(&url[..end]),
        }
        rest = &url[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// GStreamer's own debug log (`GST_DEBUG`) prints TURN URLs with their passwords (webrtcbin
/// logs "Adding turn server: turn://user:pass@…"). When that log is on, route it through a
/// function that redacts them; with `GST_DEBUG` unset nothing is logged and nothing changes.
pub fn redact_gstreamer_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("GST_DEBUG").is_none_or(|v| v.is_empty()) {
        return;
    }
    ONCE.call_once(|| {
        gst::log::remove_default_log_function();
        gst::log::add_log_function(|category, level, file, function, line, object, message| {
            let Some(text) = message.get() else { return };
            let object = object.map(|o| o.to_string()).unwrap_or_default();
            eprintln!(
                "{:?} {:>7} {} {file}:{line}:{function}:<{object}> {}",
                std::thread::current().id(),
                level.name(),
                category.name(),
                redact_credentials(text.as_str())
            );
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_inside_log_lines() {
        let line = "Adding turn server: turn://user:secretpass@127.0.0.1:3478, turns://a:b%40c@h:5349 and turn://nocreds:3478";
        let shown = redact_credentials(line);
        assert_eq!(
            shown,
            "Adding turn server: turn://***@127.0.0.1:3478, turns://***@h:5349 and turn://nocreds:3478"
        );
        assert_eq!(
            redact_credentials("added relay server [::1]:3478 with user/pass : tape -- pa:ss"),
            "added relay server [::1]:3478 with user/pass ***"
        );
        assert_eq!(
            redact_credentials("no urls here, turnip"),
            "no urls here, turnip"
        );
        assert_eq!(redact_credentials("turn://"), "turn://");
    }

    #[test]
    fn turn_credentials_are_escaped() {
        assert_eq!(
            escape_turn_url("turn://us:er:p@ss/w+rd=@turn.example.org:3478").unwrap(),
            "turn://us:er%3Ap%40ss%2Fw%2Brd%3D@turn.example.org:3478"
        );
        assert_eq!(
            escape_turn_url("turn://u%40x:p%3Ass@h:3478").unwrap(),
            "turn://u%40x:p%3Ass@h:3478",
            "typed escapes are not escaped again"
        );
        assert_eq!(
            escape_turn_url("turn://u:100%@h:3478").unwrap(),
            "turn://u:100%25@h:3478"
        );
        assert!(escape_turn_url("http://x").is_err());
        assert!(escape_turn_url("turn://nocreds.example.org").is_err());
    }

    #[test]
    fn turn_credentials_never_reach_logs() {
        let shown = redact_turn_url("turn://alice:s3cret@turn.example.org:3478");
        assert!(!shown.contains("s3cret") && !shown.contains("alice"));
        assert!(shown.contains("turn.example.org:3478"));
    }

    #[test]
    fn stun_values() {
        assert_eq!(
            IceConfig::parse_stun(Some("false"), Some("stun://a:1")),
            None
        );
        assert_eq!(
            IceConfig::parse_stun(None, Some("stun://a:1")).as_deref(),
            Some("stun://a:1")
        );
        assert_eq!(
            IceConfig::parse_stun(Some("stun:h:3478"), None).as_deref(),
            Some("stun://h:3478")
        );
        assert_eq!(
            IceConfig::parse_stun(Some("h:3478"), None).as_deref(),
            Some("stun://h:3478")
        );
    }
}
