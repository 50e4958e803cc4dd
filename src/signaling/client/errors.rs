//! What can go wrong between the client and a server, worded for the person running Roomtape:
//! the address checked before anything touches the network, and the errors and close codes of
//! libsoup and GIO turned into reasons a user can act on.

use glib::translate::IntoGlib;

/// Why a connection could not be made or was lost, worded for the person running Roomtape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The address is not a `ws://` or `wss://` URL with a host.
    #[error("“{url}” is not a usable signaling server address: {reason}")]
    BadUrl { url: String, reason: String },
    /// The server could not be reached: connection refused, unknown host, no route, time-out.
    #[error("Could not reach the signaling server {host}: {detail}")]
    Refused { host: String, detail: String },
    /// The TLS layer failed, most often because the certificate could not be verified.
    #[error("Could not open a secure connection to {host}: {detail}")]
    Tls { host: String, detail: String },
    /// Something answered, but not as a WebSocket server (wrong path, plain web server, proxy
    /// error page).
    #[error("{host} did not answer as a WebSocket signaling server: {detail}")]
    Protocol { host: String, detail: String },
    /// An established (or almost established) connection was ended by the server or the network.
    #[error("The connection to the signaling server was closed: {detail}")]
    Closed { detail: String },
}

impl ClientError {
    /// Errors that retrying cannot fix without the user changing something (address, certificate).
    /// They end the client when they happen before the first successful connection; once a
    /// connection has worked, every error is treated as temporary (a server restarting behind a
    /// proxy answers with error pages for a while).
    pub(super) fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::BadUrl { .. } | Self::Tls { .. } | Self::Protocol { .. }
        )
    }
}

/// Checks and normalizes a server address. Returns the URL to use and `host[:port]` for messages.
pub(super) fn normalize_url(input: &str) -> Result<(String, String), ClientError> {
    let bad = |reason: &str| ClientError::BadUrl {
        url: crate::signaling::redact_url(input),
        reason: reason.to_owned(),
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(bad("the address is empty"));
    }
    let candidate = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("wss://{trimmed}")
    };
    let uri = glib::Uri::parse(&candidate, glib::UriFlags::NONE)
        .map_err(|err| bad(&format!("it cannot be parsed ({})", err.message())))?;
    let scheme = uri.scheme().to_ascii_lowercase();
    if scheme != "ws" && scheme != "wss" {
        return Err(bad(&format!(
            "only ws:// and wss:// addresses are supported, not {scheme}://"
        )));
    }
    let host = uri.host().map(|h| h.to_string()).unwrap_or_default();
    if host.is_empty() {
        return Err(bad("it has no host name"));
    }
    let display_host = if uri.port() > 0 {
        if host.contains(':') {
            format!("[{host}]:{}", uri.port())
        } else {
            format!("{host}:{}", uri.port())
        }
    } else {
        host
    };
    Ok((uri.to_str().to_string(), display_host))
}

/// Turns a libsoup/GIO error from a connection attempt into a [`ClientError`] a user can act on.
pub(super) fn classify_error(host: &str, err: &glib::Error) -> ClientError {
    let host = host.to_owned();
    if let Some(tls) = err.kind::<gio::TlsError>() {
        let detail = match tls {
            gio::TlsError::BadCertificate => {
                "its certificate could not be verified (self-signed, expired or issued for \
                 another name)"
                    .to_owned()
            }
            gio::TlsError::NotTls => {
                "it does not speak TLS; for a plain local server use a ws:// address".to_owned()
            }
            _ => format!("the TLS handshake failed ({})", err.message()),
        };
        return ClientError::Tls { host, detail };
    }
    if let Some(ws) = err.kind::<soup::WebsocketError>() {
        let detail = match ws {
            soup::WebsocketError::NotWebsocket => {
                "the WebSocket upgrade was refused (wrong address or path?)".to_owned()
            }
            soup::WebsocketError::BadHandshake => "its WebSocket handshake was invalid".to_owned(),
            soup::WebsocketError::BadOrigin => "it refused this client’s origin".to_owned(),
            _ => err.message().to_owned(),
        };
        return ClientError::Protocol { host, detail };
    }
    if err.kind::<soup::SessionError>().is_some() {
        return ClientError::Protocol {
            host,
            detail: format!(
                "its HTTP answer could not be understood ({})",
                err.message()
            ),
        };
    }
    if err.kind::<gio::ResolverError>().is_some() {
        return ClientError::Refused {
            host,
            detail: "the host name could not be found (check the address and the network)"
                .to_owned(),
        };
    }
    let detail = match err.kind::<gio::IOErrorEnum>() {
        Some(gio::IOErrorEnum::ConnectionRefused) => {
            "the connection was refused (is the server running, and is the port right?)".to_owned()
        }
        Some(gio::IOErrorEnum::HostUnreachable | gio::IOErrorEnum::NetworkUnreachable) => {
            "the host is unreachable (check the network connection)".to_owned()
        }
        Some(gio::IOErrorEnum::HostNotFound) => {
            "the host name could not be found (check the address and the network)".to_owned()
        }
        Some(gio::IOErrorEnum::TimedOut) => "the server did not answer in time".to_owned(),
        Some(gio::IOErrorEnum::BrokenPipe | gio::IOErrorEnum::NotConnected) => {
            return ClientError::Closed {
                detail: format!(
                    "the server hung up during the handshake ({})",
                    err.message()
                ),
            };
        }
        _ => err.message().to_owned(),
    };
    ClientError::Refused { host, detail }
}

/// A readable reason for a connection that closed, from the close code the server sent (or the
/// transport error that ended it).
pub(super) fn describe_close(
    ws: &soup::WebsocketConnection,
    transport_error: Option<String>,
) -> String {
    let code = ws.close_code();
    let data = ws
        .close_data()
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    let normal = soup::WebsocketCloseCode::Normal.into_glib() as u16;
    let going_away = soup::WebsocketCloseCode::GoingAway.into_glib() as u16;
    let policy = soup::WebsocketCloseCode::PolicyViolation.into_glib() as u16;
    let too_big = soup::WebsocketCloseCode::TooBig.into_glib() as u16;
    let mut detail = match code {
        c if c == normal => "the server ended the session".to_owned(),
        c if c == going_away => "the server is shutting down or restarting".to_owned(),
        c if c == policy => "the server rejected this client (policy violation)".to_owned(),
        c if c == too_big => "a message was too large".to_owned(),
        // No close frame: the TCP connection died. The transport error, if any, says why.
        0 | 1005 | 1006 => match transport_error {
            Some(err) => format!("the connection was lost ({err})"),
            None => "the connection was lost".to_owned(),
        },
        c => format!("the server closed the connection (code {c})"),
    };
    if let Some(data) = data {
        detail.push_str(&format!(": {data}"));
    }
    ClientError::Closed { detail }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_less_addresses_get_wss() {
        let (url, host) = normalize_url("wss.vdo.ninja").unwrap();
        assert_eq!(url, "wss://wss.vdo.ninja");
        assert_eq!(host, "wss.vdo.ninja");
        let (url, host) = normalize_url("  localhost:8443/path ").unwrap();
        assert_eq!(url, "wss://localhost:8443/path");
        assert_eq!(host, "localhost:8443");
    }

    #[test]
    fn ws_and_wss_are_kept() {
        assert_eq!(
            normalize_url("ws://127.0.0.1:9000").unwrap().0,
            "ws://127.0.0.1:9000"
        );
        assert_eq!(
            normalize_url("WSS://wss.vdo.ninja:443").unwrap().1,
            "wss.vdo.ninja:443"
        );
        assert_eq!(normalize_url("ws://[::1]:9000").unwrap().1, "[::1]:9000");
    }

    #[test]
    fn other_schemes_and_garbage_are_rejected() {
        for input in [
            "http://x",
            "https://vdo.ninja",
            "",
            "   ",
            "ws://",
            "wss://:443",
        ] {
            match normalize_url(input) {
                Err(ClientError::BadUrl { url, reason }) => {
                    assert_eq!(url, input);
                    assert!(!reason.is_empty());
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        let message = normalize_url("http://x").unwrap_err().to_string();
        assert!(message.contains("ws://"), "{message}");
    }

    #[test]
    fn errors_read_well() {
        let refused = glib::Error::new(gio::IOErrorEnum::ConnectionRefused, "Connection refused");
        let err = classify_error("127.0.0.1:9", &refused);
        assert!(matches!(err, ClientError::Refused { .. }));
        assert!(err.to_string().contains("refused"), "{err}");

        let cert = glib::Error::new(
            gio::TlsError::BadCertificate,
            "Unacceptable TLS certificate",
        );
        let err = classify_error("example.org", &cert);
        assert!(matches!(err, ClientError::Tls { .. }));
        assert!(err.is_permanent());
        assert!(err.to_string().contains("certificate"), "{err}");

        let ws = glib::Error::new(soup::WebsocketError::NotWebsocket, "nope");
        assert!(matches!(
            classify_error("example.org", &ws),
            ClientError::Protocol { .. }
        ));
    }
}
