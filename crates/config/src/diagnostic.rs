//! Diagnostics that point at the layer, line and column a problem came from.

use std::fmt;

/// How bad a finding is: errors make a layer unusable, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The layer is skipped (boot) or the command fails (`ros config validate`).
    Error,
    /// Reported, the layer still loads (e.g. cloud-init keys we do not use).
    Warning,
}

/// One finding in one configuration source.
///
/// Displays as `source:line:col: key: message`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File path, or a name like `kernel cmdline` for sources that are not files.
    pub source: String,
    /// 1-based line and column, when the source is a file.
    pub position: Option<(usize, usize)>,
    /// Dotted key the finding is about, when known.
    pub key: Option<String>,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl Diagnostic {
    /// An error without a position or key.
    pub fn error(source: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            source: source.into(),
            position: None,
            key: None,
            message: message.into(),
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if self.severity == Severity::Warning {
            write!(f, ": warning")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Turns serde's "unknown field `x`, expected one of a, b" into a message with a suggestion.
pub(crate) fn suggest_unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.trim_start_matches(',').trim();
    let expected = expected.strip_prefix("expected ").unwrap_or(expected);
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let candidates = expected
        .split([',', ' '])
        .map(|c| c.trim_matches(|ch: char| ch == '`' || ch.is_whitespace()))
        .filter(|c| !c.is_empty() && *c != "or");
    let best = candidates
        .map(|c| (strsim::normalized_damerau_levenshtein(unknown, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Some(match best {
        Some((_, c)) => format!("unknown key `{unknown}`, did you mean `{c}`?"),
        None => format!("unknown key `{unknown}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_picks_the_closest_key() {
        let m = "unknown field `namservers`, expected one of nameservers, search";
        assert_eq!(
            suggest_unknown_field(m).unwrap(),
            "unknown key `namservers`, did you mean `nameservers`?"
        );
    }

    #[test]
    fn suggestion_handles_serde_backticked_lists() {
        let m = "unknown field `storage_drive`, expected one of `bridge`, `storage_driver`";
        assert_eq!(
            suggest_unknown_field(m).unwrap(),
            "unknown key `storage_drive`, did you mean `storage_driver`?"
        );
    }

    #[test]
    fn suggestion_is_omitted_when_nothing_is_close() {
        let m = "unknown field `zzz`, expected `bridge` or `storage_driver`";
        assert_eq!(suggest_unknown_field(m).unwrap(), "unknown key `zzz`");
    }

    #[test]
    fn other_messages_are_left_alone() {
        assert_eq!(suggest_unknown_field("invalid boolean"), None);
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        let mut d = Diagnostic::error("/x.yml", "bad");
        assert_eq!(d.to_string(), "/x.yml: bad");
        d.position = Some((3, 7));
        d.key = Some("rancher.debug".into());
        assert_eq!(d.to_string(), "/x.yml:3:7: rancher.debug: bad");
        d.severity = Severity::Warning;
        assert_eq!(d.to_string(), "/x.yml:3:7: warning: rancher.debug: bad");
    }
}
