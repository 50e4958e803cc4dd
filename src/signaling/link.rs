//! VDO.Ninja links: what an operator pastes (`https://vdo.ninja/?room=show&pw=secret`) says
//! which room to join, with which password, through which server and salt.

use std::fmt;

/// What a link names. Fields the link does not have are `None`: the caller's own settings
/// (an explicit `--server`, say) apply to those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLink {
    pub room: String,
    /// As written in the link (`false` means no password), like `--password`.
    pub password: Option<String>,
    /// `wss://host[:port]` from the link's `wss` parameter.
    pub server: Option<String>,
    /// The link's `salt`, or the one VDO.Ninja derives from the page's host name.
    pub salt: Option<String>,
}

/// Why a link could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Not a URL at all.
    Malformed(String),
    /// A link to a single stream (`view=`, `push=`) or to nothing: no room in it.
    NoRoom,
    /// The room parameter is there but empty.
    EmptyRoom,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Malformed(why) => write!(f, "this is not a link: {why}"),
            LinkError::NoRoom => write!(
                f,
                "the link names no room (it needs room= or r=; links with view= or push= open a single stream)"
            ),
            LinkError::EmptyRoom => write!(f, "the link's room parameter is empty"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Whether `text` (typed into a room field or given as `--room`) is a link rather than a
/// room name.
pub fn looks_like_link(text: &str) -> bool {
    let text = text.trim();
    text.contains("://") || text.contains('?') || text.starts_with("vdo.ninja/")
}

/// Reads a VDO.Ninja link, on vdo.ninja or a self-hosted copy. Unknown parameters are ignored.
pub fn parse(text: &str) -> Result<RoomLink, LinkError> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let uri = glib::Uri::parse(&with_scheme, glib::UriFlags::ENCODED_QUERY)
        .map_err(|err| LinkError::Malformed(err.message().to_owned()))?;
    let host = uri.host().map(|h| h.to_string()).unwrap_or_default();
    if host.is_empty() {
        return Err(LinkError::Malformed("it has no host".into()));
    }
    // The web client reads parameters from the query and, on some links, from after `#`.
    let mut query = uri.query().map(|q| q.to_string()).unwrap_or_default();
    if let Some(fragment) = uri.fragment() {
        let fragment = fragment.trim_start_matches('?');
        if fragment.contains('=') {
            query.push('&');
            query.push_str(fragment);
        }
    }
    let params = parameters(&query);
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        })
    };
    let room = find(&["room", "r", "roomid"]).ok_or(LinkError::NoRoom)?;
    let room = room.trim().to_owned();
    if room.is_empty() {
        return Err(LinkError::EmptyRoom);
    }
    let password =
        find(&["password", "pw", "p"]).map(|p| if p.is_empty() { "false".to_owned() } else { p });
    let server = find(&["wss"])
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.contains("://") {
                w
            } else {
                format!("wss://{w}")
            }
        });
    let salt = find(&["salt"])
        .filter(|s| !s.is_empty())
        .or_else(|| Some(crate::protocol::crypto::salt_for_host(&host)));
    Ok(RoomLink {
        room,
        password,
        server,
        salt,
    })
}

/// The page guests open to join the room: on vdo.ninja, pointed at `server` when it is not the
/// public one, with the password (`None` for the default, `"false"` for none) and the salt the
/// recorder hashes with when the page would not derive the same one from its own host.
pub fn guest_link(room: &str, server: &str, password: Option<&str>, salt: Option<&str>) -> String {
    const PAGE: &str = "https://vdo.ninja/";
    let escape = |text: &str| glib::Uri::escape_string(text, None, false).to_string();
    let mut link = format!("{PAGE}?room={}", escape(room.trim()));
    match password.map(str::trim) {
        None | Some("") => {}
        Some("false") => link.push_str("&pw=false"),
        Some(password) => link.push_str(&format!("&pw={}", escape(password))),
    }
    let server = server.trim().trim_end_matches('/');
    let host = glib::Uri::parse(server, glib::UriFlags::NONE)
        .ok()
        .and_then(|uri| uri.host().map(|h| h.to_string()))
        .unwrap_or_default();
    let public = matches!(
        server,
        "wss://wss.vdo.ninja" | "wss://wss.vdo.ninja:443" | "wss://wss.vdo.ninja:443/"
    );
    if !public && !server.is_empty() {
        // The page takes host[:port] for a secure socket, the full URL otherwise.
        let wss = server.strip_prefix("wss://").unwrap_or(server);
        link.push_str(&format!("&wss={}", escape(wss)));
    }
    let recorder_salt = salt
        .map(str::to_owned)
        .unwrap_or_else(|| crate::protocol::crypto::salt_for_host(&host));
    let page_salt = crate::protocol::crypto::salt_for_host("vdo.ninja");
    if recorder_salt != page_salt {
        link.push_str(&format!("&salt={}", escape(&recorder_salt)));
    }
    link
}

/// `a=1&b&c=x%20y` as decoded pairs (`b` has an empty value).
fn parameters(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (unescape(key), unescape(value))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    let spaced = text.replace('+', " ");
    glib::Uri::unescape_string(spaced.as_str(), None::<&str>)
        .map(|s| s.to_string())
        .unwrap_or(spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(room: &str, password: Option<&str>, server: Option<&str>, salt: &str) -> RoomLink {
        RoomLink {
            room: room.into(),
            password: password.map(Into::into),
            server: server.map(Into::into),
            salt: Some(salt.into()),
        }
    }

    #[test]
    fn real_link_shapes() {
        assert_eq!(
            parse("https://vdo.ninja/?room=myshow&password=s3cret").unwrap(),
            link("myshow", Some("s3cret"), None, "vdo.ninja")
        );
        assert_eq!(
            parse("https://vdo.ninja/?r=myshow&pw=false&push=abc&quality=2").unwrap(),
            link("myshow", Some("false"), None, "vdo.ninja")
        );
        assert_eq!(
            parse("vdo.ninja/?room=myshow").unwrap(),
            link("myshow", None, None, "vdo.ninja")
        );
        assert_eq!(
            parse("https://vdo.ninja/alpha/?room=Show%20Two&p=a%26b").unwrap(),
            link("Show Two", Some("a&b"), None, "vdo.ninja")
        );
        assert_eq!(
            parse("https://ninja.example.org/?room=guests&wss=relay.example.org:8443").unwrap(),
            link(
                "guests",
                None,
                Some("wss://relay.example.org:8443"),
                "ninja.example.org"
            )
        );
        assert_eq!(
            parse("https://vdo.ninja/?room=a&wss=wss://127.0.0.1:8443&salt=custom").unwrap(),
            link("a", None, Some("wss://127.0.0.1:8443"), "custom")
        );
        assert_eq!(
            parse("https://vdo.ninja/#?room=hashed&pw").unwrap(),
            link("hashed", Some("false"), None, "vdo.ninja")
        );
    }

    #[test]
    fn links_without_a_room_or_that_are_not_links_say_so() {
        assert_eq!(parse("https://vdo.ninja/?view=abc"), Err(LinkError::NoRoom));
        assert_eq!(parse("https://vdo.ninja/?room="), Err(LinkError::EmptyRoom));
        assert!(matches!(parse("http://[::1"), Err(LinkError::Malformed(_))));
        assert!(parse("https:///?room=x").is_err());
        assert!(
            LinkError::NoRoom.to_string().contains("room="),
            "the error says what is missing"
        );
    }

    #[test]
    fn a_guest_link_reads_back_as_the_same_room() {
        let public = guest_link("my show", "wss://wss.vdo.ninja:443", None, None);
        assert_eq!(public, "https://vdo.ninja/?room=my%20show");
        let cases = [
            (
                "show",
                "wss://wss.vdo.ninja:443",
                Some("s3cret & more"),
                None,
            ),
            ("show", "wss://wss.vdo.ninja", Some("false"), None),
            ("guests", "wss://relay.example.org:8443", None, None),
            ("a", "ws://127.0.0.1:8443", Some("pw"), Some("custom")),
        ];
        for (room, server, password, salt) in cases {
            let text = guest_link(room, server, password, salt);
            let read = parse(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(read.room, room, "{text}");
            assert_eq!(read.password.as_deref(), password, "{text}");
            let expected_server = (!server.contains("wss.vdo.ninja")).then_some(server);
            assert_eq!(read.server.as_deref(), expected_server, "{text}");
            // The page hashes with the salt the recorder uses.
            let recorder_salt = salt.map(str::to_owned).unwrap_or_else(|| {
                crate::protocol::crypto::salt_for_host(
                    server
                        .split("://")
                        .nth(1)
                        .and_then(|h| h.split(':').next())
                        .unwrap_or(""),
                )
            });
            assert_eq!(read.salt.as_deref(), Some(recorder_salt.as_str()), "{text}");
        }
    }

    #[test]
    fn room_names_are_not_links() {
        assert!(!looks_like_link("myshow"));
        assert!(!looks_like_link("show two"));
        assert!(looks_like_link("https://vdo.ninja/?room=x"));
        assert!(looks_like_link("vdo.ninja/?room=x"));
    }
}
