//! What a tile shows, as types: the connection badge, the kind of candidate pair in use and
//! what stands in for the video. The words and icons for each stay here, with the widget.

use gtk::glib;

use crate::i18n::gettext;
use crate::room::{IceState, PairKind};

/// The connection badge: the participant's combined ICE state, or "no media" when the
/// connection looks up but nothing has arrived for a few seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "RoomtapeIceBadge")]
pub enum IceBadge {
    #[default]
    New,
    Checking,
    Connected,
    Completed,
    Failed,
    Disconnected,
    Closed,
    NoMedia,
}

impl IceBadge {
    pub const ALL: [IceBadge; 8] = [
        IceBadge::New,
        IceBadge::Checking,
        IceBadge::Connected,
        IceBadge::Completed,
        IceBadge::Failed,
        IceBadge::Disconnected,
        IceBadge::Closed,
        IceBadge::NoMedia,
    ];

    /// The style class that colours the badge.
    pub fn css_class(self) -> String {
        format!("ice-{}", self.as_str())
    }

    /// The state's name, as in the `ice-*` style class and the test hook's summary.
    pub fn as_str(self) -> &'static str {
        match self {
            IceBadge::New => "new",
            IceBadge::Checking => "checking",
            IceBadge::Connected => "connected",
            IceBadge::Completed => "completed",
            IceBadge::Failed => "failed",
            IceBadge::Disconnected => "disconnected",
            IceBadge::Closed => "closed",
            IceBadge::NoMedia => "no-media",
        }
    }

    /// The badge's words.
    pub fn text(self) -> String {
        match self {
            IceBadge::New => gettext("new"),
            IceBadge::Checking => gettext("checking"),
            IceBadge::Connected => gettext("connected"),
            IceBadge::Completed => gettext("completed"),
            IceBadge::Failed => gettext("failed"),
            IceBadge::Disconnected => gettext("disconnected"),
            IceBadge::Closed => gettext("closed"),
            // Translators: a badge; the connection looks up, but no audio or video has arrived for
            // a few seconds.
            IceBadge::NoMedia => gettext("no media"),
        }
    }

    /// Media can flow: a participant without video then has the camera off.
    pub fn is_connected(self) -> bool {
        matches!(self, IceBadge::Connected | IceBadge::Completed)
    }
}

impl From<IceState> for IceBadge {
    fn from(state: IceState) -> IceBadge {
        match state {
            IceState::New => IceBadge::New,
            IceState::Checking => IceBadge::Checking,
            IceState::Connected => IceBadge::Connected,
            IceState::Completed => IceBadge::Completed,
            IceState::Failed => IceBadge::Failed,
            IceState::Disconnected => IceBadge::Disconnected,
            IceState::Closed => IceBadge::Closed,
        }
    }
}

/// The kind of the candidate pair in use, `None` before one is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "RoomtapePairBadge")]
pub enum PairBadge {
    #[default]
    None,
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl PairBadge {
    /// The candidate type's SDP token (host, srflx, prflx, relay), empty for none.
    pub fn as_str(self) -> &'static str {
        match self {
            PairBadge::None => "",
            PairBadge::Host => "host",
            PairBadge::Srflx => "srflx",
            PairBadge::Prflx => "prflx",
            PairBadge::Relay => "relay",
        }
    }
}

impl From<Option<PairKind>> for PairBadge {
    fn from(kind: Option<PairKind>) -> PairBadge {
        match kind {
            None => PairBadge::None,
            Some(PairKind::Host) => PairBadge::Host,
            Some(PairKind::Srflx) => PairBadge::Srflx,
            Some(PairKind::Prflx) => PairBadge::Prflx,
            Some(PairKind::Relay) => PairBadge::Relay,
        }
    }
}

/// What the tile shows in place of the video.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "RoomtapePlaceholder")]
pub enum Placeholder {
    /// Nothing: the video shows.
    None,
    /// Connected without video: their initials.
    CameraOff,
    /// Video was announced and has not shown a frame yet.
    Waiting,
    /// Not connected yet.
    #[default]
    Connecting,
    /// They said goodbye.
    Left,
    /// They left without a goodbye.
    ConnectionLost,
}

impl Placeholder {
    /// The test hook's name for it: a lost connection is a way of leaving.
    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::None => "",
            Placeholder::CameraOff => "camera-off",
            Placeholder::Waiting => "waiting",
            Placeholder::Connecting => "connecting",
            Placeholder::Left | Placeholder::ConnectionLost => "left",
        }
    }

    pub fn icon_name(self) -> &'static str {
        match self {
            Placeholder::None => "",
            Placeholder::CameraOff => "camera-disabled-symbolic",
            Placeholder::Waiting => "camera-video-symbolic",
            Placeholder::Connecting => "network-wired-symbolic",
            Placeholder::Left => "system-log-out-symbolic",
            Placeholder::ConnectionLost => "network-offline-symbolic",
        }
    }

    pub fn text(self) -> String {
        match self {
            Placeholder::None => String::new(),
            Placeholder::CameraOff => gettext("Camera off"),
            Placeholder::Waiting => gettext("Waiting for video…"),
            Placeholder::Connecting => gettext("Connecting…"),
            Placeholder::Left => gettext("Left the room"),
            Placeholder::ConnectionLost => gettext("Connection lost"),
        }
    }
}
