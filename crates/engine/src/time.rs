//! Times as the API writes them.

/// Now, RFC 3339 with nanoseconds, UTC.
pub fn now() -> String {
    ros_shim::timestamp()
}

/// Unix seconds of an RFC 3339 time (0 when unreadable).
pub fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or(0, |t| t.timestamp())
}

/// Parses Docker's `since`/`until`: Unix seconds (with optional fraction) or RFC 3339.
pub fn parse_instant(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Some(seconds);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}
