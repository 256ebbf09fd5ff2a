//! Datasource metadata (`/var/lib/rancher/conf/metadata`) and how it joins the config.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::tree::set_path;

/// The parts of saved metadata that feed the configuration. Both our snake_case keys and the
/// Go field names RancherOS wrote are accepted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// Host name offered by the datasource.
    #[serde(alias = "Hostname")]
    pub hostname: String,
    /// SSH public keys by name.
    #[serde(alias = "SSHPublicKeys")]
    pub ssh_public_keys: BTreeMap<String, String>,
    /// Root disk the datasource reports (EC2), used for `rancher.resize_device`.
    #[serde(alias = "RootDisk")]
    pub root_disk: String,
}

impl Metadata {
    /// Hostname only if unset; keys appended, sorted by key name; resize device if unset.
    pub fn apply(&self, tree: &mut Value) {
        let unset = |tree: &Value, pointer: &str| {
            tree.pointer(pointer)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        };
        if !self.hostname.is_empty() && unset(tree, "/hostname") {
            set_path(tree, "hostname", Value::String(self.hostname.clone()));
        }
        if !self.root_disk.is_empty() && unset(tree, "/rancher/resize_device") {
            set_path(
                tree,
                "rancher.resize_device",
                Value::String(self.root_disk.clone()),
            );
        }
        if !self.ssh_public_keys.is_empty() {
            let mut keys = match tree.get("ssh_authorized_keys") {
                Some(Value::Array(existing)) => existing.clone(),
                _ => Vec::new(),
            };
            // BTreeMap iterates in key order: "sorted by key name".
            keys.extend(self.ssh_public_keys.values().cloned().map(Value::String));
            set_path(tree, "ssh_authorized_keys", Value::Array(keys));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hostname_only_if_unset_and_keys_appended_in_name_order() {
        let md = Metadata {
            hostname: "from-md".into(),
            ssh_public_keys: BTreeMap::from([
                ("b".into(), "ssh-rsa B".into()),
                ("a".into(), "ssh-rsa A".into()),
            ]),
            root_disk: "/dev/xvda".into(),
        };
        let mut tree = json!({"hostname": "mine", "ssh_authorized_keys": ["ssh-rsa U"]});
        md.apply(&mut tree);
        assert_eq!(
            tree,
            json!({
                "hostname": "mine",
                "ssh_authorized_keys": ["ssh-rsa U", "ssh-rsa A", "ssh-rsa B"],
                "rancher": {"resize_device": "/dev/xvda"}
            })
        );
        let mut empty = json!({"hostname": ""});
        md.apply(&mut empty);
        assert_eq!(empty["hostname"], "from-md");
    }
}
