//! `${VAR}` interpolation and bare-`KEY` environment lookup, both from `rancher.environment`,
//! as RancherOS did them for its services.

use std::collections::BTreeMap;

use serde_json::Value;

/// Replaces `$VAR`, `${VAR}` and `${VAR:-default}` in every string of `value` (map keys
/// excepted); `$$` is a literal `$`. Returns the names that were not set (they become empty,
/// as in compose).
pub fn interpolate(value: &mut Value, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut missing = Vec::new();
    walk(value, env, &mut missing);
    missing.sort();
    missing.dedup();
    missing
}

fn walk(value: &mut Value, env: &BTreeMap<String, String>, missing: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('$') => *s = substitute(s, env, missing),
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, env, missing)),
        Value::Object(map) => map.values_mut().for_each(|v| walk(v, env, missing)),
        _ => {}
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// One string, substituted.
pub fn substitute(text: &str, env: &BTreeMap<String, String>, missing: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                // No closing brace: not an expression, keep the text.
                out.push_str(&rest[at..]);
                return out;
            };
            let expr = &braced[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            match (env.get(name), default) {
                (Some(v), _) if !v.is_empty() || default.is_none() => out.push_str(v),
                (_, Some(d)) => out.push_str(d),
                (None, None) => missing.push(name.to_string()),
                (Some(_), None) => {}
            }
            rest = &braced[end + 1..];
        } else {
            let len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                let name = &after[..len];
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => missing.push(name.to_string()),
                }
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Resolves environment entries: `KEY=value` stays; a bare `KEY` takes its value from `env`
/// (dropped when unset); `PREFIX*` brings every variable of `env` starting with `PREFIX`.
pub fn lookup_environment(entries: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.contains('=') {
            out.push(entry.clone());
        } else if let Some(prefix) = entry.strip_suffix('*') {
            out.extend(
                env.iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| format!("{k}={v}")),
            );
        } else if let Some(v) = env.get(entry) {
            out.push(format!("{entry}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("VERSION", "v1.2"),
            ("REGISTRY_DOMAIN", "docker.io"),
            ("EMPTY", ""),
            ("HTTP_PROXY", "p"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn every_form_is_substituted_in_values_not_keys() {
        let mut value = json!({
            "image": "${REGISTRY_DOMAIN}/rancher/os-base:$VERSION",
            "command": ["echo", "$$HOME", "${NOPE:-fallback}", "${EMPTY:-d}", "a$", "${UNSET}x"],
            "labels": {"$VERSION": "${VERSION}"}
        });
        let missing = interpolate(&mut value, &env());
        assert_eq!(value["image"], "docker.io/rancher/os-base:v1.2");
        assert_eq!(
            value["command"],
            json!(["echo", "$HOME", "fallback", "d", "a$", "x"])
        );
        assert_eq!(value["labels"]["$VERSION"], "v1.2");
        assert_eq!(missing, ["UNSET"]);
    }

    #[test]
    fn an_unclosed_brace_is_kept_as_text() {
        let mut missing = Vec::new();
        assert_eq!(substitute("a ${B", &env(), &mut missing), "a ${B");
        assert!(missing.is_empty());
    }

    #[test]
    fn bare_keys_and_prefixes_come_from_the_environment() {
        let entries = ["A=1", "VERSION", "NOPE", "HTTP_*"].map(String::from);
        assert_eq!(
            lookup_environment(&entries, &env()),
            ["A=1", "VERSION=v1.2", "HTTP_PROXY=p"]
        );
    }
}
