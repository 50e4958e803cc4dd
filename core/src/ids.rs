//! The identifiers a room juggles, each its own type so a session id never ends up where a
//! participant id belongs. They are plain strings on the wire and in JSON
//! (`#[serde(transparent)]`), and borrow as `&str`, so maps keyed by them are still looked up
//! with a `&str`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> $name {
                $name(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// A room member as the server knows them (`UUID`, or `from` on relays).
    ParticipantId
}

string_id! {
    /// The publisher's id for one peer connection (`session`): a participant who comes back
    /// does so under a new one.
    SessionId
}

string_id! {
    /// A published stream, without the hash suffix a password adds on the wire.
    StreamId
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ids_are_strings_in_json_and_in_lookups() {
        let id = ParticipantId::from("p1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"p1\"");
        assert_eq!(serde_json::from_str::<ParticipantId>("\"p1\"").unwrap(), id);
        let mut map = BTreeMap::new();
        map.insert(id.clone(), 1);
        assert_eq!(map.get("p1"), Some(&1));
        assert_eq!(id, "p1");
        assert_eq!("p1", id);
        assert_eq!(id.as_str(), "p1");
        assert_eq!(id.to_string(), "p1");
    }
}
