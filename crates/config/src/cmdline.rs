//! The kernel command line as a configuration layer (RancherOS syntax).
//!
//! - tokens split on blanks, except inside quotes or `[...]`; `\"` and `\'` are unescaped first;
//! - `rancher.a.b=v` lands at `rancher: {a: {b: v}}`, `cc.hostname=h` at top level `hostname`;
//!   other parameters belong to the kernel and are ignored;
//! - a key without `=` is `true`; values are YAML scalars, so `[a,b]`, `10` and `true` are
//!   typed, while `:` and `?` inside them never turn a value into a map;
//! - if an intermediate key already holds a scalar, the token is dropped;
//! - everything after a lone `--` is handed to init and kept as `EXTRA_CMDLINE`.

use serde_json::{Map, Value};

use crate::yaml::parse_scalar;

/// Top-level key that carries the parameters after `--`.
pub const EXTRA_CMDLINE_KEY: &str = "EXTRA_CMDLINE";

/// The result of parsing a command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmdline {
    /// `rancher.*` and `cc.*` parameters as a config tree.
    pub tree: Value,
    /// The text after a lone `--`, if any.
    pub extra: Option<String>,
}

// Placeholders for characters YAML would give a meaning to; restored after parsing.
const COLON: &str = "\u{E000}c\u{E000}";
const QUESTION: &str = "\u{E000}q\u{E000}";
const NEWLINE: &str = "\u{E000}n\u{E000}";

/// Parses a kernel command line (the contents of `/proc/cmdline`, or `EXTRA_CMDLINE`).
pub fn parse(cmdline: &str) -> Cmdline {
    let unescaped = cmdline.replace("\\\"", "\"").replace("\\'", "'");
    let mut tree = Value::Object(Map::new());
    let mut extra = None;
    let tokens = tokenize(&unescaped);
    for (i, (start, token)) in tokens.iter().enumerate() {
        if *token == "--" {
            let rest = unescaped[start + 2..].trim();
            if !rest.is_empty() && i + 1 < tokens.len() {
                extra = Some(rest.to_string());
            }
            break;
        }
        apply_token(&mut tree, token);
    }
    Cmdline { tree, extra }
}

/// Splits on ASCII whitespace, keeping quoted and bracketed runs together. Returns each
/// token with its byte offset.
fn tokenize(s: &str) -> Vec<(usize, &str)> {
    let mut tokens = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (None, '[') => {
                depth += 1;
                start.get_or_insert(i);
            }
            (None, ']') => depth = depth.saturating_sub(1),
            (None, c) if c.is_ascii_whitespace() && depth == 0 => {
                if let Some(st) = start.take() {
                    tokens.push((st, &s[st..i]));
                }
            }
            (None, _) => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(st) = start {
        tokens.push((st, &s[st..]));
    }
    tokens
}

fn apply_token(tree: &mut Value, token: &str) {
    let (key, value) = match token.split_once('=') {
        Some((k, v)) => (k, parse_value(v)),
        None => (token, Value::Bool(true)),
    };
    let path: Vec<&str> = if key.starts_with("rancher.") {
        key.split('.').collect()
    } else if let Some(rest) = key.strip_prefix("cc.") {
        rest.split('.').collect()
    } else {
        return;
    };
    if path.iter().any(|s| s.is_empty()) {
        return;
    }
    insert(tree, &path, value);
}

fn parse_value(raw: &str) -> Value {
    let masked = raw
        .replace(':', COLON)
        .replace('?', QUESTION)
        .replace('\n', NEWLINE);
    restore(parse_scalar(&masked))
}

fn restore(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(
            s.replace(COLON, ":")
                .replace(QUESTION, "?")
                .replace(NEWLINE, "\n"),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(restore).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace(COLON, ":").replace(QUESTION, "?"), restore(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Sets `path` to `value`, creating maps, unless an intermediate node is not a map: then the
/// parameter is dropped, as RancherOS does.
fn insert(tree: &mut Value, path: &[&str], value: Value) {
    let Value::Object(map) = tree else { return };
    let (first, rest) = path.split_first().expect("path is never empty");
    if rest.is_empty() {
        map.insert(first.to_string(), value);
        return;
    }
    let child = map
        .entry(first.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    insert(child, rest, value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tree(s: &str) -> Value {
        parse(s).tree
    }

    #[test]
    fn table() {
        let cases: &[(&str, Value)] = &[
            ("", json!({})),
            ("console=ttyS0 quiet", json!({})),
            ("rancher.debug", json!({"rancher": {"debug": true}})),
            ("rancher.debug=false", json!({"rancher": {"debug": false}})),
            (
                "rancher.shutdown_timeout=10",
                json!({"rancher": {"shutdown_timeout": 10}}),
            ),
            ("cc.hostname=foo", json!({"hostname": "foo"})),
            (
                "rancher.network.interfaces.eth0.dhcp=true",
                json!({"rancher": {"network": {"interfaces": {"eth0": {"dhcp": true}}}}}),
            ),
            (
                "rancher.state.autoformat=[/dev/sda,/dev/vda]",
                json!({"rancher": {"state": {"autoformat": ["/dev/sda", "/dev/vda"]}}}),
            ),
            (
                "rancher.cloud_init.datasources=[url:http://x/y?a=b]",
                json!({"rancher": {"cloud_init": {"datasources": ["url:http://x/y?a=b"]}}}),
            ),
            (
                "rancher.modules=[btrfs, zfs]",
                json!({"rancher": {"modules": ["btrfs", "zfs"]}}),
            ),
            (
                "rancher.password=\"a b c\"",
                json!({"rancher": {"password": "a b c"}}),
            ),
            (
                "rancher.password='x y'",
                json!({"rancher": {"password": "x y"}}),
            ),
            (
                "rancher.password=\\\"q r\\\"",
                json!({"rancher": {"password": "q r"}}),
            ),
            (
                "rancher.environment.A=b:c",
                json!({"rancher": {"environment": {"A": "b:c"}}}),
            ),
            (
                "rancher.environment.A=x: y",
                json!({"rancher": {"environment": {"A": "x:"}}}),
            ),
            ("rancher.x=", json!({"rancher": {"x": ""}})),
            ("rancher..x=1 cc.=1 rancher.=2", json!({})),
            ("rancher.a=1 rancher.a.b=2", json!({"rancher": {"a": 1}})),
            ("rancher.a.b=2 rancher.a=1", json!({"rancher": {"a": 1}})),
            ("rancher.a=1 rancher.a=2", json!({"rancher": {"a": 2}})),
            ("rancher.v=0644", json!({"rancher": {"v": "0644"}})),
            ("\trancher.debug\n", json!({"rancher": {"debug": true}})),
        ];
        for (input, want) in cases {
            assert_eq!(&tree(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn args_after_double_dash_become_extra_cmdline() {
        let c = parse("console=ttyS0 rancher.debug -- cc.hostname=nope rancher.password=three");
        assert_eq!(c.tree, json!({"rancher": {"debug": true}}));
        assert_eq!(
            c.extra.as_deref(),
            Some("cc.hostname=nope rancher.password=three")
        );
    }

    #[test]
    fn trailing_double_dash_has_no_extra() {
        assert_eq!(parse("quiet --").extra, None);
        assert_eq!(parse("quiet --   ").extra, None);
    }

    #[test]
    fn double_dash_inside_a_value_is_not_a_separator() {
        let c = parse("rancher.x=a--b -- cc.hostname=n");
        assert_eq!(c.tree, json!({"rancher": {"x": "a--b"}}));
        assert_eq!(c.extra.as_deref(), Some("cc.hostname=n"));
    }

    #[test]
    fn unbalanced_quotes_and_brackets_never_panic() {
        for s in [
            "rancher.a=\"open",
            "rancher.a=[open",
            "rancher.a=]x[",
            "'",
            "[",
            "=",
            "rancher.==",
        ] {
            let _ = parse(s);
        }
    }
}
