//! GLib's log (GTK, GStreamer's GLib side, libnice) through the same `tracing` filter as
//! Roomtape's own messages, under the target `roomtape::glib`.
//!
//! GLib's default writer prints debug and info messages to stdout, where `record
//! --json-events` writes its events, and libnice's debug output includes TURN URLs with their
//! passwords; here everything goes to the tracing subscriber (stderr), credentials redacted.

use glib::{LogField, LogLevel, LogWriterOutput};

use crate::media::ice::redact_credentials;

/// Installs the writer. GLib accepts a writer only once and before anything has logged, so
/// `main` calls this first thing.
pub fn route_to_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let debug_domains = DebugDomains::from_env();
        glib::log_set_writer_func(move |level, fields| write(&debug_domains, level, fields));
    });
}

/// Debug and info messages are shown only for the domains `G_MESSAGES_DEBUG` names, as GLib
/// itself does; the tracing filter then decides as for any other message.
struct DebugDomains(Vec<String>);

impl DebugDomains {
    fn from_env() -> Self {
        Self::parse(&std::env::var("G_MESSAGES_DEBUG").unwrap_or_default())
    }

    fn parse(value: &str) -> Self {
        Self(
            value
                .split([' ', ','])
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn wants(&self, domain: Option<&str>) -> bool {
        self.0
            .iter()
            .any(|d| d == "all" || Some(d.as_str()) == domain)
    }
}

fn write(
    debug_domains: &DebugDomains,
    level: LogLevel,
    fields: &[LogField<'_>],
) -> LogWriterOutput {
    let field = |key: &str| {
        fields
            .iter()
            .find(|f| f.key() == key)
            .and_then(|f| f.value_str())
    };
    let domain = field("GLIB_DOMAIN");
    let message = redact_credentials(field("MESSAGE").unwrap_or_default());
    let domain_shown = domain.unwrap_or("glib");
    match level {
        LogLevel::Error | LogLevel::Critical => {
            tracing::error!(target: "roomtape::glib", domain = domain_shown, "{message}");
        }
        LogLevel::Warning => {
            tracing::warn!(target: "roomtape::glib", domain = domain_shown, "{message}");
        }
        LogLevel::Message => {
            tracing::info!(target: "roomtape::glib", domain = domain_shown, "{message}");
        }
        LogLevel::Info | LogLevel::Debug if debug_domains.wants(domain) => {
            tracing::debug!(target: "roomtape::glib", domain = domain_shown, "{message}");
        }
        LogLevel::Info | LogLevel::Debug => {}
    }
    LogWriterOutput::Handled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_domains_follow_g_messages_debug() {
        let some = DebugDomains::parse("libnice, GStreamer");
        assert!(some.wants(Some("libnice")));
        assert!(some.wants(Some("GStreamer")));
        assert!(!some.wants(Some("Gtk")));
        assert!(!some.wants(None));
        assert!(DebugDomains::parse("all").wants(Some("Gtk")));
        assert!(!DebugDomains::parse("").wants(Some("Gtk")));
    }
}
