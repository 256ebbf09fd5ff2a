//! Lenient shapes RancherOS accepted: a string where a list is expected, dotted sysctl keys
//! written as nested maps.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Accepts `x` or `[x, y]` for a list of strings.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(de)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// A map of sysctl names to values. `net.ipv4.ip_forward: 1` and the nested form that the
/// kernel cmdline or `ros config set` produce (`net: {ipv4: {ip_forward: 1}}`) are the same key.
pub(crate) fn sysctl_map<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let tree = Option::<BTreeMap<String, Value>>::deserialize(de)?.unwrap_or_default();
    let mut out = BTreeMap::new();
    for (key, value) in tree {
        flatten(&key, value, &mut out).map_err(serde::de::Error::custom)?;
    }
    Ok(out)
}

fn flatten(prefix: &str, value: Value, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out)?;
            }
            Ok(())
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s);
            Ok(())
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
            Ok(())
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), u8::from(b).to_string());
            Ok(())
        }
        Value::Null | Value::Array(_) => Err(format!("sysctl {prefix}: expected a scalar value")),
    }
}
