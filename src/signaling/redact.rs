//! Signaling URLs may carry secrets (`wss://user:pass@host/?token=…` on self-hosted relays
//! behind an authenticating proxy); what is logged, shown or written to a session's manifest
//! keeps the host and path and hides the rest.

/// The URL with its user information and every query value replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, _)) => (rest, "#***"),
        None => (rest, ""),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(&host);
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}=***"),
                None if pair.is_empty() => String::new(),
                None => "***".to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_and_tokens_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("wss://bob:s3cret@relay.example.org:8443/ws?token=abc&room=x#frag"),
            "wss://***@relay.example.org:8443/ws?token=***&room=***#***"
        );
        assert_eq!(
            redact_url("wss://wss.vdo.ninja:443"),
            "wss://wss.vdo.ninja:443"
        );
        assert_eq!(
            redact_url("ws://127.0.0.1:8443/?key"),
            "ws://127.0.0.1:8443/?***"
        );
        assert_eq!(redact_url("not a url @ all"), "***@ all");
    }
}
