//! Who receives what, in both dialects: a plain state machine over connection ids that never
//! touches a socket.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Dialect;

/// Members one room may have: every join is announced to every member, so a room's cost grows
/// with the square of its size (signaling rooms are for a handful of guests).
pub const MAX_ROOM_MEMBERS: usize = 256;
/// What a client is told when its room is full.
const ROOM_FULL: &str = "This room is full.";

/// Alert text of the official server when a stream id is taken.
pub(super) const STREAM_IN_USE: &str = "Stream ID is already in use.";

/// Server-internal connection id (never sent on the wire).
pub(super) type ConnId = u64;

/// One frame for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outgoing {
    pub(super) to: ConnId,
    pub(super) text: String,
}

/// What the router knows about a connection.
#[derive(Debug, Default, Clone)]
pub(super) struct Member {
    /// Official: the server-assigned UUID. Relay: the first `from` it sent.
    pub(super) id: Option<String>,
    room: Option<String>,
    pub(super) stream_id: Option<String>,
}

/// The routing state machine of both dialects. Connections are kept in a `BTreeMap` so listings
/// and broadcasts follow connection order, which makes behaviour reproducible. Lookups are linear:
/// a local server has a handful of clients, and scans cannot get out of sync like extra indexes.
#[derive(Debug)]
pub(super) struct Router {
    dialect: Dialect,
    pub(super) members: BTreeMap<ConnId, Member>,
}

impl Router {
    pub(super) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            members: BTreeMap::new(),
        }
    }

    /// Registers a new connection. Nothing is sent on connect in either dialect.
    pub(super) fn add(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let id = match self.dialect {
            Dialect::Official => Some(self.fresh_uuid()),
            Dialect::Relay => None,
        };
        self.members.insert(
            conn,
            Member {
                id,
                ..Member::default()
            },
        );
        Vec::new()
    }

    /// Forgets a connection and tells its room.
    pub(super) fn remove(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let Some(member) = self.members.remove(&conn) else {
            return Vec::new();
        };
        let Some(id) = member.id else {
            return Vec::new();
        };
        match self.dialect {
            Dialect::Official => match &member.room {
                Some(room) => self.to_room(
                    room,
                    conn,
                    &json!({"request": "cleanup", "UUID": id}).to_string(),
                ),
                None => Vec::new(),
            },
            Dialect::Relay => self.to_scope(
                member.room.as_deref(),
                conn,
                &json!({"type": "disconnect", "uuid": id}).to_string(),
            ),
        }
    }

    /// An error reply in the dialect's shape.
    pub(super) fn error_reply(&self, conn: ConnId, message: &str) -> Vec<Outgoing> {
        let value = match self.dialect {
            Dialect::Official => json!({"request": "error", "message": message}),
            Dialect::Relay => json!({"error": message}),
        };
        vec![Outgoing {
            to: conn,
            text: value.to_string(),
        }]
    }

    /// Routes one text frame from `conn`.
    pub(super) fn handle(&mut self, conn: ConnId, text: &str) -> Vec<Outgoing> {
        if !self.members.contains_key(&conn) {
            return Vec::new();
        }
        let message = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(message)) => message,
            Ok(_) => {
                tracing::warn!(conn, "signaling server: frame is not a JSON object");
                return self.error_reply(conn, "message must be a JSON object");
            }
            Err(err) => {
                tracing::warn!(conn, "signaling server: malformed JSON: {err}");
                return self.error_reply(conn, "invalid JSON");
            }
        };
        match self.dialect {
            Dialect::Official => self.official(conn, message),
            Dialect::Relay => self.relay(conn, text, &message),
        }
    }

    // --- official dialect -------------------------------------------------------------------

    fn official(&mut self, conn: ConnId, message: Map<String, Value>) -> Vec<Outgoing> {
        match message.get("request").and_then(Value::as_str) {
            Some("joinroom") => self.official_join(conn, &message),
            Some("seed") => self.official_seed(conn, &message),
            Some("play") => self.official_play(conn, &message),
            Some("ping") => Vec::new(),
            request => match id_field(&message, "UUID") {
                Some(target) => self.official_forward(conn, &target, message),
                None => {
                    tracing::debug!(conn, ?request, "signaling server: unroutable frame ignored");
                    Vec::new()
                }
            },
        }
    }

    fn official_join(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(room) = id_field(message, "roomid") else {
            return self.alert(conn, "joinroom needs a roomid.");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        let Some(my_id) = me.id.clone() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let newcomer = me.room.as_deref() != Some(room.as_str());
        if newcomer && self.room_size(&room) >= MAX_ROOM_MEMBERS {
            return self.alert(conn, ROOM_FULL);
        }
        if newcomer {
            if let Some(old_room) = &me.room {
                out.extend(self.to_room(
                    old_room,
                    conn,
                    &json!({"request": "cleanup", "UUID": my_id}).to_string(),
                ));
            }
            self.set_room(conn, Some(room.clone()));
        }
        let mut announce_stream = false;
        if let Some(stream) = id_field(message, "streamID") {
            if self.stream_taken(conn, Some(&room), &stream) {
                out.extend(self.alert(conn, STREAM_IN_USE));
            } else if self.member_stream(conn) != Some(stream.as_str()) {
                self.set_stream(conn, Some(stream));
                announce_stream = !newcomer;
            }
        }

        let list: Vec<Value> = self
            .members
            .iter()
            .filter(|(other, m)| **other != conn && m.room.as_deref() == Some(room.as_str()))
            .filter_map(|(_, m)| {
                let id = m.id.as_ref()?;
                let mut entry = Map::new();
                entry.insert("UUID".into(), Value::String(id.clone()));
                if let Some(stream) = &m.stream_id {
                    entry.insert("streamID".into(), Value::String(stream.clone()));
                }
                Some(Value::Object(entry))
            })
            .collect();
        out.push(Outgoing {
            to: conn,
            text: json!({"request": "listing", "list": list}).to_string(),
        });

        let my_stream = self.member_stream(conn).map(str::to_owned);
        if newcomer {
            let mut joined = Map::new();
            joined.insert("request".into(), "someonejoined".into());
            joined.insert("UUID".into(), Value::String(my_id.clone()));
            if let Some(stream) = &my_stream {
                joined.insert("streamID".into(), Value::String(stream.clone()));
            }
            out.extend(self.to_room(&room, conn, &Value::Object(joined).to_string()));
        } else if announce_stream && let Some(stream) = my_stream {
            out.extend(
                self.to_room(
                    &room,
                    conn,
                    &json!({"request": "videoaddedtoroom", "UUID": my_id, "streamID": stream})
                        .to_string(),
                ),
            );
        }
        out
    }

    fn official_seed(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(stream) = id_field(message, "streamID") else {
            return self.alert(conn, "seed needs a streamID.");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        if self.stream_taken(conn, me.room.as_deref(), &stream) {
            return self.alert(conn, STREAM_IN_USE);
        }
        if me.stream_id.as_deref() == Some(stream.as_str()) {
            return Vec::new();
        }
        self.set_stream(conn, Some(stream.clone()));
        match (&me.room, &me.id) {
            (Some(room), Some(id)) => self.to_room(
                room,
                conn,
                &json!({"request": "videoaddedtoroom", "UUID": id, "streamID": stream}).to_string(),
            ),
            _ => Vec::new(),
        }
    }

    fn official_play(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(stream) = id_field(message, "streamID") else {
            return self.alert(conn, "play needs a streamID.");
        };
        let Some(me) = self.members.get(&conn) else {
            return Vec::new();
        };
        let Some(my_id) = me.id.clone() else {
            return Vec::new();
        };
        // In a room, only that room's publishers are visible; outside rooms, any publisher.
        let my_room = me.room.clone();
        let seeder = self.members.iter().find(|(other, m)| {
            **other != conn
                && m.stream_id.as_deref() == Some(stream.as_str())
                && (my_room.is_none() || m.room == my_room)
        });
        match seeder {
            Some((&seeder, _)) => vec![Outgoing {
                to: seeder,
                text: json!({"request": "offerSDP", "UUID": my_id}).to_string(),
            }],
            None => self.alert(conn, "The requested stream is not being published."),
        }
    }

    /// Delivers a peer-to-peer frame to the connection whose UUID it names, with `UUID`
    /// rewritten to the sender's so the receiver knows whom to answer.
    fn official_forward(
        &self,
        conn: ConnId,
        target: &str,
        mut message: Map<String, Value>,
    ) -> Vec<Outgoing> {
        let Some(sender_id) = self.members.get(&conn).and_then(|m| m.id.clone()) else {
            return Vec::new();
        };
        let receiver = self
            .members
            .iter()
            .find(|(other, m)| **other != conn && m.id.as_deref() == Some(target));
        let Some((&receiver, _)) = receiver else {
            tracing::debug!(
                conn,
                target,
                "signaling server: frame for an unknown UUID dropped"
            );
            return Vec::new();
        };
        message.insert("UUID".into(), Value::String(sender_id));
        vec![Outgoing {
            to: receiver,
            text: Value::Object(message).to_string(),
        }]
    }

    fn alert(&self, conn: ConnId, text: &str) -> Vec<Outgoing> {
        vec![Outgoing {
            to: conn,
            text: json!({"request": "alert", "message": text}).to_string(),
        }]
    }

    // --- relay dialect ----------------------------------------------------------------------

    fn relay(&mut self, conn: ConnId, text: &str, message: &Map<String, Value>) -> Vec<Outgoing> {
        let relay_error = |message: &str| {
            vec![Outgoing {
                to: conn,
                text: json!({"error": message}).to_string(),
            }]
        };
        let Some(from) = id_field(message, "from") else {
            return relay_error("missing from");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        match &me.id {
            None => {
                let taken = self
                    .members
                    .iter()
                    .any(|(other, m)| *other != conn && m.id.as_deref() == Some(from.as_str()));
                if taken {
                    return relay_error("uuid already in use");
                }
                self.set_id(conn, from.clone());
            }
            // The first `from` is the connection's identity; accepting another would let a
            // client speak for someone else.
            Some(id) if *id != from => return relay_error("from does not match this connection"),
            Some(_) => {}
        }

        let request = message.get("request").and_then(Value::as_str);
        if matches!(request, Some("seed" | "joinroom"))
            && let Some(stream) = id_field(message, "streamID")
        {
            match &me.stream_id {
                Some(current) if *current != stream => return relay_error("can't change sid"),
                Some(_) => {}
                None => {
                    let taken = self.members.iter().any(|(other, m)| {
                        *other != conn && m.stream_id.as_deref() == Some(stream.as_str())
                    });
                    if taken {
                        return relay_error("sid already in use");
                    }
                    self.set_stream(conn, Some(stream));
                }
            }
        }

        let mut out = Vec::new();
        if request == Some("joinroom")
            && let Some(room) = id_field(message, "roomid")
            && me.room.as_deref() != Some(room.as_str())
        {
            if self.room_size(&room) >= MAX_ROOM_MEMBERS {
                return relay_error("room is full");
            }
            if me.room.is_some() {
                out.extend(self.to_scope(
                    me.room.as_deref(),
                    conn,
                    &json!({"type": "leave", "uuid": from}).to_string(),
                ));
            }
            self.set_room(conn, Some(room));
        }

        let Some(sender) = self.members.get(&conn) else {
            return out;
        };
        let target = id_field(message, "UUID");
        let wanted_stream = (request == Some("play")).then(|| id_field(message, "streamID"));
        for (&other, receiver) in &self.members {
            if other == conn || receiver.room != sender.room {
                continue;
            }
            if let Some(target) = &target
                && receiver.id.as_deref() != Some(target.as_str())
            {
                continue;
            }
            // A `play` goes only to the publisher of that stream (none if it names no stream).
            if let Some(wanted) = &wanted_stream
                && (wanted.is_none() || receiver.stream_id != *wanted)
            {
                continue;
            }
            out.push(Outgoing {
                to: other,
                text: text.to_owned(),
            });
        }
        out
    }

    // --- helpers ----------------------------------------------------------------------------

    /// Members in `room`.
    fn room_size(&self, room: &str) -> usize {
        self.members
            .values()
            .filter(|m| m.room.as_deref() == Some(room))
            .count()
    }

    /// `text` for every member of `room` except `except`.
    fn to_room(&self, room: &str, except: ConnId, text: &str) -> Vec<Outgoing> {
        self.to_scope(Some(room), except, text)
    }

    /// `text` for every member whose room equals `room` (`None`: everyone outside rooms).
    fn to_scope(&self, room: Option<&str>, except: ConnId, text: &str) -> Vec<Outgoing> {
        self.members
            .iter()
            .filter(|(other, m)| **other != except && m.room.as_deref() == room)
            .map(|(&other, _)| Outgoing {
                to: other,
                text: text.to_owned(),
            })
            .collect()
    }

    /// Whether another connection in the same scope (room, or outside rooms) publishes `stream`.
    fn stream_taken(&self, conn: ConnId, room: Option<&str>, stream: &str) -> bool {
        self.members.iter().any(|(other, m)| {
            *other != conn && m.room.as_deref() == room && m.stream_id.as_deref() == Some(stream)
        })
    }

    fn member_stream(&self, conn: ConnId) -> Option<&str> {
        self.members.get(&conn)?.stream_id.as_deref()
    }

    fn set_room(&mut self, conn: ConnId, room: Option<String>) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.room = room;
        }
    }

    fn set_stream(&mut self, conn: ConnId, stream: Option<String>) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.stream_id = stream;
        }
    }

    fn set_id(&mut self, conn: ConnId, id: String) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.id = Some(id);
        }
    }

    /// A random RFC 4122 version-4 UUID not used by any connection.
    fn fresh_uuid(&self) -> String {
        loop {
            let mut bytes: [u8; 16] = rand::random();
            bytes[6] = (bytes[6] & 0x0f) | 0x40;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            let hex = hex::encode(bytes);
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            );
            if !self
                .members
                .values()
                .any(|m| m.id.as_deref() == Some(uuid.as_str()))
            {
                return uuid;
            }
        }
    }
}

/// A routing id from a field: a non-empty string, or a number (Raspberry Ninja's numeric
/// `puuid`s) in its decimal form. Anything else counts as absent.
fn id_field(message: &Map<String, Value>, key: &str) -> Option<String> {
    match message.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
