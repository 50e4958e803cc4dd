//! The pure layers of Roomtape, from `roomtape-core`, for fuzzing.

pub use roomtape_core::{protocol, room};
