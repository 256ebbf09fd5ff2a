//! Lenient query parsing: the CLI sends `1`/`0` as well as `true`/`false`, repeats keys, and
//! encodes `filters` as JSON.

use std::collections::HashMap;

use crate::error::ApiError;

/// A request's query string, decoded.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `raw` (the part after `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `key` as a boolean: `1`, `true`, `yes` (any case) are true; absent is `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "" | "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "invalid value for {key}: {v:?} is not a boolean"
                ))),
            },
        }
    }

    /// `key` as an integer, if present.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }

    /// The `filters` parameter: `{"label":["a=b"]}` or the older `{"label":{"a=b":true}}`.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        let Some(raw) = self.get("filters").filter(|r| !r.is_empty()) else {
            return Ok(Filters::default());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filters: not a JSON object"))?;
        let mut filters = HashMap::new();
        for (key, values) in object {
            let list: Vec<String> = match values {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid filter {key}: values must be strings"
                        ))
                    })?,
                serde_json::Value::Object(map) => map
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter {key}: expected a list"
                    )));
                }
            };
            filters.insert(key.clone(), list);
        }
        Ok(Filters(filters))
    }
}

/// Decoded `filters`: each key holds the values any of which may match.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters(pub HashMap<String, Vec<String>>);

impl Filters {
    /// Refuses keys outside `known`, naming the first unknown one.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(ApiError::bad_request(format!("invalid filter '{key}'"))),
            None => Ok(()),
        }
    }

    /// The values given for `key` (empty when the filter is absent).
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether `labels` satisfy every `label` filter (`key` or `key=value`).
    pub fn labels_match(&self, labels: &HashMap<String, String>) -> bool {
        self.values("label")
            .iter()
            .all(|want| match want.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
                None => labels.contains_key(want),
            })
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_the_spellings_clients_send() {
        let q = Query::parse(Some("a=1&b=true&c=0&d=False&e=maybe"));
        assert!(q.flag("a", false).unwrap());
        assert!(q.flag("b", false).unwrap());
        assert!(!q.flag("c", true).unwrap());
        assert!(!q.flag("d", true).unwrap());
        assert!(q.flag("missing", true).unwrap());
        let err = q.flag("e", false).unwrap_err();
        assert_eq!(
            err.message,
            "invalid value for e: \"maybe\" is not a boolean"
        );
    }

    #[test]
    fn values_are_percent_decoded_and_repeatable() {
        let q = Query::parse(Some("names=a%3Ab&names=c+d&x=%zz&y=%4"));
        assert_eq!(q.all("names"), ["a:b", "c d"]);
        assert_eq!(q.get("x"), Some("%zz"));
        assert_eq!(q.get("y"), Some("%4"));
    }

    #[test]
    fn filters_take_both_json_shapes() {
        let q = Query::parse(Some(
            "filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%7B%22exited%22%3Atrue%7D%7D",
        ));
        let f = q.filters().unwrap();
        assert_eq!(f.values("label"), ["a=b"]);
        assert_eq!(f.values("status"), ["exited"]);
        assert!(f.only(&["label", "status"]).is_ok());
        assert_eq!(
            f.only(&["label"]).unwrap_err().message,
            "invalid filter 'status'"
        );
    }

    #[test]
    fn broken_filters_are_a_bad_request() {
        let err = Query::parse(Some("filters=%7B")).filters().unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        let err = Query::parse(Some("filters=%5B%5D")).filters().unwrap_err();
        assert!(err.message.contains("not a JSON object"), "{}", err.message);
    }

    #[test]
    fn label_filters_match_keys_and_pairs() {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec!["a".to_owned(), "b=2".to_owned()]);
        let f = Filters(filters);
        let mut labels = HashMap::new();
        labels.insert("a".to_owned(), "x".to_owned());
        labels.insert("b".to_owned(), "2".to_owned());
        assert!(f.labels_match(&labels));
        labels.insert("b".to_owned(), "3".to_owned());
        assert!(!f.labels_match(&labels));
    }
}
