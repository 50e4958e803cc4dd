//! A participant's connectivity, judged from every signal there is.
//!
//! webrtcbin 1.22's `ice-connection-state` is collated over RTP transceivers only and stays
//! NEW on a data-channel-only connection, so the badge is derived from `connection-state`,
//! each ICE transport's own state and the data channel, never from that property alone.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    #[default]
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IceState {
    #[default]
    New,
    Checking,
    Connected,
    Completed,
    Failed,
    Disconnected,
    Closed,
}

impl IceState {
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Checking => "checking",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Failed => "failed",
            IceState::Disconnected => "disconnected",
            IceState::Closed => "closed",
        }
    }

    fn rank(self) -> u8 {
        // Higher wins when several transports disagree: a failure anywhere is shown first.
        match self {
            IceState::Closed => 0,
            IceState::New => 1,
            IceState::Checking => 2,
            IceState::Connected => 3,
            IceState::Completed => 4,
            IceState::Disconnected => 5,
            IceState::Failed => 6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl PairKind {
    pub fn from_type(text: &str) -> Option<PairKind> {
        match text {
            "host" => Some(PairKind::Host),
            "srflx" | "server-reflexive" => Some(PairKind::Srflx),
            "prflx" | "peer-reflexive" => Some(PairKind::Prflx),
            "relay" | "relayed" => Some(PairKind::Relay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PairKind::Host => "host",
            PairKind::Srflx => "srflx",
            PairKind::Prflx => "prflx",
            PairKind::Relay => "relay",
        }
    }
}

/// The candidate pair ICE selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedPair {
    pub local_kind: PairKind,
    pub local_address: String,
    pub remote_kind: PairKind,
    pub remote_address: String,
}

impl SelectedPair {
    /// The kind shown on the badge: a relay on either side means the media is relayed.
    pub fn badge_kind(&self) -> PairKind {
        if self.local_kind == PairKind::Relay || self.remote_kind == PairKind::Relay {
            PairKind::Relay
        } else if self.local_kind == PairKind::Srflx || self.remote_kind == PairKind::Srflx {
            PairKind::Srflx
        } else if self.local_kind == PairKind::Prflx || self.remote_kind == PairKind::Prflx {
            PairKind::Prflx
        } else {
            PairKind::Host
        }
    }
}

/// Everything known about one participant's connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub connection: ConnectionState,
    /// ICE state per transport ("sctp", "video0", ...).
    pub transports: BTreeMap<String, IceState>,
    pub channel_open: bool,
    pub selected_pair: Option<SelectedPair>,
}

impl Health {
    /// The ICE state to show: the transports' own states, corrected by `connection-state`.
    pub fn ice_state(&self) -> IceState {
        let from_transports = self
            .transports
            .values()
            .copied()
            .max_by_key(|state| state.rank())
            .unwrap_or_default();
        match self.connection {
            ConnectionState::Failed => IceState::Failed,
            ConnectionState::Closed => IceState::Closed,
            ConnectionState::Connected
                if matches!(from_transports, IceState::New | IceState::Checking) =>
            {
                IceState::Connected
            }
            ConnectionState::Connecting if from_transports == IceState::New => IceState::Checking,
            _ if self.channel_open && from_transports == IceState::New => IceState::Connected,
            _ => from_transports,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.ice_state(), IceState::Connected | IceState::Completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_channel_only_connection_is_not_new() {
        // The field failure: ice-connection-state NEW while the SCTP transport works.
        let mut health = Health {
            connection: ConnectionState::Connected,
            ..Default::default()
        };
        health.transports.insert("rtp".into(), IceState::New);
        assert_eq!(health.ice_state(), IceState::Connected);
        assert!(health.is_connected());
    }

    #[test]
    fn transport_states_win_when_more_precise() {
        let mut health = Health::default();
        health.transports.insert("sctp".into(), IceState::Completed);
        health.connection = ConnectionState::Connected;
        assert_eq!(health.ice_state(), IceState::Completed);
        health.transports.insert("video".into(), IceState::Failed);
        assert_eq!(health.ice_state(), IceState::Failed);
    }

    #[test]
    fn failed_connection_overrides_transports() {
        let mut health = Health::default();
        health.transports.insert("sctp".into(), IceState::Connected);
        health.connection = ConnectionState::Failed;
        assert_eq!(health.ice_state(), IceState::Failed);
    }

    #[test]
    fn connecting_with_silent_transports_reads_checking() {
        let health = Health {
            connection: ConnectionState::Connecting,
            ..Default::default()
        };
        assert_eq!(health.ice_state(), IceState::Checking);
        assert_eq!(Health::default().ice_state(), IceState::New);
    }

    #[test]
    fn relay_anywhere_makes_a_relay_badge() {
        let pair = SelectedPair {
            local_kind: PairKind::Host,
            local_address: "10.0.0.1:1".into(),
            remote_kind: PairKind::Relay,
            remote_address: "192.0.2.1:3478".into(),
        };
        assert_eq!(pair.badge_kind(), PairKind::Relay);
        assert_eq!(PairKind::from_type("srflx"), Some(PairKind::Srflx));
        assert_eq!(PairKind::from_type("bogus"), None);
    }
}
