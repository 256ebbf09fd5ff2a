//! YAML in and out, through serde-saphyr with budgets sized for cloud-config.
//!
//! User-data can come from an untrusted datasource, so every parse runs under explicit limits
//! (alias expansion, node count, depth, scalar bytes) and a size cap checked before parsing.
//! Plain scalars are typed as RancherOS users expect from Go's yaml.v2: YAML 1.1 booleans
//! (`yes`, `on`) are booleans, but `0644` and `1_000` stay strings so modes and versions
//! survive a round trip.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::options::NonFiniteFloatPolicy;
use serde_saphyr::{Budget, Options};

use crate::diagnostic::{Diagnostic, Severity, suggest_unknown_field};

/// The largest configuration source we parse: 16 MiB (user-data with `write_files`).
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

fn options() -> Options {
    let mut options = Options::default();
    let mut budget = Budget::default();
    budget.max_events = 400_000;
    budget.max_nodes = 200_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_depth = 48;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_SOURCE_BYTES;
    budget.max_recorded_anchor_bytes = 4 * 1024 * 1024;
    options.budget = Some(budget);
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.non_finite_float_policy = NonFiniteFloatPolicy::AsString;
    options.with_snippet = false;
    options
}

/// Parses one YAML document into a generic tree. An empty document is an empty map.
pub fn parse_tree(text: &str, source: &str) -> Result<Value, Diagnostic> {
    check_size(text, source)?;
    let text = normalize_newlines(text);
    match serde_saphyr::from_str_with_options::<Value>(&text, options()) {
        Ok(Value::Null) => Ok(Value::Object(serde_json::Map::new())),
        Ok(value) => Ok(value),
        Err(e) => Err(from_saphyr(&e, source, None)),
    }
}

/// Deserializes `text` into `T`, reporting the first problem with position and dotted key.
pub fn parse_typed<T: DeserializeOwned>(text: &str, source: &str) -> Result<T, Diagnostic> {
    check_size(text, source)?;
    let text = normalize_newlines(text);
    let text = if text.trim().is_empty() {
        "{}".into()
    } else {
        text
    };
    // Deserialize through serde_path_to_error so errors name the dotted key; the closure must
    // fail with the inner error itself, or serde-saphyr reads on and reports trailing content.
    let mut key = None;
    let result = serde_saphyr::with_deserializer_from_str_with_options(&text, options(), |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            let path = e.path().to_string();
            key = (!path.is_empty() && path != ".").then_some(path);
            e.into_inner()
        })
    });
    result.map_err(|e| from_saphyr(&e, source, key))
}

/// Renders a tree as YAML. Strings that would read back as another type are quoted.
pub fn to_yaml(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}\n".to_string(),
        // Serializing a serde_json::Value cannot fail: keys are strings, floats are finite.
        _ => serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# {e}\n")),
    }
}

/// Parses one scalar the way `ros config set` and the kernel cmdline do: `true`, `10`,
/// `[a,b]` become typed; anything that is not valid YAML stays the literal string.
pub fn parse_scalar(text: &str) -> Value {
    if text.is_empty() {
        return Value::String(String::new());
    }
    match serde_saphyr::from_str_with_options::<Value>(text, options()) {
        Ok(Value::Null) if !is_null_literal(text) => Value::String(text.to_string()),
        Ok(v) => v,
        Err(_) => Value::String(text.to_string()),
    }
}

fn is_null_literal(text: &str) -> bool {
    matches!(text.trim(), "~" | "null" | "Null" | "NULL")
}

fn check_size(text: &str, source: &str) -> Result<(), Diagnostic> {
    if text.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::error(
            source,
            format!(
                "is {} bytes, more than the limit of {MAX_SOURCE_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// CRLF files (written on Windows) are accepted: RancherOS rejected them in `merge`.
fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

fn from_saphyr(e: &serde_saphyr::Error, source: &str, key: Option<String>) -> Diagnostic {
    let position = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line() as usize, l.column() as usize));
    let message = clean_message(&e.without_snippet().to_string());
    let message = suggest_unknown_field(&message).unwrap_or(message);
    Diagnostic {
        severity: Severity::Error,
        source: source.to_string(),
        position,
        key,
        message,
    }
}

/// serde-saphyr prefixes messages with `error: line N column M: `; we print the position
/// ourselves in `path:line:col` form.
fn clean_message(rendered: &str) -> String {
    let mut msg = rendered.trim();
    msg = msg.strip_prefix("error: ").unwrap_or(msg);
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
        && rest.split(':').next().is_some_and(|p| p.contains("column"))
    {
        msg = after;
    }
    let msg = msg.lines().next().unwrap_or(msg).trim();
    strip_trailing_position(msg).to_string()
}

/// Some messages end in ` at line N, column M`, which the diagnostic already shows.
fn strip_trailing_position(msg: &str) -> &str {
    let Some((head, tail)) = msg.rsplit_once(" at line ") else {
        return msg;
    };
    let is_position = tail
        .split_once(", column ")
        .is_some_and(|(l, c)| is_number(l) && is_number(c));
    if is_position { head } else { msg }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_11_booleans_are_booleans_but_octal_looking_numbers_stay_strings() {
        let v = parse_tree("a: yes\nb: off\nc: 0644\nd: 1_000\ne: 10\nf: .inf\n", "t").unwrap();
        assert_eq!(
            v,
            json!({"a": true, "b": false, "c": "0644", "d": "1_000", "e": 10, "f": ".inf"})
        );
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse_tree("", "t").unwrap(), json!({}));
        assert_eq!(parse_tree("# only a comment\n", "t").unwrap(), json!({}));
    }

    #[test]
    fn crlf_is_accepted() {
        assert_eq!(
            parse_tree("a: 1\r\nb:\r\n  - x\r\n", "t").unwrap(),
            json!({"a": 1, "b": ["x"]})
        );
    }

    #[test]
    fn syntax_error_has_position_and_clean_message() {
        let d = parse_tree("a: 1\nb: [x\n", "/f.yml").unwrap_err();
        assert_eq!(d.source, "/f.yml");
        assert!(d.position.is_some(), "{d}");
        assert!(!d.message.starts_with("error:"), "{d}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let d = parse_tree("a: 1\na: 2\n", "f").unwrap_err();
        assert_eq!(d.position, Some((2, 1)));
    }

    #[test]
    fn alias_bomb_is_stopped_by_the_budget() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse_tree(&doc, "bomb").is_err());
    }

    #[test]
    fn oversized_source_is_rejected_before_parsing() {
        let big = "a".repeat(MAX_SOURCE_BYTES + 1);
        let d = parse_tree(&big, "big").unwrap_err();
        assert!(d.message.contains("more than the limit"), "{d}");
    }

    #[test]
    fn scalars_parse_like_ros_config_set() {
        assert_eq!(parse_scalar("true"), json!(true));
        assert_eq!(parse_scalar("10"), json!(10));
        assert_eq!(parse_scalar("[a,b]"), json!(["a", "b"]));
        assert_eq!(parse_scalar("[]"), json!([]));
        assert_eq!(parse_scalar("overlay2"), json!("overlay2"));
        assert_eq!(parse_scalar("[unclosed"), json!("[unclosed"));
        assert_eq!(parse_scalar(""), json!(""));
        assert_eq!(parse_scalar("~"), Value::Null);
    }

    #[test]
    fn to_yaml_round_trips_ambiguous_strings() {
        let v = json!({"v": "0644", "b": "yes", "n": "10", "l": ["a"], "e": {}});
        assert_eq!(parse_tree(&to_yaml(&v), "t").unwrap(), v);
    }
}
