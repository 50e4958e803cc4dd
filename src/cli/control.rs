//! `record --control ADDR:PORT`: a small JSON API for other tools, on loopback unless asked
//! otherwise, every request carrying the run's token (`Authorization: Bearer TOKEN`).
//!
//! - `GET /status`: the room, the participants and their states, bytes written, free space.
//! - `POST /stop`: stops the recording and finishes every file, as Ctrl+C does.
//! - `POST /participants/{id}/exclude`, `.../include`: leaves one participant out of the
//!   recording, or takes them back.

use std::net::SocketAddr;
use std::rc::Rc;

use soup::prelude::*;

/// Leaves a participant out (`true`) or takes them back; false when nobody has that id.
pub type ExcludeAction = Box<dyn Fn(&str, bool) -> bool>;

/// What the API can do to the run; the recorder supplies it.
pub struct ControlActions {
    pub status: Box<dyn Fn() -> serde_json::Value>,
    pub stop: Box<dyn Fn()>,
    pub exclude: ExcludeAction,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "--control {0} is not a loopback address: anyone who can reach it could stop the recording; add --control-allow-remote to mean it"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: glib::Error,
    },
    #[error("the control token file {path}: {reason}")]
    Token { path: String, reason: String },
}

/// The running API; dropping it stops it.
pub struct ControlServer {
    server: soup::Server,
    pub url: String,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        ServerExt::disconnect(&self.server);
    }
}

/// A fresh token: 128 random bits in hex.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The token from the first line of `path`.
pub fn token_from_file(path: &std::path::Path) -> Result<String, ControlError> {
    let error = |reason: String| ControlError::Token {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.len() < 16 {
        return Err(error(
            "the token must be at least 16 characters on the first line".into(),
        ));
    }
    Ok(token)
}

/// Starts the API on `listen` (port 0 picks one) on the thread-default main context.
pub fn start(
    listen: SocketAddr,
    allow_remote: bool,
    token: String,
    actions: ControlActions,
) -> Result<ControlServer, ControlError> {
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(ControlError::NotLoopback(listen));
    }
    let server = soup::Server::builder()
        .server_header(concat!("Roomtape/", env!("CARGO_PKG_VERSION")))
        .build();
    server
        .listen(
            &gio::InetSocketAddress::from(listen),
            soup::ServerListenOptions::empty(),
        )
        .map_err(|source| ControlError::Bind {
            addr: listen,
            source,
        })?;
    let port = crate::signaling::server::bound_port(&server).unwrap_or(listen.port());
    let url = format!("http://{}/", SocketAddr::new(listen.ip(), port));
    let actions = Rc::new(actions);
    server.add_handler(None, move |_, message, path, _| {
        let (status, body) = respond(&actions, &token, message, path);
        message.set_status(status, None);
        message.set_response(
            Some("application/json"),
            soup::MemoryUse::Copy,
            body.to_string().as_bytes(),
        );
    });
    Ok(ControlServer { server, url })
}

/// A request's answer: HTTP status and JSON body.
fn respond(
    actions: &ControlActions,
    token: &str,
    message: &soup::ServerMessage,
    path: &str,
) -> (u32, serde_json::Value) {
    let given = message
        .request_headers()
        .and_then(|headers| headers.one("Authorization"))
        .map(|value| value.to_string());
    if !authorised(given.as_deref(), token) {
        return (
            401,
            serde_json::json!({"error": "missing or wrong token (Authorization: Bearer TOKEN)"}),
        );
    }
    let method = message.method().map(|m| m.to_string()).unwrap_or_default();
    match route(&method, path) {
        Route::Status => (200, (actions.status)()),
        Route::Stop => {
            (actions.stop)();
            (202, serde_json::json!({"stopping": true}))
        }
        Route::Exclude { id, excluded } => {
            if (actions.exclude)(&id, excluded) {
                (200, serde_json::json!({"id": id, "excluded": excluded}))
            } else {
                (
                    404,
                    serde_json::json!({"error": format!("no participant {id:?} in the room")}),
                )
            }
        }
        Route::WrongMethod => (405, serde_json::json!({"error": "method not allowed"})),
        Route::NotFound => (
            404,
            serde_json::json!({"error": "unknown path: GET /status, POST /stop, POST /participants/ID/exclude or /include"}),
        ),
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn authorised(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Status,
    Stop,
    Exclude { id: String, excluded: bool },
    WrongMethod,
    NotFound,
}

fn route(method: &str, path: &str) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (wanted, route) = match parts.as_slice() {
        ["status"] => ("GET", Route::Status),
        ["stop"] => ("POST", Route::Stop),
        ["participants", id, action @ ("exclude" | "include")] if !id.is_empty() => (
            "POST",
            Route::Exclude {
                id: glib::Uri::unescape_string(id, None::<&str>)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| (*id).to_owned()),
                excluded: *action == "exclude",
            },
        ),
        _ => return Route::NotFound,
    };
    if method == wanted {
        route
    } else {
        Route::WrongMethod
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_route_as_documented() {
        assert_eq!(route("GET", "/status"), Route::Status);
        assert_eq!(route("POST", "/status"), Route::WrongMethod);
        assert_eq!(route("POST", "/stop"), Route::Stop);
        assert_eq!(route("GET", "/stop"), Route::WrongMethod);
        assert_eq!(
            route("POST", "/participants/a%20b/exclude"),
            Route::Exclude {
                id: "a b".into(),
                excluded: true
            }
        );
        assert_eq!(
            route("POST", "/participants/x/include"),
            Route::Exclude {
                id: "x".into(),
                excluded: false
            }
        );
        assert_eq!(route("POST", "/participants//exclude"), Route::NotFound);
        assert_eq!(route("GET", "/../etc/passwd"), Route::NotFound);
    }

    #[test]
    fn only_the_exact_token_is_let_in() {
        let token = "0123456789abcdef0123456789abcdef";
        assert!(authorised(Some(&format!("Bearer {token}")), token));
        assert!(!authorised(Some(token), token));
        assert!(!authorised(Some("Bearer 0123"), token));
        assert!(!authorised(Some(&format!("Bearer {token}x")), token));
        assert!(!authorised(None, token));
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }
}
