//! The generic configuration tree and RancherOS's merge rule: maps merge recursively, any other
//! value on the right (scalar or list) replaces the left one.

use serde_json::{Map, Value};

/// Deep-merges `right` into `left`.
pub fn merge(left: &mut Value, right: Value) {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            for (key, rv) in r {
                match l.get_mut(&key) {
                    Some(lv) => merge(lv, rv),
                    None => {
                        l.insert(key, rv);
                    }
                }
            }
        }
        (left, right) => *left = right,
    }
}

/// Splits a dotted key into its segments; empty segments are kept so that callers can reject them.
pub fn split_key(key: &str) -> Vec<&str> {
    key.split('.').collect()
}

/// Looks up a dotted key. Map keys that themselves contain dots (`rancher.sysctl.fs.file-max`)
/// are found by trying the longest run of segments first.
pub fn get_path<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    let segments = split_key(key);
    get_segments(tree, &segments)
}

fn get_segments<'a>(tree: &'a Value, segments: &[&str]) -> Option<&'a Value> {
    if segments.is_empty() {
        return Some(tree);
    }
    let Value::Object(map) = tree else {
        return None;
    };
    (1..=segments.len()).rev().find_map(|n| {
        let joined = segments[..n].join(".");
        map.get(&joined)
            .and_then(|child| get_segments(child, &segments[n..]))
    })
}

/// Sets a dotted key, creating intermediate maps and replacing non-map values on the way.
pub fn set_path(tree: &mut Value, key: &str, value: Value) {
    let segments = split_key(key);
    let mut node = tree;
    for segment in &segments[..segments.len() - 1] {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            unreachable!("made an object above")
        };
        node = map
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(segments[segments.len() - 1].to_string(), value);
    }
}

/// Removes a dotted key if present; returns whether something was removed.
pub fn remove_path(tree: &mut Value, key: &str) -> bool {
    let segments = split_key(key);
    let (last, parents) = segments
        .split_last()
        .expect("split yields at least one segment");
    let mut node = tree;
    for segment in parents {
        match node.get_mut(*segment) {
            Some(child) => node = child,
            None => return false,
        }
    }
    node.as_object_mut()
        .is_some_and(|map| map.shift_remove(*last).is_some())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_merge_and_lists_replace() {
        let mut l = json!({"a": {"x": 1, "y": [1, 2]}, "b": "keep"});
        merge(&mut l, json!({"a": {"y": [3], "z": true}}));
        assert_eq!(l, json!({"a": {"x": 1, "y": [3], "z": true}, "b": "keep"}));
    }

    #[test]
    fn scalar_replaces_map_and_map_replaces_scalar() {
        let mut l = json!({"a": {"x": 1}, "b": 2});
        merge(&mut l, json!({"a": "s", "b": {"y": 1}}));
        assert_eq!(l, json!({"a": "s", "b": {"y": 1}}));
    }

    #[test]
    fn get_path_finds_keys_with_dots() {
        let t = json!({"rancher": {"sysctl": {"fs.file-max": 7}, "a": {"b": null}}});
        assert_eq!(get_path(&t, "rancher.sysctl.fs.file-max"), Some(&json!(7)));
        assert_eq!(get_path(&t, "rancher.a.b"), Some(&Value::Null));
        assert_eq!(get_path(&t, "rancher.nope"), None);
        assert_eq!(get_path(&t, "rancher.sysctl.fs.file-max.deeper"), None);
    }

    #[test]
    fn set_path_creates_and_replaces_intermediates() {
        let mut t = json!({"rancher": {"network": "oops"}});
        set_path(&mut t, "rancher.network.dns.search", json!(["a", "b"]));
        assert_eq!(
            t,
            json!({"rancher": {"network": {"dns": {"search": ["a", "b"]}}}})
        );
        let mut empty = Value::Null;
        set_path(&mut empty, "hostname", json!("h"));
        assert_eq!(empty, json!({"hostname": "h"}));
    }

    #[test]
    fn remove_path_removes_only_the_leaf() {
        let mut t = json!({"rancher": {"ssh": {"keys": {}}, "debug": true}});
        assert!(remove_path(&mut t, "rancher.ssh"));
        assert!(!remove_path(&mut t, "rancher.ssh"));
        assert!(!remove_path(&mut t, "missing.deep.key"));
        assert_eq!(t, json!({"rancher": {"debug": true}}));
    }

    fn arb_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn merge_with_empty_map_is_identity(t in arb_tree()) {
            let mut l = t.clone();
            merge(&mut l, json!({}));
            if t.is_object() { prop_assert_eq!(&l, &t); } else { prop_assert_eq!(l, json!({})); }
            let mut e = json!({});
            merge(&mut e, t.clone());
            prop_assert_eq!(e, t);
        }

        #[test]
        fn merge_is_idempotent(a in arb_tree(), b in arb_tree()) {
            let mut once = a.clone();
            merge(&mut once, b.clone());
            let mut twice = once.clone();
            merge(&mut twice, b);
            prop_assert_eq!(once, twice);
        }

        // Not associative: a later scalar wipes a map that an even later map would have merged
        // into, so layers are a left fold, in load order. What does hold: keys only the left
        // side has survive a map on the right.
        #[test]
        fn left_only_keys_survive_a_map(a in arb_tree(), b in arb_tree()) {
            prop_assume!(a.is_object() && b.is_object());
            let mut m = a.clone();
            merge(&mut m, b.clone());
            for (k, v) in a.as_object().unwrap() {
                if !b.as_object().unwrap().contains_key(k) {
                    prop_assert_eq!(m.get(k), Some(v));
                }
            }
        }

        #[test]
        fn right_leaves_always_win(a in arb_tree(), b in arb_tree()) {
            let mut m = a;
            merge(&mut m, b.clone());
            if !b.is_object() {
                prop_assert_eq!(&m, &b);
            }
            for (path, leaf) in leaves(&b, &[]) {
                prop_assert_eq!(get_exact(&m, &path), Some(&leaf));
            }
        }

        #[test]
        fn set_then_get_returns_the_value(t in arb_tree(), key in "[a-c](\\.[a-c]){0,3}", v in arb_tree()) {
            let mut t = t;
            set_path(&mut t, &key, v.clone());
            prop_assert_eq!(get_exact(&t, &key.split('.').map(String::from).collect::<Vec<_>>()), Some(&v));
        }
    }

    /// Every non-map leaf of `v` with its key path. An empty map merges into whatever is
    /// there, so it pins nothing and is not a leaf.
    fn leaves(v: &Value, path: &[String]) -> Vec<(Vec<String>, Value)> {
        match v {
            Value::Object(m) => m
                .iter()
                .flat_map(|(k, c)| {
                    let mut p = path.to_vec();
                    p.push(k.clone());
                    leaves(c, &p)
                })
                .collect(),
            _ if path.is_empty() => vec![],
            other => vec![(path.to_vec(), other.clone())],
        }
    }

    fn get_exact<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
        path.iter().try_fold(v, |node, seg| node.get(seg))
    }
}
